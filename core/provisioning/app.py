"""The app factory: `build_app(settings, engine, renderer)` -> one WSGI app, nothing at module level.

`ProvisioningApp.handle` is the one implementation of the rules, in order: bans -> throttle state
-> endpoint -> miss counting -> access log. `__call__` is the WSGI adapter around it: what Granian
serves in production (chosen by the benchmark: its WSGI path costs less per request than its RSGI
one, and the rules need no event loop) and what the in-process tests drive through
`httpx.WSGITransport`. `handle` runs on several of the server's threads at once, so every piece
of shared state it touches (directory, miss counter, log queue) is thread-safe.

WSGI has no lifespan: `startup()` starts the access-log writer thread and `shutdown()` writes
every queued row; the server (server.py) arranges both in each worker, tests use `running()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from core import event_kinds as reasons
from core.provisioning import responses
from core.provisioning.access_log import record
from core.provisioning.bans import BanList
from core.provisioning.directory import DeviceDirectory
from core.provisioning.endpoint import ProvisioningEndpoint
from core.provisioning.log_writer import LogWriter
from core.provisioning.responses import Response
from core.provisioning.throttle import MissCounter
from core.provisioning.types import RendererLike, RequestInfo
from core.settings import Settings, override

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Limits:
    """Probing limits and write-behind tuning (tests shrink them)."""

    miss_threshold: int = 30  # misses from one source within `miss_window` seconds...
    miss_window: float = 60.0
    cooldown: float = 300.0  # ...throttle it for this long
    ban_refresh: float = 2.0
    retired_refresh: float = 2.0  # PostgreSQL: retired keys re-read at most this often (SQLite: after a commit)
    log_interval: float = 0.5
    log_batch: int = 1000
    render_cache: int = 20_000

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The defaults above, with the settings' prov_* overrides (VOIPADMIN_PROV_MISS_THRESHOLD,
        _MISS_WINDOW, _COOLDOWN)."""
        base = cls()
        return cls(
            miss_threshold=override(settings.prov_miss_threshold, base.miss_threshold),
            miss_window=override(settings.prov_miss_window, base.miss_window),
            cooldown=override(settings.prov_cooldown, base.cooldown),
        )


class ProvisioningApp:
    """A WSGI callable; `with app.running():` starts and stops its access-log writer around use."""

    def __init__(self, settings: Settings, engine: Engine, renderer: RendererLike, limits: Limits) -> None:
        self.settings = settings
        self.engine = engine
        self.writer = LogWriter(engine, interval=limits.log_interval, batch=limits.log_batch)
        self.directory = DeviceDirectory(
            engine, renderer, cache_size=limits.render_cache, retired_refresh=limits.retired_refresh
        )
        self.counter = MissCounter(limits.miss_threshold, limits.miss_window, limits.cooldown)
        self.bans = BanList(engine, refresh=limits.ban_refresh)
        self.endpoint = ProvisioningEndpoint(self.directory, self.writer, self.counter)

    # -- the rules, whatever the interface ----------------------------------------------------------

    def handle(self, info: RequestInfo) -> Response:
        """Answer one request and queue its access-log row (always, even when something failed)."""
        at = time.time()
        response = responses.SERVER_ERROR
        try:
            if self.bans.is_banned(info.source_ip):
                info.reason = reasons.BANNED
                response = responses.FORBIDDEN
                return response
            info.throttled = self.counter.is_throttled(info.source_ip)
            response = self.endpoint.handle(info)
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
            kind=reasons.PROVISIONING_PROBE,
            source_ip=ip,
            user_agent=user_agent,
            detail=f"{self.counter.threshold} misses within {self.counter.window:g}s",
        )

    def startup(self) -> None:
        self.writer.start()

    def shutdown(self) -> None:
        self.writer.stop()
        self.directory.close()

    @contextmanager
    def running(self) -> Iterator[ProvisioningApp]:
        self.startup()
        try:
            yield self
        finally:
            self.shutdown()

    # -- WSGI (Granian in production, httpx.WSGITransport in tests) ----------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        info = RequestInfo(
            method=environ["REQUEST_METHOD"],
            # PEP 3333: PATH_INFO is the percent-decoded path, its bytes carried as latin-1 code points.
            path=environ.get("PATH_INFO", "").encode("latin-1", "replace"),
            source_ip=environ.get("REMOTE_ADDR") or "",
            user_agent=environ.get("HTTP_USER_AGENT", "")[:255],
            body=environ.get("wsgi.input"),
            scheme=environ.get("wsgi.url_scheme") or "https",
        )
        response = self.handle(info)
        start_response(response.status_line, response.headers)
        return [b"" if info.head else response.body]


def build_app(
    settings: Settings, engine: Engine, renderer: RendererLike, limits: Limits | None = None
) -> ProvisioningApp:
    return ProvisioningApp(settings, engine, renderer, limits or Limits())
