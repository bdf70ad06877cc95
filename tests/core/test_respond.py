"""core.respond: the fraud procedure step by step on rows (the wire test, tests/diagnosis-like with real
peers, is tests/provisioning/test_respond_wire.py): order, waiting, resuming, pushing per device, the
verification, unblocking, the end user's request and its alert, permissions, and no secret in the trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from core import alerts, devices, respond
from core.credentials import key_hash
from core.db import transaction
from core.errors import PermissionDenied, ValidationError
from core.models import (
    AccessLog,
    AuditEvent,
    Device,
    DeviceCommand,
    KeyHandover,
    Line,
    RedirectionJob,
    Registration,
    RetiredKey,
)
from core.permissions import Actor
from tests.conftest import Seed

pytestmark = pytest.mark.db

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DESK_UA = "Yealink SIP-T46U 108.86.0.20 80:5e:c0:01:02:03"
OFFICE = "198.51.100.7"


def _devices(engine: Engine, provider: Actor, line_id: int) -> tuple[int, int]:
    with transaction(engine) as s:
        desk = int(devices.add_device(s, provider, line_id, "yealink-t46u", mac="805EC0010203")["id"])
        spare = int(devices.add_device(s, provider, line_id, "yealink-t46u", mac="805EC0040506")["id"])
    return desk, spare


def _bound(engine: Engine, line_id: int, at: datetime, ua: str = DESK_UA) -> None:
    """The desk phone's binding as the registrar writes it (refreshed at `at`)."""
    with transaction(engine) as s:
        s.execute(Registration.__table__.delete().where(Registration.line_id == line_id))
        s.add(Registration(aor="sip:acme1@acme.voip.example", contact=f"sip:acme1@{OFFICE}:5060", line_id=line_id,
                           source_ip=OFFICE, source_port=5060, transport="udp", user_agent=ua, call_id="c1", cseq=1,
                           expires_at=at + timedelta(hours=1), last_modified=at))  # fmt: skip


def _advance(engine: Engine, actor: Actor, run_id: int, at: datetime, until: str | None = None) -> dict:
    with transaction(engine) as s:
        return respond.advance(s, actor, run_id, now=at, until=until)


def test_the_procedure_from_block_to_unblock(engine: Engine, provider: Actor, seed: Seed) -> None:
    desk, spare = _devices(engine, provider, seed.line_a1)
    _bound(engine, seed.line_a1, T0 - timedelta(minutes=5))
    with transaction(engine) as s:
        old_password = s.scalar(select(Line.sip_password).where(Line.id == seed.line_a1))
        old_keys = dict(s.execute(select(Device.id, Device.access_key).where(Device.line_id == seed.line_a1)).all())
        run = respond.start(s, seed.admin_a, "+41215550101", now=T0)
    assert run["state"] == "running" and run["next_step"] == "block"

    run = _advance(engine, seed.admin_a, run["id"], T0)
    # block, credentials and keys run at once; the push waits for the registrar to load the new password
    assert [s["at"] is not None for s in run["steps"]] == [True, True, True, False, False, False]
    assert run["waiting"] == {"step": "push", "why": "credentials_loading"} and run["pstn_blocked"] is True
    with transaction(engine) as s:
        assert s.scalar(select(Line.sip_password).where(Line.id == seed.line_a1)) != old_password
        new_keys = dict(s.execute(select(Device.id, Device.access_key).where(Device.line_id == seed.line_a1)).all())
        assert all(new_keys[d] != old_keys[d] for d in (desk, spare))
        retired = set(s.scalars(select(RetiredKey.key_hash)))
        assert {key_hash(old_keys[desk]), key_hash(old_keys[spare])} <= retired
        (handover,) = s.scalars(select(KeyHandover)).all()  # the registered desk phone only
        assert (handover.device_id, handover.source_ip, handover.key_hash) == (desk, OFFICE, key_hash(old_keys[desk]))

    run = _advance(engine, seed.admin_a, run["id"], T0 + timedelta(seconds=respond.CREDENTIALS_SETTLE))
    pushed = {d["device_id"]: d for d in run["devices"]}
    assert (pushed[desk]["push"], pushed[desk]["resyncs"]) == ("notify", 1)
    assert pushed[spare]["push"] == "redirection"  # not registered; its model has a redirection service
    assert run["waiting"] == {"step": "verify", "why": "devices_left"}
    with transaction(engine) as s:
        assert s.scalars(select(DeviceCommand.action).where(DeviceCommand.device_id == desk)).all() == ["resync"]
        assert s.scalars(select(RedirectionJob.action).where(RedirectionJob.device_id == spare)).all() == ["register"]
        assert s.scalar(select(Device.provisioning_mac).where(Device.id == spare)) == "once"

    # The desk phone: its old URL once (the handover), then its new key, then a binding with the new password.
    t = T0 + timedelta(seconds=20)
    with transaction(engine) as s:
        s.execute(KeyHandover.__table__.update().values(used_at=t))
    run = _advance(engine, seed.admin_a, run["id"], t)
    assert {d["device_id"]: d["resyncs"] for d in run["devices"]}[desk] == 2  # a second resync: the new key's file
    with transaction(engine) as s:
        fetch = {"at": t + timedelta(seconds=2), "source_ip": OFFICE, "user_agent": DESK_UA, "path": "/x.cfg",
                 "device_id": desk, "status": 200, "reason": "ok"}  # fmt: skip
        s.execute(insert(AccessLog), [fetch])
    _bound(engine, seed.line_a1, t + timedelta(seconds=3))
    run = _advance(engine, seed.admin_a, run["id"], t + timedelta(seconds=5))
    assert [d["device_id"] for d in run["left"]] == [spare] and run["state"] == "running"
    with transaction(engine) as s:
        run = respond.skip_device(s, seed.admin_a, run["id"], spare)  # the spare phone is in a drawer
    run = _advance(engine, seed.admin_a, run["id"], t + timedelta(seconds=6))
    assert run["state"] == "done" and run["left"] == [] and run["pstn_blocked"] is False
    with transaction(engine) as s:
        trail = s.execute(select(AuditEvent.action, AuditEvent.detail).where(AuditEvent.action.like("line.%"))
                          .order_by(AuditEvent.id)).all()  # fmt: skip
        new_password = s.scalar(select(Line.sip_password).where(Line.id == seed.line_a1))
    actions = [a for a, _ in trail]
    for step in respond.STEPS:
        assert f"line.respond.{step}" in actions
    assert actions.index("line.block") < actions.index("line.credentials.renew") < actions.index("line.unblock")
    text = " ".join(d for _, d in trail)
    for secret in (old_password, new_password, *old_keys.values(), *new_keys.values()):
        assert secret not in text


