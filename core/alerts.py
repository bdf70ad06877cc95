"""Fraud alerts (issue 13): raised from the raw evidence by core.alert_rules, listed, acknowledged, resolved.

serve's worker (`run_alerts`) reads the rows each origin table got since its cursor
(`rollup_cursor` rows named "alerts.<table>", claimed by compare-and-set like core.rollup, so two
passes never read the same rows) and hands them to the rules. Only the new rows are read, plus what
the rules compare them with: the live alerts of the subjects they touch, per-minute tallies for the
windowed rules, the places each device fetched from and each line registered from (`seen_place`).
A pass costs a constant number of statements, whatever the number of rows (no query per row).
It reads and evaluates first, then writes in a short transaction (`scan_origin`): on SQLite the
database's one write lock is held for the writes only, not while the rules run.

A cursor must not jump over a slower writer's lower id: on PostgreSQL, which commits ids out of order,
a pass reads only ids taken before it began, once the transactions then open have ended (`_claimable`);
SQLite, one writer at a time, needs no wait.

An alert is scoped like the data: `vpbx_id` is the vPBX of its line or device (a vPBX admin sees those),
0 for a source's probing that touches no customer (the provider sees everything).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, and_, bindparam, case, delete, func, insert, null, select, update
from sqlalchemy import text as sql
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import alert_rules, audit, geo, rollup
from core.alert_rules import ACCESS_LOG, REGISTRATION_EVENT, SECURITY_EVENT, Rule
from core.credentials import ProvisioningMac, find_mac
from core.db import transaction
from core.errors import NotFound, ValidationError
from core.models import (
    AccessLog,
    Alert,
    AlertEvidence,
    AlertTally,
    AuditEvent,
    Device,
    Line,
    Registration,
    RegistrationEvent,
    RollupCursor,
    SecurityEvent,
    SeenPlace,
)
from core.permissions import FRAUD_ROLES, Actor, require_role
from core.processes.periodic import every
from core.settings import Settings

log = logging.getLogger(__name__)

ALERT_ROLES = FRAUD_ROLES  # who sees alerts and acts on them (a vPBX admin: its vPBX's)
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATES = (OPEN, ACKNOWLEDGED, RESOLVED)
LIVE = (OPEN, ACKNOWLEDGED)
SETTLE = 2.0  # seconds, PostgreSQL: if a transaction stays open longer than SETTLE_WAIT, younger rows wait
SETTLE_WAIT = 0.5  # seconds a PostgreSQL pass waits for the transactions open when it started to end
RETRIES = 3  # evaluations of one batch whose live alerts changed meanwhile, before leaving it to the next pass
INTERVAL = 1.0  # seconds between passes in serve: the lag stays under settle + INTERVAL + a pass
BATCH = 5_000  # rows of one origin per transaction (bounds the IN lists of a pass well under the drivers' limits)
EVIDENCE_KEPT = 25  # an alert keeps its first and its newest this many evidence rows
NOTE_MAX = 1000
LISTED = 200
TABLES: dict[str, Any] = {ACCESS_LOG: AccessLog, SECURITY_EVENT: SecurityEvent, REGISTRATION_EVENT: RegistrationEvent}
FETCH, REGISTER = "fetch", "register"  # seen_place subjects: "fetch:<device id>", "register:<line id>"
PLACE_KINDS = ("network", "country")
_SHAPE = re.compile(r"[0-9A-Fa-f]{6}…|[0-9A-Fa-f]{12}|[0-9A-Fa-f]{2}(?:[:\-][0-9A-Fa-f]{2}){5}")


@dataclass
class Fact:
    """One raw row, the same shape whatever its table."""

    origin: str
    id: int
    at: datetime
    source_ip: str
    user_agent: str
    what: str  # the access log's reason, the event's kind, the history's event
    device_id: int | None
    line_id: int | None
    vpbx_id: int
    path: str = ""
    status: int = 0
    username: str = ""


@dataclass
class Hit:
    rule: Rule
    subject: str
    vpbx_id: int
    line_id: int | None
    device_id: int | None
    source_ip: str
    facts: list[Fact] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pass:
    """What one pass over one origin's new rows found, before it is written."""

    session: Session
    facts: list[Fact]
    ref: datetime  # the batch's newest row: windows are measured from it (a replayed backlog keeps its times)
    live: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # (rule, subject) -> (id, count)
    asked: set[tuple[str, str]] = field(default_factory=set)  # the keys `live` was read for
    hits: dict[tuple[str, str], Hit] = field(default_factory=dict)
    # Writes the rules want (tallies, seen places), run in the short write transaction after the reading.
    later: list[Callable[[Session], None]] = field(default_factory=list)

    def hit(self, rule: Rule, subject: str, fact: Fact, **detail: Any) -> None:
        h = self.hits.get((rule.code, subject))
        if h is None:
            h = self.hits[(rule.code, subject)] = Hit(
                rule, subject, fact.vpbx_id, fact.line_id, fact.device_id, fact.source_ip if subject.startswith(
                    "source:") else "")  # fmt: skip
        h.facts.append(fact)
        h.detail.update(detail)


