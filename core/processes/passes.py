"""`python -m core.processes.passes`: the fraud rollup and the alert passes (core/rollup.py, core/alerts.py)
in a child process of `serve`, with their own interpreter lock.

In serve's process they shared one GIL with the SIP registrar: while a pass ran its rules in Python, every
datagram the registrar's loop received or sent waited for the lock, and under 2,000 REGISTER/s the passes
took seconds (docs/PERFORMANCE.md, issue 13). Stops on SIGTERM or SIGINT (a pass in progress finishes its
transaction first); dies with serve, however serve dies (core/processes/lifeline.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from sqlalchemy import Engine

from core.alerts import run_alerts
from core.db import engine_from_settings
from core.processes.lifeline import die_with_parent
from core.rollup import run_rollup
from core.settings import Settings


async def _run(settings: Settings, engine: Engine) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await asyncio.gather(run_rollup(engine, stop), run_alerts(settings, engine, stop))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.processes.passes")
    p.add_argument("--parent-pid", type=int, help="stop when this process (serve) exits, however it exits")
    args = p.parse_args(argv)
    if args.parent_pid:
        die_with_parent(args.parent_pid)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    engine = engine_from_settings(settings)
    try:
        asyncio.run(_run(settings, engine))
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
