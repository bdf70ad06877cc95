"""Real Kamailio for the switch tests (issue 16): on the test's database (SQLite file, or the PostgreSQL of
the CI's second pass), on free ports of 127.0.0.1.

- `kamailio`: Kamailio alone, from the configuration serve would render, started the way serve starts it;
  `.sync()` does what serve does every second (subscriber table, registration mirror) when a test wants it
  now.
- `switch_serve`: `python -m core serve --switch kamailio`, the product as it ships.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.settings import Settings
from core.switch import locations, rpc, subscribers
from core.switch.kamailio_config import KamailioContext
from core.switch.kamailio_process import command, move_call_records, wait_ready, write_config
from tests.net import free_port, stop_process, wait_for

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


@dataclass
class RunningKamailio:
    ctx: KamailioContext
    proc: subprocess.Popen[bytes]
    log: Path
    engine: Engine
    realms: tuple[str, ...] = field(default=(HOST,))

    @property
    def port(self) -> int:
        return self.ctx.sip_port

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def sync(self) -> None:
        """serve's upkeep, now: the subscriber table from `line`, `location` mirrored into `registration`, on
        SQLite the call records moved from acc's files (those of the previous call of sync: call it in a
        wait_for)."""
        subscribers.sync(self.engine, self.realms)
        locations.mirror(self.engine)
        move_call_records(self.engine, self.ctx)

    def rpc(self, method: str, *params: object) -> object:
        return rpc.call(self.ctx.rpc_socket, method, *params)


def switch_settings(settings: Settings, **changes: object) -> Settings:
    return settings.with_(switch="kamailio", sip_host=HOST, **changes)


def start_kamailio(settings: Settings, engine: Engine, tmp_path: Path, name: str = "kamailio",
                   port: int | None = None) -> RunningKamailio:  # fmt: skip
    """Kamailio on `port` (a free one by default) with the rendered configuration, answering RPC."""
    s = switch_settings(settings, data_dir=tmp_path / name, kamailio_children=2)
    subscribers.sync(engine, (HOST,))
    ctx, cfg = write_config(s, HOST, port or free_port())
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command(s, ctx, cfg), env=dict(os.environ, TZ="UTC"), stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)  # fmt: skip
    try:
        wait_ready(ctx, lambda: proc.poll() is None)
    except BaseException:
        stop_process(proc)
        raise RuntimeError(f"Kamailio did not start:\n{log.read_text(errors='replace')[-4000:]}") from None
    return RunningKamailio(ctx, proc, log, engine)


@pytest.fixture
def kamailio(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[RunningKamailio]:
    k = start_kamailio(settings, engine, tmp_path)
    try:
        yield k
    finally:
        stop_process(k.proc)


@dataclass
class SwitchServe:
    sip_port: int
    https_port: int
    proc: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_switch_serve(env: dict[str, str], tmp_path: Path, *extra: str) -> SwitchServe:
    """`python -m core serve --switch kamailio` on free ports, returned once Kamailio is ready."""
    sip_port, https_port = free_port(), free_port()
    e = dict(env, VOIPADMIN_SIP_HOST=HOST, VOIPADMIN_KAMAILIO_CHILDREN="2", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "core", "serve", "--switch", "kamailio", "--host", HOST, "--https-port",
           str(https_port), "--sip-port", str(sip_port), "--workers", "1", *extra]  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=e, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    served = SwitchServe(sip_port, https_port, proc, log)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"serve stopped:\n{served.output()[-4000:]}")
        return "Kamailio ready" in served.output()

    try:
        wait_for(ready, 60, "Kamailio started by serve")
    except BaseException:
        stop_process(proc)
        raise
    return served


@pytest.fixture
def switch_serve(env: dict[str, str], engine: Engine, tmp_path: Path) -> Iterator[SwitchServe]:
    served = start_switch_serve(env, tmp_path)
    try:
        yield served
    finally:
        stop_process(served.proc)
