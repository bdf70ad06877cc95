"""vPBX (tenant) use cases."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import audit
from core.errors import NotFound, ValidationError
from core.key_functions import VOICEMAIL_ACCESS
from core.models import Device, Line, Vpbx
from core.permissions import VOICEMAIL_ROLES, Actor, require_role, require_vpbx
from core.views import vpbx_view

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")


def add_vpbx(session: Session, actor: Actor, name: str, domain: str) -> dict[str, Any]:
    require_role(actor, "provider", doing="create_vpbx")
    name = (name or "").strip()
    domain = (domain or "").strip().lower()
    if not NAME_RE.match(name):
        raise ValidationError("vpbx_name_format", "name")
    if not DOMAIN_RE.match(domain):
        raise ValidationError("domain_invalid", "domain", domain=domain)
    if session.scalar(select(Vpbx.id).where(Vpbx.name == name)) is not None:
        raise ValidationError("vpbx_exists", "name", name=name)
    if session.scalar(select(Vpbx.id).where(Vpbx.sip_domain == domain)) is not None:
        raise ValidationError("domain_taken", "domain", domain=domain)
    v = Vpbx(name=name, sip_domain=domain)
    session.add(v)
    session.flush()
    audit.record(session, actor, "vpbx.add", "vpbx", v.id, name=name, domain=domain)
    return vpbx_view(v)


def list_vpbx(session: Session, actor: Actor) -> list[dict[str, Any]]:
    stmt = select(Vpbx).order_by(Vpbx.name)
    if not actor.is_provider:
        stmt = stmt.where(Vpbx.id == (actor.vpbx_id if actor.vpbx_id is not None else -1))
    return [vpbx_view(v) for v in session.scalars(stmt)]


def find_vpbx(session: Session, actor: Actor, name: str) -> Vpbx:
    v = session.scalar(select(Vpbx).where(Vpbx.name == name))
    if v is None or (not actor.is_provider and v.id != actor.vpbx_id):
        raise NotFound("vpbx_unknown", "vpbx", name=name)
    return v


def set_voicemail_access(session: Session, actor: Actor, name: str, number: str) -> dict[str, Any]:
    """The number the vPBX's voicemail keys dial before a line's mailbox ("" = none: the phone's own key).

    Every device of the vPBX gets a new revision: its voicemail keys dial something else."""
    require_role(actor, *VOICEMAIL_ROLES, doing="set_voicemail_access")
    v = find_vpbx(session, actor, name)
    require_vpbx(actor, v.id)
    number = (number or "").strip()
    if number and not VOICEMAIL_ACCESS.match(number):
        raise ValidationError("voicemail_access_invalid", "voicemail_access", value=number)
    v.voicemail_access = number
    session.execute(
        update(Device)
        .where(Device.line_id.in_(select(Line.id).where(Line.vpbx_id == v.id)))
        .values(config_revision=Device.config_revision + 1)
    )
    audit.record(session, actor, "vpbx.voicemail", "vpbx", v.id, voicemail_access=number)
    return vpbx_view(v)
