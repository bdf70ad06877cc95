"""`alerts list|show|ack|resolve|scan`: the fraud alerts for support staff and scripts (issue 13).

`list` shows the live ones (open and acknowledged) unless `--state` says otherwise; `scan` runs one
pass of the alert worker now (serve runs it every few seconds), for an operator catching up by hand.
Core decides who may see and act (core.alerts); `--as ACCOUNT` scopes as elsewhere.
"""

from __future__ import annotations

import argparse
from typing import Any

from core import alerts
from core.alert_rules import SEVERITIES
from core.cli import Commands, Context
from core.db import transaction


def _row(a: dict[str, Any]) -> str:
    return (f"#{a['id']:<6} {a['severity']:<6} {a['state']:<12} {a['rule']:<30} {a['subject']:<28} "
            f"x{a['count']:<5} {a['first_seen']} .. {a['last_seen']}")  # fmt: skip


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    states = args.state or list(alerts.LIVE)
    with transaction(ctx.engine) as s:
        rows = alerts.list_alerts(s, ctx.actor(s), states, args.severity, args.line, args.device, args.limit, args.lang)
    ctx.out_rows(rows, _row)


def _show_text(a: dict[str, Any]) -> str:
    out = [_row(a), f"  {a['title']}"]
    if a["detail"]:
        out.append("  " + ", ".join(f"{k}={v}" for k, v in a["detail"].items()))
    if a["acted_by"]:
        out.append(f"  {a['state']} by {a['acted_by']} at {a['acted_at']}" + (f": {a['note']}" if a["note"] else ""))
    out.append(f"  evidence ({len(a['evidence'])} rows kept of {a['count']}):")
    out += [f"    {e['at']}  {e['origin']:<18} {e['what']:<18} {e['source_ip']:<39} {e['country']:<8} "
            f"{e['path']}  {e['user_agent']}" for e in a["evidence"]]  # fmt: skip
    return "\n".join(out)


def cmd_show(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        a = alerts.get_alert(s, ctx.actor(s), args.id, args.lang)
    ctx.out(a, lambda: _show_text(a))


def cmd_ack(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        a = alerts.acknowledge(s, ctx.actor(s), args.id, args.note)
    ctx.out(a, f"alert #{a['id']} acknowledged by {a['acted_by']}")


def cmd_resolve(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        a = alerts.resolve(s, ctx.actor(s), args.id, args.note)
    ctx.out(a, f"alert #{a['id']} resolved by {a['acted_by']}; a repeat opens a new alert")


def cmd_scan(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        alerts.require_scan(ctx.actor(s))
    n = alerts.scan(ctx.engine, ctx.settings)
    ctx.out({"rows": n}, f"{n} new rows read")


def register(commands: Commands) -> None:
    commands.group("alerts", "fraud alerts: list, show, acknowledge, resolve")
    p = commands.command("list", cmd_list, "the alerts you may see (live ones unless --state)", group="alerts")
    p.add_argument(
        "--state", action="append", choices=alerts.STATES, help="open, acknowledged or resolved (repeatable)"
    )
    p.add_argument("--severity", choices=SEVERITIES)
    p.add_argument("--line", type=int, help="only this line's (id)")
    p.add_argument("--device", type=int, help="only this device's (id)")
    p.add_argument("--limit", type=int, default=alerts.LISTED)
    p.add_argument("--lang", choices=("en", "fr"), default="en")
    p = commands.command("show", cmd_show, "one alert with its evidence rows", group="alerts")
    p.add_argument("id", type=int)
    p.add_argument("--lang", choices=("en", "fr"), default="en")
    acts = (("ack", cmd_ack, "acknowledge: someone is on it"),
            ("resolve", cmd_resolve, "resolve: done with; a repeat opens a new alert"))  # fmt: skip
    for name, handler, what in acts:
        p = commands.command(name, handler, what, group="alerts")
        p.add_argument("id", type=int)
        p.add_argument("--note", default="", help="what was found or done (kept with the alert and audited)")
    commands.command("scan", cmd_scan, "run one pass of the alert worker now", group="alerts")
