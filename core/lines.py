"""Line ("Poste") use cases: a phone number with its SIP account."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, contains_eager

from core import audit, credentials
from core.errors import ValidationError
from core.models import Device, Line, Vpbx
from core.permissions import (
    LINE_EDIT_ROLES,
    Actor,
    require_line,
    require_line_admin,
    require_role,
    require_vpbx,
    scope_lines,
)
from core.registrations import registrations_for_line
from core.views import device_views, line_view
from core.vpbx import find_vpbx

NUMBER_RE = re.compile(r"^\+?[0-9]{3,20}$")
EXTENSION_RE = re.compile(r"^[0-9]{2,8}$")
DISPLAY_MAX = 64
# A phone puts the display name into SIP headers as a quoted string (From: "Alice" <sip:...>) and into its
# vendor file; firmwares do not all escape these, so a name holding one could break the header or the file.
DISPLAY_FORBIDDEN = '"\\<>'


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
        raise ValidationError("number_invalid", "number", value=raw)
    return number


def line_number(raw: str) -> str:
    """A number as typed (spaces, dots, dashes...) in the form lines are stored and found by."""
    return _number(raw, check=False)


def _display_name(raw: str | None, field: str = "name") -> str:
    """Empty is allowed: the phone then shows the extension (or the number)."""
    name = (raw or "").strip()
    if len(name) > DISPLAY_MAX:
        raise ValidationError("too_long", field, max=DISPLAY_MAX)
    if any(not c.isprintable() for c in name):
        raise ValidationError("control_chars", field)
    if any(c in DISPLAY_FORBIDDEN for c in name):
        raise ValidationError("display_name_chars", field, chars=" ".join(DISPLAY_FORBIDDEN))
    return name


def bump_config(line: Line) -> None:
    """Every file carrying this line's account changes: its devices, and the bases of its handsets."""
    changed = set(line.devices) | {d.base_station for d in line.devices if d.base_station is not None}
    for d in changed:  # a set: a base on this same line moves by one, not once per handset
        d.bump_revision(with_base=False)


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
    require_role(actor, "provider", "vpbx_admin", doing="create_lines")
    vpbx = find_vpbx(session, actor, vpbx_name)
    require_vpbx(actor, vpbx.id)
    number = _number(number)
    if session.scalar(select(Line.id).where(Line.number == number)) is not None:
        raise ValidationError("number_taken", "number", number=number)
    ext = (extension or "").strip() or None
    if ext is not None:
        if not EXTENSION_RE.match(ext):
            raise ValidationError("extension_format", "extension", min=2, max=8)
        taken = session.scalar(select(Line.id).where(Line.vpbx_id == vpbx.id, Line.extension == ext))
        if taken is not None:
            raise ValidationError("extension_taken", "extension", extension=ext, vpbx=vpbx.name)
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


def _lines_with_counts(actor: Actor) -> Select[Line, int]:
    """Visible lines with their vPBX (joined) and device count (correlated): one statement for any number."""
    devices = select(func.count(Device.id)).where(Device.line_id == Line.id).correlate(Line).scalar_subquery()
    stmt = select(Line, devices).join(Line.vpbx).options(contains_eager(Line.vpbx))
    return scope_lines(actor, stmt)


def list_lines(session: Session, actor: Actor, vpbx_name: str | None = None) -> list[dict[str, Any]]:
    stmt = _lines_with_counts(actor).order_by(Line.number)
    if vpbx_name:
        stmt = stmt.where(Line.vpbx_id == find_vpbx(session, actor, vpbx_name).id)
    return [line_view(line, count) for line, count in session.execute(stmt)]


def visible_line(session: Session, actor: Actor, line_id: int) -> dict[str, Any] | None:
    """The line's view if the actor may see it, else None (a picker's preselection): one statement."""
    return next((line_view(line, n) for line, n in session.execute(_lines_with_counts(actor).where(
        Line.id == line_id))), None)  # fmt: skip


SEARCH_MAX = 100


