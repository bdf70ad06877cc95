"""The serve process (`python -m core serve`): HTTPS provisioning, SIP (unless disabled), the
redirection outbox and access-log retention.

This process supervises: the HTTPS endpoint runs as a Granian child (its own worker processes,
one per core), the fraud rollup and alert passes as another child (core/processes/passes.py), the SIP
service runs here in asyncio. SIGINT/SIGTERM stop everything: Granian's
workers flush their access logs on the way out, SIP flushes its writes. Should this process die
without a word (SIGKILL, OOM killer), the kernel stops the HTTPS server too (core/processes/lifeline.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from core.alert_notify import run_notifier
from core.db import engine_from_settings
from core.migrate import upgrade
from core.redirection.worker import run_redirection_worker
from core.retention import run_retention
from core.settings import Settings, tighten_private_files
from core.sip.service import run_sip
from core.switch.kamailio_process import run_kamailio
from core.tls import ensure_certificate, fingerprint
from core.topstop.enforce import run_topstop

log = logging.getLogger(__name__)


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


class PortBusy(RuntimeError):
    """A port serve needs is taken: the message names it; nothing was started."""


def _listeners(settings: Settings, opts: ServeOptions) -> list[tuple[str, int, socket.SocketKind, str]]:
    """(host, port, socket type, what) for every socket this serve will listen on."""
    wanted = [(opts.host, opts.https_port, socket.SOCK_STREAM, "HTTPS")]
    if opts.http_port:
        wanted.append((opts.host, opts.http_port, socket.SOCK_STREAM, "plain HTTP"))
    if opts.sip:
        sip_port = opts.sip_port or settings.sip_listen_port
        wanted += [("0.0.0.0", sip_port, socket.SOCK_DGRAM, "SIP"), ("0.0.0.0", sip_port, socket.SOCK_STREAM, "SIP")]
    return wanted


def claim_ports(settings: Settings, opts: ServeOptions) -> list[socket.socket]:
    """Check every port is free before any child starts, and hold a claim on each for our lifetime.

    Granian binds with SO_REUSEPORT, so a second serve's Granian would bind next to the first one's
    and the kernel would share the connections between them, silently. A probe bound without
    SO_REUSEPORT is refused by any socket on the port (SO_REUSEADDR only lets it past TIME_WAIT).
    The claims are abstract Unix sockets named after each port (freed by the kernel when we die,
    however): two serves starting at the same instant cannot both pass the probe.
    """
    claims: list[socket.socket] = []
    try:
        for host, port, kind, what in _listeners(settings, opts):
            proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
            busy = PortBusy(f"port {port}/{proto} ({what}) on {host} is already in use: is another serve running? "
                            "Stop it or choose another port; nothing was started")  # fmt: skip
            claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                claim.bind(f"\0voipadmin-serve-{proto}-{host}-{port}")
            except OSError:
                claim.close()
                raise busy from None
            claims.append(claim)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, kind) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((host, port))
                except OSError as exc:
                    raise busy from exc
    except BaseException:
        for c in claims:
            c.close()
        raise
    return claims


async def _start_endpoint(
    env: dict[str, str], host: str, port: int, tls: tuple[Path, Path] | None, workers: int | None
) -> asyncio.subprocess.Process:
    args = [sys.executable, "-m", "core.provisioning.server", "--host", host, "--port", str(port)]
    args += ["--parent-pid", str(os.getpid())]  # it dies with us, even after a SIGKILL
    if tls:
        args += ["--cert", str(tls[0]), "--key", str(tls[1])]
    if workers:
        args += ["--workers", str(workers)]
    # A new session: a terminal's Ctrl-C reaches only us, and we stop the child in order. Not in our
    # process group, so a kill of the group misses it: it watches us instead (core/processes/lifeline.py).
    return await asyncio.create_subprocess_exec(*args, env=env, start_new_session=True)


async def _start_passes(env: dict[str, str]) -> asyncio.subprocess.Process:
    """The fraud rollup and alert passes, in their own process: not on the registrar's GIL."""
    args = [sys.executable, "-m", "core.processes.passes", "--parent-pid", str(os.getpid())]
    return await asyncio.create_subprocess_exec(*args, env=env, start_new_session=True)  # as the endpoint


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
    children.append(await _start_passes(env))  # the fraud page's rollup and the alerts (core/processes/passes.py)
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(c.wait()) for c in children]
    if opts.sip and settings.switch == "kamailio":  # Kamailio handles SIP, supervised here (docs/SWITCH.md)
        tasks.append(asyncio.create_task(run_kamailio(settings, engine, stop, port=opts.sip_port)))
    elif opts.sip:
        tasks.append(asyncio.create_task(run_sip(settings, engine, stop, port=opts.sip_port)))
    tasks.append(asyncio.create_task(run_redirection_worker(settings, engine, stop)))
    tasks.append(asyncio.create_task(run_retention(settings, engine, stop)))
    tasks.append(asyncio.create_task(run_notifier(settings, engine, stop)))  # their webhook / e-mail outbox
    tasks.append(asyncio.create_task(run_topstop(settings, engine, stop)))  # spending limits (core/topstop/)
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
    try:
        claims = claim_ports(settings, opts)  # before anything starts: a busy port changes nothing
    except PortBusy as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    engine = engine_from_settings(settings)  # the data directory 0700, the database file 0600
    for loose in tighten_private_files(settings.data_dir):  # left readable by an older version or by hand
        log.warning("data directory: %s was readable by others, now 0600", loose)
    upgrade(engine)  # idempotent: a fresh data dir works without a separate `init`
    cert, key, created = ensure_certificate(settings)
    if created:
        print(f"Created a self-signed certificate: {cert}")
    print(f"Provisioning endpoint: https://{opts.host}:{opts.https_port}/  (public URL {settings.public_base}/)")
    if opts.sip:
        what = "Kamailio" if settings.switch == "kamailio" else "built-in registrar"
        print(f"SIP: {what} on port {opts.sip_port or settings.sip_listen_port} (udp+tcp)")
    print(f"Certificate SHA-256 fingerprint: {fingerprint(settings.with_(tls_cert=cert, tls_key=key))}")
    sys.stdout.flush()
    try:
        return asyncio.run(_run(settings, engine, opts, cert, key))
    finally:
        engine.dispose()
        for claim in claims:
            claim.close()
