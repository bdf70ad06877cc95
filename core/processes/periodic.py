"""The serve process's background passes: run one now, then every `interval` seconds until `stop`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable


async def every(interval: float, stop: asyncio.Event, one_pass: Callable[[], None], log: logging.Logger,
                what: str) -> None:  # fmt: skip
    """Call `one_pass` in a worker thread (it does blocking database work) until `stop` is set.

    A failing pass is logged and the loop goes on: the next pass tries again.
    """
    while True:
        try:
            await asyncio.to_thread(one_pass)
        except Exception:
            log.exception("%s pass failed", what)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
            return
        except TimeoutError:
            pass
