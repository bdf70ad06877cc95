"""The kinds of what is recorded: why a provisioning request got its answer (the access log's `reason`
column) and the security events' `kind`. One list, read by the writers (endpoint, registrar) and the
readers (rollup, fraud, diagnosis), without loading the provisioning app or the registrar.
"""

from __future__ import annotations

OK = "ok"
BOOTSTRAP = "bootstrap"
UPLOAD_IGNORED = "upload_ignored"
UNKNOWN_FILE = "unknown_file"  # a valid key asking for an optional file: not a probe
RENDER_ERROR = "render_error"
KEY_MAC_MISMATCH = "key_mac_mismatch"
METHOD = "method"
MALFORMED = "malformed"
UNKNOWN_KEY = "unknown_key"
UNKNOWN_MAC = "unknown_mac"
THROTTLED = "throttled"
BANNED = "banned"
OLD_KEY = "old_key"  # a key a "Nouveau clé" retired (core.models.RetiredKey): the device's old URL
KEY_HANDOVER = "handover"  # that old URL's one last use in a fraud response: the bootstrap to the new key

# What counts as probing on the fraud page.
PROBES = (UNKNOWN_KEY, UNKNOWN_MAC, MALFORMED, METHOD, THROTTLED, BANNED)

# Security events (security_event.kind; docs/SIP.md, docs/PROVISIONING.md).
SIP_AUTH_FAILED = "sip_auth_failed"  # a REGISTER whose digest failed
SIP_SCANNER = "sip_scanner"  # a source's first request showing a scanner tell
SIP_USER_SCAN = "sip_user_scan"  # a source asking for many usernames without authenticating
SIP_BANNED = "sip_banned"
# KEY_MAC_MISMATCH (above) is an event too: a key presented by a phone showing another MAC.
MAC_AMBIGUOUS = "mac_ambiguous"  # a MAC-named bootstrap that several devices wait for
PROVISIONING_PROBE = "provisioning_probe"  # a source throttled after too many misses
SECURITY_EVENTS = (SIP_AUTH_FAILED, SIP_SCANNER, SIP_USER_SCAN, SIP_BANNED, KEY_MAC_MISMATCH, MAC_AMBIGUOUS,
                   PROVISIONING_PROBE)  # fmt: skip

# The registration history (registration_event.event; core.sip.registrar writes, core.diagnosis reads).
REG_START = "start"  # a contact bound that was not (or no longer) bound
REG_CHANGE = "change"  # a refresh from another address, port, transport or User-Agent
REG_UNREGISTER = "unregister"  # expires=0 or `Contact: *`
REG_EXPIRED = "expired"  # not refreshed in time: purged
REG_AUTH_FAILED = "auth_failed"  # a REGISTER for the line's user name whose digest failed
REGISTRATION_EVENTS = (REG_START, REG_CHANGE, REG_UNREGISTER, REG_EXPIRED, REG_AUTH_FAILED)
