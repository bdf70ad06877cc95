"""Who carries out a line's PSTN block, in one place (issue 13, point 4: "block means blocked").

A block (`lines.set_blocked`) is a flag on the line. It stops calls only where something that handles
calls reads it. The built-in registrar handles registrations and NOTIFYs, no call: with it nothing enforces
the flag, and every view says so (`line_view`'s `pstn_block_enforced_by` is None) rather than showing a line
as blocked. With `VOIPADMIN_SWITCH=kamailio` Kamailio refuses a blocked line's PSTN calls with 403
(switch/kamailio/parts/calls.cfg.j2) and names itself here.
"""

from __future__ import annotations

from core.settings import Settings, current_settings


def block_enforced_by(settings: Settings | None = None) -> str | None:
    """The name of what enforces PSTN blocks ("kamailio"), or None when nothing does."""
    return "kamailio" if (settings or current_settings()).switch == "kamailio" else None
