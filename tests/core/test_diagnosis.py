"""core.diagnosis: each finding made from rows in the database, the cases that must stay quiet,
role scoping, no secret in the report, and a statement count that does not grow with the log."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select, update

from core import bans, devices, diagnosis, heartbeat, lines
from core import event_kinds as ek
from core.credentials import key_hash
from core.db import transaction
from core.errors import NotFound
from core.models import (
    AccessLog,
    Ban,
    Device,
    DeviceCommand,
    Line,
    RedirectionJob,
    Registration,
    RegistrationEvent,
    RetiredKey,
    ServiceHeartbeat,
)
from core.permissions import Actor
from tests.conftest import Seed
from tests.core.test_statement_counts import counting

pytestmark = pytest.mark.db

MAC = "805EC0010203"
UA = "Yealink SIP-T46U 108.86.0.20 80:5e:c0:01:02:03"
OFFICE = "198.51.100.7"


_clock: list[datetime] = []


@pytest.fixture(autouse=True)
def frozen_now() -> None:
    """One "now" per test: the rows are dated from it and the diagnosis runs at it, so a test that compares
    dates rendered to the second cannot straddle a second boundary (it did once in CI)."""
    _clock[:] = [datetime.now(UTC)]


def _now() -> datetime:
    return _clock[0]


@pytest.fixture(autouse=True)
def registrar_running(frozen_now: None, engine: Engine) -> None:
    """The built-in registrar runs: its heartbeat row, fresh for the whole test (a real one beats every 2 s)."""
    heartbeat.beat(engine, "sip", now=_now() + timedelta(hours=1))


def _phone(engine: Engine, actor: Actor, line_id: int, model: str = "yealink-t46u", **kw: object) -> int:
    """A device added a day ago (fetches made by the tests come after its last change)."""
    with transaction(engine) as s:
        dev = int(devices.add_device(s, actor, line_id, model, **kw)["id"])
        s.flush()
        s.execute(update(Device).where(Device.id == dev).values(updated_at=_now() - timedelta(days=1)))
    return dev


def _fetch(engine: Engine, device_id: int, ago: timedelta, ip: str = OFFICE, ua: str = UA,
           reason: str = "ok", status: int = 200) -> None:  # fmt: skip
    """An access-log row as the endpoint's writer leaves it (and the device's last access for a success)."""
    at = _now() - ago
    with transaction(engine) as s:
        s.add(AccessLog(at=at, source_ip=ip, user_agent=ua, path="/<key>.cfg", device_id=device_id, status=status,
                        reason=reason))  # fmt: skip
        if status < 400:
            s.execute(update(Device).where(Device.id == device_id)
                      .values(last_access_at=at, last_access_ip=ip, last_access_ua=ua,
                              updated_at=Device.updated_at))  # fmt: skip


def _bind(engine: Engine, line_id: int, refreshed: timedelta, expires: timedelta, ip: str = OFFICE,
          ua: str = UA, contact: str = "sip:101@198.51.100.7:5060", port: int = 5060) -> None:  # fmt: skip
    now = _now()
    with transaction(engine) as s:
        s.add(Registration(aor=f"line{line_id}@acme.voip.example", contact=contact, line_id=line_id,
                           source_ip=ip, source_port=port, transport="udp", user_agent=ua, call_id="c1",
                           cseq=1, expires_at=now + expires, last_modified=now - refreshed))  # fmt: skip


def _history(engine: Engine, line_id: int, event: str, ago: timedelta, ip: str = OFFICE, port: int = 5060,
             ua: str = UA, contact: str = "sip:101@198.51.100.7:5060") -> None:  # fmt: skip
    """A registration_event row as the registrar's flush writes it (core.sip.store.flush)."""
    with transaction(engine) as s:
        s.add(RegistrationEvent(at=_now() - ago, line_id=line_id, event=event,
                                contact="" if event == ek.REG_AUTH_FAILED else contact, source_ip=ip,
                                source_port=port, transport="udp", user_agent=ua))  # fmt: skip


def _healthy(engine: Engine, provider: Actor, line_id: int, mac: str = MAC) -> int:
    """A phone set up an hour ago, fetched since, registered and refreshed half a minute ago."""
    dev = _phone(engine, provider, line_id, mac=mac)
    _fetch(engine, dev, timedelta(hours=1))
    _bind(engine, line_id, refreshed=timedelta(seconds=30), expires=timedelta(seconds=3570))
    return dev


def _diagnose(engine: Engine, actor: Actor, device_id: int) -> diagnosis.Diagnosis:
    with transaction(engine) as s:
        return diagnosis.diagnose_device(s, actor, device_id, _now())


def _codes(d: diagnosis.Diagnosis) -> dict[str, str]:
    return {f.code: f.severity for f in d.findings}


def _finding(d: diagnosis.Diagnosis, code: str) -> diagnosis.Finding:
    return next(f for f in d.findings if f.code == code)


