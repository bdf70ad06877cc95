"""Running the endpoint on Granian (chosen by the benchmark: see docs/PERFORMANCE.md).

Granian terminates TLS in Rust (rustls) and runs one Python worker process per core; each worker
builds its own app from the environment (`app_factory`), so it owns its lookup connection,
key and render caches, throttle counters and access-log writer. The app is a WSGI callable that
Granian runs on `Settings.https_threads` request threads per worker.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import multiprocessing
import os
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.server import Server as Granian
from granian.server.common import AbstractServer  # Granian's Server is a runtime alias: no type

from core.db import engine_from_settings
from core.processes.lifeline import die_with_parent
from core.provisioning.app import Limits, ProvisioningApp, build_app
from core.provisioning.types import RendererLike
from core.render import Renderer
from core.settings import Settings

log = logging.getLogger(__name__)

# TEST-ONLY hook, deliberately not a setting (not in Settings, not in README): an import path
# "module:Class" that replaces core.render.Renderer, so the endpoint's own tests can run the real
# `serve` with a stand-in whose files they know (tests/provisioning/fake_renderer.py). Granian
# starts the workers from an import string, two processes below the test, so the environment is
# the only way in. Production never sets it; tests/core/test_settings.py allows only this name.
TEST_RENDERER_ENV = "VOIPADMIN_PROVISIONING_RENDERER"
# On SIGTERM (serve stopping, or dead: see processes/lifeline.py) Granian asks each worker to stop,
# then waits; without a bound a stuck worker (a blocked write, a wedged thread) keeps the port open
# and serving forever after serve is gone. A clean stop, access-log flush included, takes well
# under a second; past this the worker is killed and only its unflushed log rows are lost.
WORKER_STOP_SECONDS = 10


def _renderer(settings: Settings) -> RendererLike:
    stand_in = os.environ.get(TEST_RENDERER_ENV)
    if not stand_in:
        return Renderer(settings)
    module_name, _, class_name = stand_in.partition(":")
    renderer: RendererLike = getattr(importlib.import_module(module_name), class_name)(settings)
    return renderer


def app_factory() -> ProvisioningApp:
    """Called once in each worker process: builds the app and starts its access-log writer.

    WSGI has no shutdown hook. Granian's worker is a multiprocessing child that returns from its
    target once SIGTERM/SIGINT stopped it serving, and multiprocessing then runs its finalizers:
    the one registered here writes every queued access-log row before the process exits.
    A worker holds the listening socket too: it must not outlive the Granian process (a SIGKILL
    of that one would leave the workers serving), so it asks for SIGTERM when its parent dies.
    """
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        die_with_parent(parent.pid)
    settings = Settings.from_env()
    app = build_app(settings, engine_from_settings(settings), _renderer(settings), Limits.from_settings(settings))
    app.startup()
    Finalize(app, app.shutdown, exitpriority=10)
    return app


def make_server(
    host: str, port: int, cert: Path | None, key: Path | None, workers: int, threads: int
) -> AbstractServer[Any]:
    """HTTPS when cert and key are given (TLS 1.2 minimum), else plain HTTP.

    `threads` per worker (default 2): the GIL runs one at a time, so more add no throughput; a
    second one lets cached answers pass while the first renders a file, reads an upload or waits
    on the database. Measured in docs/PERFORMANCE.md."""
    tls = {}
    if cert is not None and key is not None:
        tls = {"ssl_cert": cert, "ssl_key": key, "ssl_protocol_min": SSLProtocols.tls12}
    return Granian(
        "core.provisioning.server:app_factory",
        address=host,
        port=port,
        interface=Interfaces.WSGI,  # the cheapest per request here: see docs/PERFORMANCE.md
        factory=True,
        workers=workers,
        blocking_threads=threads,
        http=HTTPModes.http1,  # phones speak HTTP/1.x; no h2 negotiation to get wrong
        websockets=False,
        backlog=2048,  # a burst of phones re-provisioning at once
        log_access=False,  # our own access log records every request
        workers_kill_timeout=WORKER_STOP_SECONDS,
        **tls,  # type: ignore[arg-type]  # Path and SSLProtocols values in one dict
    )


def run(host: str, port: int, cert: Path | None, key: Path | None, workers: int, threads: int) -> None:
    """Blocking; stops on SIGINT/SIGTERM after the workers flushed their access logs."""
    make_server(host, port, cert, key, workers, threads).serve()


def main(argv: list[str] | None = None) -> None:
    """`python -m core.provisioning.server`: the child process `python -m core serve` starts."""
    settings = Settings.from_env()
    p = argparse.ArgumentParser(prog="python -m core.provisioning.server")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", type=Path)
    p.add_argument("--key", type=Path)
    p.add_argument("--workers", type=int, default=settings.https_workers or os.cpu_count() or 1)
    p.add_argument("--parent-pid", type=int, help="stop when this process (serve) exits, however it exits")
    args = p.parse_args(argv)
    if args.parent_pid:
        die_with_parent(args.parent_pid)  # SIGTERM: the workers stop and flush their access logs
    run(args.host, args.port, args.cert, args.key, args.workers, settings.https_threads)


if __name__ == "__main__":
    main()
