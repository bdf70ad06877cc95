"""`device config ID [--file NAME]` and `device files ID`: what a device is served, for support staff.

The acting account must be allowed to see the device (same NotFound as a missing device otherwise).
The printed file holds the device's secrets, as the device itself receives them: only the file
name is audited, never its content.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.orm import Session

from core import audit
from core.cli import Commands, Context
from core.models import Device
from core.permissions import require_device
from core.render import Renderer


def _device(session: Session, ctx: Context, device_id: int) -> Device:
    return require_device(ctx.actor(session), session.get(Device, device_id))


def config_command(ctx: Context, args: argparse.Namespace) -> int:
    with Session(ctx.engine) as session, session.begin():
        device = _device(session, ctx, args.id)
        rendered = Renderer(ctx.settings).render(device, args.file)
        audit.record(session, ctx.actor(session), "device.config_view", "device", device.id, file=rendered.name)
    if ctx.json:
        ctx.out(
            {"name": rendered.name, "content_type": rendered.content_type, "content": rendered.content.decode("utf-8")}
        )
    else:
        sys.stdout.write(rendered.content.decode("utf-8"))
        sys.stdout.flush()
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
