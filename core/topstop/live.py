"""Ending a live PSTN call through Kamailio: the dialog module's `dlg.terminate_dlg <Call-ID> <from tag> <to tag>`
(a BYE to both sides), over Kamailio's JSON-RPC datagram socket (jsonrpcs `dgram_socket`).

Several instances may share the database (issue 16 point 5): a call lives in the memory of the one that
relayed it, so each is asked in turn until one ends it. A call no instance knows is over already (its BYE
crossed ours, or the instance restarted): it counts as ended, and its BYE row closes it in the call records.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.topstop.spend import LiveCall

TIMEOUT = 2.0  # seconds for one RPC answer
NOT_FOUND = 500  # dlg.terminate_dlg's error code for a Call-ID it does not hold ("Couldnt find callid in dialog")
_ids = itertools.count(1)


class RpcError(RuntimeError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code, self.message = code, message


def rpc(socket_path: Path, method: str, params: Sequence[str] = (), timeout: float = TIMEOUT) -> Any:
    """One JSON-RPC call on Kamailio's datagram socket; the result, or RpcError with Kamailio's code."""
    request = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": next(_ids)}
    with tempfile.TemporaryDirectory(prefix="voipadmin-rpc-") as tmp:
        reply_to = os.path.join(tmp, "r.sock")  # Kamailio answers to the sender's bound address
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.bind(reply_to)
            s.settimeout(timeout)
            s.sendto(json.dumps(request).encode(), str(socket_path))
            answer = json.loads(s.recv(1 << 20))
    if "error" in answer:
        error = answer["error"] or {}
        raise RpcError(int(error.get("code", 0)), str(error.get("message", "")))
    return answer.get("result")


class KamailioCalls:
    """`end_call` for core.topstop.enforce: ends a live call on whichever instance holds it."""

    def __init__(self, sockets: Sequence[Path]) -> None:
        self.sockets = list(sockets)

    def __call__(self, call: LiveCall) -> bool:
        for path in self.sockets:
            try:
                rpc(path, "dlg.terminate_dlg", [call.callid, call.from_tag, call.to_tag])
                return True
            except RpcError as exc:
                if exc.code != NOT_FOUND:
                    raise
        return True  # no instance holds it: over already
