"""Spend from the call records: finished PSTN calls priced once into `topstop_call_cost`, live ones priced
as they stand, and a period's sum per line and per vPBX.

Kamailio's acc module writes an `acc` row when a call is answered (method INVITE: its `time` is the answer)
and one when it ends (method BYE); migration 0011 adds the calling `line_id`, `call_kind` (internal | pstn)
and the dialled number `dst_ouser`. `price_finished` reads the BYE rows after its cursor (a `rollup_cursor`
row, moved by compare-and-set like core.rollup's), pairs each with its INVITE by Call-ID and prices the
PSTN ones; `live_calls` is the answered PSTN INVITEs with no BYE yet. A call TopStop ends gets its BYE row
from core.topstop.enforce (the BYEs Kamailio's dialog module sends pass through no route acc logs).
Times in `acc` are Kamailio's (core.models.KamailioTime reads and writes them as UTC).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from core import rollup
from core.models import AccRecord, Line, RollupCursor, TopstopCallCost
from core.topstop.rates import RateTable

PSTN = "pstn"
CURSOR = "topstop.acc"
SETTLE = 2.0  # seconds, PostgreSQL: Kamailio's children commit acc ids out of order (as core.alerts says)
BATCH = 5_000
LIVE_HOURS = 24  # an answered call with no BYE after this long is not live any more (a lost record)


@dataclass(frozen=True)
class LiveCall:
    """An answered PSTN call still going on, priced as it stands at `now`."""

    line_id: int
    vpbx_id: int
    callid: str
    from_tag: str
    to_tag: str
    callee: str
    answered_at: datetime
    seconds: int
    cost_cents: int


def _claim(session: Session, after: int, settled: datetime) -> int | None:
    acc = AccRecord
    window = select(acc.id, acc.time).where(acc.id > after).order_by(acc.id).limit(BATCH).subquery()
    fresh_id = case((window.c.time >= settled, window.c.id))
    upto, fresh = session.execute(select(func.max(window.c.id), func.min(fresh_id))).one()
    if upto is None:
        return None
    if fresh is not None:
        upto = fresh - 1
        if upto <= after:
            return None
    moved = (
        session.connection()
        .execute(
            update(RollupCursor)
            .where(RollupCursor.source == CURSOR, RollupCursor.last_id == after)
            .values(last_id=upto)
        )
        .rowcount
    )
    return int(upto) if moved == 1 else None


def price_finished(session: Session, rates: RateTable, now: datetime | None = None) -> int:
    """Price the PSTN calls whose BYE row came since the cursor; returns how many acc rows were consumed.
    Three statements whatever the batch (claim, read BYEs with their INVITEs, insert), plus the cursor's."""
    engine = session.connection().engine
    after = rollup.ensure_cursor(engine, CURSOR)
    wait = 0.0 if engine.dialect.name == "sqlite" else SETTLE
    upto = _claim(session, after, (now or datetime.now(UTC)) - timedelta(seconds=wait))
    if upto is None:
        return 0
    bye, inv = aliased(AccRecord), aliased(AccRecord)
    rows = session.execute(
        select(bye.id, bye.callid, bye.time, inv.time, inv.line_id, inv.dst_ouser, Line.vpbx_id)
        .join(inv, and_(inv.callid == bye.callid, inv.method == "INVITE", inv.call_kind == PSTN))
        .join(Line, Line.id == inv.line_id)
        .where(bye.id > after, bye.id <= upto, bye.method == "BYE")
        .order_by(bye.id)
    ).all()
    priced: dict[str, dict[str, Any]] = {}
    for bye_id, callid, ended, answered, line_id, callee, vpbx_id in rows:
        if callid in priced:
            continue  # both sides hung up at once, or TopStop's BYE beside the phone's: priced once
        seconds = max(0, int((ended - answered).total_seconds()))
        priced[callid] = {
            "bye_id": bye_id, "callid": callid, "vpbx_id": vpbx_id, "line_id": line_id, "callee": (callee or "")[:64],
            "prefix": rates.rate_for(callee or "").prefix, "answered_at": answered, "seconds": seconds,
            "cost_cents": rates.cost_cents(callee or "", seconds),
        }  # fmt: skip
    if priced:
        dialect = engine.dialect.name
        stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(TopstopCallCost)
        session.execute(stmt.on_conflict_do_nothing(index_elements=["callid"]), list(priced.values()))
    return upto - after


