"""Roll the raw fraud evidence (access_log, security_event) up into `fraud_rollup`, incrementally.

Each pass takes the rows after the source's cursor (`rollup_cursor.last_id`), at most `batch` of
them, groups them per hour and per day (kind, source IP, vPBX, line, device) and upserts the
counts, all in one transaction that first moves the cursor by compare-and-set: two passes at once
(the serve loop and a page catching up) cannot both count the same rows, the loser rolls back.
Readers add the rows after the cursor (the "tail", read by id) to the rollup, so figures are exact
whatever the rollup's lag.

Beside the per-address rows, the same counts per country and per provider network (issue 13 point 5: the
Fraude page's "over time" tabs at provider size, core.fraud_geo): grains COUNTRY[grain] and NETWORK[grain], the
group (core.geo.country / provider_network, known only in Python) in `source_ip`, per vPBX (the scoping), line
and device 0; and ADDRESS[grain], per source IP and vPBX without the line and device (the rankings and totals of
core.fraud read these: a site's five phones are one row a day, not five). Their own cursors (`access_log:geo`,
`security_event:geo`), so a database rolled up before they existed is folded from its first row by the next
passes, like a first start.

The writers need no change. Ids are taken at insert but committed in any order on PostgreSQL,
so a pass stops short of rows younger than `SETTLE` seconds: a slower writer's lower ids are
committed by then and are not jumped over.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError

from core import event_kinds as reasons
from core.event_kinds import SIP_AUTH_FAILED
from core.models import AccessLog, Device, FraudRollup, Line, RollupCursor, SecurityEvent
from core.processes.periodic import every

log = logging.getLogger(__name__)

DOWNLOAD, PROBE, SIP_FAILED = "download", "probe", "sip_failed"
KINDS = (DOWNLOAD, PROBE, SIP_FAILED)
HOUR, DAY = "hour", "day"
SOURCES = ("access_log", "security_event")
BATCH = 50_000  # raw rows per transaction
SETTLE = 30.0  # seconds: rows younger than this wait for the next pass
INTERVAL = 15.0  # seconds between passes in serve
HOUR_ROWS_DAYS = 2  # hour rows serve the 24-hour chart only: older raw rows get day rows alone
COLUMNS = ("bucket", "kind", "source_ip", "vpbx_id", "line_id", "device_id", "n", "first_at", "last_at")
ADDRESS = {HOUR: "hip", DAY: "dip"}  # rows per (bucket, kind, source IP, vPBX): the rankings' narrower rows
COUNTRY = {HOUR: "hcc", DAY: "dcc"}  # rows per (bucket, kind, country, vPBX)
NETWORK = {HOUR: "hnet", DAY: "dnet"}  # rows per (bucket, kind, provider network, vPBX)
GEO = ":geo"  # the geo grains' cursors: "access_log:geo", "security_event:geo"


def bucket(dialect: str, grain: str, column: Any) -> ColumnElement[str]:
    """The start of the column's hour or day (UTC) as text that sorts; SQLite and PostgreSQL spell it apart."""
    if dialect == "postgresql":
        fmt = "YYYY-MM-DD HH24:00" if grain == HOUR else "YYYY-MM-DD"
        unit = "hour" if grain == HOUR else "day"
        return func.to_char(func.date_trunc(unit, func.timezone("UTC", column)), fmt)
    return func.strftime("%Y-%m-%d %H:00" if grain == HOUR else "%Y-%m-%d", column)


