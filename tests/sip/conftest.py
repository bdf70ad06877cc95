"""Live-test fixtures: a seeded vPBX `pbx.test` and the registrar as a subprocess on 127.0.0.1."""

from __future__ import annotations

import os
import resource
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.db import make_engine, transaction
from core.models import Device, Line, ServiceHeartbeat, Vpbx
from core.settings import Settings
from tests.net import free_port, stop_process, wait_for

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "pbx.test"


@dataclass
class Users:
    vpbx_id: int
    lines: dict[str, int]  # username -> line id
    devices: dict[str, int]  # username -> device id

    def password(self, user: str) -> str:
        return f"secret{user}"


def seed_users(engine: Engine, count: int, first: int = 1000, model: str = "yealink-t46u") -> Users:
    with transaction(engine) as s:
        v = Vpbx(name="test", sip_domain=DOMAIN)
        s.add(v)
        s.flush()
        lines, devices = {}, {}
        for n in range(first, first + count):
            line = Line(
                vpbx_id=v.id, number=f"+4121555{n}", extension=str(n), sip_username=str(n), sip_password=f"secret{n}"
            )
            s.add(line)
            s.flush()
            dev = Device(
                line_id=line.id,
                model_id=model,
                access_key=secrets.token_hex(24),
                admin_password="1234",
                user_password="1234",
            )
            s.add(dev)
            s.flush()
            lines[str(n)], devices[str(n)] = line.id, dev.id
        return Users(v.id, lines, devices)


@pytest.fixture
def users(engine: Engine) -> Users:
    return seed_users(engine, 50)


@dataclass
class RunningRegistrar:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def start_registrar(
    settings: Settings,
    env: dict[str, str],
    tmp_path: Path,
    nofile: int | None = None,
    name: str = "registrar",
    args: tuple[str, ...] = (),
    port: int | None = None,
) -> Iterator[RunningRegistrar]:
    """`python -m core.sip` on a free port of 127.0.0.1, until its heartbeat row appears; stopped after.
    `nofile` lowers its soft RLIMIT_NOFILE (file-limit attacks stay bounded); `args` such as
    `--no-uvloop` (`python -m core serve` runs the registrar on asyncio's own loop); `port` to start one again
    where phones know it."""
    port = port or free_port()
    log = tmp_path / f"{name}.log"

    def limits() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core.sip", "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=limits if nofile is not None else None,  # noqa: PLW1509  (only setrlimit, no threads yet)
        )

    def beating() -> bool:
        with transaction(hb_engine) as s:
            details = s.scalars(select(ServiceHeartbeat.detail).where(ServiceHeartbeat.service == "sip")).all()
        return any(d.endswith(f":{port}") for d in details)

    hb_engine = make_engine(settings.db_url)
    try:
        wait_for(lambda: beating() or proc.poll() is not None, 20, "registrar heartbeat")
        assert proc.poll() is None, log.read_text()
        yield RunningRegistrar(port, proc, log)
    finally:
        stop_process(proc)
        hb_engine.dispose()


@pytest.fixture
def registrar(settings: Settings, env: dict[str, str], users: Users, tmp_path: Path) -> Iterator[RunningRegistrar]:
    with start_registrar(settings, env | {"VOIPADMIN_SIP_NOTIFY_TIMEOUT": "4"}, tmp_path) as reg:
        yield reg


def tool_env() -> dict[str, str]:
    e = dict(os.environ)
    e["HOME"] = e.get("HOME", "/tmp")
    return e
