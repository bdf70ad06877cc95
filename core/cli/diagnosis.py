"""`device diagnose ID [--lang fr|en]`: why a phone does not work, for support staff on the phone.

A report, so the exit code is 0 whatever the verdict; an unknown or invisible device is the one-line
error of every other device command. English by default, like the other commands' output.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from core.cli import Commands, Context
from core.diagnosis import diagnose_device

TIMELINE_SHOWN = 20  # text output; --json has them all
_DETAIL = ("status", "reason", "state", "action", "result", "service", "error", "expires_at")


def _line(row: dict[str, Any]) -> str:
    detail = " ".join(f"{k}={row[k]}" for k in _DETAIL if row.get(k) not in (None, ""))
    parts = [row.get("at") or "-", row.get("kind", ""), row.get("source_ip", ""), detail, row.get("user_agent", "")]
    return "  ".join(p for p in parts if p)


def _text(report: dict[str, Any]) -> str:
    out = [f"device {report['device']}: {report['verdict'].upper()}"]
    for f in report["findings"]:
        out.append(f"[{f['severity']}] {f['code']}: {f['text']}")
        out += [f"    {_line(e)}" for e in f["evidence"][:5]]
        action = f["action"]
        if action["button"]:
            out.append(f"    dashboard: {action['button']}")
        if action["command"]:
            out.append(f"    fix: {action['command']}")
    if report["timeline"]:
        out.append("timeline (newest first):")
        out += [f"  {_line(row)}" for row in report["timeline"][:TIMELINE_SHOWN]]
    return "\n".join(out)


def diagnose_command(ctx: Context, args: argparse.Namespace) -> int:
    with Session(ctx.engine) as session:
        report = diagnose_device(session, ctx.actor(session), args.id, datetime.now(UTC)).as_json(args.lang)
    ctx.out(report, lambda: _text(report))
    return 0


def register(commands: Commands) -> None:
    p = commands.command("diagnose", diagnose_command, "why a device does not work: verdict, findings, timeline",
                         group="device")  # fmt: skip
    p.add_argument("id", type=int, help="device id")
    p.add_argument("--lang", choices=("en", "fr"), default="en", help="language of the findings' text")
