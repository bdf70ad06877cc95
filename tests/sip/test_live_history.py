"""The registration history and ban lifting against the registrar subprocess, with real clients: baresip
registers, unregisters when it quits, fails with a wrong password and, killed, lets its binding expire;
each lands as a registration_event row. A ban lifted in the database ends at the next reload."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select

from core import event_kinds as ek
from core.db import transaction
from core.models import Ban, RegistrationEvent
from core.settings import Settings
from tests.sip.conftest import DOMAIN, RunningRegistrar, Users, free_port, start_registrar, tool_env, wait_for
from tests.sip.sipclient import register_udp

pytestmark = [pytest.mark.sip, pytest.mark.db]
BANS_EVERY = 0.5  # the registrar's ban reload interval in these tests (--bans-every)


@pytest.fixture
def quick_registrar(
    settings: Settings, env: dict[str, str], users: Users, tmp_path: Path
) -> Iterator[RunningRegistrar]:
    """Short expiries and purges (an expiry seen in seconds) and a ban reload every BANS_EVERY s."""
    args = ("--min-expires", "1", "--purge-every", "0.5", "--bans-every", str(BANS_EVERY))
    with start_registrar(settings, env, tmp_path, args=args) as reg:
        yield reg


class Baresip:
    """A baresip phone for one line, listening on its own loopback address."""

    def __init__(self, tmp_path: Path, registrar_port: int, user: str, password: str, ip: str, regint: int) -> None:
        self.ip, self.port = ip, free_port(consecutive=2)  # baresip listens for SIP/TLS on port + 1 too
        conf = tmp_path / f"baresip-{user}-{ip}"
        conf.mkdir()
        (conf / "config").write_text(
            f"sip_listen {ip}:{self.port}\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule account.so\n"
        )
        (conf / "accounts").write_text(
            f'<sip:{user}@{DOMAIN}>;auth_pass={password};outbound="sip:127.0.0.1:{registrar_port}";regint={regint}\n'
        )
        self.out = conf / "baresip.out"
        # `-t`: its own lifetime, well past the test's waits; stopped by the test anyway.
        self.proc = subprocess.Popen(["baresip", "-f", str(conf), "-t", "300"], cwd=tmp_path, env=tool_env(),
                                     stdout=self.out.open("w"), stderr=subprocess.STDOUT)  # fmt: skip

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)


def events_of(engine: Engine, line_id: int) -> list[RegistrationEvent]:
    with transaction(engine) as s:
        return list(s.scalars(select(RegistrationEvent).where(RegistrationEvent.line_id == line_id)
                              .order_by(RegistrationEvent.id)))  # fmt: skip


def wait_event(engine: Engine, line_id: int, event: str, timeout: float = 20) -> RegistrationEvent:
    found = wait_for(lambda: [e for e in events_of(engine, line_id) if e.event == event], timeout, f"a {event} row")
    return found[0]  # type: ignore[index,no-any-return]


def test_a_real_phone_s_start_unregister_failed_password_and_expiry_land_as_history_rows(
    quick_registrar: RunningRegistrar, users: Users, engine: Engine, tmp_path: Path
) -> None:
    port = quick_registrar.port
    phone = Baresip(tmp_path, port, "1001", "secret1001", "127.0.5.1", regint=600)
    try:
        start = wait_event(engine, users.lines["1001"], ek.REG_START)
        assert (start.source_ip, start.source_port, start.transport) == ("127.0.5.1", phone.port, "udp")
        assert start.user_agent.startswith("baresip") and f"@127.0.5.1:{phone.port}" in start.contact
        phone.stop()  # baresip unregisters as it quits
        end = wait_event(engine, users.lines["1001"], ek.REG_UNREGISTER)
        assert end.contact == start.contact and end.id > start.id
    finally:
        phone.stop(signal.SIGKILL)

    wrong = Baresip(tmp_path, port, "1002", "not-the-password", "127.0.5.2", regint=600)
    try:
        failed = wait_event(engine, users.lines["1002"], ek.REG_AUTH_FAILED)
        assert (failed.source_ip, failed.source_port) == ("127.0.5.2", wrong.port)
        assert failed.user_agent.startswith("baresip")
    finally:
        wrong.stop(signal.SIGKILL)
    assert [e.event for e in events_of(engine, users.lines["1002"])] == [ek.REG_AUTH_FAILED] * len(
        events_of(engine, users.lines["1002"])
    )  # it never registered

    brief = Baresip(tmp_path, port, "1003", "secret1003", "127.0.5.3", regint=3)
    try:
        begun = wait_event(engine, users.lines["1003"], ek.REG_START)
        brief.stop(signal.SIGKILL)  # gone without a word: its binding runs out
        killed_at = datetime.now(UTC)
        expired = wait_event(engine, users.lines["1003"], ek.REG_EXPIRED)
    finally:
        brief.stop(signal.SIGKILL)
    assert expired.contact == begun.contact and expired.source_port == brief.port
    assert killed_at - timedelta(seconds=1) < expired.at <= killed_at + timedelta(seconds=4)  # when it ran out
    out = quick_registrar.output()
    assert "not-the-password" not in out and "secret100" not in out


def _answered(port: int, ip: str) -> bool:
    """Does the registrar answer an OPTIONS from `ip`? Shown without a timed wait for silence: an OPTIONS from
    a control address, sent after it to the same socket, is answered after it was handled."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as asked,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control,
    ):
        asked.bind((ip, 0))
        control.bind(("127.0.6.254", 0))
        control.settimeout(5.0)
        for s in (asked, control):
            s_ip, s_port = s.getsockname()[:2]
            s.sendto(
                (f"OPTIONS sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {s_ip}:{s_port};branch=z9hG4bKo{s_port};rport\r\n"
                 f"From: <sip:probe@{DOMAIN}>;tag=1\r\nTo: <sip:{DOMAIN}>\r\nCall-ID: opt-{s_ip}-{s_port}\r\n"
                 "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(),
                ("127.0.0.1", port),
            )  # fmt: skip
        assert control.recv(4096).startswith(b"SIP/2.0 200")
        asked.setblocking(False)
        try:
            return asked.recv(4096).startswith(b"SIP/2.0 200")
        except BlockingIOError:
            return False


@pytest.mark.parametrize("banned_by", ["a Ban row", "the registrar"])
def test_a_ban_lifted_in_the_database_ends_at_the_next_reload(
    quick_registrar: RunningRegistrar, users: Users, engine: Engine, banned_by: str
) -> None:
    """Either way the registrar ignores the address, then answers it again within a few reload intervals of
    the row's deletion (a ban it decided itself too: not kept in force after it was written)."""
    port, ip = quick_registrar.port, "127.0.6.1"
    assert _answered(port, ip)
    if banned_by == "a Ban row":
        with transaction(engine) as s:
            s.add(Ban(source_ip=ip, scope="sip", reason="test", expires_at=datetime.now(UTC) + timedelta(hours=1)))
    else:  # wrong passwords until the failed-auth ban: the last one gets no answer
        wait_for(lambda: register_udp(port, "1000", "wrong-password", ip).status != 403, 30, "the failed-auth ban")
        wait_for(lambda: _ban_rows(engine, ip), 10, "its Ban row written")
    wait_for(lambda: not _answered(port, ip), 10 * BANS_EVERY + 5, "the registrar ignoring the banned address")
    with transaction(engine) as s:
        s.execute(delete(Ban).where(Ban.source_ip == ip))  # what lifting a ban (core.bans) does
    lifted = time.monotonic()
    wait_for(lambda: _answered(port, ip), 10 * BANS_EVERY + 5, "the registrar answering again")
    assert time.monotonic() - lifted < 10 * BANS_EVERY + 5  # not the minute a ban of its own used to be kept


def _ban_rows(engine: Engine, ip: str) -> list[Ban]:
    with transaction(engine) as s:
        return list(s.scalars(select(Ban).where(Ban.source_ip == ip)))
