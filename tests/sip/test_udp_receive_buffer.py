"""The registrar's UDP socket queues enough datagrams to ride out a moment off the CPU (issue 13): with the
kernel's default (~208 KiB, ~350 REGISTERs) every REGISTER past it was dropped under load, sipp
retransmitted, and the registrar collapsed (docs/PERFORMANCE.md, "Fraud alerts: lag under load")."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from core.sip.transport import UDP_RECEIVE_BUFFER, Endpoint
from tests.net import free_port


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # serve runs asyncio's loop, `python -m core.sip` uvloop
def test_the_udp_socket_asks_for_a_large_receive_queue(loop: str) -> None:
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    default = int(Path("/proc/sys/net/core/rmem_default").read_text())
    wanted = min(UDP_RECEIVE_BUFFER, rmem_max)
    assert wanted > default, "this machine's rmem_max leaves nothing to ask for"

    async def opened() -> int:
        endpoint = Endpoint(lambda msg, source, now: [], lambda resp, source: None, time.time)
        endpoint.host, endpoint.port = "127.0.0.1", free_port()
        await endpoint.open_udp()
        try:
            sock = endpoint.udp.get_extra_info("socket") if endpoint.udp else None
            assert sock is not None
            return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        finally:
            endpoint.close()

    if loop == "uvloop":
        import uvloop

        got = uvloop.run(opened())
    else:
        got = asyncio.run(opened())
    assert got >= wanted  # Linux reports twice what was granted (its bookkeeping)
