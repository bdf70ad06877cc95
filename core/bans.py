"""Bans of source addresses: who may see and lift them (issue 12: an office NAT banned after another
device's failures is lifted from the device's diagnosis or `python -m core ban lift IP`).

Lifting deletes the active Ban rows of the address, every scope: the provisioning endpoint reloads
bans on its own, the registrar ends the ban at its next reload (core.sip.policy) and, with the Kamailio
switch, serve's ban sync deletes it from Kamailio's htable within a second (core.switch.ban_sync). A
provider may also ban an address by hand (`add_ban`, `python -m core ban add IP`). A source that
fails again is banned again. Only permissions.BAN_ROLES may act on bans (the device view draws its
unban button for them alone): the provider on any address, a vPBX administrator on an address one of
its own devices uses (its last access, or a live binding of one of its lines); an end user never.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, delete, exists, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core import audit
from core.errors import NotFound, PermissionDenied, ValidationError
from core.models import Ban, Device, Line, Registration, utcnow
from core.permissions import BAN_ROLES, Actor, require_role

BANS_SHOWN = 200  # newest-expiring first; a flood of bans is the Fraude page's to rank
SCOPES = ("sip", "provisioning", "all")
BAN_MINUTES = (1, 366 * 24 * 60)  # a ban by hand: one minute to a year (VOIPADMIN_SIP_BAN_SECONDS' bound)
REASON_MAX = 255


def ban_view(b: Ban) -> dict[str, Any]:
    return {
        "id": b.id,
        "source_ip": b.source_ip,
        "scope": b.scope,
        "reason": b.reason,
        "created_at": b.created_at.isoformat(timespec="seconds"),
        "expires_at": b.expires_at.isoformat(timespec="seconds"),
    }


def normalize_ip(value: str) -> str:
    """An IPv4 or IPv6 address as the registrar and endpoint store it (compressed form)."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        raise ValidationError("ip_invalid", "source_ip", value=value) from None


def _used_by_vpbx(
    vpbx_id: int, address: ColumnElement[str] | InstrumentedAttribute[str], now: datetime
) -> ColumnElement[bool]:
    """`address` is the last access of one of the vPBX's devices or the source of a live binding of one of
    its lines (Device.line_id and Registration.line_id are indexed; a vPBX's lines by Line.vpbx_id)."""
    by_device = exists().where(Device.line_id == Line.id, Line.vpbx_id == vpbx_id, Device.last_access_ip == address)
    by_binding = exists().where(
        Registration.line_id == Line.id,
        Line.vpbx_id == vpbx_id,
        Registration.source_ip == address,
        Registration.expires_at > now,
    )
    return or_(by_device, by_binding)


def _vpbx_scope(actor: Actor) -> int | None:
    """None for the provider (every address), else the vPBX whose phones' addresses the actor may act on."""
    require_role(actor, *BAN_ROLES, doing="manage_bans")
    if actor.is_provider:
        return None
    return actor.vpbx_id if actor.vpbx_id is not None else -1


def list_bans(
    session: Session, actor: Actor, now: datetime | None = None, limit: int = BANS_SHOWN
) -> list[dict[str, Any]]:
    """The active bans the actor may act on, latest-ending first, in one statement."""
    now = now or utcnow()
    stmt = select(Ban).where(Ban.expires_at > now)
    vpbx_id = _vpbx_scope(actor)
    if vpbx_id is not None:
        stmt = stmt.where(_used_by_vpbx(vpbx_id, Ban.source_ip, now))
    return [ban_view(b) for b in session.scalars(stmt.order_by(Ban.expires_at.desc(), Ban.id).limit(limit))]


def add_ban(
    session: Session,
    actor: Actor,
    source_ip: str,
    scope: str = "all",
    minutes: float = 24 * 60,
    reason: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Ban `source_ip` by hand for `minutes` (the provider only: one address may be many tenants' office
    NAT), audited `ban.add`. The registrar, the endpoint and Kamailio read the row like their own bans."""
    require_role(actor, "provider", doing="add_bans")
    ip = normalize_ip(source_ip)
    if scope not in SCOPES:
        raise ValidationError("one_of", "scope", choices=", ".join(SCOPES))
    if not BAN_MINUTES[0] <= minutes <= BAN_MINUTES[1]:
        raise ValidationError("ban_duration", "minutes", min=BAN_MINUTES[0], max=BAN_MINUTES[1])
    reason = (reason or "").strip() or f"banned by {actor.name}"
    if len(reason) > REASON_MAX:
        raise ValidationError("too_long", "reason", max=REASON_MAX)
    now = now or utcnow()
    ban = Ban(source_ip=ip, scope=scope, reason=reason, created_at=now, expires_at=now + timedelta(minutes=minutes))
    session.add(ban)
    session.flush()
    audit.record(session, actor, "ban.add", "ban", ip, scope=scope, minutes=minutes)
    return ban_view(ban)


def lift_ban(session: Session, actor: Actor, source_ip: str, now: datetime | None = None) -> dict[str, Any]:
    """Delete every active ban of `source_ip` (all scopes), audited."""
    ip = normalize_ip(source_ip)
    now = now or utcnow()
    vpbx_id = _vpbx_scope(actor)
    # Whose address is asked before whether it is banned: another tenant's bans are not told.
    if vpbx_id is not None and not session.scalar(select(_used_by_vpbx(vpbx_id, literal(ip, String(45)), now))):
        raise PermissionDenied("ban_not_yours", "source_ip", ip=ip)
    active = session.scalars(select(Ban).where(Ban.source_ip == ip, Ban.expires_at > now).order_by(Ban.id)).all()
    if not active:
        raise NotFound("ban_not_found", "source_ip", ip=ip)
    scopes = sorted({b.scope for b in active})
    session.execute(delete(Ban).where(Ban.id.in_([b.id for b in active])))
    audit.record(session, actor, "ban.lift", "ban", ip, scopes=scopes, rows=len(active))
    return {"source_ip": ip, "lifted": len(active), "scopes": scopes}
