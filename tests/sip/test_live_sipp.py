"""sipp against the registrar subprocess: many users with digest auth from a CSV."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from core.db import transaction
from core.models import Registration
from tests.sip.conftest import DOMAIN, RunningRegistrar, Users, free_port, wait_for

pytestmark = [pytest.mark.sip, pytest.mark.db]
SCEN = Path(__file__).parent / "scenarios"


def users_csv(path: Path, users: list[str], password: dict[str, str] | None = None) -> Path:
    rows = ["SEQUENTIAL"] + [
        f"{u};[authentication username={u} password={(password or {}).get(u, 'secret' + u)}];{DOMAIN}" for u in users
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def sipp(port: int, scenario: str, csv: Path, calls: int, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = ["sipp", f"127.0.0.1:{port}", "-sf", str(SCEN / scenario), "-inf", str(csv), "-i", "127.0.0.1",
           "-p", str(free_port()), "-m", str(calls), "-r", "200", "-nostdin", "-trace_err", "-timeout", "30s",
           "-timeout_error", *extra]  # fmt: skip
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_sipp_registers_many_users_with_digest(
    registrar: RunningRegistrar, users: Users, engine: Engine, tmp_path: Path
) -> None:
    names = list(users.lines)
    run = sipp(registrar.port, "reg_auth.xml", users_csv(tmp_path / "users.csv", names), len(names), tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]

    def count() -> int:
        with transaction(engine) as s:
            return s.scalar(select(func.count()).select_from(Registration)) or 0

    wait_for(lambda: count() == len(names), 10, "bindings written behind")
    with transaction(engine) as s:
        rows = s.scalars(select(Registration)).all()
        assert {r.line_id for r in rows} == set(users.lines.values())
        assert all(r.user_agent == "SIPp-loadtest" and r.transport == "udp" for r in rows)


def test_sipp_wrong_password_fails_and_is_recorded(
    registrar: RunningRegistrar, users: Users, engine: Engine, tmp_path: Path
) -> None:
    csv = users_csv(tmp_path / "bad.csv", ["1000"], {"1000": "wrong"})
    run = sipp(registrar.port, "reg_auth.xml", csv, 1, tmp_path)
    assert run.returncode != 0  # 403 instead of 200
    errors = "".join(p.read_text() for p in tmp_path.glob("*_errors.log"))
    assert "SIP/2.0 403" in errors
    from core.models import SecurityEvent

    def failed() -> list[SecurityEvent]:
        with transaction(engine) as s:
            return list(s.scalars(select(SecurityEvent).where(SecurityEvent.kind == "sip_auth_failed")))

    events = wait_for(failed, 10, "sip_auth_failed event")
    assert events[0].username == "1000" and events[0].source_ip == "127.0.0.1"  # type: ignore[index]
    assert "wrong" not in (events[0].detail + registrar.output())  # type: ignore[index]


def test_sipp_registers_over_tcp_on_one_connection(
    registrar: RunningRegistrar, users: Users, engine: Engine, tmp_path: Path
) -> None:
    """Replies travel back on the connection the REGISTER came in on (sipp -t t1: one socket for all)."""
    names = list(users.lines)[:10]
    run = sipp(registrar.port, "reg_auth.xml", users_csv(tmp_path / "tcp.csv", names), len(names), tmp_path, "-t", "t1")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]

    def tcp_bindings() -> list[Registration]:
        with transaction(engine) as s:
            return list(s.scalars(select(Registration).where(Registration.transport == "tcp")))

    wait_for(lambda: len(tcp_bindings()) == len(names), 10, "TCP bindings written behind")
    assert len({r.source_port for r in tcp_bindings()}) == 1  # one connection carried every registration