def live_calls(
    session: Session, rates: RateTable, now: datetime, vpbx_ids: Iterable[int] | None = None
) -> list[LiveCall]:
    """The answered PSTN calls with no BYE row and not priced yet, of these vPBXs (None: all), priced at `now`.
    One statement."""
    inv, bye = aliased(AccRecord), aliased(AccRecord)
    stmt = (
        select(inv.line_id, Line.vpbx_id, inv.callid, inv.from_tag, inv.to_tag, inv.dst_ouser, inv.time)
        .join(Line, Line.id == inv.line_id)
        .where(
            inv.method == "INVITE",
            inv.call_kind == PSTN,
            inv.time >= now - timedelta(hours=LIVE_HOURS),
            ~exists().where(bye.callid == inv.callid, bye.method == "BYE"),
            ~exists().where(TopstopCallCost.callid == inv.callid),
        )
        .order_by(inv.id)
    )
    if vpbx_ids is not None:
        stmt = stmt.where(Line.vpbx_id.in_(list(vpbx_ids)))
    out = []
    for line_id, vpbx_id, callid, from_tag, to_tag, callee, answered in session.execute(stmt):
        seconds = max(0, int((now - answered).total_seconds()))
        out.append(LiveCall(line_id or 0, vpbx_id, callid, from_tag or "", to_tag or "", callee or "", answered,
                            seconds, rates.cost_cents(callee or "", seconds)))  # fmt: skip
    return out


@dataclass
class Spend:
    """Cents spent per line and per vPBX since one instant (finished calls + live ones)."""

    lines: dict[int, int]
    vpbx: dict[int, int]

    def of(self, vpbx_id: int, line_id: int | None) -> int:
        return self.lines.get(line_id, 0) if line_id is not None else self.vpbx.get(vpbx_id, 0)


def spend_since(session: Session, since: datetime, vpbx_ids: Iterable[int] | None, live: Iterable[LiveCall]) -> Spend:
    """The finished calls answered since `since` (one grouped statement) plus the live calls answered since."""
    c = TopstopCallCost
    stmt = select(c.line_id, c.vpbx_id, func.sum(c.cost_cents)).where(c.answered_at >= since)
    if vpbx_ids is not None:
        stmt = stmt.where(c.vpbx_id.in_(list(vpbx_ids)))
    lines: dict[int, int] = defaultdict(int)
    vpbx: dict[int, int] = defaultdict(int)
    for line_id, vpbx_id, cents in session.execute(stmt.group_by(c.line_id, c.vpbx_id)):
        lines[line_id] += int(cents or 0)
        vpbx[vpbx_id] += int(cents or 0)
    for call in live:
        if call.answered_at >= since:
            lines[call.line_id] += call.cost_cents
            vpbx[call.vpbx_id] += call.cost_cents
    return Spend(dict(lines), dict(vpbx))


def record_ended(session: Session, calls: Iterable[LiveCall], now: datetime, reason: str = "TopStop") -> None:
    """The BYE rows of calls TopStop ended (Kamailio's own BYEs are not logged by acc): the call records say
    when and why they ended, and the next pricing pass prices them like any other."""
    rows = [
        {"method": "BYE", "from_tag": c.from_tag, "to_tag": c.to_tag, "callid": c.callid, "sip_code": "200",
         "sip_reason": reason, "time": now, "line_id": c.line_id, "call_kind": PSTN, "dst_ouser": c.callee}
        for c in calls
    ]  # fmt: skip
    if rows:
        session.execute(insert(AccRecord), rows)
