"""The serve process's background passes: run one now, then every `interval` seconds until `stop`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable


async def every(
    interval: float,
    stop: asyncio.Event,
    one_pass: Callable[[], None],
    log: logging.Logger,
    what: str,
    *,
    fixed_rate: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Call `one_pass` in a worker thread (it does blocking database work) until `stop` is set.

    A failing pass is logged and the loop goes on: the next pass tries again. The next pass starts
    `interval` seconds after this one ended, or with `fixed_rate` after this one started (at once if it
    took longer): a row then waits at most `interval` for a pass, however long the passes take.
    """
    while True:
        started = clock()
        try:
            await asyncio.to_thread(one_pass)
        except Exception:
            log.exception("%s pass failed", what)
        wait = max(0.0, started + interval - clock()) if fixed_rate else interval
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
            return
        except TimeoutError:
            pass
