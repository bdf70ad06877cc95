"""Aperçu: per vPBX, the devices that need a look, counted in a few grouped statements (not per device).

The four conditions, each defined once here and used by both the counts and the filtered lists:

- never_fetched: a device with a URL of its own that has never fetched it;
- not_registered: a device provisioned with its line's account (it has a URL) that no live SIP binding
  belongs to (core.registrations.match_device, as the Téléphones page tells them);
- alerts: a device named by a security event of the last ALERT_HOURS hours, or on a line that was (failed
  SIP authentications against its account, a key used from another phone...);
- pending: a device changed since its last fetch. The schema does not record the revision a device
  fetched, so this is derived: `updated_at` moves with every change to the device or its line's account
  (config_revision bumps go through the ORM) and the access-log writer keeps it on a fetch, so
  updated_at > last_access_at means "the phone has not fetched its changed file yet". No column and no
  work on the endpoint's hot path (DeviceDirectory.mark_done's once -> done keeps updated_at too).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, func, or_, select
from sqlalchemy.orm import Session

from core.catalogue import default_catalogue
from core.models import Device, Line, SecurityEvent, Vpbx
from core.permissions import Actor, scope_lines
from core.registrations import registered_device_ids

ALERT_HOURS = 24
CONDITIONS = ("never_fetched", "not_registered", "alerts", "pending")
LIST_MAX = 200


def _conditions(now: datetime) -> dict[str, ColumnElement[bool]]:
    since = now - timedelta(hours=ALERT_HOURS)
    recent = select(SecurityEvent.id).where(SecurityEvent.at >= since)
    alert_devices = recent.with_only_columns(SecurityEvent.device_id).where(SecurityEvent.device_id.is_not(None))
    alert_lines = recent.with_only_columns(SecurityEvent.line_id).where(SecurityEvent.line_id.is_not(None))
    return {
        "never_fetched": and_(Device.access_key.is_not(None), Device.last_access_at.is_(None)),
        "alerts": or_(Device.id.in_(alert_devices), Device.line_id.in_(alert_lines)),
        "pending": and_(
            Device.access_key.is_not(None),
            Device.last_access_at.is_not(None),
            Device.updated_at > Device.last_access_at,
        ),
    }


def _registers(model_id: str) -> bool:
    """Provisioned with the line's account, so it registers itself (handsets go through their base)."""
    model = default_catalogue().get(model_id)
    return model is not None and model.registers


def vpbx_overview(session: Session, actor: Actor, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per visible vPBX: lines, devices, and the four counts (CONDITIONS)."""
    now = now or datetime.now(UTC)
    conditions = _conditions(now)
    line_counts = scope_lines(
        actor,
        select(Vpbx.id, Vpbx.name, func.count(Line.id))
        .join(Line, Line.vpbx_id == Vpbx.id)
        .group_by(Vpbx.id, Vpbx.name)
        .order_by(Vpbx.name),
    )
    rows: dict[int, dict[str, Any]] = {
        vpbx_id: {"vpbx_id": vpbx_id, "vpbx": name, "lines": n, "devices": 0, "not_registered": 0}
        | dict.fromkeys(conditions, 0)
        for vpbx_id, name, n in session.execute(line_counts)
    }
    sums = [func.sum(case((cond, 1), else_=0)).cast(Integer).label(name) for name, cond in conditions.items()]
    device_counts = scope_lines(
        actor,
        select(Line.vpbx_id, func.count(Device.id), *sums).join(Line, Line.id == Device.line_id).group_by(Line.vpbx_id),
    )
    for vpbx_id, n, *counts in session.execute(device_counts):
        rows[vpbx_id]["devices"] = n
        rows[vpbx_id].update(zip(conditions, (c or 0 for c in counts), strict=True))
    registered = registered_device_ids(session, actor, now=now)
    for vpbx_id, dev_id, model_id in session.execute(_provisioned(actor)):
        if dev_id not in registered and _registers(model_id):
            rows[vpbx_id]["not_registered"] += 1
    return list(rows.values())


def _provisioned(actor: Actor) -> Any:
    return scope_lines(
        actor,
        select(Line.vpbx_id, Device.id, Device.model_id)
        .join(Line, Line.id == Device.line_id)
        .where(Device.access_key.is_not(None)),
    )


def devices_needing_attention(
    session: Session, actor: Actor, vpbx_id: int, condition: str, now: datetime | None = None
) -> dict[str, Any]:
    """The visible devices of a vPBX meeting `condition` (one of CONDITIONS): {"total", "devices"}, at most
    LIST_MAX listed (by line number), each with what a support desk needs to go on (line, model, last fetch)."""
    if condition not in CONDITIONS:
        condition = CONDITIONS[0]
    now = now or datetime.now(UTC)
    stmt = scope_lines(
        actor,
        select(Device.id, Device.model_id, Device.label, Device.mac, Device.last_access_at, Device.last_access_ip,
               Line.id, Line.number, Line.extension, Line.display_name)
        .join(Line, Line.id == Device.line_id)
        .where(Line.vpbx_id == vpbx_id),
    ).order_by(Line.number, Device.id)  # fmt: skip
    if condition == "not_registered":
        registered = registered_device_ids(session, actor, vpbx_id=vpbx_id, now=now)
        rows = [r for r in session.execute(stmt.where(Device.access_key.is_not(None))) if r[0] not in registered
                and _registers(r[1])]  # fmt: skip
        total = len(rows)
        rows = rows[:LIST_MAX]
    else:
        cond = _conditions(now)[condition]
        total = session.scalar(select(func.count()).select_from(stmt.where(cond).order_by(None).subquery())) or 0
        rows = list(session.execute(stmt.where(cond).limit(LIST_MAX)))
    catalogue = default_catalogue()
    listed = []
    for dev_id, model_id, label, mac, at, ip, line_id, number, extension, name in rows:
        model = catalogue.get(model_id)
        listed.append({
            "id": dev_id, "model_label": model.label if model else model_id, "label": label, "mac": mac,
            "last_access": at.isoformat() if at else None, "last_access_ip": ip,
            "line_id": line_id, "line": number, "extension": extension, "display_name": name,
        })  # fmt: skip
    return {"total": total, "devices": listed}
