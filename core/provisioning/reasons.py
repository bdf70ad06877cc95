"""Why a provisioning request got its answer: the access log's `reason` column.

One list, read by the endpoint that writes it and by core.fraud that charts the probes.
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

# What counts as probing on the fraud page.
PROBES = (UNKNOWN_KEY, UNKNOWN_MAC, MALFORMED, METHOD, THROTTLED, BANNED)
