"""Investigation queries for the fraud page, read from the rollup (core.rollup) plus its small tail.

Every function takes the acting account. Config downloads and SIP failures tied to a line are
shown to whoever may see that line; traffic tied to no line (unknown keys, SIP failures for
unknown users) is the provider's alone, since it cannot be attributed to a vPBX.
A period is whole buckets ending now: 24 hours by the hour, 7 or 30 days by the day (UTC), so a
chart always spans the whole period. Each function is a fixed number of statements, whatever the
traffic: no query per row, and charts get at most (buckets x (TOP_SOURCES + 1)) points.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Subquery, case, func, or_, select, union_all
from sqlalchemy.orm import Session

from core import rollup
from core.call_control import block_enforced_by
from core.catalogue import default_catalogue
from core.models import Device, FraudRollup, Line, RollupCursor, Vpbx
from core.permissions import Actor, scope_lines
from core.rollup import DAY, DOWNLOAD, HOUR, PROBE, SIP_FAILED

TOP_SOURCES = 8  # a legend that reads; the rest is "others"
SOURCES_SHOWN = 100  # rows in the sources table
TOUCHED_SHOWN = 10  # lines / devices listed per source
SEARCH_LIMIT = 20
CATCH_UP_ROWS = 5_000  # per source and page load: ~0.2 s at most; the tail is read exactly anyway
PERIODS = (1, 7, 30)


@dataclass(frozen=True)
class Period:
    days: int
    grain: str  # rollup.HOUR | rollup.DAY
    buckets: tuple[str, ...]  # every bucket of the period, oldest first

    @property
    def start(self) -> str:
        return self.buckets[0]


def period(days: int, now: datetime | None = None) -> Period:
    """24 hours = this hour and the 23 before; 7 / 30 days = today and the days before (UTC)."""
    if days not in PERIODS:
        raise ValueError(f"a fraud period is one of {PERIODS} days, not {days!r}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if days == 1:
        hour = now.replace(minute=0, second=0, microsecond=0)
        steps = [hour - timedelta(hours=h) for h in range(23, -1, -1)]
        return Period(days, HOUR, tuple(rollup.bucket_of(HOUR, s) for s in steps))
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    steps = [day - timedelta(days=d) for d in range(days - 1, -1, -1)]
    return Period(days, DAY, tuple(rollup.bucket_of(DAY, s) for s in steps))


def _visible_kinds(actor: Actor, kinds: tuple[str, ...]) -> tuple[str, ...]:
    return kinds if actor.is_provider else tuple(k for k in kinds if k != PROBE)


def visible_kinds(actor: Actor) -> tuple[str, ...]:
    """The kinds this actor's charts and columns show: unknown-key probes are tied to no line, so the
    provider's alone (the page draws what this says; the queries filter by it again)."""
    return _visible_kinds(actor, rollup.KINDS)


def _rows(
    session: Session,
    actor: Actor,
    p: Period,
    kinds: tuple[str, ...],
    keys: tuple[str, ...],
    ips: list[str] | None = None,
    seen: bool = False,
) -> Subquery:
    """The period's counts the actor may see, summed per `keys` (columns of a fraud_rollup row) into `n`,
    with first_at/last_at if `seen`: the rollup plus the raw rows after each cursor, the cursor read in
    the same statement. Each part is summed on its own: the rollup's from the covering index
    (ix_fraud_rollup_cover) without reading the table, so the caller re-sums a few thousand rows at most
    (SQLite streams a UNION row by row, ten times slower than an index scan)."""
    dialect = session.get_bind().dialect.name

    def part(c: Any, base: Any) -> Any:
        stmt = base.add_columns(*(c[k] for k in keys), func.sum(c.n).label("n"))
        if seen:
            stmt = stmt.add_columns(func.min(c.first_at).label("first_at"), func.max(c.last_at).label("last_at"))
        if actor.role == "vpbx_admin":
            stmt = stmt.where(c.vpbx_id == (actor.vpbx_id or -1))
        elif actor.role != "provider":
            stmt = stmt.where(c.line_id == (actor.line_id or -1))
        if ips is not None:
            stmt = stmt.where(c.source_ip.in_(ips))
        return stmt.where(c.bucket >= p.start, c.kind.in_(kinds)).group_by(*(c[k] for k in keys))

    r = FraudRollup.__table__.c
    # Per address (and vPBX) only, for a provider or a vPBX admin: the narrower rows (rollup.ADDRESS, a site's
    # phones summed), their tail after their own cursor. Per line or device, or a line's user: the full rows.
    narrow = set(keys) <= {"bucket", "kind", "source_ip"} and actor.role in ("provider", "vpbx_admin")
    grain, suffix = (rollup.ADDRESS[p.grain], rollup.GEO) if narrow else (p.grain, "")
    parts = [part(r, select().select_from(FraudRollup.__table__).where(r.grain == grain))]
    for source in rollup.SOURCES:
        if set(kinds) & ({SIP_FAILED} if source == "security_event" else {DOWNLOAD, PROBE}):
            after, floor = rollup.cursor_value(source + suffix), _floor(session, source + suffix)
            tail = rollup.grouped(dialect, source, p.grain, after, floor=floor).subquery()
            parts.append(part(tail.c, select().select_from(tail)))
    return union_all(*parts).subquery("period_rows")


