"""Reboot/resync requests: written as DeviceCommand rows, carried out by the serve process.

The dashboard and the CLI call `request_command`; the registrar (core.sip.service) polls pending
rows, sends the NOTIFY and records the outcome, which `command_status` reads back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core import heartbeat
from core.audit import record
from core.catalogue import Catalogue, default_catalogue
from core.errors import NotFound, ValidationError
from core.models import Device, DeviceCommand
from core.permissions import Actor, require_device

ACTIONS = ("reboot", "resync")
FINAL_STATES = ("ok", "failed", "timeout", "not_registered")
# What a person is told at each step of a command's life (DeviceCommand.state -> outcome).
OUTCOMES = {
    "pending": "sent",  # queued; the registrar has not picked it up yet
    "sending": "sending",  # the NOTIFY is on its way, no answer yet
    "ok": "answered",
    "not_registered": "not_registered",
    "timeout": "no_answer",
    "failed": "error",
}


def notify_event(model_id: str | None, action: str, catalogue: Catalogue | None = None) -> str | None:
    """The NOTIFY `Event` a model takes for a reboot or resync (the catalogue's, per vendor), or None: read
    by the use cases here and by whichever switch sends it (core.sip.service, core.switch.commands)."""
    model = (catalogue or default_catalogue()).get(model_id or "")
    if model is None:
        return None
    return model.reboot_event if action == "reboot" else model.resync_event


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
        "outcome": OUTCOMES.get(c.state, "error"),
    }


def request_command(session: Session, actor: Actor, device_id: int, action: str) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValidationError("one_of", "action", choices=", ".join(ACTIONS))
    device = require_device(actor, session.get(Device, device_id))
    event = notify_event(device.model_id, action)
    if not event:
        raise ValidationError("command_unsupported", "action", model=device.model_id, action=action)
    cmd = DeviceCommand(device_id=device.id, action=action, requested_by=actor.name, state="pending")
    session.add(cmd)
    session.flush()
    record(session, actor, f"device.{action}", "device", device.id, command=cmd.id, event=event)
    return command_view(cmd)


def command_status(session: Session, actor: Actor, command_id: int) -> dict[str, Any]:
    cmd = session.get(DeviceCommand, command_id)
    if cmd is None:
        raise NotFound("command_not_found", "command")
    require_device(actor, session.get(Device, cmd.device_id))  # same NotFound when not visible
    return command_view(cmd)


def registrar_running(session: Session) -> bool:
    """Whether a registrar (`python -m core serve` or `python -m core.sip`) beat recently, on any host."""
    return heartbeat.running(session, "sip")


def registered_devices(registrations: list[dict[str, Any]], device_ids: list[int]) -> set[int]:
    """Which of a line's devices have a current binding (`lines.get_line`'s registrations), matched as
    the registrar matches them before a NOTIFY: by MAC or last-fetch IP, or the line's only device."""
    found = {b["device"] for b in registrations if b.get("device") is not None}
    if registrations and len(device_ids) == 1:
        found.add(device_ids[0])
    return found


def command_options(model_id: str | None, registered: bool, registrar_up: bool) -> dict[str, str | None]:
    """Per action: None when it can work, else why it is not offered: "no_event" (the model has no
    such NOTIFY event), "registrar_down" or "not_registered"."""
    out: dict[str, str | None] = {}
    for action in ACTIONS:
        if not notify_event(model_id, action):
            out[action] = "no_event"
        elif not registrar_up:
            out[action] = "registrar_down"
        elif not registered:
            out[action] = "not_registered"
        else:
            out[action] = None
    return out
