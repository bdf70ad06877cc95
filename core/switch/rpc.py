"""Kamailio's JSON-RPC (jsonrpcs module) over its UNIX datagram socket, as serve uses it.

Each call binds its own reply socket next to Kamailio's (the runtime directory, 0700), so concurrent
calls never read each other's answers.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
from pathlib import Path
from typing import Any

_ids = itertools.count(1)


class RpcError(RuntimeError):
    """Kamailio answered with an error, or did not answer in time."""


def call(rpc_socket: Path, method: str, *params: Any, timeout: float = 5.0) -> Any:
    """`method(params)` on the Kamailio behind `rpc_socket`; its `result`."""
    request_id = next(_ids)
    reply_path = rpc_socket.with_name(f"rpc-client-{os.getpid()}-{request_id}.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        reply_path.unlink(missing_ok=True)
        sock.bind(str(reply_path))
        try:
            sock.settimeout(timeout)
            body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": request_id}
            sock.sendto(json.dumps(body).encode(), str(rpc_socket))
            try:
                data = sock.recv(1 << 20)
            except TimeoutError:
                raise RpcError(f"Kamailio did not answer {method} within {timeout:g} s") from None
        except (FileNotFoundError, ConnectionRefusedError):
            raise RpcError(f"Kamailio's RPC socket {rpc_socket} is not there: is Kamailio running?") from None
        finally:
            reply_path.unlink(missing_ok=True)
    answer = json.loads(data)
    if "error" in answer:
        raise RpcError(f"{method}: {answer['error'].get('message', answer['error'])}")
    return answer.get("result")