def bucket_of(grain: str, at: datetime) -> str:
    """The same bucket text, computed in Python (period bounds)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:00" if grain == HOUR else "%Y-%m-%d")


def facts(source: str, after: Any, upto: Any = None) -> Select[*tuple[Any, ...]]:
    """The source's fraud-relevant rows with id in (after, upto]: at, id, kind, source IP, vPBX, line, device.

    Downloads are successful fetches by a known device (attributed to its line's vPBX); probes are
    the endpoint's PROBE reasons; SIP failures are attributed to their line when the user was known.
    """
    if source == "access_log":
        download = and_(AccessLog.status == 200, AccessLog.device_id.is_not(None))
        stmt = (
            select(
                AccessLog.at.label("at"),
                AccessLog.id.label("id"),
                case((download, literal(DOWNLOAD)), else_=literal(PROBE)).label("kind"),
                AccessLog.source_ip.label("source_ip"),
                func.coalesce(Line.vpbx_id, 0).label("vpbx_id"),
                func.coalesce(Line.id, 0).label("line_id"),
                func.coalesce(AccessLog.device_id, 0).label("device_id"),
            )
            .outerjoin(Device, Device.id == AccessLog.device_id)
            .outerjoin(Line, Line.id == Device.line_id)
            .where(AccessLog.id > after, or_(download, AccessLog.reason.in_(reasons.PROBES)))
        )
        return stmt.where(AccessLog.id <= upto) if upto is not None else stmt
    stmt = (
        select(
            SecurityEvent.at.label("at"),
            SecurityEvent.id.label("id"),
            literal(SIP_FAILED).label("kind"),
            SecurityEvent.source_ip.label("source_ip"),
            func.coalesce(Line.vpbx_id, 0).label("vpbx_id"),
            func.coalesce(Line.id, 0).label("line_id"),
            func.coalesce(SecurityEvent.device_id, 0).label("device_id"),
        )
        .outerjoin(Line, Line.id == SecurityEvent.line_id)
        .where(SecurityEvent.id > after, SecurityEvent.kind == SIP_AUTH_FAILED)
    )
    return stmt.where(SecurityEvent.id <= upto) if upto is not None else stmt


def _bounded_facts(source: str, after: Any, upto: Any, since: datetime | None, floor: int | None) -> Any:
    """`facts` as a subquery, from `since` on and above `floor` when given (see `grouped`)."""
    stmt = facts(source, after, upto)
    if since is not None:
        stmt = stmt.where(_table(source).at >= since)
    if floor is not None:
        stmt = stmt.where(_table(source).id > floor)
    return stmt.subquery()


def grouped(
    dialect: str,
    source: str,
    grain: str,
    after: Any,
    upto: Any = None,
    since: datetime | None = None,
    floor: int | None = None,
) -> Select[*tuple[Any, ...]]:
    """`facts` counted per bucket and key: the same columns as a `fraud_rollup` row (without id/grain).

    `floor`, a cursor value read earlier (cursors only grow), adds a literal lower bound beside a
    subquery `after`: PostgreSQL then estimates the tail as the few rows it is, not a third of the log."""
    rows = _bounded_facts(source, after, upto, since, floor)
    b = bucket(dialect, grain, rows.c.at).label("bucket")
    keys = (rows.c.kind, rows.c.source_ip, rows.c.vpbx_id, rows.c.line_id, rows.c.device_id)
    return select(
        b, *keys, func.count().label("n"), func.min(rows.c.at).label("first_at"), func.max(rows.c.at).label("last_at")
    ).group_by(b, *keys)


def cursor_value(source: str) -> Any:
    """The source's cursor as a scalar subquery: read in the same statement as the rollup, one snapshot."""
    return func.coalesce(select(RollupCursor.last_id).where(RollupCursor.source == source).scalar_subquery(), 0)


def _table(source: str) -> Any:
    return AccessLog if source == "access_log" else SecurityEvent


def _upsert(conn: Connection, grain: str, rows: Select[*tuple[Any, ...]]) -> None:
    dialect = conn.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    cols = list(COLUMNS)
    source = rows.subquery()
    # `WHERE true`: SQLite needs a WHERE before ON CONFLICT after INSERT ... SELECT (its parsing ambiguity).
    body = select(literal(grain), *(source.c[c] for c in cols)).where(literal(True))
    stmt = insert(FraudRollup).from_select(["grain", *cols], body)
    least, greatest = (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)
    t, new = FraudRollup.__table__.c, stmt.excluded
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["grain", "kind", "bucket", "source_ip", "vpbx_id", "line_id", "device_id"],
            set_={
                "n": t.n + new.n,
                "first_at": least(t.first_at, new.first_at),
                "last_at": greatest(t.last_at, new.last_at),
            },
        )
    )


def ensure_cursor(engine: Engine, source: str) -> int:
    with engine.begin() as conn:
        current = conn.scalar(select(RollupCursor.last_id).where(RollupCursor.source == source))
    if current is not None:
        return current
    try:
        with engine.begin() as conn:
            conn.execute(sa_insert(RollupCursor).values(source=source, last_id=0))
    except IntegrityError:  # another pass created it first
        pass
    return 0


def claim(conn: Connection, cursor: str, table: Any, after: int, batch: int, settled: datetime) -> int | None:
    """Move the cursor named `cursor` from `after` over at most `batch` rows of `table` older than `settled`,
    by compare-and-set in `conn`'s transaction; the new cursor, or None if there is nothing to take or
    another pass took these rows first (the caller then rolls back). core.alerts claims the same way."""
    window = select(table.id, table.at).where(table.id > after).order_by(table.id).limit(batch).subquery()
    upto, fresh = conn.execute(
        select(func.max(window.c.id), func.min(case((window.c.at >= settled, window.c.id))))
    ).one()
    if upto is None:
        return None
    if fresh is not None:
        upto = fresh - 1
        if upto <= after:
            return None
    moved = conn.execute(
        update(RollupCursor).where(RollupCursor.source == cursor, RollupCursor.last_id == after).values(last_id=upto)
    ).rowcount
    return int(upto) if moved == 1 else None


def roll_up_source(engine: Engine, source: str, batch: int = BATCH, now: datetime | None = None) -> int:
    """One pass over at most `batch` new rows of `source`; returns how many raw rows were consumed (0: none)."""
    after = ensure_cursor(engine, source)
    settled = (now or datetime.now(UTC)) - timedelta(seconds=SETTLE)
    with engine.begin() as conn:
        upto = claim(conn, source, _table(source), after, batch, settled)
        if upto is None:  # nothing settled yet, or another pass took these rows: leave them to it
            conn.rollback()
            return 0
        hours_from = (now or datetime.now(UTC)) - timedelta(days=HOUR_ROWS_DAYS)
        _upsert(conn, HOUR, grouped(conn.dialect.name, source, HOUR, after, upto, since=hours_from))
        _upsert(conn, DAY, grouped(conn.dialect.name, source, DAY, after, upto))
    return upto - after


