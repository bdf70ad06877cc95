"""Ending a live PSTN call through Kamailio: the dialog module's `dlg.terminate_dlg <Call-ID> <from tag> <to tag>`
(a BYE to both sides), over Kamailio's JSON-RPC (core.switch.rpc).

Several instances may share the database (issue 16 point 5): a call lives in the memory of the one that
relayed it, so each is asked in turn until one ends it. A call no instance knows is over already (its BYE
crossed ours, or the instance restarted): it counts as ended, and its BYE row closes it in the call records.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.switch import rpc
from core.topstop.spend import LiveCall

NOT_HELD = "Couldnt find callid"  # dlg.terminate_dlg's error for a Call-ID this instance does not hold


class KamailioCalls:
    """`end_call` for core.topstop.enforce: ends a live call on whichever instance holds it."""

    def __init__(self, sockets: Sequence[Path], timeout: float = 2.0) -> None:
        self.sockets, self.timeout = list(sockets), timeout

    def __call__(self, call: LiveCall) -> bool:
        for path in self.sockets:
            try:
                rpc.call(path, "dlg.terminate_dlg", call.callid, call.from_tag, call.to_tag, timeout=self.timeout)
                return True
            except rpc.RpcError as exc:
                if NOT_HELD not in str(exc):
                    raise  # the switch away: enforce tries again at its next pass
        return True  # no instance holds it: over already