def _floor(session: Session, source: str) -> int:
    """The source's cursor as read once per session (one statement): a lower bound for the tail's plan."""
    floors = session.info.get("fraud_floors")
    if floors is None:
        floors = session.info["fraud_floors"] = dict(
            session.execute(select(RollupCursor.source, RollupCursor.last_id)).tuples().all()
        )
    return int(floors.get(source, 0))


def chart(session: Session, actor: Actor, p: Period, kind: str) -> dict[str, Any]:
    """Counts per bucket for the TOP_SOURCES busiest sources and the rest as one "others" series (source None).

    {"buckets": every bucket of the period, "sources": the top sources busiest first, "rows": [...]}
    Three statements: the ranking and the totals per bucket (index only), the top sources' buckets.
    """
    kinds = _visible_kinds(actor, (kind,))
    if not kinds:
        return {"buckets": list(p.buckets), "sources": [], "rows": []}
    u = _rows(session, actor, p, kinds, ("source_ip",))
    ranking = select(u.c.source_ip).group_by(u.c.source_ip).order_by(func.sum(u.c.n).desc(), u.c.source_ip)
    top = list(session.scalars(ranking.limit(TOP_SOURCES)))
    if not top:
        return {"buckets": list(p.buckets), "sources": [], "rows": []}
    u = _rows(session, actor, p, kinds, ("bucket",))
    totals = dict(session.execute(select(u.c.bucket, func.sum(u.c.n)).group_by(u.c.bucket)).all())
    u = _rows(session, actor, p, kinds, ("bucket", "source_ip"), ips=top)
    per_top = select(u.c.bucket, u.c.source_ip, func.sum(u.c.n)).group_by(u.c.bucket, u.c.source_ip)
    rows: list[dict[str, Any]] = []
    others = {b: int(n) for b, n in totals.items()}
    for b, ip, n in session.execute(per_top):
        rows.append({"bucket": b, "source_ip": ip, "count": int(n)})
        others[b] -= int(n)
    rows += [{"bucket": b, "source_ip": None, "count": n} for b, n in others.items() if n]
    rows.sort(key=lambda r: (r["bucket"], r["source_ip"] or ""))
    return {"buckets": list(p.buckets), "sources": top, "rows": rows}


def sources(session: Session, actor: Actor, p: Period, limit: int = SOURCES_SHOWN) -> dict[str, Any]:
    """The busiest sources of the period: counts per kind, first/last seen, the lines and devices touched.

    {"total": how many sources in all, "rows": [{"source_ip", "download", "probe", "sip_failed", "total",
    "first", "last", "lines": [{"id", "number"}], "devices": [{"id", "label", "line_id"}],
    "more_lines", "more_devices"}]}
    Two statements: the ranking (index only), then first/last and what was touched for the shown sources.
    """
    kinds = _visible_kinds(actor, rollup.KINDS)
    u = _rows(session, actor, p, kinds, ("kind", "source_ip"))
    per_kind = [func.sum(case((u.c.kind == k, u.c.n), else_=0)).label(k) for k in rollup.KINDS]
    total = func.sum(u.c.n)
    stmt = (
        select(u.c.source_ip, *per_kind, total.label("total"), func.count().over().label("sources"))
        .group_by(u.c.source_ip)
        .order_by(total.desc(), u.c.source_ip)
        .limit(limit)
    )
    rows: list[dict[str, Any]] = []
    how_many = 0
    for ip, download, probe, sip_failed, n, count in cast(Any, session.execute(stmt)):  # *per_kind: variadic row
        how_many = count
        rows.append({
            "source_ip": ip, DOWNLOAD: int(download), PROBE: int(probe), SIP_FAILED: int(sip_failed),
            "total": int(n), "first": "", "last": "", "lines": [], "devices": [], "more_lines": 0, "more_devices": 0,
        })  # fmt: skip
    if rows:
        shown = [r["source_ip"] for r in rows]
        _touched(session, _rows(session, actor, p, kinds, ("source_ip", "line_id", "device_id"), shown, True), rows)
    return {"total": how_many, "rows": rows}


