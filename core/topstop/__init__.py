"""TopStop (issue 16 point 4, manual §6): spending limits per vPBX and per line, per day or month.

rates.py prices a call from data/rates.yaml (longest prefix wins); periods.py says where a day or month
starts; spend.py rates finished calls from the call records into `topstop_call_cost` and sums a period;
enforce.py is serve's pass that compares spend (finished calls plus the live ones Kamailio holds) with
the limits, blocks a subject that reached one, raises the `topstop_reached` alert and ends its ongoing
PSTN calls; limits.py holds the use cases (show, set, unblock) with their rights; live.py asks Kamailio
for its live calls and ends them (the dialog module's RPC commands).
"""
