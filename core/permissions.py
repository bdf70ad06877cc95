"""Who may touch what. Every use case calls these; the UI only hides what they would refuse.

An `Actor` is the acting account (or the operating-system user for the CLI, as provider).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import Select

from core.errors import NotFound, PermissionDenied
from core.models import Device, Line

ROLES = ("provider", "vpbx_admin", "user")
# Who is offered what beyond their lines (the dashboard's navigation and page guards read these; the
# use cases scope every query to the actor whatever its role).
FRAUD_ROLES = ("provider", "vpbx_admin")  # Fraude: a user's one line has no sources to compare
CERTIFICATE_ROLES = ("provider", "vpbx_admin")  # the server certificate's fingerprint, to set up pinning phones
# What stays with the vPBX administrator and the provider (manual §6): a line's SIP credentials (read, renew)
# and its PSTN block. An end user who reaches for them is told whom to ask (require_line_admin).
LINE_ADMIN_ROLES = ("provider", "vpbx_admin")
BLOCK_ROLES = LINE_ADMIN_ROLES  # block/unblock a line's calls to the public network (lines.set_blocked)
BAN_ROLES = ("provider", "vpbx_admin")  # list/lift bans of source addresses (core.bans; an admin: its phones')
# « Nouveau clé » (manual §6: the end user does it per device): every role, on the devices it sees (an end user:
# its own line's). The function keys are kept and the old URL stops at once (core.devices.new_key).
NEW_KEY_ROLES = ROLES
# The passwords a device's file carries, as core.render names them (Renderer.render's `hidden`).
DEVICE_SECRETS = ("admin_password", "user_password", "sip_password")
BULK_ROLES = ("provider", "vpbx_admin")  # CSV import/export of devices (core.device_import): an admin, its vPBX
VOICEMAIL_ROLES = ("provider", "vpbx_admin")  # set a vPBX's voicemail access number (vpbx.set_voicemail_access)
# Change a line's display name or extension (lines.update_line). Not an end user: the name is what colleagues
# see on their screens when this line calls and what the vPBX phone book lists, so a user could pass as
# someone else ("Direction", a colleague); the directory stays with the administrator, whom the user asks.
LINE_EDIT_ROLES = ("provider", "vpbx_admin")
PHONEBOOK_ROLES = ("provider", "vpbx_admin")  # change a vPBX phone book's contacts (core.phonebook); users read it
# TopStop (core.topstop.limits): everyone reads the TopStop of what they see; a line's limits are set by
# LINE_ADMIN_ROLES, a vPBX's by the provider alone (they protect the provider's bill); a block is lifted by these:
TOPSTOP_UNBLOCK_ROLES = ("provider", "vpbx_admin")
# A vPBX's blocked PSTN destinations (core.blocked_prefixes): the provider and that vPBX's administrator.
BLOCKED_PREFIX_ROLES = ("provider", "vpbx_admin")

Ts = TypeVarTuple("Ts")  # a scoped query keeps its row type


@dataclass(frozen=True)
class Actor:
    name: str  # what the audit log records: the account's username, or "system:<os user>"
    role: str
    account_id: int | None = None
    vpbx_id: int | None = None
    line_id: int | None = None

    @property
    def is_provider(self) -> bool:
        return self.role == "provider"

    @property
    def has_one_line(self) -> bool:
        """A user account sees its own line only (can_see_line): nothing for it to pick or search."""
        return self.role == "user"


def system_actor(os_user: str) -> Actor:
    return Actor(name=f"system:{os_user}", role="provider")


def can_see_line(actor: Actor, line: Line) -> bool:
    if actor.role == "provider":
        return True
    if actor.role == "vpbx_admin":
        return actor.vpbx_id is not None and line.vpbx_id == actor.vpbx_id
    return actor.line_id is not None and line.id == actor.line_id


def require_line(actor: Actor, line: Line | None, what: str = "line") -> Line:
    """The line, if the actor may see it; otherwise the same NotFound as a missing line (no probing)."""
    if line is None or not can_see_line(actor, line):
        raise NotFound("line_not_found", what)
    return line


def require_device(actor: Actor, device: Device | None) -> Device:
    if device is None or not can_see_line(actor, device.line):
        raise NotFound("device_not_found", "device")
    return device


def require_vpbx(actor: Actor, vpbx_id: int) -> None:
    if actor.role == "provider":
        return
    if actor.role == "vpbx_admin" and actor.vpbx_id == vpbx_id:
        return
    raise PermissionDenied("vpbx_forbidden")


def require_role(actor: Actor, *roles: str, doing: str = "do this") -> None:
    if actor.role not in roles:
        raise PermissionDenied("role_forbidden", role=actor.role, doing=doing)


def require_line_admin(actor: Actor, doing: str) -> None:
    """A right of LINE_ADMIN_ROLES. An end user gets ask_vpbx_admin, which names whom to ask (their vPBX
    administrator): a bare "may not" would leave them with nowhere to go."""
    if actor.role == "user":
        raise PermissionDenied("ask_vpbx_admin", doing=doing)
    require_role(actor, *LINE_ADMIN_ROLES, doing=doing)


def require_new_key(actor: Actor, device: Device | None) -> Device:
    """The device, if the actor may give it a « Nouveau clé »: it sees the device (else NotFound) and its role
    is one of NEW_KEY_ROLES."""
    device = require_device(actor, device)
    require_role(actor, *NEW_KEY_ROLES, doing="new_key")
    return device


def hidden_secrets(actor: Actor, device: Device) -> frozenset[str]:
    """The passwords a device's file shows masked to this actor (manual §7.4.2/§7.4.4: a generated password
    is never disclosed). Support staff see the file as the device gets it; a vPBX administrator sees the SIP
    password (theirs to hand out, `line credentials`) and the device passwords they chose, not generated
    ones; an end user sees no password at all: SIP credentials stay with their administrator."""
    if actor.role == "provider":
        return frozenset()
    if actor.role == "vpbx_admin":
        generated = {"admin_password": device.admin_password_generated, "user_password": device.user_password_generated}
        return frozenset(name for name, yes in generated.items() if yes)
    return frozenset(DEVICE_SECRETS)


def scope_lines(actor: Actor, stmt: Select[*Ts], line: Any = Line) -> Select[*Ts]:
    """Restrict a query over Line (or `line`, an alias of it) to what the actor may see."""
    if actor.role == "provider":
        return stmt
    if actor.role == "vpbx_admin":
        return stmt.where(line.vpbx_id == (actor.vpbx_id if actor.vpbx_id is not None else -1))
    return stmt.where(line.id == (actor.line_id if actor.line_id is not None else -1))
