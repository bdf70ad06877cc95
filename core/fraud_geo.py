"""Where the fraud page's traffic comes from: per country and per provider network (issue 13 point 2).

The same counts as core.fraud, through core.fraud's own period and scoping (`fraud.period`, `fraud._rows`: the
rollup plus its raw tail, a vPBX admin's vPBX, a user's line; unknown-key probes the provider's alone), read in
ONE grouped statement per call: the period's counts per (bucket, source address), or per address. The addresses
are then grouped in Python, to their country (`geo.country`: an ISO code, "EU", "" when the registries know
none, or the label of an address that is never looked up: "private", "loopback"...) or to their provider network
(`geo.provider_network`: a public address's /16 or /32). Geo lookups are cached per process (~2 µs for a new
address), so a call costs one statement and a pass over at most (buckets x addresses) rows, whatever the traffic.

Optionally for one line or one device (`line_id`, `device_id`): read by id and checked first (`require_line` /
`require_device`, one statement; an object the actor may not see is the same NotFound as a missing one).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session, joinedload

from core import fraud, geo, rollup
from core.errors import ValidationError
from core.fraud import Period
from core.models import Device, FraudRollup, Line
from core.permissions import Actor, require_device, require_line
from core.rollup import COUNTRY, DOWNLOAD, GEO, KINDS, NETWORK, SIP_FAILED

TOP = 8  # series drawn per chart, like fraud.TOP_SOURCES; the rest is summed as OTHER
OTHER = "other"  # the series of everything below the top (no country code or network is spelt so)
TOP_ADDRESSES = 3  # the busiest addresses named per country (the map's hover)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValidationError("one_of", "kind", choices=", ".join(KINDS))
    return kind


def _only(session: Session, actor: Actor, line_id: int | None, device_id: int | None) -> dict[str, int]:
    """The rollup columns to filter on ({"line_id": 3} ...), once the line / device is known visible."""
    only: dict[str, int] = {}
    seen_line = None
    if device_id is not None:
        device = require_device(actor, session.get(Device, device_id, options=[joinedload(Device.line)]))
        only["device_id"], seen_line = device.id, device.line_id
    if line_id is not None:
        if line_id != seen_line:  # the device's own line is visible with it
            require_line(actor, session.get(Line, line_id))
        only["line_id"] = line_id
    return only


def _counts(
    session: Session,
    actor: Actor,
    p: Period,
    kind: str,
    per_bucket: bool,
    line_id: int | None,
    device_id: int | None,
) -> list[tuple[str, str, int]]:
    """(bucket or "", source address, count) of the period for this actor: one grouped statement, summed from
    the rollup's covering indexes (ix_fraud_rollup_cover by bucket, ix_fraud_rollup_source by address)."""
    only = _only(session, actor, line_id, device_id)
    if _kind(kind) not in fraud.visible_kinds(actor):
        return []
    keys = ("bucket", "source_ip") if per_bucket else ("source_ip",)
    u = fraud._rows(session, actor, p, (kind,), (*keys, *only))
    # Not re-grouped in SQL: the rollup's part is already one row per (bucket, address), the tail's a few more,
    # and the Python grouping below sums them anyway (an outer GROUP BY sorted 80,000 rows in a temp b-tree).
    stmt = select(*(u.c[k] for k in keys), u.c.n).where(*(u.c[k] == v for k, v in only.items()))
    rows = cast(Any, session.execute(stmt))  # a variadic row: (bucket,) ip, n
    if per_bucket:
        return [(b, ip, int(n)) for b, ip, n in rows]
    return [("", ip, int(n)) for ip, n in rows]


