"""Reboot/resync requests: written as DeviceCommand rows, carried out by the serve process.

The dashboard and the CLI call `request_command`; the registrar (core.sip.service) polls pending
rows, sends the NOTIFY and records the outcome, which `command_status` reads back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core import heartbeat
from core.audit import record
from core.catalogue import default_catalogue
from core.errors import NotFound, ValidationError
from core.models import Device, DeviceCommand
from core.permissions import Actor, require_device

ACTIONS = ("reboot", "resync")
FINAL_STATES = ("ok", "failed", "timeout", "not_registered")


def command_view(c: DeviceCommand) -> dict[str, Any]:
    return {
        "id": c.id,
        "device": c.device_id,
        "action": c.action,
        "state": c.state,
        "result": c.result,
        "requested_by": c.requested_by,
        "requested_at": c.requested_at.isoformat(timespec="seconds") if c.requested_at else None,
        "finished_at": c.finished_at.isoformat(timespec="seconds") if c.finished_at else None,
        "done": c.state in FINAL_STATES,
    }


def request_command(session: Session, actor: Actor, device_id: int, action: str) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValidationError(f"must be one of {', '.join(ACTIONS)}", "action")
    device = require_device(actor, session.get(Device, device_id))
    model = default_catalogue().get(device.model_id)
    event = (model.reboot_event if action == "reboot" else model.resync_event) if model else None
    if not event:
        raise ValidationError(f"{device.model_id} cannot be told to {action} remotely", "action")
    cmd = DeviceCommand(device_id=device.id, action=action, requested_by=actor.name, state="pending")
    session.add(cmd)
    session.flush()
    record(session, actor, f"device.{action}", "device", device.id, command=cmd.id, event=event)
    return command_view(cmd)


def command_status(session: Session, actor: Actor, command_id: int) -> dict[str, Any]:
    cmd = session.get(DeviceCommand, command_id)
    if cmd is None:
        raise NotFound("no such command", "command")
    require_device(actor, session.get(Device, cmd.device_id))  # same NotFound when not visible
    return command_view(cmd)


def registrar_running(session: Session) -> bool:
    """Whether a registrar (`python -m core serve` or `python -m core.sip`) beat recently, on any host."""
    return heartbeat.running(session, "sip")
