"""Line ("Poste") use cases: a phone number with its SIP account."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, credentials
from core.errors import ValidationError
from core.models import Device, Line
from core.permissions import Actor, require_line, require_role, require_vpbx, scope_lines
from core.views import device_view, line_view
from core.vpbx import find_vpbx

NUMBER_RE = re.compile(r"^\+?[0-9]{3,20}$")
EXTENSION_RE = re.compile(r"^[0-9]{2,8}$")
DISPLAY_MAX = 64


def find_line(session: Session, actor: Actor, line_ref: int | str) -> Line:
    """A line by id (int) or number (str), if the actor may see it; else NotFound."""
    if isinstance(line_ref, int):
        line = session.get(Line, line_ref)
    else:
        line = session.scalar(select(Line).where(Line.number == _number(line_ref, check=False)))
    return require_line(actor, line)


def _number(raw: str, check: bool = True) -> str:
    number = re.sub(r"[\s.\-/()]", "", raw or "")
    if check and not NUMBER_RE.match(number):
        raise ValidationError(f"{raw!r} is not a phone number (digits, optional leading +)", "number")
    return number


def _display_name(raw: str | None) -> str:
    name = (raw or "").strip()
    if len(name) > DISPLAY_MAX:
        raise ValidationError(f"at most {DISPLAY_MAX} characters", "name")
    if any(not c.isprintable() for c in name):
        raise ValidationError("may not hold control characters (newlines, tabs...)", "name")
    return name


def bump_config(line: Line) -> None:
    """Every file carrying this line's account changes: its devices, and the bases of its handsets."""
    for d in line.devices:
        d.config_revision += 1
        if d.base_station is not None and d.base_station.line_id != line.id:
            d.base_station.config_revision += 1


def add_line(
    session: Session,
    actor: Actor,
    vpbx_name: str,
    number: str,
    extension: str | None = None,
    display_name: str = "",
    sip_password: str | None = None,
) -> dict[str, Any]:
    """Create a line. Returns {"line": view, "sip_password": the generated password or None}."""
    require_role(actor, "provider", "vpbx_admin", doing="create lines")
    vpbx = find_vpbx(session, actor, vpbx_name)
    require_vpbx(actor, vpbx.id)
    number = _number(number)
    if session.scalar(select(Line.id).where(Line.number == number)) is not None:
        raise ValidationError(f"the number {number} is already a line", "number")
    ext = (extension or "").strip() or None
    if ext is not None:
        if not EXTENSION_RE.match(ext):
            raise ValidationError("an extension is 2-8 digits", "extension")
        taken = session.scalar(select(Line.id).where(Line.vpbx_id == vpbx.id, Line.extension == ext))
        if taken is not None:
            raise ValidationError(f"extension {ext} is taken in {vpbx.name}", "extension")
    password, generated = credentials.sip_password(sip_password)
    line = Line(
        vpbx=vpbx,
        number=number,
        extension=ext,
        display_name=_display_name(display_name),
        sip_username=number.lstrip("+"),
        sip_password=password,
    )
    session.add(line)
    session.flush()
    audit.record(session, actor, "line.add", "line", line.id, number=number, extension=ext, sip_password=sip_password)
    return {"line": line_view(line), "sip_password": password if generated else None}


def list_lines(session: Session, actor: Actor, vpbx_name: str | None = None) -> list[dict[str, Any]]:
    stmt = scope_lines(actor, select(Line)).order_by(Line.number)
    if vpbx_name:
        stmt = stmt.where(Line.vpbx_id == find_vpbx(session, actor, vpbx_name).id)
    return [line_view(line) for line in session.scalars(stmt)]


def get_line(session: Session, actor: Actor, line_ref: int | str) -> dict[str, Any]:
    line = find_line(session, actor, line_ref)
    view = line_view(line)
    view["devices"] = [device_view(d) for d in line.devices]
    view["registrations"] = _registrations(session, line.id)
    return view


def _registrations(session: Session, line_id: int) -> list[dict[str, Any]]:
    try:
        from core.registrations import registrations_for_line
    except ImportError:  # the registrar module is optional until it ships
        return []
    return registrations_for_line(session, line_id)


def line_credentials(session: Session, actor: Actor, line_ref: int | str) -> dict[str, Any]:
    """SIP user, domain and password for setting up a device by hand. Audited (without the password)."""
    require_role(actor, "provider", "vpbx_admin", doing="read SIP credentials")
    line = find_line(session, actor, line_ref)
    audit.record(session, actor, "line.credentials.read", "line", line.id, number=line.number)
    return {
        "line": line.number,
        "sip_username": line.sip_username,
        "domain": line.vpbx.sip_domain,
        "sip_password": line.sip_password,
    }


def new_sip_credentials(session: Session, actor: Actor, line_ref: int | str) -> dict[str, Any]:
    """A fresh generated SIP password (fraud response); devices get it at their next fetch."""
    require_role(actor, "provider", "vpbx_admin", doing="change SIP credentials")
    line = find_line(session, actor, line_ref)
    line.sip_password, _ = credentials.sip_password(None)
    bump_config(line)
    audit.record(session, actor, "line.credentials.renew", "line", line.id, number=line.number)
    return {"line": line_view(line), "changed": True}


def set_blocked(session: Session, actor: Actor, line_ref: int | str, blocked: bool) -> dict[str, Any]:
    """Block or unblock calls to the PSTN for a line (fraud response)."""
    require_role(actor, "provider", "vpbx_admin", doing="block lines")
    line = find_line(session, actor, line_ref)
    line.pstn_blocked = bool(blocked)
    audit.record(session, actor, "line.block" if blocked else "line.unblock", "line", line.id, number=line.number)
    return line_view(line)


def update_line(
    session: Session, actor: Actor, line_ref: int | str, display_name: str | None = None, extension: str | None = None
) -> dict[str, Any]:
    require_role(actor, "provider", "vpbx_admin", doing="change lines")
    line = find_line(session, actor, line_ref)
    if display_name is not None:
        line.display_name = _display_name(display_name)
    if extension is not None:
        ext = extension.strip() or None
        if ext is not None and not EXTENSION_RE.match(ext):
            raise ValidationError("an extension is 2-8 digits", "extension")
        clash = session.scalar(
            select(Line.id).where(Line.vpbx_id == line.vpbx_id, Line.extension == ext, Line.id != line.id)
        )
        if ext is not None and clash is not None:
            raise ValidationError(f"extension {ext} is taken", "extension")
        line.extension = ext
    bump_config(line)
    audit.record(session, actor, "line.update", "line", line.id, display_name=display_name, extension=extension)
    return line_view(line)


def delete_line(session: Session, actor: Actor, line_ref: int | str) -> None:
    require_role(actor, "provider", "vpbx_admin", doing="delete lines")
    line = find_line(session, actor, line_ref)
    if session.scalar(select(Device.id).where(Device.line_id == line.id).limit(1)) is not None:
        raise ValidationError("delete the line's devices first", "line")
    audit.record(session, actor, "line.delete", "line", line.id, number=line.number)
    session.delete(line)
