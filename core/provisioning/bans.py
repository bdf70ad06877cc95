"""Bans: a source with an active Ban (scope provisioning or all) is refused with 403 (by the dispatcher in app.py).

The active bans are read from the database at most every `refresh` seconds (a ban is set by
the dashboard or the fraud rules in another process; a couple of seconds to take effect is
fine, a query per request is not needed). `refresh=0` reads on every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from core.models import Ban

SCOPES = ("provisioning", "all")


class BanList:
    def __init__(self, engine: Engine, refresh: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.refresh = refresh
        self.clock = clock
        self._bans: dict[str, datetime] = {}
        self._loaded_at: float | None = None

    def _load(self) -> None:
        now = datetime.now(UTC)
        stmt = select(Ban.source_ip, Ban.expires_at).where(Ban.scope.in_(SCOPES), Ban.expires_at > now)
        bans: dict[str, datetime] = {}
        with self.engine.connect() as conn:
            for ip, expires in conn.execute(stmt):
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=UTC)
                bans[ip] = max(expires, bans.get(ip, expires))
        self._bans = bans

    def is_banned(self, ip: str) -> bool:
        tick = self.clock()
        if self._loaded_at is None or tick - self._loaded_at >= self.refresh:
            self._load()
            self._loaded_at = tick
        expires = self._bans.get(ip)
        return expires is not None and expires > datetime.now(UTC)
