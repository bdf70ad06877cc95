"""`device reboot ID` / `device resync ID` [--wait SECONDS]: a NOTIFY through the running registrar."""

from __future__ import annotations

import argparse
import time

from core.cli import Commands, Context
from core.db import transaction
from core.device_commands import command_status, registrar_running, request_command

POLL = 0.25


def _command(ctx: Context, args: argparse.Namespace, action: str) -> int:
    with transaction(ctx.engine) as s:
        cmd = request_command(s, ctx.actor(s), args.id, action)
        running = registrar_running(s)
    if not running:
        msg = "the registrar is not running (start `python -m core serve`); the command stays queued for 2 minutes"
        if args.wait is not None:
            ctx.out({**cmd, "registrar_running": False, "error": msg}, f"error: {msg}")
            return 3
        ctx.out({**cmd, "registrar_running": False}, f"command {cmd['id']} queued; warning: {msg}")
        return 0
    if args.wait is None:
        ctx.out({**cmd, "registrar_running": True}, f"command {cmd['id']} ({action}) queued")
        return 0
    deadline = time.monotonic() + args.wait
    while True:
        with transaction(ctx.engine) as s:
            cmd = command_status(s, ctx.actor(s), cmd["id"])
        if cmd["done"] or time.monotonic() >= deadline:
            break
        time.sleep(POLL)  # polling the row the registrar updates; bounded by --wait
    text = f"{action} device {args.id}: {cmd['state']}" + (f" ({cmd['result']})" if cmd["result"] else "")
    if not cmd["done"]:
        text = f"{action} device {args.id}: still {cmd['state']} after {args.wait:g} s"
    ctx.out({**cmd, "registrar_running": True}, text)
    return 0 if cmd["state"] == "ok" else 1


def cmd_reboot(ctx: Context, args: argparse.Namespace) -> int:
    return _command(ctx, args, "reboot")


def cmd_resync(ctx: Context, args: argparse.Namespace) -> int:
    return _command(ctx, args, "resync")


def register(commands: Commands) -> None:
    for name, handler, help in (
        ("reboot", cmd_reboot, "reboot a device by SIP NOTIFY through the running registrar"),
        ("resync", cmd_resync, "make a device fetch its configuration again (SIP NOTIFY)"),
    ):
        p = commands.command(name, handler, help, group="device")
        p.add_argument("id", type=int, help="device id")
        p.add_argument("--wait", type=float, metavar="SECONDS", help="wait for the outcome (exit 1 unless ok)")