# --- no false alarm ---


def test_a_healthy_phone_is_ok(engine, provider, seed):
    dev = _healthy(engine, provider, seed.line_a1)
    d = _diagnose(engine, provider, dev)
    assert (d.verdict, d.findings) == ("ok", ())
    assert [row["kind"] for row in d.timeline] == ["binding", "fetch"]


def test_a_phone_that_just_rebooted_is_ok(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(hours=20))
    _history(engine, seed.line_a1, ek.REG_START, timedelta(hours=20))
    _history(engine, seed.line_a1, ek.REG_UNREGISTER, timedelta(seconds=12))  # it said goodbye on reboot
    _fetch(engine, dev, timedelta(seconds=8))  # the fetch at boot
    assert _diagnose(engine, provider, dev).verdict == "ok"  # not registered yet: still booting
    _bind(engine, seed.line_a1, refreshed=timedelta(seconds=2), expires=timedelta(seconds=3598))
    _history(engine, seed.line_a1, ek.REG_START, timedelta(seconds=2))
    d = _diagnose(engine, provider, dev)
    assert d.findings == ()
    assert [row["kind"] for row in d.timeline[:4]] == ["binding", "start", "fetch", "unregister"]


@pytest.mark.parametrize("purged", [True, False])
def test_a_phone_whose_old_binding_expired_while_it_rebooted_is_no_fault(engine, provider, seed, purged):
    """It fetched 30 s ago, after its old binding expired (purged with a REG_EXPIRED row, or not yet)."""
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(hours=2))
    _history(engine, seed.line_a1, ek.REG_START, timedelta(hours=2))
    if purged:
        _history(engine, seed.line_a1, ek.REG_EXPIRED, timedelta(minutes=1))
    else:
        _bind(engine, seed.line_a1, refreshed=timedelta(hours=1, minutes=1), expires=-timedelta(minutes=1))
    _fetch(engine, dev, timedelta(seconds=30))
    assert _diagnose(engine, provider, dev).findings == ()
    with transaction(engine) as s:  # five minutes later it has still not registered: past its boot
        later = diagnosis.diagnose_device(s, provider, dev, _now() + timedelta(minutes=5))
    assert _codes(later) == {"fetched_not_registered": "fault"}  # it came back after the expiry, not before


def test_fifty_phones_behind_one_nat_address_are_ok(engine, provider, seed):
    """One office NAT: every phone fetches and registers from the same address, each from its own port.
    40 lines with one phone each (User-Agents without a MAC), and one line with 10 phones (5 show their
    MAC, 5 do not). Neighbours with old credentials fail from the same address, on their own line and on
    the shared one. Nothing is said of the healthy phones but the ban of the address, once it is real."""
    plain = "Yealink SIP-T46U 108.86.0.20"
    with transaction(engine) as s:
        s.execute(insert(Line), [{"vpbx_id": seed.vpbx_a, "number": f"+4121555{i:04d}", "extension": f"{300 + i}",
                                  "sip_username": f"nat{i}", "sip_password": "p" * 24} for i in range(41)])  # fmt: skip
        line_ids = [line.id for line in s.query(Line).filter(Line.sip_username.like("nat%")).order_by(Line.id)]
    own_lines, failing_line = line_ids[:40], line_ids[40]
    healthy = []
    for i, line_id in enumerate(own_lines):
        dev = _phone(engine, provider, line_id, "yealink-t46u")
        _fetch(engine, dev, timedelta(minutes=30), ua=plain)
        _history(engine, line_id, ek.REG_START, timedelta(minutes=29), port=5000 + i, ua=plain,
                 contact=f"sip:nat{i}@{OFFICE}:{5000 + i}")  # fmt: skip
        _bind(engine, line_id, timedelta(seconds=20), timedelta(minutes=50), ua=plain, port=5000 + i,
              contact=f"sip:nat{i}@{OFFICE}:{5000 + i}")  # fmt: skip
        healthy.append(dev)
    shared = seed.line_a2
    for i in range(10):
        mac = f"805EC00100{i:02X}"
        ua = f"{plain} {mac.lower()}" if i < 5 else plain
        dev = _phone(engine, provider, shared, "yealink-t46u", mac=mac)
        _fetch(engine, dev, timedelta(minutes=30), ua=ua)
        _history(engine, shared, ek.REG_START, timedelta(minutes=29), port=6000 + i, ua=ua,
                 contact=f"sip:102@{OFFICE}:{6000 + i}")  # fmt: skip
        _bind(engine, shared, timedelta(seconds=20), timedelta(minutes=50), ua=ua, port=6000 + i,
              contact=f"sip:102@{OFFICE}:{6000 + i}")  # fmt: skip
        healthy.append(dev)
    # The neighbours with old credentials: one on its own line, one on the shared line (MAC shown or not).
    bad = _phone(engine, provider, failing_line, "yealink-t46u")
    _fetch(engine, bad, timedelta(minutes=30), ua=plain)
    bad_shared = _phone(engine, provider, shared, "yealink-t46u", mac="805EC00199FF")
    for n in range(5):
        _history(engine, failing_line, ek.REG_AUTH_FAILED, timedelta(seconds=10 + n), port=7000, ua=plain)
        _history(engine, shared, ek.REG_AUTH_FAILED, timedelta(seconds=10 + n), port=7001,
                 ua=f"{plain} 80:5e:c0:01:99:ff")  # fmt: skip
        _history(engine, shared, ek.REG_AUTH_FAILED, timedelta(seconds=10 + n), port=7002, ua=plain)
    assert len(healthy) == 50
    assert {dev: _diagnose(engine, provider, dev).findings for dev in healthy} == {dev: () for dev in healthy}
    assert _codes(_diagnose(engine, provider, bad))["auth_failing"] == "fault"
    assert _codes(_diagnose(engine, provider, bad_shared))["auth_failing"] == "fault"

    with transaction(engine) as s:  # the neighbours' failures got the office banned
        s.add(Ban(source_ip=OFFICE, scope="sip", reason="auth failures", expires_at=_now() + timedelta(hours=1)))
    assert {tuple(_codes(_diagnose(engine, provider, dev))) for dev in healthy} == {("source_banned",)}


