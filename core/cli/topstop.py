"""`topstop show|set|unblock`: TopStop spending limits (issue 16 point 4, manual §6), for a line
(`--line NUMBER`) or a vPBX (`--vpbx NAME`); `topstop show` alone lists every limit and block you may see.
Amounts are in the rate table's currency (data/rates.yaml)."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli import Commands, Context
from core.db import transaction
from core.topstop import limits
from core.topstop.periods import PERIODS


def _subject(args: argparse.Namespace) -> dict[str, Any]:
    return {"vpbx_name": args.vpbx, "line_ref": args.line}


def _text(view: dict[str, Any]) -> str:
    who = f"line {view['number']}" if view["scope"] == "line" else f"vPBX {view['vpbx']}"
    out = [f"TopStop of {who} ({view['currency']}): PSTN {'BLOCKED' if view['blocked'] else 'open'}"]
    for p in view["periods"]:
        limit = f"limit {p['limit']}, left {p['left']} ({p['percent']}%)" if p["limit"] else "no limit"
        out.append(f"  {p['period']:<5} since {p['since']}: spent {p['spent']}, {limit}")
    for b in view["blocks"]:
        scope = "this line" if b["scope"] == "line" and view["scope"] == "line" else b["scope"]
        out.append(f"  blocked ({scope}) at {b['blocked_at']}: {b['period']} limit {b['limit']} reached"
                   f" (spent {b['spent']}), {b['calls_ended']} call(s) ended")  # fmt: skip
    return "\n".join(out)


def _row_text(r: dict[str, Any]) -> str:
    blocked = "BLOCKED" if r["blocked"] else ""
    return f"{r['vpbx']:<20} {r['number'] or '(vPBX)':<16} {r['period']:<5} limit {r['limit'] or '-':>10}  {blocked}"


def cmd_show(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        actor = ctx.actor(s)
        if args.vpbx is None and args.line is None:
            rows = limits.overview(s, actor)
            ctx.out_rows(rows, _row_text)
            return
        view = limits.show(s, actor, ctx.settings, **_subject(args))
    ctx.out(view, lambda: _text(view))


def cmd_set(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        result = limits.set_limit(s, ctx.actor(s), args.period, args.amount, **_subject(args))
    who = f"line {result['number']}" if result["scope"] == "line" else f"vPBX {result['vpbx']}"
    ctx.out(result, f"TopStop {result['period']} limit of {who}: {result['limit'] or 'none'}"
                    f" (was {result['previous'] or 'none'})")  # fmt: skip


def cmd_unblock(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        result = limits.unblock(s, ctx.actor(s), args.note, **_subject(args))
    who = f"line {result['number']}" if result["scope"] == "line" else f"vPBX {result['vpbx']}"
    ctx.out(result, f"TopStop block of {who} lifted; the limit it reached does not block again this period")


def _subject_args(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--line", metavar="NUMBER", help="a line, by number")
    g.add_argument("--vpbx", metavar="NAME", help="a vPBX, by name")


def register(commands: Commands) -> None:
    commands.group("topstop", "TopStop: spending limits on calls to the public network")
    p = commands.command("show", cmd_show, "a line's or vPBX's spend against its limits (alone: every limit)",
                         group="topstop")  # fmt: skip
    _subject_args(p, required=False)
    p = commands.command("set", cmd_set, "set a day or month limit (--amount none removes it)", group="topstop")
    _subject_args(p, required=True)
    p.add_argument("--period", choices=PERIODS, required=True)
    p.add_argument("--amount", required=True, help="in the rate table's currency: 20, 20.50, or none")
    p = commands.command("unblock", cmd_unblock, "lift a TopStop block (recorded with your note)", group="topstop")
    _subject_args(p, required=True)
    p.add_argument("--note", default="", help="why (kept with the unblock)")
