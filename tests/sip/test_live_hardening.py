"""Issue 11 attacks on the live registrar, each reproduced as stated (raw datagrams, spoofed loopback
sources, thousands of idle TCP connections), and the liveness the heartbeat reports."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.db import transaction
from core.models import ServiceHeartbeat
from core.settings import Settings
from core.sip.ratelog import RateLimitedLog
from core.sip.service import SipConfig, SipService
from tests.sip.conftest import DOMAIN, RunningRegistrar, Users, free_port, start_registrar
from tests.sip.sipclient import UdpPhone, register_request, register_tcp, register_udp

pytestmark = [pytest.mark.sip, pytest.mark.db]


def heartbeat_details(engine: Engine) -> list[str]:
    with transaction(engine) as s:
        return list(s.scalars(select(ServiceHeartbeat.detail).where(ServiceHeartbeat.service == "sip")))


def options(local: tuple[str, int], via: str) -> bytes:
    return (
        f"OPTIONS sip:{DOMAIN} SIP/2.0\r\nVia: {via}\r\nFrom: <sip:probe@{DOMAIN}>;tag=1\r\nTo: <sip:{DOMAIN}>\r\n"
        f"Call-ID: opt-{local[1]}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


# -- 1. one datagram must not stop SIP over UDP --


@pytest.fixture(params=["asyncio", "uvloop"])
def any_loop_registrar(
    request: pytest.FixtureRequest, settings: Settings, env: dict[str, str], users: Users, tmp_path: Path
) -> Iterator[RunningRegistrar]:
    """`python -m core serve` runs the registrar on asyncio's loop, `python -m core.sip` on uvloop."""
    args = ("--no-uvloop",) if request.param == "asyncio" else ()
    with start_registrar(settings, env, tmp_path, args=args) as reg:
        yield reg


@pytest.mark.parametrize("method", ["OPTIONS", "REGISTER"])
def test_a_via_port_above_65535_without_rport_does_not_close_the_udp_socket(
    any_loop_registrar: RunningRegistrar, engine: Engine, method: str
) -> None:
    registrar = any_loop_registrar
    attacker = UdpPhone(registrar.port, "127.0.0.66", timeout=0.5)
    try:
        if method == "OPTIONS":
            attacker.send(options(attacker.local, "SIP/2.0/UDP 127.0.0.66:70000;branch=z9hG4bKbad"))
        else:
            attacker.send(register_request("1000", attacker.local, via_port=70000, rport=False))
        assert attacker.recv() is None  # no usable Via: nothing to answer
    finally:
        attacker.close()
    # Every UDP phone still registers, and the heartbeat still (truthfully) says udp+tcp.
    assert register_udp(registrar.port, "1000", "secret1000").status == 200
    assert register_tcp(registrar.port, "1001", "secret1001").status == 200
    assert any(d.startswith("udp+tcp ") for d in heartbeat_details(engine))
    assert "internal error" not in registrar.output()


# -- liveness: the heartbeat says what is really listening --


def test_heartbeat_reports_a_closed_udp_socket_and_its_reopening(settings: Settings, engine: Engine) -> None:
    port = free_port()
    service = SipService(settings, engine, SipConfig(), "127.0.0.1", port)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(service.serve("127.0.0.1", stop))
        try:
            for _ in range(200):
                if heartbeat_details(engine):
                    break
                await asyncio.sleep(0.05)  # polling the service started above, bounded
            assert any(d == f"udp+tcp 127.0.0.1:{port}" for d in heartbeat_details(engine))
            assert service.endpoint.udp is not None
            service.endpoint.udp.close()  # the UDP socket dies, whatever the cause
            await asyncio.sleep(0)  # let connection_lost run
            squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            squatter.bind(("127.0.0.1", port))  # ... and cannot be reopened for now
            try:
                await service._heartbeat_tick()
                assert heartbeat_details(engine) == [f"tcp 127.0.0.1:{port}"]
            finally:
                squatter.close()
            await service._heartbeat_tick()  # the port is free again: reopened, reported
            assert heartbeat_details(engine) == [f"udp+tcp 127.0.0.1:{port}"]
            phone = UdpPhone(port, "127.0.0.1", timeout=2)
            try:
                phone.send(options(phone.local, f"SIP/2.0/UDP 127.0.0.1:{phone.local[1]};branch=z9hG4bKx;rport"))
                reply = await asyncio.to_thread(phone.recv)
                assert reply is not None and reply.status == 200
            finally:
                phone.close()
        finally:
            stop.set()
            await task

    asyncio.run(scenario())
    assert heartbeat_details(engine) == []  # a clean stop removes the row


def test_rate_limited_log_one_line_per_key_per_window_and_a_global_budget(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    rl = RateLimitedLog(logging.getLogger("t.ratelog"), window=1.0, per_second=5, burst=5, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "t.ratelog"):
        for _ in range(6000):  # "socket.accept() out of system resource" ~6,000 times a second
            rl.warning("accept", "socket.accept() out of system resource")
        assert len(caplog.records) == 1
        now[0] = 1.01
        rl.warning("accept", "socket.accept() out of system resource")
        assert len(caplog.records) == 2 and "5999 similar lines held back" in caplog.records[1].getMessage()
        for i in range(1000):  # spoofed sources: one key each, still within the global budget
            rl.warning(f"src{i}", "from %s", i)
        assert len(caplog.records) <= 2 + 5
