"""`up`: initialise the database (optionally with demo data), then run dashboard + serve."""

from __future__ import annotations

import argparse

from core.cli import Commands, Context


def cmd_up(ctx: Context, args: argparse.Namespace) -> int:
    from core.cli.data import cmd_init
    from core.processes.launcher import run

    cmd_init(ctx, argparse.Namespace(demo=args.demo))
    serve_args = args.serve_args[1:] if args.serve_args[:1] == ["--"] else args.serve_args
    return run(ctx.settings, serve_args)


def register(commands: Commands) -> None:
    p = commands.command("up", cmd_up, "start the dashboard and the switch services together (Ctrl-C stops both)")
    p.add_argument("--demo", action="store_true", help="add the demo vPBX on first start")
    p.add_argument("serve_args", nargs=argparse.REMAINDER, help="options passed to `serve` after --")
