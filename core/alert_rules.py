"""The fraud rules, as data: what each watches, its threshold and window, its severity and its words.

core.alerts reads new rows of three tables (the access log, the security events, the registration
history) and hands each row to the rules of its origin. A rule's *family* says how it counts:

- ``each``: every matching row is a hit (a retired key, a key shown by another MAC's phone);
- ``count``: `threshold` matching rows about one subject within `window` seconds (brute force, probing);
- ``spread``: `threshold` distinct sources sharing one pattern within `window` seconds (a botnet's probing);
- ``place``: a subject seen from a network or country it was never seen from, once it has a baseline
  (its first place is the baseline, not an alert: a new phone's first fetch is normal);
- ``apart``, ``far_apart``, ``after_credentials``, ``done_mac``: the registration and bootstrap rules
  whose logic is in core.alerts (named here so their thresholds and words stay data);
- ``reported``: raised by a person, not by rows (core.respond: an end user's "I lost my data");
- ``topstop``: raised by core.topstop.enforce when a line's or a vPBX's spend reaches its limit (subject
  "line:<id>" or "vpbx:<id>").

A rule's subject is what its alerts are de-duplicated by: one live alert per rule and subject.
Changing a threshold, a window or a severity is an edit here; tests/core/test_alert_rules.py says what
each rule catches and what a normal office does not trip.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import event_kinds as k

ACCESS_LOG, SECURITY_EVENT, REGISTRATION_EVENT = "access_log", "security_event", "registration_event"
ORIGINS = (ACCESS_LOG, SECURITY_EVENT, REGISTRATION_EVENT)
HIGH, MEDIUM, LOW = "high", "medium", "low"
SEVERITIES = (HIGH, MEDIUM, LOW)  # the order alerts are listed in


@dataclass(frozen=True)
class Rule:
    code: str
    family: str  # each | count | spread | place | apart | far_apart | after_credentials | done_mac
    origin: str
    matches: frozenset[str]  # the access log's reasons, the security events' kinds, the history's events
    subject: str  # device | line | source | pattern: what one alert is about
    severity: str
    threshold: int = 1
    window: int = 0  # seconds
    place: str = ""  # place rules: network | country
    words: tuple[str, str] = ("", "")  # (fr, en): the alert's title

    def title(self, lang: str = "en") -> str:
        fr, en = self.words
        return fr if lang == "fr" else en


FETCHED = frozenset({k.OK, k.BOOTSTRAP})
PROBING = frozenset({k.UNKNOWN_KEY, k.UNKNOWN_MAC, k.MALFORMED, k.METHOD, k.THROTTLED, k.BANNED})
REGISTERED = frozenset({k.REG_START, k.REG_CHANGE})

RULES: tuple[Rule, ...] = (
    Rule("retired_key_used", "each", ACCESS_LOG, frozenset({k.OLD_KEY}), "device", HIGH,
         words=("Ancienne clé utilisée après « Nouveau clé »", "Retired key used after New key"),),
    Rule("done_mac_bootstrap", "done_mac", ACCESS_LOG, frozenset({k.UNKNOWN_MAC}), "device", MEDIUM,
         words=("Provisioning MAC demandé pour un appareil déjà « fini »",
                 "MAC bootstrap asked for a device already provisioned"),),
    Rule("key_mac_mismatch", "each", ACCESS_LOG, frozenset({k.KEY_MAC_MISMATCH}), "device", HIGH,
         words=("Clé présentée par un téléphone d'une autre MAC", "Key shown by a phone with another MAC"),),
    Rule("unknown_key_probing", "count", ACCESS_LOG, PROBING, "source", MEDIUM, threshold=30, window=600,
         words=("Recherche de clés inconnues depuis une adresse", "Unknown-key probing from one address"),),
    Rule("unknown_key_spread", "spread", ACCESS_LOG, frozenset({k.UNKNOWN_KEY, k.UNKNOWN_MAC}), "pattern", HIGH,
         threshold=10, window=3600,
         words=("Recherche de clés répartie sur de nombreuses adresses",
                 "Unknown-key probing spread over many addresses"),),
    Rule("sip_brute_force", "count", SECURITY_EVENT, frozenset({k.SIP_AUTH_FAILED}), "line", HIGH,
         threshold=10, window=600,
         words=("Mots de passe SIP essayés contre un poste", "SIP passwords tried against one line"),),
    Rule("sip_scanner", "each", SECURITY_EVENT, frozenset({k.SIP_SCANNER, k.SIP_USER_SCAN}), "source", MEDIUM,
         words=("Scanner SIP", "SIP scanner"),),
    Rule("fetch_new_country", "place", ACCESS_LOG, FETCHED, "device", HIGH, place="country",
         words=("Configuration téléchargée depuis un nouveau pays", "Configuration fetched from a new country"),),
    Rule("fetch_new_network", "place", ACCESS_LOG, FETCHED, "device", LOW, place="network",
         words=("Configuration téléchargée depuis un nouveau réseau", "Configuration fetched from a new network"),),
    Rule("register_new_country", "place", REGISTRATION_EVENT, REGISTERED, "line", HIGH, place="country",
         words=("Enregistrement SIP depuis un nouveau pays", "SIP registration from a new country"),),
    Rule("fetch_register_apart", "apart", REGISTRATION_EVENT, REGISTERED, "line", MEDIUM, window=30 * 86400,
         words=("Configuration et enregistrement depuis des lieux différents",
                 "Configuration fetched and line registered from different places"),),
    Rule("registered_far_apart", "far_apart", REGISTRATION_EVENT, REGISTERED, "line", HIGH, threshold=500,
         words=("Poste enregistré en même temps depuis des lieux éloignés",
                 "Line registered at once from distant places"),),
    Rule("new_network_after_credentials", "after_credentials", REGISTRATION_EVENT, REGISTERED, "line", HIGH,
         window=86400,
         words=("Enregistrement depuis un réseau inconnu peu après de nouveaux identifiants SIP",
                 "Registration from an unknown network soon after new SIP credentials"),),
    Rule("data_loss_reported", "reported", "", frozenset(), "line", HIGH,
         words=("Perte de données signalée : procédure à lancer", "Data loss reported: procedure to start"),),
    Rule("topstop_reached", "topstop", "", frozenset(), "line", HIGH,
         words=("TopStop atteint : appels vers le réseau public bloqués",
                 "TopStop reached: calls to the public network blocked"),),
)  # fmt: skip
# `threshold` of registered_far_apart: kilometres between the bindings' countries' centroids.

BY_CODE = {r.code: r for r in RULES}


def rules_for(origin: str) -> tuple[Rule, ...]:
    return tuple(r for r in RULES if r.origin == origin)


def longest_window() -> int:
    """How long the tallies must be kept (core.alerts prunes older minutes)."""
    return max(r.window for r in RULES if r.family in ("count", "spread"))
