"""The app factory: `build_app(settings, engine, renderer)` -> one app served two ways, nothing at module level.

`ProvisioningApp.handle` is the one implementation of the rules, in order: bans -> throttle state
-> endpoint -> miss counting -> access log. Two thin adapters feed it: RSGI (`__rsgi__`, what
Granian serves in production: its native interface, much cheaper per request than ASGI) and ASGI
(`__call__`, what the in-process tests drive through httpx). Both are tested. Startup starts the
access-log writer thread; shutdown writes every queued row and closes the lookup connection
(ASGI lifespan, or RSGI's `__rsgi_init__`/`__rsgi_del__`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from core.provisioning import reasons, responses
from core.provisioning.access_log import record
from core.provisioning.bans import BanList
from core.provisioning.directory import DeviceDirectory
from core.provisioning.endpoint import ProvisioningEndpoint
from core.provisioning.log_writer import LogWriter
from core.provisioning.responses import Response
from core.provisioning.throttle import MissCounter
from core.provisioning.types import Drain, Receive, RendererLike, RequestInfo, Scope, Send
from core.settings import Settings

log = logging.getLogger(__name__)

MAX_UPLOAD = 1 << 20  # an upload body is read (and dropped) up to this much, then the connection may close


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
    """RSGI and ASGI callable; also usable without a server through `async with app.running():`."""

    def __init__(self, settings: Settings, engine: Engine, renderer: RendererLike, limits: Limits) -> None:
        self.settings = settings
        self.engine = engine
        self.writer = LogWriter(engine, interval=limits.log_interval, batch=limits.log_batch)
        self.directory = DeviceDirectory(engine, renderer, cache_size=limits.render_cache)
        self.counter = MissCounter(limits.miss_threshold, limits.miss_window, limits.cooldown)
        self.bans = BanList(engine, refresh=limits.ban_refresh)
        self.endpoint = ProvisioningEndpoint(self.directory, self.writer, self.counter)

    # -- the rules, whatever the interface ----------------------------------------------------------

    async def handle(self, info: RequestInfo, drain: Drain) -> Response:
        """Answer one request and queue its access-log row (always, even when something failed)."""
        at = datetime.now(UTC)
        response = responses.SERVER_ERROR
        try:
            if self.bans.is_banned(info.source_ip):
                info.reason = reasons.BANNED
                response = responses.FORBIDDEN
                return response
            info.throttled = self.counter.is_throttled(info.source_ip)
            response = await self.endpoint.handle(info, drain)
            if info.miss and self.counter.record_miss(info.source_ip):
                self._on_throttle(info.source_ip, info.user_agent)
            return response
        except Exception:
            log.exception("provisioning: request %s %s failed", info.method, info.masked_path)
            response = responses.SERVER_ERROR
            return response
        finally:
            record(self.writer, at, info, response)

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

    # -- RSGI (Granian's native interface: production) ---------------------------------------------

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.startup()

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.shutdown()  # Granian calls this on SIGTERM/SIGINT once the worker stopped serving

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return
        client: str = scope.client  # "ip:port", "[v6]:port"
        info = RequestInfo(
            method=scope.method,
            # Granian hands RSGI apps the percent-decoded path: parse_path sees what a file lookup would.
            path=scope.path.encode("utf-8", "replace"),
            source_ip=client.rpartition(":")[0].strip("[]"),
            user_agent=(scope.headers.get("user-agent") or "")[:255],
        )

        async def drain() -> None:
            size = 0
            async for chunk in proto:
                size += len(chunk)
                if size > MAX_UPLOAD:
                    break

        response = await self.handle(info, drain)
        proto.response_bytes(response.status, response.headers, b"" if info.head else response.body)

    # -- ASGI (in-process tests, any ASGI server) ---------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        ua = ""
        for name, value in scope.get("headers", ()):
            if name == b"user-agent":
                ua = value.decode("latin-1")[:255]
                break
        info = RequestInfo(
            method=scope["method"],
            path=scope.get("raw_path") or scope["path"].encode("utf-8", "replace"),
            source_ip=(scope.get("client") or ("", 0))[0] or "",
            user_agent=ua,
        )

        async def drain() -> None:
            size = 0
            while size <= MAX_UPLOAD:
                message = await receive()
                size += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break

        response = await self.handle(info, drain)
        await send({"type": "http.response.start", "status": response.status, "headers": response.asgi_headers()})
        await send({"type": "http.response.body", "body": b"" if info.head else response.body})

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
