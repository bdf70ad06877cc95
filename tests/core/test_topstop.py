"""TopStop end to end in core: spend from the call records (finished and live calls), a limit reached blocks
at once (the block, the high `topstop_reached` alert, the audit entry, the live calls ended with their BYE
rows written), unblocking is a person's recorded act, and who may do what."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.db import transaction
from core.errors import NotFound, PermissionDenied, ValidationError
from core.models import AccRecord, Alert, AuditEvent, TopstopBlock, TopstopCallCost
from core.settings import Settings
from core.topstop import enforce, limits
from core.topstop.spend import LiveCall
from tests.conftest import Seed
from tests.core.test_statement_counts import counting
from tests.topstop_calls import answered, hung_up

pytestmark = pytest.mark.db

# Zurich: 2026-12-07 10:00 local. Rates per second, rounded up per call.
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
RATES = """currency: EUR
rates:
  "": {per_minute: "1.20", setup: "0.20"}
  "0041": {per_minute: "0.60"}
  "0041900": {per_minute: "6.00"}
"""
SWISS, PREMIUM = "0041215559999", "+41900123456"


@pytest.fixture
def world(engine: Engine, seed: Seed) -> Seed:
    return seed


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The rate table above, from its own file (VOIPADMIN_RATES_FILE)."""
    path = tmp_path / "rates.yaml"
    path.write_text(RATES)
    return settings.with_(rates_file=path)


class Switch:
    """The switch as enforce sees it: ends a live call when asked (core.topstop.live with Kamailio)."""

    def __init__(self) -> None:
        self.ended: list[LiveCall] = []

    def __call__(self, call: LiveCall) -> bool:
        self.ended.append(call)
        return True


def _pass(engine, settings, switch=None, now=NOW):
    return enforce.run_pass(engine, settings, switch, now=now)


def _show(engine, actor, settings, now=NOW, **subject):
    with transaction(engine) as s:
        return limits.show(s, actor, settings, now=now, **subject)


def _set(engine, actor, period, amount, **subject):
    with transaction(engine) as s:
        return limits.set_limit(s, actor, period, amount, **subject)


def _call(engine, line_id, callee, start, seconds):
    callid = answered(engine, line_id, callee, start)
    hung_up(engine, callid, start + timedelta(seconds=seconds))
    return callid


def test_spend_sums_finished_pstn_calls_of_the_period_and_live_ones_as_they_stand(engine, settings, provider, world):
    _call(engine, world.line_a1, SWISS, NOW - timedelta(hours=1), 90)  # 0.90
    _call(engine, world.line_a1, PREMIUM, NOW - timedelta(days=3), 10)  # 1.00, earlier this month
    _call(engine, world.line_a1, PREMIUM, NOW - timedelta(days=10), 60)  # 6.00, last month (30 November)
    internal = answered(engine, world.line_a1, "102", NOW - timedelta(minutes=30), kind="internal")  # never priced
    hung_up(engine, internal, NOW - timedelta(minutes=20))
    answered(engine, world.line_a2, SWISS, NOW - timedelta(seconds=100))  # live: 1.00 so far
    _call(engine, world.line_b1, SWISS, NOW - timedelta(minutes=5), 60)  # another vPBX
    line = _show(engine, provider, settings, line_ref=world.line_a1)
    assert [(p["period"], p["spent"], p["limit"]) for p in line["periods"]] == [("day", "0.90", None),
                                                                               ("month", "1.90", None)]  # fmt: skip
    assert line["currency"] == "EUR" and line["blocked"] is False
    pbx = _show(engine, provider, settings, vpbx_name="acme")
    assert [p["spent"] for p in pbx["periods"]] == ["1.90", "2.90"] and pbx["live_calls"] == 1
    with transaction(engine) as s:
        priced = s.scalars(select(TopstopCallCost).order_by(TopstopCallCost.id)).all()
    assert [(c.prefix, c.seconds, c.cost_cents) for c in priced] == [
        ("0041", 90, 90), ("0041900", 10, 100), ("0041900", 60, 600), ("0041", 60, 60)
    ]  # fmt: skip


