"""`python -m core serve`: the phone-facing services (HTTPS provisioning, SIP registrar)."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import Commands, Context


def _serve(ctx: Context, args: argparse.Namespace) -> int:
    from core.processes.serve import ServeOptions, serve

    settings = ctx.settings
    changes: dict[str, object] = {}
    if args.cert or args.key:
        if not (args.cert and args.key):
            raise SystemExit("error: --cert and --key go together")
        changes.update(tls_cert=args.cert.resolve(), tls_key=args.key.resolve())
    if args.sip_port:
        changes["sip_listen_port"] = args.sip_port
    if args.switch:
        changes["switch"] = args.switch
    if changes:
        settings = settings.with_(**changes)
    opts = ServeOptions(
        host=args.host or settings.https_host,
        https_port=args.https_port or settings.https_port,
        http_port=args.http_port or settings.http_port,
        sip=not args.no_sip,
        sip_port=args.sip_port,
        workers=args.workers,
    )
    return serve(settings, opts)


def register(commands: Commands) -> None:
    p = commands.command("serve", _serve, "run the HTTPS provisioning endpoint and the SIP registrar")
    p.add_argument("--host", help="listen address (default VOIPADMIN_HTTPS_HOST or 0.0.0.0)")
    p.add_argument("--https-port", type=int, help="HTTPS port (default VOIPADMIN_HTTPS_PORT or 8448)")
    p.add_argument("--http-port", type=int, help="also serve plain HTTP on this port, for old phones (off by default)")
    p.add_argument("--cert", type=Path, help="TLS certificate (PEM); default VOIPADMIN_TLS_CERT or a self-signed one")
    p.add_argument("--key", type=Path, help="TLS private key (PEM); default VOIPADMIN_TLS_KEY")
    p.add_argument("--sip-port", type=int, help="SIP UDP+TCP port (default VOIPADMIN_SIP_LISTEN_PORT or 5060)")
    p.add_argument("--no-sip", action="store_true", help="do not start the SIP registrar (nor Kamailio)")
    p.add_argument(
        "--switch",
        choices=("builtin", "kamailio"),
        help="what handles SIP: the built-in registrar or Kamailio (default VOIPADMIN_SWITCH or builtin)",
    )
    p.add_argument("--workers", type=int, help="HTTPS worker processes (default: one per core)")
