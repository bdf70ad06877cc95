"""The serve process (`python -m core serve`): HTTPS provisioning, SIP (unless disabled), the
redirection outbox and access-log retention.

This process supervises: the HTTPS endpoint runs as a Granian child (its own worker processes,
one per core), the SIP service runs here in asyncio. SIGINT/SIGTERM stop everything: Granian's
workers flush their access logs on the way out, SIP flushes its writes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from core.db import engine_from_settings
from core.migrate import upgrade
from core.redirection.worker import run_redirection_worker
from core.retention import run_retention
from core.rollup import run_rollup
from core.settings import Settings
from core.tls import ensure_certificate, fingerprint

log = logging.getLogger("core.serve")


@dataclass(frozen=True)
class ServeOptions:
    host: str
    https_port: int
    http_port: int | None
    sip: bool = True
    sip_port: int | None = None
    workers: int | None = None


def _child_env(settings: Settings, cert: Path, key: Path) -> dict[str, str]:
    """The workers rebuild settings from the environment: pass what the command line changed."""
    env = dict(os.environ)
    env.update(
        VOIPADMIN_DB_URL=settings.db_url,
        VOIPADMIN_DATA_DIR=str(settings.data_dir),
        VOIPADMIN_PUBLIC_URL=settings.public_url,
        VOIPADMIN_TLS_CERT=str(cert),
        VOIPADMIN_TLS_KEY=str(key),
    )
    return env


async def _start_endpoint(
    env: dict[str, str], host: str, port: int, tls: tuple[Path, Path] | None, workers: int | None
) -> asyncio.subprocess.Process:
    args = [sys.executable, "-m", "core.provisioning.server", "--host", host, "--port", str(port)]
    if tls:
        args += ["--cert", str(tls[0]), "--key", str(tls[1])]
    if workers:
        args += ["--workers", str(workers)]
    # A new session: a terminal's Ctrl-C reaches only us, and we stop the child in order.
    return await asyncio.create_subprocess_exec(*args, env=env, start_new_session=True)


async def _sip(settings: Settings, engine: Engine, stop: asyncio.Event, port: int | None) -> None:
    try:
        from core.sip.service import run_sip
    except ImportError as exc:
        log.warning("SIP registrar not available (%s); serving provisioning only", exc)
        return
    await run_sip(settings, engine, stop, port=port)


async def _run(settings: Settings, engine: Engine, opts: ServeOptions, cert: Path, key: Path) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    env = _child_env(settings, cert, key)
    children = [await _start_endpoint(env, opts.host, opts.https_port, (cert, key), opts.workers)]
    if opts.http_port:
        log.warning("plain HTTP enabled on port %d (old phones): configurations travel unencrypted", opts.http_port)
        children.append(await _start_endpoint(env, opts.host, opts.http_port, None, opts.workers))
    tasks = [asyncio.create_task(c.wait()) for c in children]
    if opts.sip:
        tasks.append(asyncio.create_task(_sip(settings, engine, stop, opts.sip_port)))
    tasks.append(asyncio.create_task(run_redirection_worker(settings, engine, stop)))
    tasks.append(asyncio.create_task(run_retention(settings, engine, stop)))
    tasks.append(asyncio.create_task(run_rollup(engine, stop)))  # the fraud page's rollup (core/rollup.py)
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    failed = stopper not in done
    if failed:
        log.error("a service stopped unexpectedly; stopping the others")
    stop.set()
    for child in children:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)  # Granian stops its workers, each flushes its access log
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            log.error("service error: %r", r)
            failed = True
    return 1 if failed else 0


def serve(settings: Settings, opts: ServeOptions) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = engine_from_settings(settings)
    upgrade(engine)  # idempotent: a fresh data dir works without a separate `init`
    cert, key, created = ensure_certificate(settings)
    if created:
        print(f"Created a self-signed certificate: {cert}")
    print(f"Provisioning endpoint: https://{opts.host}:{opts.https_port}/  (public URL {settings.public_base}/)")
    print(f"Certificate SHA-256 fingerprint: {fingerprint(settings.with_(tls_cert=cert, tls_key=key))}")
    sys.stdout.flush()
    try:
        return asyncio.run(_run(settings, engine, opts, cert, key))
    finally:
        engine.dispose()
