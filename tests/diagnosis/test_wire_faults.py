"""Issue 12 point 6: each diagnosis code from a fault made on the wire, by real clients and real servers.

Every test runs the registrar (`python -m core.sip`, short expiries and purges) and the provisioning
server (`python -m core serve --no-sip`, Granian over TLS, the shipped renderer) as subprocesses on one
fresh database (SQLite, or PostgreSQL with VOIPADMIN_TEST_DB_URL), makes one fault with real clients
(httpx over HTTPS, baresip, sipp), waits for the servers to have written it behind, then diagnoses the
device with `core.diagnosis.diagnose_device` (and once with `python -m core device diagnose ID --json`).
Each fault test first diagnoses the same device before the fault, so the finding is shown to come from
the fault and not from the set-up:

- old_key_used: a Nouveau clé (the use case), then the phone asks for its old URL over HTTPS (404);
- mac_mismatch: the device's current URL over HTTPS with a User-Agent carrying another MAC (404);
- auth_failing: baresip registered, `line new-credentials` (the CLI) changes the password, the registrar
  reloads it and baresip's refresh with the old password is refused; its binding then runs out;
- registration_expired: baresip registered with a 3 s interval, killed (no unregister), the binding
  expires and is purged (through the CLI);
- source_banned: sipp, with another line's wrong password from the office address, gets the address
  banned by the registrar's own policy (5 failures); the innocent phone behind it is diagnosed;
- a healthy phone (fetched with its own MAC, registered with baresip) has no warning or fault.

Each phone has its own loopback address (127.0.9.x), as the HTTPS client and as the SIP client.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from core import devices
from core import event_kinds as ek
from core.db import transaction
from core.diagnosis import Diagnosis, diagnose_device
from core.models import AccessLog, Ban, Device, Line, Registration, RegistrationEvent
from core.permissions import Actor
from tests.diagnosis.live import live_servers
from tests.net import free_port, stop_process
from tests.provisioning.conftest import LiveServer, https_client
from tests.sip.conftest import DOMAIN, ROOT, RunningRegistrar, Users, seed_users, tool_env, wait_for
from tests.sip.test_live_history import Baresip

pytestmark = [pytest.mark.sip, pytest.mark.db]

FAULT_CODES = {"old_key_used", "mac_mismatch", "auth_failing", "registration_expired", "source_banned"}
YEALINK = "Yealink SIP-T46U 108.86.0.20"
SCENARIOS = ROOT / "tests" / "sip" / "scenarios"
# Who is who: one device (and line) per phone, each phone on its own loopback address.
HEALTHY, OLD_KEY, MAC_FAULT, AUTH, EXPIRY, OFFICE, GUESSER = (str(n) for n in range(2000, 2007))
MACS = {HEALTHY: "001565A00001", MAC_FAULT: "001565A00002"}


def _ua(mac: str | None = None) -> str:
    """A Yealink User-Agent, with the MAC written as Yealink does (lowercase, colons)."""
    return f"{YEALINK} {':'.join(mac[i : i + 2] for i in range(0, 12, 2)).lower()}" if mac else YEALINK


@dataclass
class Wire:
    engine: Engine
    env: dict[str, str]
    users: Users
    registrar: RunningRegistrar
    server: LiveServer
    tmp_path: Path

    def key(self, user: str) -> str:
        with transaction(self.engine) as s:
            key = s.scalar(select(Device.access_key).where(Device.id == self.users.devices[user]))
        assert key
        return key

    def fetch(self, user: str, ip: str, key: str | None = None, ua: str = YEALINK) -> httpx.Response:
        """The phone's config file over real HTTPS, from its own address."""
        with https_client(ip, ua) as phone:
            return phone.get(f"{self.server.url}/{key or self.key(user)}.cfg")

    def phone(self, user: str, ip: str, regint: int, password: str | None = None) -> Baresip:
        return Baresip(self.tmp_path, self.registrar.port, user, password or self.users.password(user), ip, regint)

    def cli(self, *args: str) -> Any:
        run = subprocess.run([sys.executable, "-m", "core", *args, "--json"], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert run.returncode == 0, f"`core {' '.join(args)}` failed: {run.stderr[-2000:]}"
        return json.loads(run.stdout)


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    """One database, registrar and `serve` for the module (starting `serve` takes seconds). Isolation: each
    test has its own line, device and loopback address, and diagnoses only them (the diagnosis reads one
    device's line, its access log and the bans of its own addresses); a healthy neighbour of faulty phones
    on the same servers is part of what the control shows."""

    def seed(engine: Engine) -> Users:
        users = seed_users(engine, 7, first=2000)
        with transaction(engine) as s:
            for user, mac in MACS.items():
                s.execute(update(Device).where(Device.id == users.devices[user]).values(mac=mac))
        return users

    with live_servers(tmp_path_factory.mktemp("wire"), seed) as live:
        yield Wire(live.engine, live.env, live.seeded, live.registrar, live.server, live.tmp)


# -- what the servers wrote behind ---------------------------------------------------------------


def access_reasons(engine: Engine, device_id: int) -> list[str]:
    with transaction(engine) as s:
        return list(s.scalars(select(AccessLog.reason).where(AccessLog.device_id == device_id).order_by(AccessLog.id)))


def wait_access(engine: Engine, device_id: int, reason: str) -> None:
    """The access-log row (written behind) and, for a fetch, the device's last access (same flush)."""

    def written() -> bool:
        if reason not in access_reasons(engine, device_id):
            return False
        with transaction(engine) as s:
            return reason != ek.OK or s.scalar(select(Device.last_access_at).where(Device.id == device_id)) is not None

    wait_for(written, 15, f"an access-log row {reason} of device {device_id}")


def events(engine: Engine, line_id: int, event: str) -> list[RegistrationEvent]:
    with transaction(engine) as s:
        stmt = select(RegistrationEvent).where(RegistrationEvent.line_id == line_id, RegistrationEvent.event == event)
        return list(s.scalars(stmt.order_by(RegistrationEvent.id)))


def wait_event(engine: Engine, line_id: int, event: str, timeout: float = 20) -> RegistrationEvent:
    found = wait_for(lambda: events(engine, line_id, event), timeout, f"a {event} row of line {line_id}")
    return found[-1]  # type: ignore[index,no-any-return]


def wait_binding(engine: Engine, line_id: int) -> None:
    def bound() -> bool:
        with transaction(engine) as s:
            return s.scalar(select(Registration.id).where(Registration.line_id == line_id).limit(1)) is not None

    wait_for(bound, 15, f"a binding of line {line_id} written behind")


def diagnose(engine: Engine, actor: Actor, device_id: int) -> Diagnosis:
    with Session(engine) as s:
        return diagnose_device(s, actor, device_id, datetime.now(UTC))


def findings(d: Diagnosis) -> dict[str, str]:
    """code -> severity (each code appears once)."""
    out = {f.code: f.severity for f in d.findings}
    assert len(out) == len(d.findings), [f.code for f in d.findings]
    return out


def finding(d: Diagnosis, code: str) -> Any:
    return next(f for f in d.findings if f.code == code)


# -- the faults ------------------------------------------------------------------------------------


def test_old_key_used_after_a_new_key_over_https(wire: Wire, provider: Actor) -> None:
    ip, dev = "127.0.9.11", wire.users.devices[OLD_KEY]
    old = wire.key(OLD_KEY)
    assert wire.fetch(OLD_KEY, ip, old).status_code == 200
    wait_access(wire.engine, dev, ek.OK)
    assert "old_key_used" not in findings(diagnose(wire.engine, provider, dev))

    with transaction(wire.engine) as s:
        devices.new_key(s, provider, dev)  # Nouveau clé, committed while serve runs
    # The phone still has its old URL. (On PostgreSQL serve re-reads the retired keys at most every 2 s, on
    # the first unknown key since: no request in this module asks with an unknown key before this one.)
    refused = wire.fetch(OLD_KEY, ip, old)
    assert refused.status_code == 404
    wait_access(wire.engine, dev, ek.OLD_KEY)

    d = diagnose(wire.engine, provider, dev)
    assert findings(d).get("old_key_used") == "fault", findings(d)  # nothing fetched since: the phone is stuck on it
    f = finding(d, "old_key_used")
    assert f.params["count"] == 1 and [(e["source_ip"], e["status"]) for e in f.evidence] == [(ip, 404)]
    assert d.verdict == "fault"
    # The new URL answers, and once the phone took it the finding is history (the timeline keeps it).
    assert wire.fetch(OLD_KEY, ip).status_code == 200
    wait_for(lambda: access_reasons(wire.engine, dev).count(ek.OK) == 2, 15, "the fetch with the new key")
    after = diagnose(wire.engine, provider, dev)
    assert "old_key_used" not in findings(after) and "refusal" in [r["kind"] for r in after.timeline], after


def test_mac_mismatch_from_a_user_agent_with_another_mac(wire: Wire, provider: Actor) -> None:
    ip, dev, mac = "127.0.9.12", wire.users.devices[MAC_FAULT], MACS[MAC_FAULT]
    assert wire.fetch(MAC_FAULT, ip, ua=_ua(mac)).status_code == 200  # its own MAC: served
    wait_access(wire.engine, dev, ek.OK)
    assert "mac_mismatch" not in findings(diagnose(wire.engine, provider, dev))

    other = "001565B0B0B0"
    assert wire.fetch(MAC_FAULT, ip, ua=_ua(other)).status_code == 404  # its URL, another phone's MAC
    wait_access(wire.engine, dev, ek.KEY_MAC_MISMATCH)

    d = diagnose(wire.engine, provider, dev)
    assert findings(d).get("mac_mismatch") == "fault", findings(d)  # refused after its last good fetch
    f = finding(d, "mac_mismatch")
    assert (f.params["mac"], f.params["ua_mac"], f.params["count"]) == (mac, other, 1)
    assert [(e["source_ip"], e["ua_mac"]) for e in f.evidence] == [(ip, other)]


def test_auth_failing_when_baresip_keeps_the_old_password_after_new_credentials(wire: Wire, provider: Actor) -> None:
    ip, dev, line = "127.0.9.13", wire.users.devices[AUTH], wire.users.lines[AUTH]
    assert wire.fetch(AUTH, ip).status_code == 200
    wait_access(wire.engine, dev, ek.OK)
    phone = wire.phone(AUTH, ip, regint=3)  # refreshes every few seconds with the password it was given
    try:
        wait_event(wire.engine, line, ek.REG_START)
        assert "auth_failing" not in findings(diagnose(wire.engine, provider, dev))
        with transaction(wire.engine) as s:
            number = s.scalar(select(Line.number).where(Line.id == line))
        assert number
        changed = wire.cli("line", "new-credentials", number)
        assert changed["changed"] is True
        # The registrar reloads its credentials (every 5 s); baresip's next refresh, old password, is refused.
        failed = wait_event(wire.engine, line, ek.REG_AUTH_FAILED, timeout=30)
        assert (failed.source_ip, failed.source_port) == (ip, phone.port)
        wait_event(wire.engine, line, ek.REG_EXPIRED)  # nothing refreshed it since: it ran out
    finally:
        phone.stop(signal.SIGKILL)

    d = diagnose(wire.engine, provider, dev)
    found = findings(d)
    assert found.get("auth_failing") == "fault", found  # no live binding left: the phone is out
    assert found.get("pending_changes") == "warning", found  # the new password is not fetched yet
    assert d.findings[0].code == "auth_failing", found  # the cause first, then its symptom (registration_expired)
    f = finding(d, "auth_failing")
    assert f.params["count"] >= 1
    assert {(e["source_ip"], e["port"]) for e in f.evidence} == {(ip, phone.port)}
    assert f.command == f"python -m core device resync {dev}"
    with transaction(wire.engine) as s:
        password = s.scalar(select(Line.sip_password).where(Line.id == line))
    out = wire.registrar.output()
    leaked = bool(password and password in out) or wire.users.password(AUTH) in out
    assert not leaked, "a SIP password is in the registrar's output"


def test_registration_expired_when_baresip_is_killed(wire: Wire, provider: Actor) -> None:
    ip, dev, line = "127.0.9.14", wire.users.devices[EXPIRY], wire.users.lines[EXPIRY]
    assert wire.fetch(EXPIRY, ip).status_code == 200
    wait_access(wire.engine, dev, ek.OK)
    phone = wire.phone(EXPIRY, ip, regint=3)
    try:
        start = wait_event(wire.engine, line, ek.REG_START)
        wait_binding(wire.engine, line)
        assert "registration_expired" not in findings(diagnose(wire.engine, provider, dev))
        phone.stop(signal.SIGKILL)  # gone without a word: no unregister
        ended = wait_event(wire.engine, line, ek.REG_EXPIRED)
    finally:
        phone.stop(signal.SIGKILL)
    assert ended.contact == start.contact

    report = wire.cli("device", "diagnose", str(dev))  # as support staff would run it
    assert report["device"] == dev and report["verdict"] == "fault"
    by_code = {f["code"]: f for f in report["findings"]}
    assert by_code["registration_expired"]["severity"] == "fault"
    assert [e["source_ip"] for e in by_code["registration_expired"]["evidence"]] == [ip]
    assert "auth_failing" not in by_code and "source_banned" not in by_code


def test_source_banned_by_another_lines_failures_from_the_office_address(wire: Wire, provider: Actor) -> None:
    office = "127.0.9.15"
    dev, line = wire.users.devices[OFFICE], wire.users.lines[OFFICE]
    assert wire.fetch(OFFICE, office).status_code == 200
    wait_access(wire.engine, dev, ek.OK)
    phone = wire.phone(OFFICE, office, regint=600)  # the innocent phone, registered from the office
    try:
        wait_event(wire.engine, line, ek.REG_START)
        before = findings(diagnose(wire.engine, provider, dev))
        assert "source_banned" not in before
        # Another line's user, from the same office address, with a wrong password: sipp, one REGISTER
        # per call, until the registrar's policy bans the address (5 failed digests; the 5th gets no answer).
        guesser = wire.users.lines[GUESSER]
        csv = wire.tmp_path / "guesser.csv"
        csv.write_text(f"SEQUENTIAL\n{GUESSER};[authentication username={GUESSER} password=wrong];{DOMAIN}\n")
        cmd = ["sipp", f"127.0.0.1:{wire.registrar.port}", "-sf", str(SCENARIOS / "reg_auth.xml"),
               "-inf", str(csv), "-i", office, "-p", str(free_port()), "-m", "5", "-r", "20", "-nostdin",
               "-timeout", "30s"]  # fmt: skip
        sipp = subprocess.Popen(cmd, cwd=wire.tmp_path, env=tool_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_for(lambda: _bans(wire.engine, office), 20, "the office address's Ban row")
        finally:
            stop_process(sipp)
        assert len(events(wire.engine, guesser, ek.REG_AUTH_FAILED)) == 5
    finally:
        phone.stop(signal.SIGKILL)
    ban = _bans(wire.engine, office)[0]
    assert ban.scope == "sip"

    d = diagnose(wire.engine, provider, dev)
    assert findings(d).get("source_banned") == "fault", findings(d)
    f = finding(d, "source_banned")
    assert (f.params["ip"], f.params["scope"]) == (office, "sip")
    assert f.command == f"python -m core ban lift {office}"
    # The failures were the other line's: nothing says this phone's password is wrong.
    assert "auth_failing" not in findings(d)
    assert events(wire.engine, line, ek.REG_AUTH_FAILED) == []


def _bans(engine: Engine, ip: str) -> list[Ban]:
    with transaction(engine) as s:
        return list(s.scalars(select(Ban).where(Ban.source_ip == ip)))


def test_a_healthy_phone_has_no_fault_or_warning(wire: Wire, provider: Actor) -> None:
    ip, dev, line, mac = "127.0.9.16", wire.users.devices[HEALTHY], wire.users.lines[HEALTHY], MACS[HEALTHY]
    assert wire.fetch(HEALTHY, ip, ua=_ua(mac)).status_code == 200
    wait_access(wire.engine, dev, ek.OK)
    phone = wire.phone(HEALTHY, ip, regint=600)
    try:
        wait_event(wire.engine, line, ek.REG_START)
        wait_binding(wire.engine, line)
        d = diagnose(wire.engine, provider, dev)
    finally:
        phone.stop()
    assert d.verdict == "ok", findings(d)
    assert not FAULT_CODES & set(findings(d))
    assert {f.severity for f in d.findings} <= {"info"}
    assert access_reasons(wire.engine, dev) == [ek.OK]
