"""core.processes.periodic: serve's background loop. The alert passes run at a fixed rate: a pass that
takes most of the interval does not push the next one an interval further."""

from __future__ import annotations

import asyncio
import logging
import time

from core.processes.periodic import every

INTERVAL = 1.0
PASS = 0.9  # what each pass pretends to take: the fake clock moves on by it


def _pass_starts(fixed_rate: bool) -> list[float]:
    offset, starts = [0.0], []

    def clock() -> float:
        return time.monotonic() + offset[0]

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def one_pass() -> None:
            starts.append(clock())
            offset[0] += PASS
            if len(starts) == 3:
                loop.call_soon_threadsafe(stop.set)

        await every(INTERVAL, stop, one_pass, logging.getLogger("test"), "test", fixed_rate=fixed_rate, clock=clock)

    asyncio.run(run())
    return starts


def test_fixed_rate_passes_start_an_interval_apart_however_long_they_take() -> None:
    starts = _pass_starts(fixed_rate=True)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(starts) == 3 and max(gaps) < 1.5 * INTERVAL, gaps  # from the end: PASS + INTERVAL = 1.9


def test_by_default_the_interval_is_counted_from_the_end_of_a_pass() -> None:
    starts = _pass_starts(fixed_rate=False)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= PASS + INTERVAL, gaps