def _touched(session: Session, u: Subquery, rows: list[dict[str, Any]]) -> None:
    """Fill each row's first/last seen and its lines and devices (at most TOUCHED_SHOWN of each), one
    statement: `u` holds the shown sources' rows per (source, line, device), read by ix_fraud_rollup_source."""
    by_ip = {r["source_ip"]: r for r in rows}
    stmt = (
        select(u.c.source_ip, Line.id, Line.number, Device.id, Device.model_id, Device.label, Device.line_id,
               u.c.first_at, u.c.last_at)
        .select_from(u)
        .outerjoin(Line, Line.id == u.c.line_id)
        .outerjoin(Device, Device.id == u.c.device_id)
        .order_by(u.c.source_ip, Line.number, Device.id)
    )  # fmt: skip
    catalogue = default_catalogue()
    seen: dict[str, tuple[set[int], set[int]]] = defaultdict(lambda: (set(), set()))
    times: dict[str, tuple[str, str]] = {}
    for ip, line_id, number, device_id, model_id, label, device_line, first, last in session.execute(stmt):
        first, last = _minute(first), _minute(last)
        was = times.get(ip, (first, last))
        times[ip] = (min(was[0], first), max(was[1], last))
        row, (lines_seen, devices_seen) = by_ip[ip], seen[ip]
        if line_id is not None and line_id not in lines_seen:
            lines_seen.add(line_id)
            if len(row["lines"]) < TOUCHED_SHOWN:
                row["lines"].append({"id": line_id, "number": number})
        if device_id is not None and device_id not in devices_seen:
            devices_seen.add(device_id)
            if len(row["devices"]) < TOUCHED_SHOWN:
                model = catalogue.get(model_id)
                name = model.label if model else model_id
                row["devices"].append({"id": device_id, "label": f"{name} {label}".strip(), "line_id": device_line})
    for ip, (first, last) in times.items():
        by_ip[ip]["first"], by_ip[ip]["last"] = first, last
    for ip, (lines_seen, devices_seen) in seen.items():
        by_ip[ip]["more_lines"] = len(lines_seen) - len(by_ip[ip]["lines"])
        by_ip[ip]["more_devices"] = len(devices_seen) - len(by_ip[ip]["devices"])


def multi_ip_devices(session: Session, actor: Actor, p: Period, limit: int = SOURCES_SHOWN) -> list[dict[str, Any]]:
    """Devices whose config was fetched from more than one IP: a copied URL, or a phone that moved."""
    u = _rows(session, actor, p, (DOWNLOAD,), ("device_id", "source_ip"))
    ips = func.count(func.distinct(u.c.source_ip))
    shared = (
        select(u.c.device_id, ips.label("ips"), func.sum(u.c.n).label("requests"))
        .group_by(u.c.device_id)
        .having(ips > 1)
        .subquery()
    )
    stmt = (
        select(Device.id, Device.model_id, Device.label, Line.id, Line.number, shared.c.ips, shared.c.requests,
               Device.last_access_at)
        .join(Device, Device.id == shared.c.device_id)
        .join(Line, Line.id == Device.line_id)
        .order_by(shared.c.ips.desc(), Device.id)
        .limit(limit)
    )  # fmt: skip
    catalogue = default_catalogue()
    result = []
    for device_id, model_id, label, line_id, number, n_ips, requests, last in session.execute(stmt):
        model = catalogue.get(model_id)
        result.append({
            "device_id": device_id, "model_label": model.label if model else model_id, "label": label,
            "line_id": line_id, "line": number, "ips": int(n_ips), "requests": int(requests),
            "last": _minute(last) if last else "",
        })  # fmt: skip
    return result