# --- each code from facts in the database ---


def test_never_fetched(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    d = _diagnose(engine, provider, dev)
    assert d.verdict == "fault" and _codes(d) == {"never_fetched": "fault"}
    f = _finding(d, "never_fetched")
    assert (f.button, f.command) == ("setup", f"python -m core device show {dev}")
    assert "jamais" in f.text("fr") and "never downloaded" in f.text("en")


def test_mac_mismatch_names_the_mac_the_phone_shows(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    other = "Yealink SIP-T46U 108.86.0.20 80:5e:c0:99:99:99"
    _fetch(engine, dev, timedelta(minutes=3), ip="203.0.113.50", ua=other, reason="key_mac_mismatch", status=404)
    d = _diagnose(engine, provider, dev)
    f = _finding(d, "mac_mismatch")
    assert f.severity == "fault" and f.params["ua_mac"] == "805EC0999999" and f.params["mac"] == MAC
    assert f.evidence[0]["source_ip"] == "203.0.113.50" and f.evidence[0]["user_agent"] == other
    assert f.button == "fix_mac" and "805EC0999999" in f.text("en")
    assert [row["kind"] for row in d.timeline] == ["refusal"]


def test_pending_changes_after_the_last_fetch(engine, provider, seed):
    dev = _healthy(engine, provider, seed.line_a1)
    with transaction(engine) as s:
        devices.update_device(s, provider, dev, label="Reception")  # the file changes; the phone has the old one
    d = _diagnose(engine, provider, dev)
    assert _codes(d) == {"pending_changes": "warning"} and d.verdict == "warning"
    assert _finding(d, "pending_changes").command == f"python -m core device resync {dev}"


def test_fetched_not_registered(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(minutes=10))
    d = _diagnose(engine, provider, dev)
    assert _codes(d) == {"fetched_not_registered": "fault"}
    assert _finding(d, "fetched_not_registered").evidence[0]["source_ip"] == OFFICE


def test_registration_expired_while_the_row_remains(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(hours=2))
    _bind(engine, seed.line_a1, refreshed=timedelta(hours=1, minutes=1), expires=-timedelta(minutes=1))
    d = _diagnose(engine, provider, dev)
    assert _codes(d) == {"registration_expired": "fault"}
    assert _finding(d, "registration_expired").evidence[0]["live"] is False


def test_registration_expired_after_the_registrar_purged_it(engine, provider, seed):
    """No binding row left: the history's REG_EXPIRED, newer than the device's last start, tells it."""
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(hours=3))
    _history(engine, seed.line_a1, ek.REG_START, timedelta(hours=2, minutes=59))
    _history(engine, seed.line_a1, ek.REG_EXPIRED, timedelta(minutes=10), ip="198.51.100.8")
    d = _diagnose(engine, provider, dev)
    assert _codes(d) == {"registration_expired": "fault"}
    f = _finding(d, "registration_expired")
    assert f.params["ip"] == "198.51.100.8"
    assert abs(datetime.fromisoformat(f.params["since"]) - (_now() - timedelta(minutes=10))) < timedelta(seconds=5)
    assert f.evidence[0]["kind"] == "expired" and (f.button, f.command) == ("status", "python -m core line show "
                                                                              "+41215550101")  # fmt: skip
    assert [row["kind"] for row in d.timeline] == ["expired", "start", "fetch"]
    _history(engine, seed.line_a1, ek.REG_START, timedelta(minutes=1))  # it came back and registered...
    _bind(engine, seed.line_a1, refreshed=timedelta(minutes=1), expires=timedelta(minutes=59))
    assert _diagnose(engine, provider, dev).findings == ()


def test_stale_binding_left_by_a_reboot_behind_nat(engine, provider, seed):
    """The phone rebooted and the NAT gave it another port: a new contact; the old binding is not refreshed."""
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(hours=2))
    old, new = f"sip:101@{OFFICE}:5060", f"sip:101@{OFFICE}:40112"
    _history(engine, seed.line_a1, ek.REG_START, timedelta(hours=2), contact=old)
    _bind(engine, seed.line_a1, refreshed=timedelta(minutes=20), expires=timedelta(minutes=40), contact=old)
    assert _diagnose(engine, provider, dev).findings == ()
    _history(engine, seed.line_a1, ek.REG_START, timedelta(minutes=3), port=40112, contact=new)
    _bind(engine, seed.line_a1, refreshed=timedelta(minutes=3), expires=timedelta(minutes=57), port=40112,
          contact=new)  # fmt: skip
    d = _diagnose(engine, provider, dev)
    assert (d.verdict, _codes(d)) == ("warning", {"stale_binding": "warning"})
    f = _finding(d, "stale_binding")
    assert (f.params["ip"], f.params["port"]) == (OFFICE, 5060)
    assert (f.button, f.command) == ("status", "python -m core line show +41215550101")
    assert [(e["port"], e.get("live")) for e in f.evidence] == [(5060, True), (40112, None)]
    assert "40112" not in f.text("fr") and f"{OFFICE}:5060" in f.text("fr")


