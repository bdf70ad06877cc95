"""Investigation queries for the fraud page: aggregated in SQL (per hour and source), scoped to the actor.

Every function takes the acting account. Config downloads and SIP failures tied to a line are
shown to whoever may see that line; traffic tied to no line (unknown keys, SIP failures for
unknown users) is the provider's alone, since it cannot be attributed to a vPBX.
Charts get at most a few thousand points whatever the traffic (STREAMLIT-NOTES §7).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, func, select
from sqlalchemy.orm import Session

from core.catalogue import default_catalogue
from core.models import AccessLog, Device, Line, SecurityEvent
from core.permissions import Actor, scope_lines
from core.provisioning import reasons

# Endpoint misses that look like someone guessing URLs (core/provisioning/endpoint.py reasons).
PROBE_REASONS = reasons.PROBES
SIP_AUTH_FAILED = "sip_auth_failed"  # core/sip/policy.py SecEvent kind
TOP_SOURCES = 10


def since(days: int, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=days)


def _hour(session: Session, column: Any) -> ColumnElement[Any]:
    """The start of the column's hour, as text that sorts (SQLite and PostgreSQL spell it differently)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.date_trunc("hour", func.timezone("UTC", column)), "YYYY-MM-DD HH24:00")
    return func.strftime("%Y-%m-%d %H:00", column)


def _per_hour_and_source(session: Session, stmt: Select[Any], at: Any, ip: Any) -> list[dict[str, Any]]:
    """Counts per (hour, source IP) for the TOP_SOURCES busiest sources of `stmt`'s rows."""
    rows = stmt.subquery()
    top = (
        select(rows.c.ip)
        .group_by(rows.c.ip)
        .order_by(func.count().desc(), rows.c.ip)
        .limit(TOP_SOURCES)
        .scalar_subquery()
    )
    hour = _hour(session, rows.c.at).label("hour")
    query = (
        select(hour, rows.c.ip, func.count().label("n"))
        .where(rows.c.ip.in_(top))
        .group_by(hour, rows.c.ip)
        .order_by(hour, rows.c.ip)
    )
    return [{"hour": h, "source_ip": s, "count": n} for h, s, n in session.execute(query)]


def config_downloads(session: Session, actor: Actor, start: datetime) -> list[dict[str, Any]]:
    """Successful config fetches per hour and source IP, on the devices the actor may see."""
    stmt = scope_lines(
        actor,
        select(AccessLog.at.label("at"), AccessLog.source_ip.label("ip"))
        .join(Device, Device.id == AccessLog.device_id)
        .join(Line, Line.id == Device.line_id)
        .where(AccessLog.at >= start, AccessLog.status == 200),
    )
    return _per_hour_and_source(session, stmt, AccessLog.at, AccessLog.source_ip)


def key_probes(session: Session, actor: Actor, start: datetime) -> list[dict[str, Any]]:
    """Requests for keys or MACs that do not exist, per hour and source (provider only: no line to scope by)."""
    if not actor.is_provider:
        return []
    stmt = select(AccessLog.at.label("at"), AccessLog.source_ip.label("ip")).where(
        AccessLog.at >= start, AccessLog.reason.in_(PROBE_REASONS)
    )
    return _per_hour_and_source(session, stmt, AccessLog.at, AccessLog.source_ip)


def sip_auth_failures(session: Session, actor: Actor, start: datetime) -> list[dict[str, Any]]:
    """Failed SIP authentications per hour and source; non-providers see those against their lines only."""
    base = select(SecurityEvent.at.label("at"), SecurityEvent.source_ip.label("ip")).where(
        SecurityEvent.at >= start, SecurityEvent.kind == SIP_AUTH_FAILED
    )
    if not actor.is_provider:
        base = scope_lines(actor, base.join(Line, Line.id == SecurityEvent.line_id))
    return _per_hour_and_source(session, base, SecurityEvent.at, SecurityEvent.source_ip)


def multi_ip_devices(session: Session, actor: Actor, start: datetime) -> list[dict[str, Any]]:
    """Devices whose config was fetched from more than one IP: a copied URL, or a phone that moved."""
    ips = func.count(func.distinct(AccessLog.source_ip))
    stmt = scope_lines(
        actor,
        select(
            Device.id,
            Device.model_id,
            Device.label,
            Line.id,
            Line.number,
            ips.label("ips"),
            func.count().label("requests"),
            cast(func.max(AccessLog.at), String).label("last"),
        )
        .join(Device, Device.id == AccessLog.device_id)
        .join(Line, Line.id == Device.line_id)
        .where(AccessLog.at >= start, AccessLog.status == 200)
        .group_by(Device.id, Device.model_id, Device.label, Line.id, Line.number)
        .having(ips > 1)
        .order_by(ips.desc(), Device.id),
    )
    catalogue = default_catalogue()
    result = []
    for device_id, model_id, label, line_id, number, n_ips, requests, last in session.execute(stmt):
        model = catalogue.get(model_id)
        result.append({
            "device_id": device_id,
            "model_label": model.label if model else model_id,
            "label": label,
            "line_id": line_id,
            "line": number,
            "ips": n_ips,
            "requests": requests,
            "last": str(last)[:16],
        })  # fmt: skip
    return result