def _minute(value: Any) -> str:
    """A rolled-up time as "YYYY-MM-DD HH:MM" (UTC); SQLite hands aggregates back as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return str(value)[:16]


# --- The responses' pickers: a search and the chosen object, never the whole list ---------------------


def _line_row(line_id: int, number: str, ext: str | None, name: str, vpbx: str, blocked: bool) -> dict[str, Any]:
    return {"id": line_id, "number": number, "extension": ext, "display_name": name, "vpbx": vpbx,
            "pstn_blocked": bool(blocked), "pstn_block_enforced_by": block_enforced_by()}  # fmt: skip


_LINE_COLS = (Line.id, Line.number, Line.extension, Line.display_name, Vpbx.name, Line.pstn_blocked)


def _device_row(device_id: int, model_id: str, label: str, mac: str | None, has_url: bool, line_id: int,
                number: str) -> dict[str, Any]:  # fmt: skip
    model = default_catalogue().get(model_id)
    return {"id": device_id, "model_label": model.label if model else model_id, "label": label, "mac": mac,
            "has_url": bool(has_url), "line_id": line_id, "line": number}  # fmt: skip


_DEVICE_COLS = (Device.id, Device.model_id, Device.label, Device.mac, Device.access_key.is_not(None), Line.id,
                Line.number)  # fmt: skip


def search(session: Session, actor: Actor, text: str, limit: int = SEARCH_LIMIT) -> dict[str, list[dict[str, Any]]]:
    """Lines (number, extension, name, SIP user) and devices (label, MAC, line number) matching `text`,
    among those the actor may see; at most `limit` of each. Two statements."""
    q = (text or "").strip()
    if not q:
        return {"lines": [], "devices": []}
    like = f"%{q.replace('%', '').replace('_', '')}%"
    mac = "".join(c for c in q if c.isalnum()).upper()
    line_match = or_(Line.number.ilike(like), Line.extension.ilike(like), Line.display_name.ilike(like),
                     Line.sip_username.ilike(like))  # fmt: skip
    lines_stmt = scope_lines(actor, select(*_LINE_COLS).join(Vpbx, Vpbx.id == Line.vpbx_id).where(line_match))
    device_match = or_(Device.label.ilike(like), Line.number.ilike(like), Line.display_name.ilike(like))
    if len(mac) >= 4:
        device_match = or_(device_match, Device.mac.ilike(f"%{mac}%"))
    devices_stmt = scope_lines(actor, select(*_DEVICE_COLS).join(Line, Line.id == Device.line_id).where(device_match))
    return {
        "lines": [_line_row(*r) for r in session.execute(lines_stmt.order_by(Line.number).limit(limit))],
        "devices": [_device_row(*r) for r in session.execute(devices_stmt.order_by(Device.id).limit(limit))],
    }


def lines_by_id(session: Session, actor: Actor, ids: list[int]) -> list[dict[str, Any]]:
    """The given lines the actor may see, in their current state (one statement); others are left out."""
    if not ids:
        return []
    stmt = scope_lines(actor, select(*_LINE_COLS).join(Vpbx, Vpbx.id == Line.vpbx_id).where(Line.id.in_(ids)))
    found = {r[0]: _line_row(*r) for r in session.execute(stmt)}
    return [found[i] for i in ids if i in found]


def devices_by_id(session: Session, actor: Actor, ids: list[int]) -> list[dict[str, Any]]:
    """The given devices the actor may see (one statement); others are left out."""
    if not ids:
        return []
    stmt = scope_lines(actor, select(*_DEVICE_COLS).join(Line, Line.id == Device.line_id).where(Device.id.in_(ids)))
    found = {r[0]: _device_row(*r) for r in session.execute(stmt)}
    return [found[i] for i in ids if i in found]


def catch_up(session: Session, actor: Actor) -> None:
    """Fold the raw rows serve has not rolled up yet (bounded work) before reading; any actor of the page."""
    del actor  # the rollup holds every tenant's rows; what is read is scoped per query above
    rollup.catch_up(session.get_bind().engine, budget=CATCH_UP_ROWS)
