"""The call switch when it is Kamailio (issue 16, docs/SWITCH.md): its configuration rendered from
switch/kamailio/, the process serve supervises, and the tables voipadmin keeps for it or reads from it."""
