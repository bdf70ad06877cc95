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
from core.models import Device, Registration


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
