"""core.diagnosis: each finding made from rows in the database, the cases that must stay quiet,
role scoping, no secret in the report, and a statement count that does not grow with the log."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, update

from core import devices, diagnosis, lines
from core.db import transaction
from core.errors import NotFound
from core.models import AccessLog, Ban, Device, DeviceCommand, Line, RedirectionJob, Registration, SecurityEvent
from core.permissions import Actor
from tests.conftest import Seed
from tests.core.test_statement_counts import counting

pytestmark = pytest.mark.db

MAC = "805EC0010203"
UA = "Yealink SIP-T46U 108.86.0.20 80:5e:c0:01:02:03"
OFFICE = "198.51.100.7"


def _now() -> datetime:
    return datetime.now(UTC)


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
          ua: str = UA, contact: str = "sip:101@198.51.100.7:5060") -> None:  # fmt: skip
    now = _now()
    with transaction(engine) as s:
        s.add(Registration(aor=f"line{line_id}@acme.voip.example", contact=contact, line_id=line_id,
                           source_ip=ip, source_port=5060, transport="udp", user_agent=ua, call_id="c1",
                           cseq=1, expires_at=now + expires, last_modified=now - refreshed))  # fmt: skip


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
    _fetch(engine, dev, timedelta(seconds=8))  # the fetch at boot
    assert _diagnose(engine, provider, dev).verdict == "ok"  # not registered yet: still booting
    _bind(engine, seed.line_a1, refreshed=timedelta(seconds=2), expires=timedelta(seconds=3598))
    assert _diagnose(engine, provider, dev).findings == ()


def test_fifty_phones_behind_one_nat_address_are_ok(engine, provider, seed):
    """One office NAT: every phone fetches and registers from the same address, with User-Agents that
    carry no MAC; a neighbour's failed logins from that address are not theirs."""
    with transaction(engine) as s:
        s.execute(insert(Line), [{"vpbx_id": seed.vpbx_a, "number": f"+4121555{i:04d}", "extension": f"{300 + i}",
                                  "sip_username": f"nat{i}", "sip_password": "p" * 24} for i in range(50)])  # fmt: skip
        line_ids = [line.id for line in s.query(Line).filter(Line.sip_username.like("nat%")).order_by(Line.id)]
        s.add(SecurityEvent(at=_now() - timedelta(minutes=5), kind="sip_auth_failed", source_ip=OFFICE,
                            username="41215550102", detail="bad digest response"))  # fmt: skip
    ids = []
    for i, line_id in enumerate(line_ids):
        dev = _phone(engine, provider, line_id, "yealink-t46u")
        _fetch(engine, dev, timedelta(minutes=30), ua="Yealink SIP-T46U 108.86.0.20")
        _bind(engine, line_id, timedelta(seconds=20), timedelta(minutes=50), ua="Yealink SIP-T46U 108.86.0.20",
              contact=f"sip:nat{i}@{OFFICE}:{5060 + i}")  # fmt: skip
        ids.append(dev)
    assert {_diagnose(engine, provider, dev).verdict for dev in ids} == {"ok"}


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


def test_auth_failing_counts_the_lines_user_name_only(engine, provider, seed):
    dev = _phone(engine, provider, seed.line_a1, mac=MAC)
    _fetch(engine, dev, timedelta(hours=3))
    with transaction(engine) as s:
        user = s.get(Line, seed.line_a1).sip_username  # type: ignore[union-attr]
        for minutes, name in ((1, user), (2, user), (3, "someone-else"), (60 * 25, user)):
            s.add(SecurityEvent(at=_now() - timedelta(minutes=minutes), kind="sip_auth_failed", source_ip=OFFICE,
                                source_port=5060, username=name, user_agent=UA))  # fmt: skip
    d = _diagnose(engine, provider, dev)
    f = _finding(d, "auth_failing")
    assert f.severity == "fault" and f.params["count"] == 2  # not the other user, not the one 25 h ago
    assert f.button == "resync" and {e["user_agent"] for e in f.evidence} == {UA}
    assert sum(row["kind"] == "auth_failed" for row in d.timeline) == 2


def test_auth_failures_before_a_fresh_registration_are_over(engine, provider, seed):
    dev = _healthy(engine, provider, seed.line_a1)  # registered 30 s ago
    with transaction(engine) as s:
        user = s.get(Line, seed.line_a1).sip_username  # type: ignore[union-attr]
        s.add(SecurityEvent(at=_now() - timedelta(minutes=10), kind="sip_auth_failed", source_ip=OFFICE,
                            username=user))  # fmt: skip
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
        s.add(SecurityEvent(kind="sip_auth_failed", source_ip=OFFICE, username=line.sip_username))
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
    with transaction(engine) as s:
        s.execute(insert(AccessLog), rows)
    assert count(one) == count(many) <= 10


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