def test_fetched_from_another_network_than_it_registers_is_info(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(minutes=40), ip="198.51.100.200")  # same /24 as the office: same place
    _fetch(engine, dev, timedelta(minutes=30))
    _bind(engine, seed.line_a1, refreshed=timedelta(seconds=30), expires=timedelta(minutes=50), ip="203.0.113.9")
    d = _diagnose(engine, provider, dev)
    assert (d.verdict, _codes(d)) == ("ok", {"fetched_from_unusual_address": "info"})
    f = _finding(d, "fetched_from_unusual_address")
    assert (f.params["fetch_ip"], f.params["sip_ip"]) == (OFFICE, "203.0.113.9")
    assert "203.0.113.9" in f.text("fr") and "réseau" in f.text("fr")


def test_a_phone_that_moved_once_is_info_and_back_and_forth_a_warning(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    home = "2001:db8:1:2::10"
    for minutes in (300, 290, 280):
        _fetch(engine, dev, timedelta(minutes=minutes))
    _fetch(engine, dev, timedelta(minutes=200), ip=home)  # moved to the home office and stayed
    _fetch(engine, dev, timedelta(minutes=100), ip="2001:db8:1:2::99")  # same /64
    _bind(engine, seed.line_a1, refreshed=timedelta(seconds=30), expires=timedelta(minutes=50), ip=home)
    f = _finding(_diagnose(engine, provider, dev), "fetched_from_unusual_address")
    assert f.severity == "info" and {e["source_ip"] for e in f.evidence} >= {OFFICE, home}
    _fetch(engine, dev, timedelta(minutes=10))  # and back at the office: the key is used in two places?
    d = _diagnose(engine, provider, dev)
    assert (d.verdict, _finding(d, "fetched_from_unusual_address").severity) == ("warning", "warning")


def test_old_fetches_and_other_devices_do_not_count_as_moving(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(days=9), ip="192.0.2.44")  # before the window: history
    _fetch(engine, dev, timedelta(hours=1))
    _bind(engine, seed.line_a1, refreshed=timedelta(seconds=30), expires=timedelta(seconds=3570))
    other = _phone(engine, provider, seed.line_a2, mac="805EC0010204")
    _fetch(engine, other, timedelta(minutes=5), ip="192.0.2.45")
    assert _diagnose(engine, provider, dev).findings == ()


def _new_key(engine: Engine, actor: Actor, device_id: int, ago: timedelta) -> None:
    """Nouveau clé through the use case, its retirement dated `ago` (the retired key kept as its hash only)."""
    with transaction(engine) as s:
        old_key = s.get(Device, device_id).access_key  # type: ignore[union-attr]
        devices.new_key(s, actor, device_id)
        s.flush()
        row = s.scalars(select(RetiredKey).where(RetiredKey.key_hash == key_hash(old_key))).one()  # type: ignore[arg-type]
        row.retired_at = _now() - ago
        s.execute(update(Device).where(Device.id == device_id).values(updated_at=_now() - ago))


def test_old_key_used_after_a_new_key(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(days=3))
    _new_key(engine, provider, dev, timedelta(days=2))
    _fetch(engine, dev, timedelta(hours=5), reason=ek.OLD_KEY, status=404)
    _fetch(engine, dev, timedelta(minutes=5), reason=ek.OLD_KEY, status=404)
    d = _diagnose(engine, provider, dev)
    f = _finding(d, "old_key_used")
    assert f.severity == "fault" and d.verdict == "fault"  # nothing fetched with the new address since
    assert f.params == {"date": diagnosis._iso(_now() - timedelta(days=2)), "count": 2,
                        "last": diagnosis._iso(_now() - timedelta(minutes=5))}  # fmt: skip
    assert (f.button, f.command) == ("setup", f"python -m core device show {dev}")
    assert [e["reason"] for e in f.evidence] == ["old_key", "old_key"] and f.evidence[0]["user_agent"] == UA
    assert "Nouveau clé" in f.text("fr") and "Configuration manuelle" in f.text("fr")
    rotation = [row for row in d.timeline if row["kind"] == "key_rotation"]
    assert rotation == [{"at": diagnosis._iso(_now() - timedelta(days=2)), "source_ip": "", "user_agent": "",
                         "kind": "key_rotation"}]  # fmt: skip
    _fetch(engine, dev, timedelta(minutes=1))  # the phone took its new address: solved, the timeline keeps it
    d = _diagnose(engine, provider, dev)
    assert "old_key_used" not in _codes(d) and [r["kind"] for r in d.timeline].count("refusal") == 2
    _fetch(engine, dev, timedelta(seconds=30), reason=ek.OLD_KEY, status=404)  # and yet something asks the old
    assert _codes(_diagnose(engine, provider, dev))["old_key_used"] == "warning"


def test_an_old_key_request_of_last_month_is_history(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _new_key(engine, provider, dev, timedelta(days=40))
    _fetch(engine, dev, timedelta(days=30), reason=ek.OLD_KEY, status=404)
    _fetch(engine, dev, timedelta(hours=1))
    _bind(engine, seed.line_a1, refreshed=timedelta(seconds=30), expires=timedelta(seconds=3570))
    d = _diagnose(engine, provider, dev)
    assert d.findings == ()
    assert [row["kind"] for row in d.timeline] == ["binding", "fetch", "refusal", "key_rotation"]


def test_old_key_requests_are_found_behind_a_busy_log(engine, provider, seed):
    dev = _healthy(engine, provider, seed.line_a1)
    _new_key(engine, provider, dev, timedelta(days=1))
    _fetch(engine, dev, timedelta(hours=2), reason=ek.OLD_KEY, status=404)
    rows = [{"at": _now() - timedelta(minutes=30, seconds=i), "source_ip": OFFICE, "user_agent": UA,
             "path": "/<key>.cfg", "device_id": dev, "status": 200, "reason": "ok"}
            for i in range(diagnosis.ACCESS_ROWS + 5)]  # fmt: skip
    with transaction(engine) as s:
        s.execute(insert(AccessLog), rows)
    d = _diagnose(engine, provider, dev)
    assert _codes(d) == {}  # the phone fetched with its new key since (55 times): solved
    assert sum(row["reason"] == "old_key" for row in d.timeline if "reason" in row) == 1
    _fetch(engine, dev, timedelta(minutes=1), reason=ek.OLD_KEY, status=404)  # something still asks the old
    assert _codes(_diagnose(engine, provider, dev)) == {"old_key_used": "warning"}


def test_registrar_not_running(engine, provider, seed):
    dev = _healthy(engine, provider, seed.line_a1)
    silent = _phone(engine, provider, seed.line_a2, mac="805EC0010204")
    _fetch(engine, silent, timedelta(minutes=10), ip="192.0.2.80")
    assert _codes(_diagnose(engine, provider, silent)) == {"fetched_not_registered": "fault"}
    with transaction(engine) as s:
        s.execute(update(ServiceHeartbeat).values(seen_at=_now() - timedelta(minutes=1)))  # it stopped beating
    d = _diagnose(engine, provider, dev)
    assert (d.verdict, _codes(d)) == ("warning", {"registrar_not_running": "warning"})
    assert _finding(d, "registrar_not_running").command == "python -m core serve"
    # The phone is not blamed for a registration nobody can take.
    assert _codes(_diagnose(engine, provider, silent)) == {"registrar_not_running": "warning"}
    base = _phone(engine, provider, seed.line_b1, "yealink-w70b")
    handset = _phone(engine, provider, seed.line_b1, "yealink-w56h", base=base)
    _fetch(engine, base, timedelta(minutes=20), ua="Yealink W70B 146.85.0.20", ip="192.0.2.81")
    assert _diagnose(engine, provider, handset).findings == ()  # its base fetched: online as far as we can tell


def test_auth_failing_counts_the_lines_failed_registers_only(engine, provider, seed):
    """Read from the line's registration history (REG_AUTH_FAILED: a failed digest of its user name)."""
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(hours=3))
    for minutes, line_id in ((1, seed.line_a1), (2, seed.line_a1), (3, seed.line_a2), (60 * 25, seed.line_a1)):
        _history(engine, line_id, ek.REG_AUTH_FAILED, timedelta(minutes=minutes))
    d = _diagnose(engine, provider, dev)
    f = _finding(d, "auth_failing")
    assert f.severity == "fault" and f.params["count"] == 2  # not the other line's, not the one 25 h ago
    assert f.button == "resync" and {e["user_agent"] for e in f.evidence} == {UA}
    assert {(e["source_ip"], e["port"]) for e in f.evidence} == {(OFFICE, 5060)}
    assert sum(row["kind"] == "auth_failed" for row in d.timeline) == 2


def test_auth_failing_while_registered_is_a_warning_from_its_own_address_only(engine, provider, seed):
    dev = _healthy(engine, provider, seed.line_a1)  # bound from OFFICE:5060, refreshed 30 s ago
    _history(engine, seed.line_a1, ek.REG_AUTH_FAILED, timedelta(seconds=10), ip="203.0.113.66", port=5060,
             ua="friendly-scanner")  # someone guessing elsewhere: not this phone  # fmt: skip
    _history(engine, seed.line_a1, ek.REG_AUTH_FAILED, timedelta(seconds=5), port=5061, ua="Yealink")
    assert _diagnose(engine, provider, dev).verdict == "ok"  # another phone behind the same NAT (its own port)
    _history(engine, seed.line_a1, ek.REG_AUTH_FAILED, timedelta(seconds=2))  # its own refresh fails now
    f = _finding(_diagnose(engine, provider, dev), "auth_failing")
    assert (f.severity, f.params["count"]) == ("warning", 1)


def test_auth_failures_before_a_fresh_registration_are_over(engine, provider, seed):
    dev = _healthy(engine, provider, seed.line_a1)  # registered 30 s ago
    _history(engine, seed.line_a1, ek.REG_AUTH_FAILED, timedelta(minutes=10))
    assert _diagnose(engine, provider, dev).verdict == "ok"


def test_redirection_pending_then_failed(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC, provisioning_mac="once")
    d = _diagnose(engine, provider, dev)
    assert _codes(d) == {"never_fetched": "fault", "redirection_pending": "warning"}
    with transaction(engine) as s:
        s.execute(update(RedirectionJob).values(state="failed", attempts=5, last_error="HTTP 401"))
    f = _finding(_diagnose(engine, provider, dev), "redirection_failed")
    assert f.severity == "fault" and "HTTP 401" in f.text("en") and f.evidence[0]["attempts"] == 5


def test_handset_without_base_and_base_offline(engine, provider, seed):
    base = _phone(engine, provider, seed.line_a1, "yealink-w70b")
    handset = _phone(engine, provider, seed.line_a1, "yealink-w56h", base=base)
    d = _diagnose(engine, provider, handset)
    assert _codes(d) == {"base_offline": "fault"}  # the base never fetched
    assert _finding(d, "base_offline").command == f"python -m core device diagnose {base}"
    _fetch(engine, base, timedelta(minutes=20), ua="Yealink W70B 146.85.0.20")
    _bind(engine, seed.line_a1, timedelta(seconds=40), timedelta(minutes=30), ua="Yealink W70B 146.85.0.20")
    assert _diagnose(engine, provider, handset).verdict == "ok"  # the line's bindings come from its base
    with transaction(engine) as s:
        s.execute(update(Device).where(Device.id == handset).values(base_station_id=None))
    assert _codes(_diagnose(engine, provider, handset)) == {"handset_without_base": "fault"}


def test_line_blocked(engine, provider, seed):
    dev = _healthy(engine, provider, seed.line_a1)
    with transaction(engine) as s:
        lines.set_blocked(s, provider, seed.line_a1, True)
    f = _finding(_diagnose(engine, provider, dev), "line_blocked")
    assert f.severity == "warning" and f.command == "python -m core line unblock +41215550101"
    # Nothing in this installation handles calls: the text never says the calls are stopped (issue 13.4).
    assert f.params["enforced_by"] is None
    assert "les appels ne sont pas arrêtés" in f.text("fr") and "calls are not stopped" in f.text("en")


def test_line_blocked_says_who_enforces_it_once_something_does(engine, provider, seed, monkeypatch):
    from core.settings import current_settings

    monkeypatch.setenv("VOIPADMIN_SWITCH", "kamailio")
    current_settings.cache_clear()
    dev = _healthy(engine, provider, seed.line_a1)
    with transaction(engine) as s:
        lines.set_blocked(s, provider, seed.line_a1, True)
        assert lines.get_line(s, provider, seed.line_a1)["pstn_block_enforced_by"] == "kamailio"
    f = _finding(_diagnose(engine, provider, dev), "line_blocked")
    assert f.text("fr").endswith("(appliqué par kamailio).") and "not stopped" not in f.text("en")


def test_source_banned_by_the_phones_own_address(engine, provider, seed):
    dev = _healthy(engine, provider, seed.line_a1)
    with transaction(engine) as s:
        s.add(Ban(source_ip=OFFICE, scope="sip", reason="auth failures", expires_at=_now() + timedelta(hours=1)))
        s.add(Ban(source_ip="192.0.2.1", scope="all", reason="scanner", expires_at=_now() + timedelta(hours=1)))
        s.add(Ban(source_ip=OFFICE, scope="all", reason="old", expires_at=_now() - timedelta(hours=1)))
    d = _diagnose(engine, provider, dev)
    banned = [f for f in d.findings if f.code == "source_banned"]
    assert [(f.params["ip"], f.params["scope"]) for f in banned] == [(OFFICE, "sip")]
    assert d.verdict == "fault"
    assert (banned[0].button, banned[0].command) == ("unban", f"python -m core ban lift {OFFICE}")
    with transaction(engine) as s:  # the vPBX's admin lifts it: the address is its phone's
        assert bans.lift_ban(s, seed.admin_a, OFFICE)["lifted"] == 1
    assert _diagnose(engine, provider, dev).verdict == "ok"


def test_an_address_banned_in_two_scopes_is_one_finding(engine, provider, seed):
    """Lifting lifts every scope of the address, so one finding (one button) says both, until the later end."""
    dev = _healthy(engine, provider, seed.line_a1)
    with transaction(engine) as s:
        s.add(Ban(source_ip=OFFICE, scope="sip", reason="auth failures", expires_at=_now() + timedelta(hours=1)))
        s.add(Ban(source_ip=OFFICE, scope="provisioning", reason="misses", expires_at=_now() + timedelta(hours=3)))
    banned = [f for f in _diagnose(engine, provider, dev).findings if f.code == "source_banned"]
    assert len(banned) == 1 and len(banned[0].evidence) == 2
    assert banned[0].params == {"ip": OFFICE, "scope": "all", "until": diagnosis._iso(_now() + timedelta(hours=3))}
    assert "(SIP et provisioning)" in banned[0].text("fr") and "(SIP and provisioning)" in banned[0].text("en")


def test_reboot_failed_unless_the_phone_fetched_since(engine, provider, seed):
    dev = _healthy(engine, provider, seed.line_a1)
    with transaction(engine) as s:
        s.add(DeviceCommand(device_id=dev, action="reboot", requested_by="t", state="timeout",
                            requested_at=_now() - timedelta(minutes=5), finished_at=_now()))  # fmt: skip
    f = _finding(_diagnose(engine, provider, dev), "reboot_failed")
    assert f.params == {"action": "reboot", "state": "timeout"} and f.button == "reboot"
    _fetch(engine, dev, timedelta(minutes=1))  # it did reboot: the NOTIFY's answer was lost
    assert _diagnose(engine, provider, dev).verdict == "ok"


def test_timeline_is_newest_first(engine, provider, seed):
    dev = _healthy(engine, provider, seed.line_a1)
    with transaction(engine) as s:
        s.add(DeviceCommand(device_id=dev, action="resync", requested_by="t", state="ok",
                            requested_at=_now() - timedelta(minutes=10)))  # fmt: skip
    times = [row["at"] for row in _diagnose(engine, provider, dev).timeline]
    assert len(times) == 3 and times == sorted(times, reverse=True)


# --- who may ask, what is said ---


def test_role_scoping(engine, provider, seed: Seed):
    mine = _phone(engine, provider, seed.line_a1, mac=MAC)
    neighbour = _phone(engine, provider, seed.line_a2)
    assert _diagnose(engine, seed.admin_a, mine).device == mine
    assert _diagnose(engine, seed.user_a1, mine).device == mine
    for actor, dev in ((seed.admin_b, mine), (seed.user_a1, neighbour), (provider, 10_000)):
        with pytest.raises(NotFound) as err, transaction(engine) as s:
            diagnosis.load_facts(s, actor, dev, _now())
        assert err.value.code == "device_not_found"


def test_no_secret_in_the_report(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC, admin_password="4711", user_password="80864711")
    _fetch(engine, dev, timedelta(minutes=10))
    _fetch(engine, dev, timedelta(minutes=3), ua="Yealink 80:5e:c0:99:99:99", reason="key_mac_mismatch", status=404)
    with transaction(engine) as s:
        line = s.get(Line, seed.line_a1)
        assert line is not None
        s.add(RegistrationEvent(line_id=line.id, event=ek.REG_AUTH_FAILED, source_ip=OFFICE, source_port=5060))
        secrets = [line.sip_password, "4711", "80864711", s.get(Device, dev).access_key]  # type: ignore[union-attr]
    report = _diagnose(engine, provider, dev)
    assert {"mac_mismatch", "auth_failing"} <= set(_codes(report))
    for lang in ("fr", "en"):
        dumped = json.dumps(report.as_json(lang))
        assert not [secret for secret in secrets if secret and secret in dumped]


def test_the_statement_count_does_not_grow_with_the_log(engine, provider, seed):
    def count(device_id: int) -> int:
        with transaction(engine) as s, counting(engine) as seen:
            diagnosis.load_facts(s, provider, device_id, _now())
        return len(seen)

    one, many = _healthy(engine, provider, seed.line_a1), _healthy(engine, provider, seed.line_a2, "805EC0010204")
    rows = [{"at": _now() - timedelta(seconds=i), "source_ip": OFFICE, "user_agent": UA, "path": "/<key>.cfg",
             "device_id": many, "status": 200 if i % 2 else 404, "reason": "ok" if i % 2 else "key_mac_mismatch"}
            for i in range(499)]  # fmt: skip
    history = [{"at": _now() - timedelta(seconds=i), "line_id": seed.line_a2, "source_ip": OFFICE,
                "event": (ek.REG_START, ek.REG_AUTH_FAILED, ek.REG_EXPIRED)[i % 3], "user_agent": UA}
               for i in range(300)]  # fmt: skip
    with transaction(engine) as s:
        s.execute(insert(AccessLog), rows)
        s.execute(insert(AccessLog), [{**r, "status": 404, "reason": ek.OLD_KEY} for r in rows[:30]])
        s.execute(insert(RegistrationEvent), history)
        s.add_all(RetiredKey(key_hash=f"{i:064x}", device_id=many) for i in range(20))
        s.add_all(Ban(source_ip=OFFICE, scope=sc, expires_at=_now() + timedelta(hours=1)) for sc in ("sip", "all"))
    assert count(one) == count(many) <= 12


def test_diagnose_is_pure_over_facts_made_by_hand():
    """No session, no clock: the same facts give the same report, at the time the facts carry."""
    from core.catalogue import default_catalogue

    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    phone = diagnosis.DeviceFacts(7, "yealink-t46u", MAC, "no", None, now - timedelta(days=3),
                                  now - timedelta(days=2), OFFICE, UA)  # fmt: skip
    facts = diagnosis.Facts(
        now=now, device=phone, model=default_catalogue().get("yealink-t46u"), line_id=1, line_number="+41215550101",
        pstn_blocked=False, line_device_ids=(7,), base=None, accesses=(), last_fetch=None, bindings=(),
        auth_failures=(), commands=(), jobs=(), bans=(),
    )  # fmt: skip
    first = diagnosis.diagnose(facts)
    assert first == diagnosis.diagnose(facts)
    # The log was purged by retention; the device's last access still counts as its fetch.
    assert [(f.code, f.params) for f in first.findings] == [
        ("fetched_not_registered", {"fetched": "2026-01-03T09:00:00+00:00"})
    ]
    live = diagnosis.Binding(now - timedelta(seconds=5), now + timedelta(minutes=1), OFFICE, 5060, "udp", "", None)
    assert diagnosis.diagnose(replace(facts, bindings=(live,))).verdict == "ok"  # the line's only device


def test_through_the_registrars_own_history_writer(engine, provider, seed):
    """The pure registrar (core.sip.registrar) takes the REGISTERs and its flush (core.sip.store) writes the
    bindings and the history the diagnosis reads: a reboot behind NAT leaves a stale binding, and a phone
    of the line with the wrong password is auth_failing."""
    from core.sip import store
    from core.sip.credentials import Credential, CredentialTable
    from core.sip.digest import NonceFactory
    from core.sip.policy import Policy, PolicyConfig
    from core.sip.registrar import Registrar
    from tests.sip.fakeua import FakeUA

    with transaction(engine) as s:
        line = s.get(Line, seed.line_a1)
        assert line is not None
        user, password = line.sip_username, line.sip_password
    domain, key = "acme.voip.example", b"k" * 32
    reg = Registrar(CredentialTable([Credential.make(user, domain, seed.line_a1, password)], key), NonceFactory(key),
                    Policy(PolicyConfig(rate=0)))  # fmt: skip
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(hours=1), ip="127.0.0.1")
    t0 = _now().timestamp()
    assert FakeUA(reg, user, domain, password, port=5090, ua=UA).register(t0 - 1800).status == 200
    assert FakeUA(reg, user, domain, password, port=40112, ua=UA).register(t0 - 60).status == 200  # rebooted
    store.flush(engine, reg.drain_changes(), [], [], reg.drain_history())
    d = _diagnose(engine, provider, dev)
    assert _codes(d) == {"stale_binding": "warning"}
    assert _finding(d, "stale_binding").params["port"] == 5090
    kinds = [row["kind"] for row in d.timeline]
    assert (kinds.count("binding"), kinds.count("start")) == (2, 2)

    wrong = FakeUA(reg, user, domain, password, port=5090, ua=UA)  # the old phone, with old credentials
    assert wrong.register(t0 - 10, password="old-password-of-the-line").status == 403
    store.flush(engine, reg.drain_changes(), [], [], reg.drain_history())
    f = _finding(_diagnose(engine, provider, dev), "auth_failing")
    assert (f.severity, f.params["count"], f.evidence[0]["port"]) == ("warning", 1, 5090)