def by_address(
    dialect: str, source: str, grain: str, after: Any, upto: Any = None, since: datetime | None = None,
    floor: int | None = None,
) -> Select[*tuple[Any, ...]]:  # fmt: skip
    """`facts` counted per (bucket, kind, source IP, vPBX): what the geo grains are made of (and their tail)."""
    rows = _bounded_facts(source, after, upto, since, floor)
    b = bucket(dialect, grain, rows.c.at).label("bucket")
    keys = (rows.c.kind, rows.c.source_ip, rows.c.vpbx_id)
    return select(
        b, *keys, func.count().label("n"), func.min(rows.c.at).label("first_at"), func.max(rows.c.at).label("last_at")
    ).group_by(b, *keys)


def geo_groups(rows: Any, grain: str) -> list[dict[str, Any]]:
    """by_address rows as ADDRESS rows and regrouped per country and per network (core.geo, cached per address)."""
    from core import geo  # not at import time: iptocc loads on the first public lookup anyway

    cells: dict[tuple[str, str, str, str, int], list[Any]] = {}
    for b, kind, ip, vpbx_id, n, first_at, last_at in rows:
        groups = ((ADDRESS[grain], ip), (COUNTRY[grain], geo.country(ip)), (NETWORK[grain], geo.provider_network(ip)))
        for g, key in groups:
            cell = cells.get((g, b, kind, key, vpbx_id))
            if cell is None:
                cells[(g, b, kind, key, vpbx_id)] = [n, first_at, last_at]
            else:
                cell[0] += n
                cell[1], cell[2] = min(cell[1], first_at), max(cell[2], last_at)
    return [{"grain": g, "bucket": b, "kind": kind, "source_ip": key, "vpbx_id": vpbx_id, "line_id": 0,
             "device_id": 0, "n": n, "first_at": first_at, "last_at": last_at}
            for (g, b, kind, key, vpbx_id), (n, first_at, last_at) in cells.items()]  # fmt: skip


def _upsert_values(conn: Connection, values: list[dict[str, Any]]) -> None:
    if not values:
        return
    dialect = conn.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    least, greatest = (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)
    stmt = insert(FraudRollup)
    t, new = FraudRollup.__table__.c, stmt.excluded
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["grain", "kind", "bucket", "source_ip", "vpbx_id", "line_id", "device_id"],
            set_={"n": t.n + new.n, "first_at": least(t.first_at, new.first_at),
                  "last_at": greatest(t.last_at, new.last_at)},
        ),
        values,
    )  # fmt: skip


def roll_up_geo(engine: Engine, source: str, batch: int = BATCH, now: datetime | None = None) -> int:
    """One pass of the geo grains over at most `batch` new rows of `source` (its own cursor); raw rows consumed.
    The batch's rows are read grouped per address (a few thousand for 50,000 raw rows), regrouped in Python."""
    cursor = source + GEO
    after = ensure_cursor(engine, cursor)
    settled = (now or datetime.now(UTC)) - timedelta(seconds=SETTLE)
    with engine.begin() as conn:
        upto = claim(conn, cursor, _table(source), after, batch, settled)
        if upto is None:
            conn.rollback()
            return 0
        hours_from = (now or datetime.now(UTC)) - timedelta(days=HOUR_ROWS_DAYS)
        for grain, since in ((HOUR, hours_from), (DAY, None)):
            rows = conn.execute(by_address(conn.dialect.name, source, grain, after, upto, since=since)).all()
            _upsert_values(conn, geo_groups(rows, grain))
    return upto - after


def roll_up(engine: Engine, budget: int = BATCH, now: datetime | None = None) -> int:
    """Roll up every source, at most `budget` raw rows each, per address and then per country and network;
    returns the raw rows consumed by the busier of the two (they are equal once both are up to date)."""
    totals = []
    for one in (roll_up_source, roll_up_geo):
        total = 0
        for source in SOURCES:
            done = 0
            while done < budget:
                step = one(engine, source, min(BATCH, budget - done), now)
                if not step:
                    break
                done += step
            total += done
        totals.append(total)
    return max(totals)


def catch_up(engine: Engine, budget: int = BATCH) -> bool:
    """A reader's bounded catch-up (the page, when serve is behind); False if another writer held the lock."""
    try:
        roll_up(engine, budget)
    except OperationalError:  # SQLite: a concurrent pass committed first (busy snapshot); the tail stays exact
        log.info("fraud rollup catch-up skipped: database busy")
        return False
    return True


async def run_rollup(engine: Engine, stop: asyncio.Event, interval: float = INTERVAL) -> None:
    """Roll up now, then every `interval` seconds until `stop` is set (started by the serve process)."""

    def one_pass() -> None:
        # A full budget means more is waiting (first start, or after downtime): go on at once.
        while roll_up(engine, BATCH) >= BATCH and not stop.is_set():
            pass

    await every(interval, stop, one_pass, log, "fraud rollup")
