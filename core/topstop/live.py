"""Ending a live PSTN call through Kamailio: a BYE to both sides, sent by the topstop part's route[TOPSTOP_END]
(switch/kamailio/parts/topstop.cfg.j2 says why not the dialog module's `dlg.terminate_dlg`: it could leave the
trunk's side up). Over Kamailio's JSON-RPC (core.switch.rpc): the call is put in the htable `topstop_end`, and
the route's answer read from `topstop_done` ("1": ended, "0": not held there).

Several instances may share the database (issue 16 point 5): a call lives in the memory of the one that
relayed it, so each is asked in turn until one ends it. A call no instance knows is over already (its BYE
crossed ours, or the instance restarted): it counts as ended, and its BYE row closes it in the call records.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from core.switch import rpc
from core.topstop.spend import LiveCall

ASK = "topstop_end"
DONE = "topstop_done"
NOT_YET = "doesn't exist"  # htable.get's error for a key not (yet) set
POLL = 0.02  # seconds between two reads of the answer (the route runs every 50 ms)


class KamailioCalls:
    """`end_call` for core.topstop.enforce: ends a live call on whichever instance holds it."""

    def __init__(self, sockets: Sequence[Path], timeout: float = 2.0) -> None:
        self.sockets, self.timeout = list(sockets), timeout

    def __call__(self, call: LiveCall) -> bool:
        for path in self.sockets:
            if self._end_on(path, call):
                return True
        return True  # no instance holds it: over already

    def _end_on(self, path: Path, call: LiveCall) -> bool:
        """True when this instance ended the call, False when it holds no such call; RpcError when it did not
        say within `timeout` (enforce tries again at its next pass)."""
        try:
            rpc.call(path, "htable.delete", DONE, call.callid, timeout=self.timeout)  # an earlier answer
        except rpc.RpcError as exc:
            if "not found" not in str(exc):
                raise
        rpc.call(path, "htable.sets", ASK, call.callid, f"{call.from_tag} {call.to_tag}", timeout=self.timeout)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                answer = rpc.call(path, "htable.get", DONE, call.callid, timeout=self.timeout)
                return str(answer["item"]["value"]) == "1"
            except rpc.RpcError as exc:
                if NOT_YET not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(POLL)  # the route has not run yet
