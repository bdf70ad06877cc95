"""Misses counted per source address; a source over the threshold is throttled (applied in app.py).

Throttling refuses (429) only what a guesser can learn from: unknown keys and files, malformed
paths and MAC-named bootstrap requests (a MAC is guessable, a key is not). A request presenting a
valid 192-bit key is still served from a throttled address, so an office behind one NAT keeps
working while someone there (or a broken phone) probes. Counters live in this process only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Source:
    window_start: float
    misses: int = 0
    blocked_until: float = 0.0


class MissCounter:
    def __init__(
        self,
        threshold: int = 30,
        window: float = 60.0,
        cooldown: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_sources: int = 100_000,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.cooldown = cooldown
        self.clock = clock
        self.max_sources = max_sources
        self._sources: dict[str, _Source] = {}
        self._lock = threading.Lock()  # requests run on several threads; reads need no lock

    def is_throttled(self, ip: str) -> bool:
        src = self._sources.get(ip)
        return src is not None and src.blocked_until > self.clock()

    def retry_after(self, ip: str) -> int:
        src = self._sources.get(ip)
        return max(1, int((src.blocked_until - self.clock()) + 0.999)) if src else 1

    def record_miss(self, ip: str) -> bool:
        """Count one miss; True when this miss throttles the source."""
        with self._lock:
            return self._record_miss_locked(ip)

    def _record_miss_locked(self, ip: str) -> bool:
        now = self.clock()
        src = self._sources.get(ip)
        if src is None:
            if len(self._sources) >= self.max_sources:
                self._prune(now)
            src = self._sources[ip] = _Source(window_start=now)
        if src.blocked_until > now:
            return False  # already throttled: the cool-down runs from the first refusal
        if now - src.window_start > self.window:
            src.window_start, src.misses = now, 0
        src.misses += 1
        if src.misses >= self.threshold:
            src.blocked_until = now + self.cooldown
            src.window_start, src.misses = src.blocked_until, 0
            return True
        return False

    def _prune(self, now: float) -> None:
        stale = [ip for ip, s in self._sources.items() if s.blocked_until <= now and now - s.window_start > self.window]
        for ip in stale:
            del self._sources[ip]
        if len(self._sources) >= self.max_sources:  # a flood of distinct sources: forget the oldest
            for ip in list(self._sources)[: self.max_sources // 2]:
                del self._sources[ip]
