"""The kinds of what is recorded: why a provisioning request got its answer (the access log's `reason`
column) and, next, the security-event kinds. One list, read by the writers (endpoint, registrar) and the
readers (rollup, fraud, diagnosis), without loading the provisioning app.
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