# --- reading the new rows -------------------------------------------------------------------------------


def _read(session: Session, origin: str, after: int, upto: int) -> list[Fact]:
    if origin == ACCESS_LOG:
        a = AccessLog
        rows = session.execute(
            select(
                a.id,
                a.at,
                a.source_ip,
                a.user_agent,
                a.reason,
                a.device_id,
                Device.line_id,
                Line.vpbx_id,
                a.path,
                a.status,
            )  # fmt: skip
            .outerjoin(Device, Device.id == a.device_id)
            .outerjoin(Line, Line.id == Device.line_id)
            .where(a.id > after, a.id <= upto)
            .order_by(a.id)
        )
    elif origin == SECURITY_EVENT:
        e = SecurityEvent
        rows = session.execute(
            select(e.id, e.at, e.source_ip, e.user_agent, e.kind, e.device_id, e.line_id, Line.vpbx_id, e.username)
            .outerjoin(Line, Line.id == e.line_id)
            .where(e.id > after, e.id <= upto)
            .order_by(e.id)
        )
    else:
        r = RegistrationEvent
        rows = session.execute(
            select(r.id, r.at, r.source_ip, r.user_agent, r.event, null(), r.line_id, Line.vpbx_id)
            .join(Line, Line.id == r.line_id)
            .where(r.id > after, r.id <= upto)
            .order_by(r.id)
        )
    out = []
    for row in rows:
        fact = Fact(origin, row[0], row[1], row[2] or "", row[3] or "", row[4] or "", row[5], row[6], row[7] or 0)
        if origin == ACCESS_LOG:
            fact.path, fact.status = row[8] or "", row[9] or 0
        elif origin == SECURITY_EVENT:
            fact.username = row[8] or ""
        out.append(fact)
    return out


def _subject(rule: Rule, fact: Fact) -> str | None:
    """What the alert is about, or None if the row does not say (a failure for no known line)."""
    if rule.subject == "device":
        return f"device:{fact.device_id}" if fact.device_id else None
    if rule.subject == "line":
        return f"line:{fact.line_id}" if fact.line_id else None
    if rule.subject == "source":
        return f"source:{fact.source_ip}"
    return f"pattern:{_pattern_id(fact)}"


def _shape(fact: Fact) -> str:
    """The request with its key and MAC masked out: what one probing tool repeats from every address."""
    return _SHAPE.sub("*", fact.path)[:120]


def _pattern_id(fact: Fact) -> str:
    return hashlib.sha256(f"{_shape(fact)}|{fact.user_agent}".encode()).hexdigest()[:16]


