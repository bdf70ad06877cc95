"""The bindings of a line as the CLI (`line show`) and the dashboard show them.

Rows come from the registrar's write-behind (core.sip.store); expired ones are filtered on read,
so a stopped registrar never shows stale phones as registered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.credentials import find_mac
from core.models import Device, Line, Registration
from core.permissions import Actor, scope_lines


def match_device(user_agent: str, source_ip: str, devices: Sequence[tuple[int, str | None, str | None]]) -> int | None:
    """Which of the line's devices (id, mac, last_access_ip) a binding belongs to, or None.

    A MAC in the User-Agent decides first (Yealink, Snom and others put it there); else the one
    device whose last config fetch came from the binding's source IP. Two candidates: unknown.
    """
    mac = find_mac(user_agent or "")
    if mac:
        for dev_id, dev_mac, _ in devices:
            if dev_mac and dev_mac == mac:
                return dev_id
    by_ip = [dev_id for dev_id, _, ip in devices if ip and ip == source_ip]
    return by_ip[0] if len(by_ip) == 1 else None


def registrations_for_line(session: Session, line_id: int, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    rows = session.scalars(
        select(Registration)
        .where(Registration.line_id == line_id, Registration.expires_at > now)
        .order_by(Registration.expires_at.desc(), Registration.id)
    ).all()
    if not rows:
        return []
    devices = [
        (d.id, d.mac, d.last_access_ip)
        for d in session.scalars(select(Device).where(Device.line_id == line_id).order_by(Device.id))
    ]
    return [
        {
            "aor": r.aor,
            "contact": r.contact,
            "user_agent": r.user_agent,
            "source_ip": r.source_ip,
            "source_port": r.source_port,
            "transport": r.transport,
            "expires_at": r.expires_at.astimezone(UTC).isoformat(timespec="seconds"),
            "device": match_device(r.user_agent, r.source_ip, devices),
        }
        for r in rows
    ]


def registered_device_ids(session: Session, actor: Actor, vpbx_id: int | None = None,
                          now: datetime | None = None) -> set[int]:  # fmt: skip
    """The visible devices a live binding belongs to (by `match_device`, as `line show` tells them), in
    two statements whatever the number of lines: the bindings, then the devices of their lines."""
    now = now or datetime.now(UTC)
    bindings = scope_lines(
        actor,
        select(Registration.line_id, Registration.user_agent, Registration.source_ip)
        .join(Line, Line.id == Registration.line_id)
        .where(Registration.expires_at > now),
    )
    if vpbx_id is not None:
        bindings = bindings.where(Line.vpbx_id == vpbx_id)
    by_line: dict[int | None, list[tuple[str, str]]] = {}  # joined to Line: never None in fact
    for line_id, user_agent, source_ip in session.execute(bindings):
        by_line.setdefault(line_id, []).append((user_agent, source_ip))
    if not by_line:
        return set()
    live_lines = select(Registration.line_id).where(Registration.expires_at > now)
    devices: dict[int | None, list[tuple[int, str | None, str | None]]] = {}
    query = scope_lines(
        actor,
        select(Device.line_id, Device.id, Device.mac, Device.last_access_ip)
        .join(Line, Line.id == Device.line_id)
        .where(Device.line_id.in_(live_lines)),
    ).order_by(Device.id)
    if vpbx_id is not None:
        query = query.where(Line.vpbx_id == vpbx_id)
    for dev_line_id, dev_id, mac, ip in session.execute(query):
        devices.setdefault(dev_line_id, []).append((dev_id, mac, ip))
    found = set()
    for line_id, seen in by_line.items():
        for user_agent, source_ip in seen:
            matched = match_device(user_agent, source_ip, devices.get(line_id, []))
            if matched is not None:
                found.add(matched)
    return found
