"""`line calls NUMBER [--limit N]`: a line's call records (core/calls.py); `vpbx blocked-prefixes NAME
[--add P]... [--remove P]...`: the destinations a vPBX's lines may not call on the PSTN (core/blocked_prefixes.py)."""

from __future__ import annotations

import argparse
from typing import Any

from core import blocked_prefixes, calls
from core.cli import Commands, Context
from core.db import transaction


def _call_text(c: dict[str, Any]) -> str:
    when = c["start"].strftime("%Y-%m-%d %H:%M:%S") if c["start"] else ""
    length = f"{c['duration']}s" if c["duration"] is not None else ""
    arrow = "->" if c["direction"] == "out" else "<-"
    other = c["callee"] if c["direction"] == "out" else c["caller"]
    return f"{when}  {arrow} {other:<20} {c['kind']:<8} {c['disposition']:<11} {length:>7}  from {c['source']}"


def cmd_line_calls(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        rows = calls.line_calls(s, ctx.actor(s), args.number, limit=args.limit)
    ctx.out_rows(rows, _call_text)


def cmd_blocked_prefixes(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:  # every change of the line in one transaction: all or nothing
        actor = ctx.actor(s)
        rows = blocked_prefixes.list_blocked_prefixes(s, actor, args.name)
        for prefix in args.add or ():
            rows = blocked_prefixes.add_blocked_prefix(s, actor, args.name, prefix)
        for prefix in args.remove or ():
            rows = blocked_prefixes.remove_blocked_prefix(s, actor, args.name, prefix)
    ctx.out_rows(rows, lambda r: r["prefix"])


def register(commands: Commands) -> None:
    p = commands.command("calls", cmd_line_calls, "a line's calls (from the switch's call records)", group="line")
    p.add_argument("number")
    p.add_argument("--limit", type=int, default=100, help=f"the newest N calls (at most {calls.LIMIT_MAX})")
    p = commands.command("blocked-prefixes", cmd_blocked_prefixes,
                         "the destinations a vPBX's lines may not call on the PSTN (list, --add, --remove)",
                         group="vpbx")  # fmt: skip
    p.add_argument("name")
    p.add_argument("--add", action="append", metavar="PREFIX", help='e.g. "+41900" or "00882" (repeatable)')
    p.add_argument("--remove", action="append", metavar="PREFIX", help="a prefix listed (repeatable)")
