"""`ban list` / `ban lift IP` / `ban add IP`: the banned source addresses, lifting one (e.g. an office NAT
banned after another device's failures), banning one by hand. Core decides who may (core.bans); `--as
ACCOUNT` scopes as elsewhere."""

from __future__ import annotations

import argparse

from core import bans
from core.cli import Commands, Context
from core.db import transaction


def cmd_ban_list(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        rows = bans.list_bans(s, ctx.actor(s))
    ctx.out_rows(rows, lambda b: f"{b['source_ip']:<39} {b['scope']:<12} until {b['expires_at']}  {b['reason']}")


def cmd_ban_lift(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        result = bans.lift_ban(s, ctx.actor(s), args.ip)
    scopes = ", ".join(result["scopes"])
    ctx.out(result, f"ban on {result['source_ip']} lifted ({scopes}); a source that fails again is banned again")


def cmd_ban_add(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        b = bans.add_ban(s, ctx.actor(s), args.ip, args.scope, args.minutes, args.reason)
    ctx.out(b, f"{b['source_ip']} banned ({b['scope']}) until {b['expires_at']}")


def register(commands: Commands) -> None:
    commands.group("ban", "banned source addresses (SIP and provisioning)")
    commands.command("list", cmd_ban_list, "the active bans you may act on", group="ban")
    p = commands.command("lift", cmd_ban_lift, "lift every active ban of an address (all scopes)", group="ban")
    p.add_argument("ip", help="the banned IPv4 or IPv6 address")
    p = commands.command("add", cmd_ban_add, "ban an address by hand (the provider only)", group="ban")
    p.add_argument("ip", help="the IPv4 or IPv6 address to ban")
    p.add_argument("--scope", default="all", help="sip, provisioning or all (default)")
    p.add_argument("--minutes", type=float, default=24 * 60, help="how long (default 1440: a day)")
    p.add_argument("--reason", default="", help="shown with the ban (default: who banned it)")