def _per_ip(counts: list[tuple[str, str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for _, ip, n in counts:
        totals[ip] = totals.get(ip, 0) + n
    return totals


def _countries(per_ip: dict[str, int]) -> list[dict[str, Any]]:
    by_country: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for ip, n in per_ip.items():
        by_country[geo.country(ip)].append((ip, n))
    rows: list[dict[str, Any]] = []
    for code, ips in by_country.items():
        ips.sort(key=lambda x: (-x[1], x[0]))
        point = geo.centroid(code) if code else None
        rows.append({
            "country": code, "count": sum(n for _, n in ips), "addresses": len(ips),
            "top_addresses": [{"source_ip": ip, "count": n} for ip, n in ips[:TOP_ADDRESSES]],
            "lat": point[0] if point else None, "lon": point[1] if point else None,
        })  # fmt: skip
    rows.sort(key=lambda r: (-r["count"], r["country"]))
    return rows


def _series(p: Period, counts: list[tuple[str, str, int]], per_ip: dict[str, int], group: Callable[[str], str],
            top: int) -> dict[str, Any]:  # fmt: skip
    """fraud.chart's shape, per group instead of per address (one line's or one device's rows: a few hundred)."""
    group_of = {ip: group(ip) for ip in per_ip}
    cells: Counter[tuple[str, str]] = Counter()
    for bucket, ip, n in counts:
        cells[(bucket, group_of[ip])] += n
    return _ranked(p, cells, top)


def _ranked(p: Period, cells: Counter[tuple[str, str]], top: int) -> dict[str, Any]:
    """{"buckets": every bucket of the period, "keys": the top groups busiest first (then OTHER if anything is
    left), "rows": [{"bucket", "key", "count"}]} from the counts per (bucket, group)."""
    totals: Counter[str] = Counter()
    for (_, key), n in cells.items():
        totals[key] += n
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    kept = set(ranked[:top])
    rows: Counter[tuple[str, str]] = Counter()
    for (bucket, key), n in cells.items():
        rows[(bucket, key if key in kept else OTHER)] += n
    return {
        "buckets": list(p.buckets),
        "keys": ranked[:top] + ([OTHER] if len(ranked) > top else []),
        "rows": [{"bucket": b, "key": k, "count": n} for (b, k), n in sorted(rows.items())],
    }


def _pre_aggregated(session: Session, actor: Actor, p: Period, kind: str) -> dict[str, Counter[tuple[str, str]]]:
    """{"country": counts per (bucket, country), "network": per (bucket, network)} of the period for a provider
    or a vPBX admin, from the rollup's geo grains (rollup.COUNTRY / NETWORK: per vPBX, a few thousand rows over
    30 days at provider size, where per address they were 80,000) plus the raw rows after their cursor, per
    address and grouped here. ONE statement (plus the cursors, read once per session by fraud._floor)."""
    if _kind(kind) not in fraud.visible_kinds(actor):
        return {"country": Counter(), "network": Counter()}
    dialect = session.get_bind().dialect.name
    source = "security_event" if kind == SIP_FAILED else "access_log"
    r = FraudRollup.__table__.c
    tail = rollup.by_address(dialect, source, p.grain, rollup.cursor_value(source + GEO),
                             floor=fraud._floor(session, source + GEO)).subquery()  # fmt: skip

    def part(c: Any, grain: Any, base: Any) -> Any:
        stmt = base.add_columns(grain.label("grain"), c.bucket, c.source_ip, func.sum(c.n).label("n"))
        if actor.role == "vpbx_admin":
            stmt = stmt.where(c.vpbx_id == (actor.vpbx_id or -1))
        return stmt.where(c.bucket >= p.start, c.kind == kind).group_by(grain, c.bucket, c.source_ip)

    grains = (COUNTRY[p.grain], NETWORK[p.grain])
    rolled = part(r, r.grain, select().select_from(FraudRollup.__table__).where(r.grain.in_(grains)))
    stmt = union_all(rolled, part(tail.c, literal(""), select().select_from(tail)))
    out: dict[str, Counter[tuple[str, str]]] = {"country": Counter(), "network": Counter()}
    for grain, bucket, key, n in session.execute(stmt):
        if grain == "":  # the tail, per address
            out["country"][(bucket, geo.country(key))] += int(n)
            out["network"][(bucket, geo.provider_network(key))] += int(n)
        else:
            out["country" if grain == grains[0] else "network"][(bucket, key)] += int(n)
    return out


def _whole(actor: Actor, line_id: int | None, device_id: int | None) -> bool:
    """Whether the series read the geo grains: the whole of what a provider or a vPBX admin sees."""
    return line_id is None and device_id is None and actor.role in ("provider", "vpbx_admin")


def sources_by_country(
    session: Session,
    actor: Actor,
    period: Period,
    kind: str = DOWNLOAD,
    line_id: int | None = None,
    device_id: int | None = None,
) -> list[dict[str, Any]]:
    """Per country, busiest first: {"country": code or label, "count": requests (downloads, probes) or failures,
    "addresses": distinct source addresses, "top_addresses": [{"source_ip", "count"}] (at most TOP_ADDRESSES),
    "lat", "lon": its centroid (None for a label or an unknown country)}. One statement (plus the line /
    device check)."""
    return _countries(_per_ip(_counts(session, actor, period, kind, False, line_id, device_id)))


def series_by_country(
    session: Session,
    actor: Actor,
    period: Period,
    kind: str = DOWNLOAD,
    top: int = TOP,
    line_id: int | None = None,
    device_id: int | None = None,
) -> dict[str, Any]:
    """Counts per bucket (hour or day, as fraud.chart) of the `top` busiest countries, the rest as OTHER."""
    return series(session, actor, period, kind, top, line_id, device_id)["by_country"]


def series_by_network(
    session: Session,
    actor: Actor,
    period: Period,
    kind: str = DOWNLOAD,
    top: int = TOP,
    line_id: int | None = None,
    device_id: int | None = None,
) -> dict[str, Any]:
    """The same per provider network (geo.provider_network: a public address's /16 or /32, a private one's /24)."""
    return series(session, actor, period, kind, top, line_id, device_id)["by_network"]


def report(
    session: Session,
    actor: Actor,
    period: Period,
    kind: str = DOWNLOAD,
    top: int = TOP,
    line_id: int | None = None,
    device_id: int | None = None,
) -> dict[str, Any]:
    """The three at once: {"countries", "by_country", "by_network"}; ONE statement for one line or one device,
    two for the whole of what the actor sees (the series from the geo grains, the countries per address)."""
    if _whole(actor, line_id, device_id):
        return {"countries": sources_by_country(session, actor, period, kind), **series(session, actor, period, kind,
                                                                                         top)}  # fmt: skip
    counts = _counts(session, actor, period, kind, True, line_id, device_id)
    per_ip = _per_ip(counts)
    return {
        "countries": _countries(per_ip),
        "by_country": _series(period, counts, per_ip, geo.country, top),
        "by_network": _series(period, counts, per_ip, geo.provider_network, top),
    }


def series(
    session: Session,
    actor: Actor,
    period: Period,
    kind: str = DOWNLOAD,
    top: int = TOP,
    line_id: int | None = None,
    device_id: int | None = None,
) -> dict[str, Any]:
    """The page's "over time" tabs, both from ONE statement: {"by_country", "by_network"} (report without the
    per-address countries, which the section's first tab reads on its own)."""
    if _whole(actor, line_id, device_id):
        grouped = _pre_aggregated(session, actor, period, kind)
        return {"by_country": _ranked(period, grouped["country"], top),
                "by_network": _ranked(period, grouped["network"], top)}  # fmt: skip
    counts = _counts(session, actor, period, kind, True, line_id, device_id)
    per_ip = _per_ip(counts)
    return {
        "by_country": _series(period, counts, per_ip, geo.country, top),
        "by_network": _series(period, counts, per_ip, geo.provider_network, top),
    }
