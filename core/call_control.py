"""Who carries out a line's PSTN block, in one place (issue 13, point 4: "block means blocked").

A block (`lines.set_blocked`) is a flag on the line. It stops calls only where something that handles
calls reads it. The built-in registrar handles registrations and NOTIFYs, no call: in this installation
nothing enforces the flag yet, and every view says so (`line_view`'s `pstn_block_enforced_by` is None)
rather than showing a line as blocked. The call switch of issue 16 (Kamailio) names itself here.
"""

from __future__ import annotations

ENFORCED_BY: str | None = None  # the component that refuses a blocked line's calls to the PSTN, if any


def block_enforced_by() -> str | None:
    """The name of what enforces PSTN blocks ("kamailio"), or None when nothing does."""
    return ENFORCED_BY