def search_lines(session: Session, actor: Actor, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """The visible lines matching every word of `text` (line picker): a word matches a number (digits, a
    national 0... form too), an extension (prefix), a display name or a vPBX name (parts, any case).

    At most `limit` (1..SEARCH_MAX) lines, ordered by vPBX and number; empty text gives the first ones.
    One statement; the number and extension conditions can use their unique indexes' order for the limit.
    """
    limit = max(1, min(int(limit), SEARCH_MAX))
    stmt = _lines_with_counts(actor)
    text = (text or "").strip()
    digits = re.sub(r"[\s.\-/()]", "", text)
    # A number typed with spaces ("021 555 01 02") is one word, not five.
    words = [digits] if re.fullmatch(r"\+?[0-9]+", digits) else text.split()[:8]
    for word in words:
        stmt = stmt.where(or_(*_word_matches(word)))
    stmt = stmt.order_by(Vpbx.name, Line.number).limit(limit)
    return [line_view(line, count) for line, count in session.execute(stmt)]


def _word_matches(word: str) -> list[ColumnElement[bool]]:
    lowered = word.lower()
    conditions: list[ColumnElement[bool]] = [
        func.lower(Line.display_name).contains(lowered, autoescape=True),
        func.lower(Vpbx.name).contains(lowered, autoescape=True),
    ]
    digits = re.sub(r"[\s.\-/()+]", "", word)
    if digits.isdigit():
        conditions.append(Line.extension.startswith(digits, autoescape=True))
        # "021 555 01 01" is how people read "+41215550101": a leading 0 stands for the country code.
        conditions.append(Line.number.contains(digits.lstrip("0") or digits, autoescape=True))
    return conditions


def get_line(session: Session, actor: Actor, line_ref: int | str) -> dict[str, Any]:
    line = find_line(session, actor, line_ref)
    view = line_view(line)
    view["devices"] = device_views(session, line.devices)
    view["registrations"] = registrations_for_line(session, line.id)
    return view


def line_credentials(session: Session, actor: Actor, line_ref: int | str) -> dict[str, Any]:
    """SIP user, domain and password for setting up a device by hand. Audited (without the password)."""
    require_line_admin(actor, doing="read_sip_credentials")
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
    require_line_admin(actor, doing="change_sip_credentials")
    line = find_line(session, actor, line_ref)
    line.sip_password, _ = credentials.sip_password(None)
    bump_config(line)
    audit.record(session, actor, "line.credentials.renew", "line", line.id, number=line.number)
    return {"line": line_view(line), "changed": True}


def set_blocked(session: Session, actor: Actor, line_ref: int | str, blocked: bool) -> dict[str, Any]:
    """Block or unblock calls to the PSTN for a line (fraud response)."""
    require_line_admin(actor, doing="block_lines")
    line = find_line(session, actor, line_ref)
    line.pstn_blocked = bool(blocked)
    audit.record(session, actor, "line.block" if blocked else "line.unblock", "line", line.id, number=line.number)
    return line_view(line)


def update_line(
    session: Session, actor: Actor, line_ref: int | str, display_name: str | None = None, extension: str | None = None
) -> dict[str, Any]:
    """Change a line's display name and/or extension (None: unchanged). A real change moves every file
    carrying the line's account (its devices, its handsets' bases), so phones fetch it at their next check
    (or at once after a Resync); nothing changed, nothing moves. Audited with the values before and after."""
    require_role(actor, *LINE_EDIT_ROLES, doing="change_lines")
    line = find_line(session, actor, line_ref)
    changes: dict[str, Any] = {}
    if display_name is not None:
        name = _display_name(display_name, "display_name")
        if name != line.display_name:
            changes["display_name"] = {"from": line.display_name, "to": name}
            line.display_name = name
    if extension is not None:
        ext = extension.strip() or None
        if ext is not None and not EXTENSION_RE.match(ext):
            raise ValidationError("extension_format", "extension", min=2, max=8)
        clash = session.scalar(
            select(Line.id).where(Line.vpbx_id == line.vpbx_id, Line.extension == ext, Line.id != line.id)
        )
        if ext is not None and clash is not None:
            raise ValidationError("extension_taken", "extension", extension=ext, vpbx=line.vpbx.name)
        if ext != line.extension:
            changes["extension"] = {"from": line.extension, "to": ext}
            line.extension = ext
    if changes:
        bump_config(line)
        audit.record(session, actor, "line.update", "line", line.id, number=line.number, **changes)
    return line_view(line)