def _live_alerts(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    if not keys:
        return {}
    rows = session.execute(
        select(Alert.rule, Alert.subject, Alert.id, Alert.count).where(
            Alert.state != RESOLVED, Alert.subject.in_({s for _, s in keys}), Alert.rule.in_({r for r, _ in keys})
        )
    )
    return {(r, s): (i, c) for r, s, i, c in rows if (r, s) in keys}


def _load_live(p: Pass, keys: set[tuple[str, str]]) -> None:
    p.asked |= keys
    p.live.update(_live_alerts(p.session, keys))


# --- the rule families --------------------------------------------------------------------------------------


def _each(p: Pass, rules: Sequence[Rule]) -> None:
    for rule in rules:
        for fact in p.facts:
            if fact.what in rule.matches and (subject := _subject(rule, fact)):
                p.hit(rule, subject, fact, what=fact.what)


def _minute(at: datetime) -> int:
    return int(at.timestamp()) // 60


def _upsert_tallies(session: Session, counts: dict[tuple[str, str, str, int], int]) -> None:
    if not counts:
        return
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(AlertTally)
    stmt = stmt.on_conflict_do_update(
        index_elements=["rule", "subject", "member", "minute"], set_={"n": AlertTally.n + stmt.excluded.n}
    )
    session.execute(stmt, [{"rule": r, "subject": s, "member": m, "minute": mi, "n": n}
                           for (r, s, m, mi), n in counts.items()])  # fmt: skip


def _windowed(p: Pass, rules: Sequence[Rule]) -> None:
    """count and spread rules: tally this batch per minute, then fire where the window holds enough."""
    if not rules:
        return
    counts: dict[tuple[str, str, str, int], int] = defaultdict(int)
    matched: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for rule in rules:
        for fact in p.facts:
            if fact.what in rule.matches and (subject := _subject(rule, fact)):
                member = fact.source_ip if rule.family == "spread" else ""
                counts[(rule.code, subject, member, _minute(fact.at))] += 1
                matched[(rule.code, subject)].append(fact)
    p.later.append(lambda session: _upsert_tallies(session, counts))
    for rule in rules:
        subjects = {s for (code, s) in matched if code == rule.code}
        if not subjects:
            continue
        # What the window held before this batch (read now, written later) plus the batch itself.
        t = AlertTally
        since = _minute(p.ref) - rule.window // 60
        mine = [(s, m, n) for (code, s, m, mi), n in counts.items() if code == rule.code and mi >= since]
        totals: dict[str, int] = defaultdict(int)
        where = (t.rule == rule.code, t.subject.in_(subjects), t.minute >= since)
        if rule.family == "spread":
            members: dict[str, set[str]] = defaultdict(set)
            for subject, member in p.session.execute(select(t.subject, t.member).where(*where).distinct()):
                members[subject].add(member)
            for subject, member, _ in mine:
                members[subject].add(member)
            totals.update({subject: len(m) for subject, m in members.items()})
        else:
            for subject, n in p.session.execute(select(t.subject, func.sum(t.n)).where(*where).group_by(t.subject)):
                totals[subject] += int(n or 0)
            for subject, _, n in mine:
                totals[subject] += n
        for subject in subjects:
            total = totals.get(subject, 0)
            if total < rule.threshold and (rule.code, subject) not in p.live:
                continue
            facts = matched[(rule.code, subject)]
            detail: dict[str, Any] = {"in_window": total, "window_minutes": rule.window // 60}
            if rule.family == "spread":
                detail.update(sources=total, pattern=_shape(facts[0]), user_agent=facts[0].user_agent[:120])
            for fact in facts:
                p.hit(rule, subject, fact, **detail)


def _place_of(fact: Fact, kind: str) -> str:
    """The fact's network or country, or "" when it is not a public address (labelled, never looked up)."""
    if geo.label(fact.source_ip):
        return ""
    if kind == "country":
        return geo.country(fact.source_ip)
    return geo.provider_network(fact.source_ip)


def _track_places(p: Pass) -> dict[tuple[int, str], tuple[str, list[str]]]:
    """Record where each device fetched from and each line registered from; returns, per (fact id, kind),
    a place new to a subject that had others before (with those others), for the place rules."""
    subject_of: dict[int, str] = {}
    for fact in p.facts:
        if fact.origin == ACCESS_LOG and fact.what in alert_rules.FETCHED and fact.device_id and fact.status == 200:
            subject_of[fact.id] = f"{FETCH}:{fact.device_id}"
        elif fact.origin == REGISTRATION_EVENT and fact.what in alert_rules.REGISTERED and fact.line_id:
            subject_of[fact.id] = f"{REGISTER}:{fact.line_id}"
    if not subject_of:
        return {}
    known: dict[tuple[str, str], dict[str, datetime]] = defaultdict(dict)
    for subject, kind, value, last_at in p.session.execute(
        select(SeenPlace.subject, SeenPlace.kind, SeenPlace.value, SeenPlace.last_at).where(
            SeenPlace.subject.in_(set(subject_of.values()))
        )
    ):
        known[(subject, kind)][value] = last_at
    before = {key: dict(values) for key, values in known.items()}
    novel: dict[tuple[int, str], tuple[str, list[str]]] = {}
    for fact in p.facts:
        place_subject = subject_of.get(fact.id)
        if place_subject is None:
            continue
        for kind in PLACE_KINDS:
            value = _place_of(fact, kind)
            if not value:
                continue
            values = known[(place_subject, kind)]
            if value not in values and values:
                novel[(fact.id, kind)] = (value, sorted(values)[:5])
            values[value] = max(fact.at, values.get(value, fact.at))
    new_rows, seen_rows = [], []
    for (subject, kind), values in known.items():
        for value, last_at in values.items():
            old = before.get((subject, kind), {})
            if value not in old:
                new_rows.append({"subject": subject, "kind": kind, "value": value, "first_at": last_at,
                                 "last_at": last_at})  # fmt: skip
            elif old[value] != last_at:
                seen_rows.append({"s": subject, "k": kind, "v": value, "last": last_at})
    if new_rows or seen_rows:
        p.later.append(lambda session: _write_places(session, new_rows, seen_rows))
    return novel


def _write_places(session: Session, new_rows: list[dict[str, Any]], seen_rows: list[dict[str, Any]]) -> None:
    if new_rows:
        session.execute(insert(SeenPlace), new_rows)
    if seen_rows:
        sp = cast(Table, SeenPlace.__table__)
        session.execute(
            update(sp)
            .where(sp.c.subject == bindparam("s"), sp.c.kind == bindparam("k"), sp.c.value == bindparam("v"))
            .values(last_at=bindparam("last")),
            seen_rows,
        )


def _places(p: Pass, rules: Sequence[Rule], novel: dict[tuple[int, str], tuple[str, list[str]]]) -> None:
    for rule in rules:
        for fact in p.facts:
            if fact.what not in rule.matches or (fact.id, rule.place) not in novel:
                continue
            if (subject := _subject(rule, fact)) is None:
                continue
            value, known = novel[(fact.id, rule.place)]
            p.hit(rule, subject, fact, place=value, known=known)


def _done_mac(p: Pass, rules: Sequence[Rule]) -> None:
    """A MAC-named bootstrap asked for a device whose Provisioning MAC is `done`: someone replays it."""
    if not rules:
        return
    wanted: dict[int, str] = {}
    for fact in p.facts:
        if fact.origin == ACCESS_LOG and fact.what in rules[0].matches:
            mac = find_mac(fact.path) or find_mac(fact.user_agent)
            if mac:
                wanted[fact.id] = mac
    if not wanted:
        return
    done: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for device_id, mac, line_id, vpbx_id in p.session.execute(
        select(Device.id, Device.mac, Device.line_id, Line.vpbx_id)
        .join(Line, Line.id == Device.line_id)
        .where(Device.mac.in_(set(wanted.values())), Device.provisioning_mac == ProvisioningMac.DONE)
    ):
        done[mac or ""].append((device_id, line_id, vpbx_id))
    for fact in p.facts:
        for device_id, line_id, vpbx_id in done.get(wanted.get(fact.id, ""), ()):
            as_device = Fact(**{**fact.__dict__, "device_id": device_id, "line_id": line_id, "vpbx_id": vpbx_id})
            for rule in rules:
                p.hit(rule, f"device:{device_id}", as_device, mac=wanted[fact.id])


def _line_devices(p: Pass, line_ids: set[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for device_id, line_id in p.session.execute(select(Device.id, Device.line_id).where(Device.line_id.in_(line_ids))):
        out[line_id].append(device_id)
    return out


def _registration_rules(p: Pass, rules: Sequence[Rule], novel: dict[tuple[int, str], tuple[str, list[str]]]) -> None:
    """apart, far_apart, after_credentials: a registration compared with the line's fetches, its other
    live bindings and its latest credentials renewal."""
    regs = [f for f in p.facts if f.origin == REGISTRATION_EVENT and f.what in alert_rules.REGISTERED and f.line_id]
    regs = [f for f in regs if not geo.label(f.source_ip)]
    if not regs or not rules:
        return
    line_ids = {f.line_id for f in regs if f.line_id}
    by_family = {r.family: r for r in rules}
    if rule := by_family.get("apart"):
        devices = _line_devices(p, line_ids)
        subjects = {f"{FETCH}:{d}": line for line, ds in devices.items() for d in ds}
        fetched: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        since = p.ref - timedelta(seconds=rule.window)
        if subjects:
            for subject, kind, value in p.session.execute(
                select(SeenPlace.subject, SeenPlace.kind, SeenPlace.value).where(
                    SeenPlace.subject.in_(set(subjects)), SeenPlace.last_at >= since
                )
            ):
                fetched[subjects[subject]][kind].add(value)
        for fact in regs:
            places = fetched.get(fact.line_id or 0)
            if not places:
                continue
            country = geo.country(fact.source_ip)
            kind, value = ("country", country) if country and places.get("country") else (
                "network", geo.provider_network(fact.source_ip))  # fmt: skip
            if places.get(kind) and value not in places[kind]:
                p.hit(rule, f"line:{fact.line_id}", fact, registered_from=value, fetched_from=sorted(places[kind])[:5])
    if rule := by_family.get("far_apart"):
        bound: dict[int, set[str]] = defaultdict(set)
        for line_id, ip in p.session.execute(
            select(Registration.line_id, Registration.source_ip).where(
                Registration.line_id.in_(line_ids), Registration.expires_at > p.ref
            )
        ):
            if line_id is not None and not geo.label(ip) and (country := geo.country(ip)):
                bound[line_id].add(country)
        for fact in regs:
            countries = sorted(bound.get(fact.line_id or 0, set()) | {geo.country(fact.source_ip)} - {""})
            far = [(a, b, geo.distance_km(a, b)) for i, a in enumerate(countries) for b in countries[i + 1 :]]
            far = [(a, b, d) for a, b, d in far if d is None or d >= rule.threshold]
            if far:
                a, b, d = max(far, key=lambda x: x[2] or 0.0)
                p.hit(rule, f"line:{fact.line_id}", fact, countries=[a, b], km=None if d is None else round(d))
    if rule := by_family.get("after_credentials"):
        fresh = [f for f in regs if (f.id, "network") in novel]
        if not fresh:
            return
        since = p.ref - timedelta(seconds=rule.window)
        renewed: dict[int, datetime] = {}
        for target, renewed_at in p.session.execute(
            select(AuditEvent.target_id, func.max(AuditEvent.at))
            .where(AuditEvent.action == "line.credentials.renew", AuditEvent.target_type == "line",
                   AuditEvent.target_id.in_({str(f.line_id) for f in fresh}), AuditEvent.at >= since)
            .group_by(AuditEvent.target_id)
        ):  # fmt: skip
            renewed[int(target)] = renewed_at
        for fact in fresh:
            at = renewed.get(fact.line_id or 0)
            if at is not None and at <= fact.at:
                value, known = novel[(fact.id, "network")]
                p.hit(rule, f"line:{fact.line_id}", fact, network=value, known=known, renewed_at=_iso(at))


# --- writing what a pass found ------------------------------------------------------------------------------


def _evidence(alert_id: int, facts: Sequence[Fact]) -> list[dict[str, Any]]:
    kept = facts if len(facts) <= 2 * EVIDENCE_KEPT else [*facts[:EVIDENCE_KEPT], *facts[-EVIDENCE_KEPT:]]
    return [
        {"alert_id": alert_id, "origin": f.origin, "origin_id": f.id, "at": f.at, "source_ip": f.source_ip,
         "country": geo.country(f.source_ip)[:16], "what": f.what[:64], "user_agent": f.user_agent[:255],
         "path": f.path[:255]}
        for f in kept
    ]  # fmt: skip


def _write(p: Pass, settings: Settings | None) -> list[int]:
    """Add the hits to their live alerts or open new ones; returns the new alerts' ids."""
    if not p.hits:
        return []
    updates, creates, evidence, touched = [], [], [], []
    for key, h in p.hits.items():
        last = max(f.at for f in h.facts)
        if key in p.live:
            alert_id, count = p.live[key]
            updates.append(
                {"aid": alert_id, "n": len(h.facts), "last": last, "detail": json.dumps(h.detail, default=str)}
            )
            evidence += _evidence(alert_id, h.facts)
            if count + len(h.facts) > 2 * EVIDENCE_KEPT:
                touched.append(alert_id)
        else:
            creates.append(h)
    if updates:
        a = cast(Table, Alert.__table__)
        p.session.execute(
            update(a)
            .where(a.c.id == bindparam("aid"), a.c.state != RESOLVED)
            .values(count=a.c.count + bindparam("n"), detail=bindparam("detail"),
                    last_seen=case((a.c.last_seen < bindparam("last"), bindparam("last")), else_=a.c.last_seen)),
            updates,
        )  # fmt: skip
    new_ids: list[int] = []
    if creates:
        rows = [
            {"rule": h.rule.code, "severity": h.rule.severity, "subject": h.subject, "state": OPEN,
             "vpbx_id": h.vpbx_id, "line_id": h.line_id, "device_id": h.device_id, "source_ip": h.source_ip,
             "detail": json.dumps(h.detail, default=str), "first_seen": min(f.at for f in h.facts),
             "last_seen": max(f.at for f in h.facts), "count": len(h.facts), "acted_by": "", "note": ""}
            for h in creates
        ]  # fmt: skip
        new_ids = list(p.session.scalars(insert(Alert).returning(Alert.id, sort_by_parameter_order=True), rows).all())
        for alert_id, h in zip(new_ids, creates, strict=True):
            evidence += _evidence(alert_id, h.facts)
            if len(h.facts) > 2 * EVIDENCE_KEPT:
                touched.append(alert_id)
    if evidence:
        p.session.execute(insert(AlertEvidence), evidence)
    if touched:
        _trim_evidence(p.session, touched)
    if settings is not None and new_ids:
        _notify(p.session, settings, [i for i, h in zip(new_ids, creates, strict=True) if h.rule.severity == "high"])
    return new_ids


def _trim_evidence(session: Session, alert_ids: list[int]) -> None:
    """Keep each alert's first and newest EVIDENCE_KEPT rows: a long attack's middle adds nothing."""
    e = AlertEvidence
    ranked = (
        select(
            e.id,
            func.row_number().over(partition_by=e.alert_id, order_by=e.id).label("a"),
            func.row_number().over(partition_by=e.alert_id, order_by=e.id.desc()).label("d"),
        )
        .where(e.alert_id.in_(alert_ids))
        .subquery()
    )
    middle = select(ranked.c.id).where(ranked.c.a > EVIDENCE_KEPT, ranked.c.d > EVIDENCE_KEPT)
    session.execute(delete(e).where(e.id.in_(middle)))


def _notify(session: Session, settings: Settings, alert_ids: list[int]) -> None:
    if not alert_ids:
        return
    from core import alert_notify  # the notifier's outbox: rows only, no I/O in this transaction

    for alert in session.scalars(select(Alert).where(Alert.id.in_(alert_ids))):
        alert_notify.enqueue(session, alert, settings)


def _prune_tallies(session: Session, ref: datetime) -> None:
    oldest = _minute(ref) - alert_rules.longest_window() // 60 - 1
    session.execute(delete(AlertTally).where(AlertTally.minute < oldest))


def _claimable(session: Session, origin: str, after: int, batch: int, now: datetime) -> int | None:
    """The last id a pass may take after `after` (at most `batch` rows), or None if there is none yet.

    SQLite gives ids out under its one write lock, so a lower id is never committed after a higher one: every
    row is read at once. PostgreSQL takes ids from a sequence outside the transactions, which commit in any
    order: the pass reads no further than the ids taken before it started and waits for the transactions that
    were open then to end (`_taken_and_settled`); should one stay open, rows younger than SETTLE wait."""
    table = TABLES[origin]
    settled, bound = now, None
    if session.get_bind().dialect.name == "postgresql":
        bound, waited = _taken_and_settled(session, table, after)
        if bound is None:
            return None
        if not waited:
            settled = now - timedelta(seconds=SETTLE)
    window = select(table.id, table.at).where(table.id > after)
    if bound is not None:
        window = window.where(table.id <= bound)
    sub = window.order_by(table.id).limit(batch).subquery()
    upto, fresh = session.execute(select(func.max(sub.c.id), func.min(case((sub.c.at >= settled, sub.c.id))))).one()
    if upto is None:
        return None
    if fresh is not None:
        upto = fresh - 1
    return int(upto) if upto > after else None


_OPEN_WRITERS = sql(
    "SELECT pid, backend_xid::text FROM pg_stat_activity WHERE datname = current_database()"
    " AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
)


def _taken_and_settled(session: Session, table: Any, after: int) -> tuple[int | None, bool]:
    """PostgreSQL: the last id the table's sequence gave out (None if none after `after`), and whether every
    transaction of this database that was writing when it was read has ended since (then each id up to it
    is committed or never will be).

    A writer gets its transaction id in the statement that takes its row's id, microseconds later: the
    writers are listed a moment after the sequence is read, then awaited, up to SETTLE_WAIT."""
    conn = session.connection()
    last = conn.execute(
        sql("SELECT pg_sequence_last_value(CAST(pg_get_serial_sequence(:t, 'id') AS regclass))"),
        {"t": table.__tablename__},
    ).scalar()
    if last is None or last <= after:
        return None, True  # no id given out after the cursor: nothing to wait for
    time.sleep(0.002)  # a writer preempted between its row's id and its transaction id
    writing = _open_writers(conn)
    deadline = time.monotonic() + SETTLE_WAIT
    while writing:
        if time.monotonic() > deadline:
            return int(last), False
        time.sleep(0.005)
        conn.execute(sql("SELECT pg_stat_clear_snapshot()"))  # pg_stat_activity is read once a transaction
        writing &= _open_writers(conn)
    return int(last), True


def _open_writers(conn: Connection) -> set[tuple[int, str]]:
    """(pid, transaction id) of this database's other transactions that have written something."""
    return {(int(pid), str(xid)) for pid, xid in conn.execute(_OPEN_WRITERS)}


def _move_cursor(session: Session, cursor: str, after: int, upto: int) -> bool:
    """Compare-and-set: False if another pass moved the cursor first (it took these rows)."""
    moved = session.execute(
        update(RollupCursor).where(RollupCursor.source == cursor, RollupCursor.last_id == after).values(last_id=upto)
    )
    return cast(Any, moved).rowcount == 1


def scan_origin(engine: Engine, origin: str, settings: Settings | None = None, batch: int = BATCH,
                now: datetime | None = None) -> int:  # fmt: skip
    """One pass over at most `batch` new rows of `origin`; returns how many ids were consumed.

    The rows are read and the rules evaluated without writing (on SQLite: without the database's one write
    lock, which the endpoint's and the registrar's writers need meanwhile); then a short transaction moves the
    cursor by compare-and-set and writes what the pass found. If the cursor moved meanwhile another pass took
    these rows; if a live alert the rules counted into was resolved (or one was opened) meanwhile, the pass
    is evaluated again."""
    cursor = f"alerts.{origin}"
    after = rollup.ensure_cursor(engine, cursor)
    for _attempt in range(RETRIES):
        with Session(engine, expire_on_commit=False) as session:
            upto = _claimable(session, origin, after, batch, now or datetime.now(UTC))
            if upto is None:
                return 0
            facts = _read(session, origin, after, upto)
            p = Pass(session, facts, max((f.at for f in facts), default=now or datetime.now(UTC)))
            if facts:
                _evaluate(p, origin)
            session.rollback()
        with transaction(engine) as session:
            if not _move_cursor(session, cursor, after, upto):
                session.rollback()
                return 0
            live = _live_alerts(session, p.asked | set(p.hits))
            if {k: v[0] for k, v in live.items()} != {k: v[0] for k, v in p.live.items()}:
                session.rollback()
                continue
            p.session, p.live = session, live
            for write in p.later:
                write(session)
            _write(p, settings)
        return upto - after
    log.info("alerts: the live alerts of %s changed during %d passes in a row; the next pass tries again",
             origin, RETRIES)  # fmt: skip
    return 0


def _evaluate(p: Pass, origin: str) -> None:
    """Run the rules over the pass's rows: reads only; the writes are left in `p.later` and `p.hits`."""
    rules = alert_rules.rules_for(origin)
    family = defaultdict(list)
    for r in rules:
        family[r.family].append(r)
    candidates = {(r.code, s) for r in rules for f in p.facts if f.what in r.matches and (s := _subject(r, f))}
    _load_live(p, candidates)
    novel = _track_places(p) if origin in (ACCESS_LOG, REGISTRATION_EVENT) else {}
    _each(p, family["each"])
    _windowed(p, [*family["count"], *family["spread"]])
    _places(p, family["place"], novel)
    _done_mac(p, family["done_mac"])
    _registration_rules(p, [*family["apart"], *family["far_apart"], *family["after_credentials"]], novel)
    # Hits whose subject only a rule knows (done_mac: a MAC-named request names no device): their live alert
    # too, or a repeat would open a second one and fail the pass on uq_alert_live forever.
    _load_live(p, set(p.hits) - candidates)
    if family["count"] or family["spread"]:
        ref = p.ref
        p.later.append(lambda session: _prune_tallies(session, ref))


def scan(engine: Engine, settings: Settings | None = None, budget: int = BATCH, now: datetime | None = None) -> int:
    """Every origin, at most `budget` rows each; returns the rows consumed. A pass that fails on one origin
    is logged and leaves that origin's cursor where it was; the other origins go on."""
    total = 0
    for origin in alert_rules.ORIGINS:
        done = 0
        while done < budget:
            try:
                step = scan_origin(engine, origin, settings, min(BATCH, budget - done), now)
            except Exception:
                log.exception("alerts pass failed on %s", origin)
                break
            if not step:
                break
            done += step
        total += done
    return total


async def run_alerts(settings: Settings, engine: Engine, stop: asyncio.Event, interval: float = INTERVAL) -> None:
    """Raise alerts now, then every `interval` seconds until `stop` (started by the serve process)."""

    def one_pass() -> None:
        while scan(engine, settings) >= BATCH and not stop.is_set():  # a backlog: go on at once
            pass

    await every(interval, stop, one_pass, log, "alerts", fixed_rate=True)


# --- the use cases: list, show, acknowledge, resolve ------------------------------------------------------


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat(timespec="seconds") if at else None


def _scoped(actor: Actor) -> Any:
    require_role(actor, *ALERT_ROLES, doing="manage_alerts")
    return Alert.vpbx_id == actor.vpbx_id if not actor.is_provider else and_(True)


def require_scan(actor: Actor) -> None:
    """Running a pass by hand reads every customer's rows: the provider's to do."""
    require_role(actor, "provider", doing="manage_alerts")


def alert_view(a: Alert, lang: str = "en") -> dict[str, Any]:
    rule = alert_rules.BY_CODE.get(a.rule)
    return {
        "id": a.id, "rule": a.rule, "title": rule.title(lang) if rule else a.rule, "severity": a.severity,
        "subject": a.subject, "state": a.state, "vpbx_id": a.vpbx_id, "line_id": a.line_id,
        "device_id": a.device_id, "source_ip": a.source_ip, "detail": json.loads(a.detail or "{}"),
        "first_seen": _iso(a.first_seen), "last_seen": _iso(a.last_seen), "count": a.count,
        "acted_by": a.acted_by, "acted_at": _iso(a.acted_at), "note": a.note,
    }  # fmt: skip


def list_alerts(
    session: Session,
    actor: Actor,
    states: Iterable[str] = LIVE,
    severity: str | None = None,
    line_id: int | None = None,
    device_id: int | None = None,
    limit: int = LISTED,
    lang: str = "en",
) -> list[dict[str, Any]]:
    """The actor's alerts in these states, high before medium before low, the newest first."""
    states = tuple(states)
    for s in states:
        if s not in STATES:
            raise ValidationError("one_of", "state", choices=", ".join(STATES))
    stmt = select(Alert).where(_scoped(actor), Alert.state.in_(states))
    if severity is not None:
        if severity not in alert_rules.SEVERITIES:
            raise ValidationError("one_of", "severity", choices=", ".join(alert_rules.SEVERITIES))
        stmt = stmt.where(Alert.severity == severity)
    if line_id is not None:
        stmt = stmt.where(Alert.line_id == line_id)
    if device_id is not None:
        stmt = stmt.where(Alert.device_id == device_id)
    rank = case({s: i for i, s in enumerate(alert_rules.SEVERITIES)}, value=Alert.severity, else_=9)
    stmt = stmt.order_by(rank, Alert.last_seen.desc(), Alert.id.desc()).limit(limit)
    return [alert_view(a, lang) for a in session.scalars(stmt)]


def open_counts(session: Session, actor: Actor) -> dict[str, int]:
    """How many alerts are open, per severity: the Fraude page's first line."""
    rows = session.execute(
        select(Alert.severity, func.count()).where(_scoped(actor), Alert.state == OPEN).group_by(Alert.severity)
    )
    counts = dict.fromkeys(alert_rules.SEVERITIES, 0)
    counts.update({s: n for s, n in rows})
    return counts


def _get(session: Session, actor: Actor, alert_id: int) -> Alert:
    alert = session.scalar(select(Alert).where(Alert.id == alert_id, _scoped(actor)))
    if alert is None:
        raise NotFound("alert_not_found", "alert")
    return alert


def get_alert(session: Session, actor: Actor, alert_id: int, lang: str = "en") -> dict[str, Any]:
    """One alert with its evidence rows, oldest first."""
    alert = _get(session, actor, alert_id)
    e = AlertEvidence
    rows = session.scalars(select(e).where(e.alert_id == alert.id).order_by(e.id))
    view = alert_view(alert, lang)
    view["evidence"] = [
        {"at": _iso(r.at), "origin": r.origin, "origin_id": r.origin_id, "source_ip": r.source_ip,
         "country": r.country, "what": r.what, "user_agent": r.user_agent, "path": r.path}
        for r in rows
    ]  # fmt: skip
    return view


def clean_note(note: str | None) -> str:
    """A person's note on an alert or a fraud procedure: at most NOTE_MAX printable characters (newlines
    allowed), stripped; anything else is refused naming the field."""
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise ValidationError("too_long", "note", max=NOTE_MAX)
    if any(not c.isprintable() and c != "\n" for c in text):
        raise ValidationError("control_chars", "note")
    return text


def _act(
    session: Session, actor: Actor, alert_id: int, state: str, note: str | None, now: datetime | None
) -> dict[str, Any]:
    text = clean_note(note)
    alert = _get(session, actor, alert_id)
    if alert.state == RESOLVED:
        raise ValidationError("alert_resolved", "alert")
    alert.state, alert.acted_by, alert.acted_at = state, actor.name, now or datetime.now(UTC)
    if text:
        alert.note = text
    action = "alert.ack" if state == ACKNOWLEDGED else "alert.resolve"
    audit.record(session, actor, action, "alert", alert.id, rule=alert.rule, subject=alert.subject, note=text)
    session.flush()
    return alert_view(alert)


def acknowledge(session: Session, actor: Actor, alert_id: int, note: str | None = None,
                now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """Someone is on it: the alert stays live (repeats still count into it) but is no longer "open"."""
    return _act(session, actor, alert_id, ACKNOWLEDGED, note, now)


def resolve(session: Session, actor: Actor, alert_id: int, note: str | None = None,
            now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """Done with: a repeat after this opens a new alert."""
    return _act(session, actor, alert_id, RESOLVED, note, now)
