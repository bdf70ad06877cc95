"""`switch config`: the Kamailio configuration serve would run, for a provider running Kamailio elsewhere."""

from __future__ import annotations

import argparse
import sys

from core.cli import Commands, Context


def _config(ctx: Context, args: argparse.Namespace) -> int:
    from core.db import transaction
    from core.permissions import require_role
    from core.switch.kamailio_config import SwitchConfigError, check_config, context_for, render_config

    with transaction(ctx.engine) as s:
        require_role(ctx.actor(s), "provider", doing="print the switch configuration")  # it holds the DB URL
    try:
        text = render_config(context_for(ctx.settings, args.listen, args.port))
        if not args.no_check:
            check_config(text, ctx.settings.kamailio_bin)
    except SwitchConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def register(commands: Commands) -> None:
    commands.group("switch", "the call switch (Kamailio) voipadmin drives")
    p = commands.command("config", _config, "print the Kamailio configuration (checked with kamailio -c)", "switch")
    p.add_argument("--listen", default="0.0.0.0", help="address Kamailio listens on (default 0.0.0.0)")
    p.add_argument("--port", type=int, help="SIP port (default VOIPADMIN_SIP_LISTEN_PORT or 5060)")
    p.add_argument("--no-check", action="store_true", help="do not run kamailio -c (no Kamailio on this host)")
