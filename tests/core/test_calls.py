"""A line's calls from the call records Kamailio's acc writes (core.calls), and a vPBX's blocked prefixes
(core.blocked_prefixes). The rows are written here as acc writes them (tests/switch/test_calls_live.py has
Kamailio write them for real): an answered INVITE at its 200, its BYE, a call that did not connect."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core import blocked_prefixes, calls
from core.db import transaction
from core.errors import NotFound, PermissionDenied, ValidationError
from core.models import AccRecord, AuditEvent, BlockedPrefix, MissedCall
from tests.core.test_statement_counts import counting

T0 = datetime(2026, 12, 7, 9, 0, 0, tzinfo=UTC)


def _record(table, callid, line_id, callee_line_id, code, at, kind="internal", dialled="102", method="INVITE",
            start=None, reason="OK"):  # fmt: skip
    return table(method=method, from_tag="ft", to_tag="tt", callid=callid, sip_code=code, sip_reason=reason, time=at,
                 src_user="41215550101", src_domain="acme.voip.example", src_ip="192.0.2.10", src_port=5062,
                 dst_ouser=dialled, dst_user=dialled, dst_domain="acme.voip.example", line_id=line_id,
                 callee_line_id=callee_line_id, call_kind=kind, start_time=start)  # fmt: skip


def _answered(s, callid, line_id, callee, start, talk=30, **kw):
    s.add(_record(AccRecord, callid, line_id, callee, "200", start + timedelta(seconds=4), start=start, **kw))
    bye = _record(AccRecord, callid, None, None, "200", start + timedelta(seconds=4 + talk), method="BYE")
    bye.call_kind = bye.dst_ouser = None
    s.add(bye)


def test_answered_missed_and_refused_calls_of_a_line_both_directions(engine, seed, provider):
    with transaction(engine) as s:
        _answered(s, "c1", seed.line_a1, seed.line_a2, T0, talk=42)
        s.add(_record(MissedCall, "c2", seed.line_a2, seed.line_a1, "486", T0 + timedelta(minutes=1),
                      start=T0 + timedelta(minutes=1), reason="Busy Here"))  # fmt: skip
        s.add(_record(MissedCall, "c3", seed.line_a1, None, "403", T0 + timedelta(minutes=2), kind="pstn",
                      dialled="0088212345", start=T0 + timedelta(minutes=2), reason="Destination blocked"))  # fmt: skip
        s.add(_record(MissedCall, "c4", seed.line_b1, None, "480", T0 + timedelta(minutes=3)))  # another line's
    with transaction(engine) as s:
        got = calls.line_calls(s, provider, "+41215550101")
    assert [c["callid"] for c in got] == ["c3", "c2", "c1"]  # newest first
    refused, busy, talked = got
    assert (refused["direction"], refused["kind"], refused["disposition"]) == ("out", "pstn", "refused")
    assert (refused["callee"], refused["sip_code"], refused["sip_reason"]) == ("0088212345", 403, "Destination blocked")
    assert refused["refusal"] == "destination_blocked" and busy["refusal"] == ""
    assert (busy["direction"], busy["disposition"]) == ("in", "busy")
    assert (busy["caller"], busy["callee"]) == ("+41215550102", "+41215550101")
    assert talked["disposition"] == "answered" and talked["source"] == "192.0.2.10:5062"
    assert (talked["start"], talked["answer"]) == (T0, T0 + timedelta(seconds=4))
    assert (talked["end"], talked["duration"]) == (T0 + timedelta(seconds=46), 42)
    assert talked["callee"] == "+41215550102" and talked["dialled"] == "102"


def test_an_answered_branch_wins_over_a_failed_one_of_the_same_call(engine, seed, provider):
    with transaction(engine) as s:
        _answered(s, "fork", seed.line_a1, seed.line_a2, T0)
        s.add(_record(MissedCall, "fork", seed.line_a1, seed.line_a2, "486", T0 + timedelta(seconds=2), start=T0))
    with transaction(engine) as s:
        (only,) = calls.line_calls(s, provider, "+41215550101")
    assert only["disposition"] == "answered"


def test_a_call_still_going_has_no_end(engine, seed, provider):
    with transaction(engine) as s:
        s.add(_record(AccRecord, "live", seed.line_a1, seed.line_a2, "200", T0, start=T0))
    with transaction(engine) as s:
        (live,) = calls.line_calls(s, provider, "+41215550101")
    assert (live["answer"], live["end"], live["duration"]) == (T0, None, None)


@pytest.mark.parametrize(
    ("code", "disposition"),
    [("486", "busy"), ("600", "busy"), ("408", "no_answer"), ("487", "no_answer"), ("480", "unavailable"),
     ("404", "not_found"), ("403", "refused"), ("500", "failed"), ("503", "failed")],
)  # fmt: skip
def test_dispositions(code, disposition):
    assert calls.disposition(code) == disposition


def test_calls_are_scoped_like_the_line(engine, seed):
    with transaction(engine) as s:
        _answered(s, "c1", seed.line_a1, seed.line_a2, T0)
    with transaction(engine) as s:
        assert len(calls.line_calls(s, seed.admin_a, "+41215550102")) == 1  # the called line's admin sees it
        assert len(calls.line_calls(s, seed.user_a1, "+41215550101")) == 1  # and its own user
        with pytest.raises(NotFound):
            calls.line_calls(s, seed.admin_b, "+41215550101")
        with pytest.raises(NotFound):
            calls.line_calls(s, seed.user_a1, "+41215550102")


def test_a_constant_number_of_statements_whatever_the_number_of_calls(engine, seed, provider):
    counts = {}
    for n in (10, 60):
        with transaction(engine) as s:
            s.query(AccRecord).delete()
            s.query(MissedCall).delete()
            for i in range(n):
                _answered(s, f"a{i}", seed.line_a1, seed.line_a2, T0 + timedelta(minutes=i))
                s.add(_record(MissedCall, f"m{i}", seed.line_a2, seed.line_a1, "487", T0 + timedelta(minutes=i)))
        with transaction(engine) as s, counting(engine) as seen:
            got = calls.line_calls(s, provider, "+41215550101", limit=500)
        assert len(got) == 2 * n
        counts[n] = len(seen)
    assert counts[10] == counts[60] <= 4, counts


def test_the_limit_keeps_the_newest(engine, seed, provider):
    with transaction(engine) as s:
        for i in range(5):
            s.add(_record(MissedCall, f"m{i}", seed.line_a1, None, "480", T0 + timedelta(minutes=i), start=T0 +
                          timedelta(minutes=i)))  # fmt: skip
    with transaction(engine) as s:
        assert [c["callid"] for c in calls.line_calls(s, provider, "+41215550101", limit=2)] == ["m4", "m3"]


# --- blocked prefixes ----------------------------------------------------------------------------------------


def test_blocked_prefixes_added_listed_removed_and_audited(engine, seed, provider):
    with transaction(engine) as s:
        assert blocked_prefixes.add_blocked_prefix(s, seed.admin_a, "acme", "00 882")[0]["prefix"] == "+882"
        listed = blocked_prefixes.add_blocked_prefix(s, provider, "acme", "+41 900")
        assert [r["prefix"] for r in listed] == ["+41900", "+882"]
        assert blocked_prefixes.list_blocked_prefixes(s, provider, "globex") == []  # per vPBX
    with transaction(engine) as s:
        left = blocked_prefixes.remove_blocked_prefix(s, seed.admin_a, "acme", "0041900")
        assert [r["prefix"] for r in left] == ["+882"]
        audit = s.execute(select(AuditEvent.actor, AuditEvent.action, AuditEvent.detail).order_by(AuditEvent.id)).all()
    assert [(a, act, json.loads(d)["prefix"]) for a, act, d in audit if act.startswith("vpbx.blocked")] == [
        ("admin-acme", "vpbx.blocked_prefix.add", "+882"),
        ("system:pytest", "vpbx.blocked_prefix.add", "+41900"),
        ("admin-acme", "vpbx.blocked_prefix.remove", "+41900"),
    ]


@pytest.mark.parametrize("bad", ["", "+", "abc", "+41-9x", "1234567890123456", "++41"])
def test_a_prefix_is_digits(engine, seed, provider, bad):
    with transaction(engine) as s, pytest.raises(ValidationError) as err:
        blocked_prefixes.add_blocked_prefix(s, provider, "acme", bad)
    assert (err.value.code, err.value.field) == ("blocked_prefix_invalid", "prefix")


def test_a_prefix_twice_or_unknown(engine, seed, provider):
    with transaction(engine) as s:
        blocked_prefixes.add_blocked_prefix(s, provider, "acme", "+882")
        with pytest.raises(ValidationError) as err:
            blocked_prefixes.add_blocked_prefix(s, provider, "acme", "00882")
        assert err.value.code == "blocked_prefix_exists"
        with pytest.raises(NotFound) as missing:
            blocked_prefixes.remove_blocked_prefix(s, provider, "acme", "+883")
        assert missing.value.code == "blocked_prefix_unknown"


def test_only_the_provider_and_the_vpbx_admin_touch_them(engine, seed):
    with transaction(engine) as s:
        with pytest.raises(NotFound):  # another vPBX: the same answer as a vPBX that does not exist
            blocked_prefixes.add_blocked_prefix(s, seed.admin_b, "acme", "+882")
        with pytest.raises(PermissionDenied) as err:
            blocked_prefixes.list_blocked_prefixes(s, seed.user_a1, "acme")
        assert err.value.code == "role_forbidden"
        assert s.scalars(select(BlockedPrefix)).all() == []


def test_the_dialled_form():
    assert blocked_prefixes.dialled_form("00 41 (900) 12") == "+4190012"
    assert blocked_prefixes.dialled_form("0900.123") == "0900123"  # national: as dialled