def test_a_line_blocked_before_stays_blocked(engine: Engine, provider: Actor, seed: Seed) -> None:
    from core import lines

    with transaction(engine) as s:
        lines.set_blocked(s, provider, seed.line_a1, True)
        run = respond.start(s, provider, seed.line_a1, now=T0)
    run = _advance(engine, provider, run["id"], T0 + timedelta(seconds=10))
    run = _advance(engine, provider, run["id"], T0 + timedelta(seconds=20))  # no device: nothing to verify
    assert run["state"] == "done" and run["pstn_blocked"] is True


def test_it_resumes_where_it_stopped(engine: Engine, provider: Actor, seed: Seed) -> None:
    _devices(engine, provider, seed.line_a1)
    with transaction(engine) as s:
        run = respond.start(s, provider, seed.line_a1, now=T0)
    run = _advance(engine, provider, run["id"], T0, until="credentials")
    assert run["next_step"] == "keys"
    with transaction(engine) as s:  # "after a restart": a new start takes up the same run
        again = respond.start(s, provider, "+41215550101", now=T0 + timedelta(minutes=1))
    assert again["id"] == run["id"] and again["next_step"] == "keys"
    run = _advance(engine, provider, run["id"], T0 + timedelta(minutes=1))
    assert run["next_step"] == "verify"
    with transaction(engine) as s:
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "line.respond.block")) is not None
        blocks = s.scalars(select(AuditEvent.id).where(AuditEvent.action == "line.block")).all()
    assert len(blocks) == 1  # no step ran twice


def test_an_end_user_asks_and_their_administrator_is_alerted(engine: Engine, provider: Actor, seed: Seed) -> None:
    with transaction(engine) as s:
        asked = respond.request(s, seed.user_a1, seed.line_a1, "my phone was stolen", now=T0)
        assert respond.request(s, seed.user_a1, seed.line_a1)["id"] == asked["id"]  # once
    assert asked["state"] == "requested" and asked["requested_by"] == "alice"
    with transaction(engine) as s:
        (alert,) = alerts.list_alerts(s, seed.admin_a)
        assert alerts.list_alerts(s, seed.admin_b) == []
        assert [r["id"] for r in respond.requests_waiting(s, seed.admin_a)] == [asked["id"]]
        assert respond.requests_waiting(s, seed.admin_b) == []
    assert (alert["rule"], alert["severity"], alert["line_id"]) == ("data_loss_reported", "high", seed.line_a1)
    with transaction(engine) as s, pytest.raises(PermissionDenied):
        respond.start(s, seed.user_a1, seed.line_a1)
    with transaction(engine) as s, pytest.raises(ValidationError):
        respond.advance(s, seed.admin_a, asked["id"])  # requested, not started
    with transaction(engine) as s:
        run = respond.start(s, seed.admin_a, seed.line_a1, now=T0)
    assert run["id"] == asked["id"] and run["started_by"] == "admin-acme"
    run = _advance(engine, seed.admin_a, run["id"], T0 + timedelta(seconds=10))
    run = _advance(engine, seed.admin_a, run["id"], T0 + timedelta(seconds=20))
    assert run["state"] == "done"
    with transaction(engine) as s:
        assert alerts.list_alerts(s, seed.admin_a) == []  # the report is resolved with the procedure