def test_a_line_reaching_its_limit_is_blocked_at_once_alerted_audited_and_its_live_call_ended(
    engine, settings, provider, world
):
    _set(engine, world.admin_a, "day", "2.00", line_ref="+41215550101")
    _call(engine, world.line_a1, SWISS, NOW - timedelta(hours=2), 120)  # 1.20 of 2.00
    live = answered(engine, world.line_a1, SWISS, NOW - timedelta(seconds=60))  # 0.60 so far: 1.80
    other = answered(engine, world.line_a2, SWISS, NOW - timedelta(seconds=60))  # Bob's line has no limit
    switch = Switch()
    assert _pass(engine, settings, switch).blocked == []
    assert _show(engine, world.user_a1, settings, line_ref=world.line_a1)["periods"][0]["percent"] == 90
    result = _pass(engine, settings, switch, now=NOW + timedelta(seconds=20))  # 0.80 now: 2.00 reached
    assert [b["subject"] for b in result.blocked] == [f"line:{world.line_a1}"] and result.ended == [live]
    assert [c.callid for c in switch.ended] == [live]  # Bob's call goes on
    with transaction(engine) as s:
        block = s.scalars(select(TopstopBlock)).one()
        alert = s.scalars(select(Alert)).one()
        entry = s.scalars(select(AuditEvent).where(AuditEvent.action == "topstop.block")).one()
        bye = s.execute(
            select(AccRecord.sip_reason, AccRecord.time).where(AccRecord.callid == live, AccRecord.method == "BYE")
        ).one()
    assert (block.line_id, block.limit_cents, block.spent_cents, block.calls_ended) == (world.line_a1, 200, 200, 1)
    assert (alert.rule, alert.severity, alert.subject, alert.vpbx_id, alert.line_id) == (
        "topstop_reached", "high", f"line:{world.line_a1}", world.vpbx_a, world.line_a1)  # fmt: skip
    assert json.loads(alert.detail) | {} == json.loads(entry.detail)
    assert json.loads(entry.detail)["spent"] == "2.00" and entry.actor == "system:topstop"
    assert tuple(bye) == ("TopStop", NOW + timedelta(seconds=20))  # the call record says why
    view = _show(engine, world.user_a1, settings, now=NOW + timedelta(seconds=30), line_ref=world.line_a1)
    assert view["blocked"] is True and view["periods"][0]["spent"] == "2.00" and view["live_calls"] == 0
    later = _pass(engine, settings, switch, now=NOW + timedelta(seconds=40))
    assert later.blocked == [] and len(switch.ended) == 1 and other not in later.ended  # blocked once, ended once


def test_a_call_that_slips_in_while_blocked_is_ended_and_other_lines_keep_calling(engine, settings, provider, world):
    _set(engine, provider, "month", "1.00", line_ref=world.line_a1)
    _call(engine, world.line_a1, PREMIUM, NOW - timedelta(minutes=5), 10)  # 1.00: reached
    switch = Switch()
    assert len(_pass(engine, settings, switch).blocked) == 1
    late = answered(engine, world.line_a1, SWISS, NOW + timedelta(seconds=1))  # another instance let it through
    bob = answered(engine, world.line_a2, SWISS, NOW + timedelta(seconds=1))
    assert _pass(engine, settings, switch, now=NOW + timedelta(seconds=2)).ended == [late]
    assert bob not in [c.callid for c in switch.ended]


def test_a_vpbx_limit_sums_its_lines_and_blocks_every_line_of_it(engine, settings, provider, world):
    _set(engine, provider, "day", "1.50", vpbx_name="acme")
    _call(engine, world.line_a1, SWISS, NOW - timedelta(hours=1), 60)  # 0.60
    a2 = answered(engine, world.line_a2, SWISS, NOW - timedelta(seconds=90))  # 0.90: 1.50
    b1 = answered(engine, world.line_b1, SWISS, NOW - timedelta(seconds=600))  # globex: not concerned
    switch = Switch()
    result = _pass(engine, settings, switch)
    assert [b["subject"] for b in result.blocked] == [f"vpbx:{world.vpbx_a}"] and result.ended == [a2]
    assert b1 not in result.ended
    line = _show(engine, world.user_a1, settings, line_ref=world.line_a1)  # the vPBX's block stops this line too
    assert line["blocked"] is True and [b["scope"] for b in line["blocks"]] == ["vpbx"]
    with transaction(engine) as s:
        assert s.scalars(select(Alert.subject)).all() == [f"vpbx:{world.vpbx_a}"]


