"""`device config ID [--file NAME]` and `device files ID`: what a device is served (passwords masked by role).

The acting account must be allowed to see the device (same NotFound as a missing device otherwise).
For support staff the printed file holds the device's secrets, as the device itself receives them: only
the file name is audited, never its content. Anyone else reads the same file with the passwords their
role may not see masked (core.permissions.hidden_secrets: an end user, every password; a vPBX
administrator, the generated device passwords), named on stderr (and in `masked` with --json): the file
stays useful to compare with what a phone shows, and no secret reaches a terminal, a pasted ticket or
a shell history. Refusing instead would leave an end user nothing to check their keys and server against.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.orm import Session

from core import audit
from core.cli import Commands, Context
from core.models import Device
from core.permissions import hidden_secrets, require_device
from core.render import Renderer
from core.render.context import MASK

MASKED_WHY = {
    "user": "passwords stay with your vPBX administrator; ask them",
    "vpbx_admin": "a generated device password is never shown; set one of 4-9 digits to know it",
}


def _device(session: Session, ctx: Context, device_id: int) -> Device:
    return require_device(ctx.actor(session), session.get(Device, device_id))


def config_command(ctx: Context, args: argparse.Namespace) -> int:
    with Session(ctx.engine) as session, session.begin():
        actor = ctx.actor(session)
        device = _device(session, ctx, args.id)
        hidden = hidden_secrets(actor, device)
        rendered = Renderer(ctx.settings).render(device, args.file, hidden=hidden)
        masked = sorted(hidden)
        audit.record(session, actor, "device.config_view", "device", device.id, file=rendered.name, masked=masked)
    if ctx.json:
        content = rendered.content.decode("utf-8")
        ctx.out({"name": rendered.name, "content_type": rendered.content_type, "content": content, "masked": masked})
    else:
        sys.stdout.write(rendered.content.decode("utf-8"))
        sys.stdout.flush()
    if masked:  # on stderr: stdout stays the file, byte for byte what a phone would parse
        print(f"note: {', '.join(masked)} shown as {MASK}: {MASKED_WHY[actor.role]}", file=sys.stderr)
    return 0


def files_command(ctx: Context, args: argparse.Namespace) -> int:
    with Session(ctx.engine) as session:
        names = Renderer(ctx.settings).file_names(_device(session, ctx, args.id))
    ctx.out(names, "\n".join(names) if names else "(no file: this device is configured through its base or needs none)")
    return 0


def register(commands: Commands) -> None:
    p = commands.command(
        "config", config_command, "print a file the device is served (default: its main file)", group="device"
    )
    p.add_argument("id", type=int, help="device id")
    p.add_argument("--file", metavar="NAME", help="one of the names `device files ID` lists")
    p = commands.command("files", files_command, "list the file names the device asks for", group="device")
    p.add_argument("id", type=int, help="device id")
