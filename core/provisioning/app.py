"""The app factory: `build_app(settings, engine, renderer)` -> an ASGI app, nothing at module level.

Composition, outermost first: access log -> bans -> throttle -> endpoint. The lifespan starts the
access-log writer thread and, on shutdown, writes every queued row and closes the lookup connection.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from core.provisioning.access_log import AccessLogMiddleware
from core.provisioning.bans import BanList, BanMiddleware
from core.provisioning.directory import DeviceDirectory
from core.provisioning.endpoint import ProvisioningEndpoint
from core.provisioning.log_writer import LogWriter
from core.provisioning.throttle import MissCounter, ThrottleMiddleware
from core.provisioning.types import ASGIApp, Receive, RendererLike, Scope, Send
from core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """Probing limits and write-behind tuning (tests shrink them)."""

    miss_threshold: int = 30  # misses from one source within `miss_window` seconds...
    miss_window: float = 60.0
    cooldown: float = 300.0  # ...throttle it for this long
    ban_refresh: float = 2.0
    log_interval: float = 0.5
    log_batch: int = 1000
    render_cache: int = 20_000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        """VOIPADMIN_PROV_MISS_THRESHOLD, _MISS_WINDOW, _COOLDOWN (seconds) override the defaults."""
        base = cls()
        return cls(
            miss_threshold=int(env.get("VOIPADMIN_PROV_MISS_THRESHOLD") or base.miss_threshold),
            miss_window=float(env.get("VOIPADMIN_PROV_MISS_WINDOW") or base.miss_window),
            cooldown=float(env.get("VOIPADMIN_PROV_COOLDOWN") or base.cooldown),
        )


class ProvisioningApp:
    """The ASGI callable; also usable without a server through `async with app.running():`."""

    def __init__(self, settings: Settings, engine: Engine, renderer: RendererLike, limits: Limits) -> None:
        self.settings = settings
        self.engine = engine
        self.writer = LogWriter(engine, interval=limits.log_interval, batch=limits.log_batch)
        self.directory = DeviceDirectory(engine, renderer, cache_size=limits.render_cache)
        self.counter = MissCounter(limits.miss_threshold, limits.miss_window, limits.cooldown)
        self.bans = BanList(engine, refresh=limits.ban_refresh)
        endpoint = ProvisioningEndpoint(self.directory, self.writer, self.counter)
        throttled: ASGIApp = ThrottleMiddleware(endpoint, self.counter, on_throttle=self._on_throttle)
        self.stack: ASGIApp = AccessLogMiddleware(BanMiddleware(throttled, self.bans), self.writer)

    def _on_throttle(self, ip: str, user_agent: str) -> None:
        log.warning("provisioning: %s throttled after too many misses", ip)
        self.writer.event(
            at=datetime.now(UTC),
            kind="provisioning_probe",
            source_ip=ip,
            user_agent=user_agent,
            detail=f"{self.counter.threshold} misses within {self.counter.window:g}s",
        )

    def startup(self) -> None:
        self.writer.start()

    def shutdown(self) -> None:
        self.writer.stop()
        self.directory.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ProvisioningApp]:
        self.startup()
        try:
            yield self
        finally:
            self.shutdown()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.stack(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def build_app(
    settings: Settings, engine: Engine, renderer: RendererLike, limits: Limits | None = None
) -> ProvisioningApp:
    return ProvisioningApp(settings, engine, renderer, limits or Limits())