def test_unblocking_is_recorded_and_the_same_limit_does_not_block_again_this_period(engine, settings, provider, world):
    _set(engine, world.admin_a, "day", "1.00", line_ref=world.line_a1)
    _call(engine, world.line_a1, PREMIUM, NOW - timedelta(minutes=5), 10)
    _pass(engine, settings, Switch())
    with transaction(engine) as s, pytest.raises(PermissionDenied) as err:
        limits.unblock(s, world.user_a1, "please", line_ref=world.line_a1)
    assert err.value.code == "ask_vpbx_admin"
    with transaction(engine) as s, pytest.raises(NotFound):
        limits.unblock(s, world.admin_b, "not mine", line_ref=world.line_a1)  # another vPBX's line: no such line
    with transaction(engine) as s:
        done = limits.unblock(s, world.admin_a, "customer called, travelling", line_ref=world.line_a1,
                              now=NOW + timedelta(minutes=1))  # fmt: skip
    assert done["lifted"][0]["lifted_by"] == "admin-acme" and done["lifted"][0]["note"] == "customer called, travelling"
    with transaction(engine) as s:
        entry = s.scalars(select(AuditEvent).where(AuditEvent.action == "topstop.unblock")).one()
        with pytest.raises(NotFound) as err:
            limits.unblock(s, world.admin_a, "", line_ref=world.line_a1)
    assert (entry.actor, entry.target_type, entry.target_id) == ("admin-acme", "line", str(world.line_a1))
    assert json.loads(entry.detail)["note"] == "customer called, travelling" and err.value.code == "topstop_not_blocked"
    _call(engine, world.line_a1, SWISS, NOW + timedelta(minutes=2), 60)
    assert _pass(engine, settings, Switch(), now=NOW + timedelta(minutes=4)).blocked == []  # handled this period
    assert (
        _show(engine, world.admin_a, settings, now=NOW + timedelta(minutes=4), line_ref=world.line_a1)["blocked"]
        is False
    )
    _set(engine, world.admin_a, "day", "1.50", line_ref=world.line_a1)  # a new limit, reached: blocks again
    assert len(_pass(engine, settings, Switch(), now=NOW + timedelta(minutes=5)).blocked) == 1
    tomorrow = NOW + timedelta(days=1)
    with transaction(engine) as s:  # a block stays until someone lifts it, whatever the period
        assert limits.show(s, provider, settings, now=tomorrow, line_ref=world.line_a1)["blocked"] is True
    with transaction(engine) as s:
        assert s.scalar(select(Alert.count)) == 2  # the repeat counts into the live alert


def test_who_may_set_limits_and_what_a_limit_is(engine, settings, provider, world):
    with transaction(engine) as s, pytest.raises(PermissionDenied) as err:
        limits.set_limit(s, world.user_a1, "day", "10", line_ref=world.line_a1)
    assert err.value.code == "ask_vpbx_admin"
    with transaction(engine) as s, pytest.raises(PermissionDenied) as err:
        limits.set_limit(s, world.admin_a, "day", "10", vpbx_name="acme")  # the vPBX's limit is the provider's
    assert (err.value.code, err.value.params["doing"]) == ("role_forbidden", "set_vpbx_topstop")
    with transaction(engine) as s, pytest.raises(NotFound):
        limits.set_limit(s, world.admin_b, "day", "10", line_ref=world.line_a1)
    for amount, code in (("ten", "topstop_amount"), ("0", "topstop_amount_range"), ("1.234", "topstop_amount")):
        with transaction(engine) as s, pytest.raises(ValidationError) as err:
            limits.set_limit(s, provider, "day", amount, line_ref=world.line_a1)
        assert (err.value.code, err.value.field) == (code, "amount")
    with transaction(engine) as s, pytest.raises(ValidationError) as err:
        limits.set_limit(s, provider, "week", "10", line_ref=world.line_a1)
    assert (err.value.code, err.value.field) == ("one_of", "period")
    assert _set(engine, world.admin_a, "month", "20,5", line_ref=world.line_a1)["limit"] == "20.50"
    changed = _set(engine, world.admin_a, "month", "30", line_ref=world.line_a1)
    assert (changed["limit"], changed["previous"]) == ("30.00", "20.50")
    assert _set(engine, provider, "day", "100", vpbx_name="acme")["scope"] == "vpbx"
    with transaction(engine) as s:
        assert [(r["number"], r["period"]) for r in limits.overview(s, world.user_a1)] == [("+41215550101", "month")]
        assert len(limits.overview(s, world.admin_a)) == 2 and limits.overview(s, world.admin_b) == []
    assert _set(engine, world.admin_a, "month", "none", line_ref=world.line_a1)["limit"] is None
    with transaction(engine) as s:
        audit = [
            json.loads(e.detail) for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "topstop.limit"))
        ]
    assert [(a["period"], a["amount"], a["previous"]) for a in audit] == [
        ("month", "20.50", None), ("month", "30.00", "20.50"), ("day", "100.00", None), ("month", None, "30.00")
    ]  # fmt: skip
    with transaction(engine) as s, pytest.raises(NotFound):
        limits.show(s, world.user_a1, settings, vpbx_name="globex")


def test_a_pass_costs_the_same_statements_for_few_and_many_calls(engine, settings, provider, world):
    _set(engine, provider, "day", "500", vpbx_name="acme")
    _set(engine, provider, "month", "900", line_ref=world.line_a1)

    _pass(engine, settings)  # the first pass creates its cursor row

    def statements(n: int, start: datetime) -> int:
        for i in range(n):
            _call(engine, world.line_a1 if i % 2 else world.line_a2, SWISS, start + timedelta(seconds=i), 30)
            answered(engine, world.line_a2, SWISS, start + timedelta(seconds=i))
        with counting(engine) as seen:
            _pass(engine, settings, None, now=start + timedelta(minutes=10))
        return len(seen)

    assert statements(3, NOW) == statements(30, NOW + timedelta(hours=1)) <= 14
