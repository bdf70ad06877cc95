"""Per-vPBX blocked destinations (issue 16 point 3): prefixes (premium, foreign...) its lines may not call on
the PSTN. The switch refuses such a call with 403 (switch/kamailio/parts/calls.cfg.j2 reads `blocked_prefix`
at every call, so a change holds for the next call); here they are listed and changed by the provider and the
vPBX's administrator, audited.

A prefix and a dialled number are compared in one form (`dialled_form`): "00" at the start stands for "+"
(international), spaces, dots, dashes and brackets are dropped; a national "0..." prefix stays as typed and
matches numbers dialled nationally.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.errors import NotFound, ValidationError
from core.models import BlockedPrefix
from core.permissions import BLOCKED_PREFIX_ROLES, Actor, require_role, require_vpbx
from core.vpbx import find_vpbx

PREFIX_RE = re.compile(r"^\+?[0-9]{1,15}$")


def dialled_form(raw: str) -> str:
    """A number or prefix as the switch compares it: separators dropped, a leading "00" written "+"."""
    number = re.sub(r"[\s.\-/()]", "", raw or "")
    return "+" + number[2:] if number.startswith("00") else number


def _prefix(raw: str) -> str:
    prefix = dialled_form(raw)
    if not PREFIX_RE.match(prefix):
        raise ValidationError("blocked_prefix_invalid", "prefix", value=raw)
    return prefix


def _vpbx(session: Session, actor: Actor, vpbx_name: str) -> int:
    require_role(actor, *BLOCKED_PREFIX_ROLES, doing="manage_blocked_prefixes")
    v = find_vpbx(session, actor, vpbx_name)
    require_vpbx(actor, v.id)
    return v.id


def _listing(session: Session, vpbx_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(BlockedPrefix).where(BlockedPrefix.vpbx_id == vpbx_id).order_by(BlockedPrefix.prefix))
    return [{"prefix": r.prefix, "created_at": r.created_at} for r in rows]


def list_blocked_prefixes(session: Session, actor: Actor, vpbx_name: str) -> list[dict[str, Any]]:
    """The vPBX's blocked prefixes, in order: one statement after the vPBX's."""
    return _listing(session, _vpbx(session, actor, vpbx_name))


def add_blocked_prefix(session: Session, actor: Actor, vpbx_name: str, prefix: str) -> list[dict[str, Any]]:
    """Block calls from the vPBX's lines to numbers starting with `prefix`; returns the new list."""
    vpbx_id = _vpbx(session, actor, vpbx_name)
    value = _prefix(prefix)
    same = select(BlockedPrefix.id).where(BlockedPrefix.vpbx_id == vpbx_id, BlockedPrefix.prefix == value)
    if session.scalar(same) is not None:
        raise ValidationError("blocked_prefix_exists", "prefix", prefix=value)
    session.add(BlockedPrefix(vpbx_id=vpbx_id, prefix=value))
    session.flush()
    audit.record(session, actor, "vpbx.blocked_prefix.add", "vpbx", vpbx_id, prefix=value)
    return _listing(session, vpbx_id)


def remove_blocked_prefix(session: Session, actor: Actor, vpbx_name: str, prefix: str) -> list[dict[str, Any]]:
    """Let the vPBX's lines call numbers starting with `prefix` again; returns the new list."""
    vpbx_id = _vpbx(session, actor, vpbx_name)
    value = dialled_form(prefix)
    row = session.scalar(select(BlockedPrefix).where(BlockedPrefix.vpbx_id == vpbx_id, BlockedPrefix.prefix == value))
    if row is None:
        raise NotFound("blocked_prefix_unknown", "prefix", prefix=value)
    session.delete(row)
    session.flush()
    audit.record(session, actor, "vpbx.blocked_prefix.remove", "vpbx", vpbx_id, prefix=value)
    return _listing(session, vpbx_id)
