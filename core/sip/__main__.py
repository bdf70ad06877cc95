"""`python -m core.sip [--host H] [--port N] [--rate R] [--min-expires S] [--purge-every S] [--bans-every S]`:
the registrar alone (tests, benchmarks).

`python -m core serve` runs the same `run_sip` next to the provisioning endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from dataclasses import replace

from core.db import engine_from_settings
from core.settings import Settings
from core.sip.service import SipConfig, install_uvloop, run_sip


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m core.sip", description="the built-in SIP registrar alone")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=None, help="UDP+TCP port (default VOIPADMIN_SIP_LISTEN_PORT)")
    parser.add_argument("--rate", type=float, default=None, help="requests/s per source; 0 = no limit")
    parser.add_argument("--min-expires", type=int, default=None, help="shortest Expires accepted (default 60)")
    parser.add_argument("--purge-every", type=float, default=None, help="seconds between expiry purges (default 30)")
    parser.add_argument("--bans-every", type=float, default=None, help="seconds between ban reloads (default 10)")
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    settings = Settings.from_env()
    config = SipConfig.from_settings(settings)
    if args.rate is not None:
        config = replace(config, policy=replace(config.policy, rate=args.rate, burst=max(400.0, args.rate * 4)))
    if args.min_expires is not None:  # tests and benchmarks see expiry without waiting a minute
        config = replace(config, registrar=replace(config.registrar, min_expires=args.min_expires))
    if args.purge_every is not None:
        config = replace(config, purge_every=args.purge_every)
    if args.bans_every is not None:  # tests see a lifted ban end without waiting the default interval
        config = replace(config, bans_every=args.bans_every)
    if not args.no_uvloop:
        install_uvloop()
    engine = engine_from_settings(settings)

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_sip(settings, engine, stop, args.host, args.port, config)

    asyncio.run(_run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
