"""Logging that an attacker cannot turn into a flood: one line per key (a source, a kind of error) per
window, and a global budget across keys (spoofed sources are free); each line says how many were held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    def __init__(
        self,
        logger: logging.Logger,
        window: float = 10.0,
        per_second: float = 5.0,
        burst: float = 20.0,
        max_keys: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger, self.window, self.per_second, self.burst = logger, window, per_second, burst
        self.max_keys, self.clock = max_keys, clock
        self._last: dict[str, float] = {}  # key -> when it last logged
        self._tokens, self._seen = burst, clock()
        self.suppressed = 0

    def log(self, level: int, key: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log unless `key` logged within the window or the global budget is spent; True if logged."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._seen) * self.per_second)
        self._seen = now
        last = self._last.get(key)
        if (last is not None and now - last < self.window) or self._tokens < 1.0:
            self.suppressed += 1
            return False
        if len(self._last) >= self.max_keys:
            self._last = {k: t for k, t in self._last.items() if now - t < self.window}
            if len(self._last) >= self.max_keys:
                self._last.clear()
        self._last[key] = now
        self._tokens -= 1.0
        if self.suppressed:
            msg += " (%d similar lines held back)"
            args = (*args, self.suppressed)
            self.suppressed = 0
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, key: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        return self.log(logging.WARNING, key, msg, *args, exc_info=exc_info)

    def error(self, key: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        return self.log(logging.ERROR, key, msg, *args, exc_info=exc_info)