def test_another_customers_admin_cannot_touch_it(engine: Engine, provider: Actor, seed: Seed) -> None:
    from core.errors import NotFound

    with transaction(engine) as s:
        run = respond.start(s, seed.admin_a, seed.line_a1, now=T0)
    with transaction(engine) as s, pytest.raises(NotFound):
        respond.advance(s, seed.admin_b, run["id"])
    with transaction(engine) as s, pytest.raises(NotFound):
        respond.start(s, seed.admin_b, seed.line_a1)
    with transaction(engine) as s:
        assert s.scalar(select(Line.pstn_blocked).where(Line.id == seed.line_a1)) is False


BASE_UA = "Yealink W70B 146.85.0.20 80:5e:c0:0b:0b:0b"
SITE_B = "203.0.113.9"


def test_a_base_of_another_line_carrying_a_handset_is_pushed_and_verified_with_its_key_kept(
    engine: Engine, provider: Actor, seed: Seed
) -> None:
    """Bob's DECT base (line a2) carries Alice's handset (line a1): Alice's account is written in Bob's base's file.
    Alice's procedure re-renders and resyncs that base and waits for it to fetch and to register Alice's account with
    the new password, but never changes its key (it is Bob's device)."""
    with transaction(engine) as s:
        base = int(devices.add_device(s, provider, seed.line_a2, "yealink-w70b", mac="805EC00B0B0B")["id"])
        handset = int(devices.add_device(s, provider, seed.line_a1, "yealink-w56h", base=base)["id"])
        s.execute(Device.__table__.update().where(Device.id == base).values(last_access_ip=SITE_B))
        before = s.scalar(select(Device.config_revision).where(Device.id == base))
        base_key = s.scalar(select(Device.access_key).where(Device.id == base))
        for line_id, user in ((seed.line_a2, "acme2"), (seed.line_a1, "acme1")):  # Bob's account and Alice's
            s.add(Registration(aor=f"sip:{user}@acme.voip.example", contact=f"sip:{user}@{SITE_B}:5062",
                               line_id=line_id, source_ip=SITE_B, source_port=5062, transport="udp",
                               user_agent=BASE_UA, call_id=f"b-{user}", cseq=1, expires_at=T0 + timedelta(hours=1),
                               last_modified=T0 - timedelta(minutes=5)))  # fmt: skip
        run = respond.start(s, seed.admin_a, seed.line_a1, now=T0)

    run = _advance(engine, seed.admin_a, run["id"], T0)
    parts = {d["device_id"]: d for d in run["devices"]}
    assert set(parts) == {handset, base}
    assert parts[base]["other_line"] == "+41215550102" and parts[handset]["other_line"] is None
    with transaction(engine) as s:
        assert s.scalar(select(Device.access_key).where(Device.id == base)) == base_key  # key kept
        assert s.scalar(select(Device.config_revision).where(Device.id == base)) > before  # its file changed
        assert s.scalars(select(RetiredKey.device_id)).all() == []
        assert s.scalars(select(KeyHandover.device_id)).all() == []

    run = _advance(engine, seed.admin_a, run["id"], T0 + timedelta(seconds=respond.CREDENTIALS_SETTLE))
    parts = {d["device_id"]: d for d in run["devices"]}
    # Registered on its own line: a resync NOTIFY (sent over Bob's bindings); the handset itself has no URL.
    assert (parts[base]["push"], parts[base]["resyncs"], parts[base]["left"]) == ("notify", 1, ["fetch", "register"])
    assert (parts[handset]["push"], parts[handset]["left"]) == ("none", [])
    assert run["waiting"] == {"step": "verify", "why": "devices_left"}
    with transaction(engine) as s:
        assert s.scalars(select(DeviceCommand.action).where(DeviceCommand.device_id == base)).all() == ["resync"]

    t = T0 + timedelta(seconds=20)
    with transaction(engine) as s:  # the base fetches its (same) URL: the file now has Alice's new password
        s.execute(insert(AccessLog), [{"at": t, "source_ip": SITE_B, "user_agent": BASE_UA, "path": "/b.cfg",
                                       "device_id": base, "status": 200, "reason": "ok"}])  # fmt: skip
    run = _advance(engine, seed.admin_a, run["id"], t + timedelta(seconds=1))
    assert [(d["device_id"], d["left"]) for d in run["left"]] == [(base, ["register"])]
    with transaction(engine) as s:  # Bob's account re-registering proves nothing for Alice's
        s.execute(Registration.__table__.update().where(Registration.line_id == seed.line_a2)
                  .values(last_modified=t + timedelta(seconds=2)))  # fmt: skip
    run = _advance(engine, seed.admin_a, run["id"], t + timedelta(seconds=3))
    assert [d["device_id"] for d in run["left"]] == [base]
    with transaction(engine) as s:  # then the base registers Alice's account with her new password
        s.execute(Registration.__table__.update().where(Registration.line_id == seed.line_a1)
                  .values(last_modified=t + timedelta(seconds=4)))  # fmt: skip
    run = _advance(engine, seed.admin_a, run["id"], t + timedelta(seconds=5))
    assert run["state"] == "done" and run["left"] == []
    parts = {d["device_id"]: d for d in run["devices"]}
    assert parts[base]["fetched_at"] == t.isoformat(timespec="seconds")
    with transaction(engine) as s:
        assert s.scalar(select(Device.access_key).where(Device.id == base)) == base_key
