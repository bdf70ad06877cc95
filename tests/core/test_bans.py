"""core.bans: who may list and lift a ban, what lifting deletes, what is audited, and the refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from core import bans, devices
from core.db import transaction
from core.errors import NotFound, PermissionDenied, ValidationError
from core.models import AuditEvent, Ban, Device, Registration
from core.permissions import Actor
from tests.conftest import Seed

pytestmark = pytest.mark.db

OFFICE, GLOBEX_OFFICE, SCANNER = "198.51.100.7", "203.0.113.20", "192.0.2.99"


def _now() -> datetime:
    return datetime.now(UTC)


def _ban(engine: Engine, ip: str, scope: str = "sip", hours: float = 1, reason: str = "auth failures") -> None:
    with transaction(engine) as s:
        s.add(Ban(source_ip=ip, scope=scope, reason=reason, expires_at=_now() + timedelta(hours=hours)))


def _fetched_from(engine: Engine, provider: Actor, line_id: int, ip: str) -> int:
    """A device whose last access came from `ip` (as the endpoint records it)."""
    with transaction(engine) as s:
        dev = int(devices.add_device(s, provider, line_id, "yealink-t46u")["id"])
        s.flush()
        s.execute(update(Device).where(Device.id == dev).values(last_access_at=_now(), last_access_ip=ip))
    return dev


def _rows(engine: Engine) -> list[tuple[str, str, bool]]:
    with transaction(engine) as s:
        return [(b.source_ip, b.scope, b.expires_at > _now()) for b in s.scalars(select(Ban).order_by(Ban.id))]


@pytest.fixture
def world(engine: Engine, provider: Actor, seed: Seed) -> Seed:
    """Acme's phone fetches from OFFICE, Globex's from GLOBEX_OFFICE; both banned, and a scanner too."""
    _fetched_from(engine, provider, seed.line_a1, OFFICE)
    _fetched_from(engine, provider, seed.line_b1, GLOBEX_OFFICE)
    _ban(engine, OFFICE, "sip")
    _ban(engine, OFFICE, "all", hours=2)
    _ban(engine, OFFICE, "sip", hours=-1)  # expired: stays as it is
    _ban(engine, GLOBEX_OFFICE, hours=1.5)
    _ban(engine, SCANNER, "all", hours=0.5, reason="scanner tell")
    return seed


def test_the_provider_lists_every_active_ban_and_lifts_all_scopes_of_one(engine, provider, world):
    with transaction(engine) as s:
        listed = bans.list_bans(s, provider)  # latest-ending first
    assert [(b["source_ip"], b["scope"]) for b in listed] == [(OFFICE, "all"), (GLOBEX_OFFICE, "sip"),
                                                              (OFFICE, "sip"), (SCANNER, "all")]  # fmt: skip
    with transaction(engine) as s:
        assert bans.lift_ban(s, provider, f" {OFFICE} ") == {"source_ip": OFFICE, "lifted": 2, "scopes": ["all", "sip"]}
    assert _rows(engine) == [(OFFICE, "sip", False), (GLOBEX_OFFICE, "sip", True), (SCANNER, "all", True)]
    with transaction(engine) as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "ban.lift")).one()
    assert (audit.actor, audit.target_type, audit.target_id) == ("system:pytest", "ban", OFFICE)
    assert json.loads(audit.detail) == {"rows": 2, "scopes": ["all", "sip"]}
    with transaction(engine) as s:  # a scanner's ban too: the provider may lift any
        bans.lift_ban(s, provider, SCANNER)
        with pytest.raises(NotFound) as err:
            bans.lift_ban(s, provider, OFFICE)  # lifted already: only the expired row is left
    assert (err.value.code, err.value.field, str(err.value)) == ("ban_not_found", "source_ip",
                                                                 f"source_ip: {OFFICE} is not banned")  # fmt: skip


def test_a_vpbx_admin_sees_and_lifts_only_its_phones_addresses(engine, provider, world):
    admin = world.admin_a
    with transaction(engine) as s:
        assert {b["source_ip"] for b in bans.list_bans(s, admin)} == {OFFICE}
    for ip in (GLOBEX_OFFICE, SCANNER, "192.0.2.250"):  # banned or not: the same refusal, nothing told
        with pytest.raises(PermissionDenied) as err, transaction(engine) as s:
            bans.lift_ban(s, admin, ip)
        assert (err.value.code, err.value.params) == ("ban_not_yours", {"ip": ip})
    with transaction(engine) as s:
        assert bans.lift_ban(s, admin, OFFICE)["lifted"] == 2
        audit = s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "ban.lift")).one()
    assert audit == "admin-acme"
    assert (GLOBEX_OFFICE, "sip", True) in _rows(engine)


def test_a_live_binding_makes_an_address_the_vpbx_admins(engine, provider, world):
    roaming = "2001:db8:7::5"
    _ban(engine, roaming)
    with transaction(engine) as s:
        s.add(Registration(aor="101@acme.voip.example", contact=f"sip:101@[{roaming}]:5060", line_id=world.line_a1,
                           source_ip=roaming, source_port=5060, transport="udp", call_id="c", cseq=1,
                           expires_at=_now() + timedelta(minutes=30)))  # fmt: skip
        s.add(Registration(aor="201@globex.voip.example", contact="sip:201@192.0.2.99:5060", line_id=world.line_b1,
                           source_ip=SCANNER, source_port=5060, transport="udp", call_id="d", cseq=1,
                           expires_at=_now() - timedelta(minutes=1)))  # expired: no longer anyone's  # fmt: skip
    with transaction(engine) as s:
        assert {b["source_ip"] for b in bans.list_bans(s, world.admin_a)} == {OFFICE, roaming}
        assert {b["source_ip"] for b in bans.list_bans(s, world.admin_b)} == {GLOBEX_OFFICE}
        assert bans.lift_ban(s, world.admin_a, "2001:DB8:7:0::5")["source_ip"] == roaming  # written any way


def test_an_end_user_may_neither_list_nor_lift(engine, world):
    for call in (lambda s: bans.list_bans(s, world.user_a1), lambda s: bans.lift_ban(s, world.user_a1, OFFICE)):
        with pytest.raises(PermissionDenied) as err, transaction(engine) as s:
            call(s)
        assert (err.value.code, str(err.value)) == ("role_forbidden", "a user account may not list or lift bans")
    assert (OFFICE, "sip", True) in _rows(engine)


@pytest.mark.parametrize("value", ["", "198.51.100", "198.51.100.7/24", "office", "999.1.1.1"])
def test_an_invalid_address_is_refused_naming_it(engine, provider, world, value):
    with pytest.raises(ValidationError) as err, transaction(engine) as s:
        bans.lift_ban(s, provider, value)
    assert (err.value.code, err.value.field, err.value.params) == ("ip_invalid", "source_ip", {"value": value})


def test_the_provider_bans_an_address_by_hand_and_nobody_else_may(engine, provider, world):
    with transaction(engine) as s:
        added = bans.add_ban(s, provider, " 2001:DB8::0:7 ", "sip", minutes=90, reason="  svcrack seen  ")
    assert (added["source_ip"], added["scope"], added["reason"]) == ("2001:db8::7", "sip", "svcrack seen")
    with transaction(engine) as s:
        row = s.scalars(select(Ban).where(Ban.source_ip == "2001:db8::7")).one()
        assert timedelta(minutes=89) < row.expires_at - row.created_at <= timedelta(minutes=90)
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "ban.add")).one()
        assert json.loads(audit.detail) == {"scope": "sip", "minutes": 90}
        assert bans.add_ban(s, provider, SCANNER)["reason"] == "banned by system:pytest"  # all scopes, a day
    for actor in (world.admin_a, world.user_a1):
        with transaction(engine) as s, pytest.raises(PermissionDenied) as denied:
            bans.add_ban(s, actor, SCANNER)
        assert denied.value.code == "role_forbidden"
    for kwargs, field in (({"scope": "phones"}, "scope"), ({"minutes": 0.5}, "minutes"), ({"reason": "x" * 256},
                          "reason"), ({"source_ip": "10.0.0"}, "source_ip")):  # fmt: skip
        with transaction(engine) as s, pytest.raises(ValidationError) as bad:
            bans.add_ban(s, provider, **({"source_ip": SCANNER} | kwargs))
        assert bad.value.field == field
