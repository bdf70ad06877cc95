"""Kamailio as a child of serve (`VOIPADMIN_SWITCH=kamailio`, docs/SWITCH.md).

serve renders the configuration into the data directory (0600: it holds the database URL), has Kamailio
check it (`kamailio -c`), starts it in the foreground, waits until its RPC answers, keeps `subscriber` and
the `registration` mirror up to date every second (on SQLite it also moves acc's call records from their
files into our tables, core/switch/call_records.py), and stops Kamailio with itself. Kamailio gets the parent-
death signal through a small exec wrapper (core/processes/lifeline.py), so a SIGKILLed serve leaves no
Kamailio behind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from core import heartbeat
from core.processes.periodic import every
from core.settings import Settings
from core.switch import call_records, locations, rpc, subscribers
from core.switch.commands import run_commands
from core.switch.kamailio_config import KamailioContext, check_config, context_for, render_config
from core.switch.security import run_ban_sync

log = logging.getLogger(__name__)

SYNC_INTERVAL = 1.0  # seconds between two subscriber syncs and two location mirrors
BEAT_INTERVAL = 2.0  # as the built-in registrar: État, the diagnosis and the command buttons read it


def write_config(settings: Settings, host: str, port: int | None) -> tuple[KamailioContext, Path]:
    ctx = context_for(settings, host, port)
    ctx.runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if ctx.acc_dir is not None:
        ctx.acc_dir.mkdir(exist_ok=True, mode=0o700)
    text = render_config(ctx)
    check_config(text, settings.kamailio_bin)
    path = ctx.runtime_dir / "kamailio.cfg"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return ctx, path


def command(settings: Settings, ctx: KamailioContext, cfg: Path) -> list[str]:
    """Kamailio in the foreground (-DD), logging to stderr (-E), wrapped to die with us."""
    # -m: 256 MB of shared memory (Kamailio's 64 MB default runs out at a few hundred calls/s: 500s, bench/switch)
    kamailio = [settings.kamailio_bin, "-DD", "-E", "-m", "256", "-f", str(cfg), "-P",
                str(ctx.runtime_dir / "kamailio.pid"), "-Y", str(ctx.runtime_dir)]  # fmt: skip
    return [sys.executable, "-m", "core.processes.lifeline", "--parent-pid", str(os.getpid()), "--", *kamailio]


def move_call_records(engine: Engine, ctx: KamailioContext) -> int:
    """On SQLite, the records acc wrote into files since the last pass, into `acc` and `missed_calls`
    (core/switch/call_records.py); nothing to do where acc inserts them itself."""
    if ctx.acc_dir is None:
        return 0
    socket = ctx.rpc_socket
    return call_records.ingest(engine, ctx.acc_dir, lambda: rpc.call(socket, "flatstore.rotate", timeout=2.0))


def wait_ready(ctx: KamailioContext, proc_alive: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            rpc.call(ctx.rpc_socket, "core.version", timeout=1.0)
            return
        except rpc.RpcError:
            if time.monotonic() > deadline or not proc_alive():
                raise
            time.sleep(0.1)  # Kamailio starting: its socket appears when its workers are up


async def run_kamailio(settings: Settings, engine: Engine, stop: asyncio.Event, host: str = "0.0.0.0",
                       port: int | None = None) -> None:  # fmt: skip
    """Kamailio and its upkeep until `stop`; returns (an error) if Kamailio exits on its own."""
    realms = tuple(a for a in (settings.sip_host, settings.public_host) if a)
    await asyncio.to_thread(subscribers.sync, engine, realms)  # before the first REGISTER can arrive
    ctx, cfg = await asyncio.to_thread(write_config, settings, host, port)
    env = dict(os.environ, TZ="UTC")  # location times in UTC, as our mirror reads them
    proc = await asyncio.create_subprocess_exec(*command(settings, ctx, cfg), env=env, start_new_session=True)
    try:
        await asyncio.to_thread(wait_ready, ctx, lambda: proc.returncode is None)
        log.info("Kamailio ready on %s:%d (pid %d)", ctx.listen_host, ctx.sip_port, proc.pid)

        def sync_subscribers() -> None:
            subscribers.sync(engine, realms)

        def mirror_locations() -> None:
            locations.mirror(engine)

        def records() -> None:
            move_call_records(engine, ctx)

        detail = f"kamailio udp+tcp {ctx.listen_host}:{ctx.sip_port}"

        def beat() -> None:
            """Alive only while Kamailio answers its RPC: a hung Kamailio is not shown as registering phones."""
            try:
                rpc.call(ctx.rpc_socket, "core.version", timeout=1.0)
            except rpc.RpcError:
                heartbeat.stop(engine, "sip")
                raise
            heartbeat.beat(engine, "sip", detail)

        upkeep = [
            asyncio.create_task(every(SYNC_INTERVAL, stop, sync_subscribers, log, "subscribers")),
            asyncio.create_task(every(SYNC_INTERVAL, stop, mirror_locations, log, "locations")),
            asyncio.create_task(every(SYNC_INTERVAL, stop, records, log, "call records")),
            asyncio.create_task(every(BEAT_INTERVAL, stop, beat, log, "Kamailio heartbeat")),
            asyncio.create_task(run_ban_sync(engine, ctx.rpc_socket, stop)),  # bans (core/switch/security.py)
            asyncio.create_task(run_commands(settings, engine, ctx, stop)),  # reboot/resync (core/switch/commands.py)
        ]
        exited = asyncio.create_task(proc.wait())
        await asyncio.wait([exited, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            stop.set()
            await asyncio.gather(*upkeep, return_exceptions=True)
            raise RuntimeError(f"Kamailio exited on its own (status {proc.returncode})")
        await asyncio.gather(*upkeep, return_exceptions=True)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await asyncio.to_thread(heartbeat.stop, engine, "sip")
        await asyncio.to_thread(locations.mirror, engine)  # what Kamailio left in `location` at its stop
        if ctx.acc_dir is not None:
            await asyncio.to_thread(call_records.drain, engine, ctx.acc_dir)  # and its last call records
