"""Reboot/resync end to end: CLI -> DeviceCommand row -> registrar -> NOTIFY -> a real peer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.db import transaction
from core.models import AuditEvent, DeviceCommand
from tests.sip.conftest import ROOT, RunningRegistrar, Users, free_port
from tests.sip.test_live_sipp import SCEN, users_csv

pytestmark = [pytest.mark.sip, pytest.mark.db]


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def test_reboot_notify_answers_the_phones_401_challenge(
    registrar: RunningRegistrar, users: Users, env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    port = free_port()
    creds = tmp_path / "u.csv"
    users_csv(creds, ["1000"])
    reg = subprocess.run(
        ["sipp", f"127.0.0.1:{registrar.port}", "-sf", str(SCEN / "reg_auth.xml"), "-inf", str(creds), "-i",
         "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin", "-timeout", "15s", "-timeout_error"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert reg.returncode == 0, reg.stdout[-2000:]
    phone_csv = tmp_path / "phone.csv"
    phone_csv.write_text("SEQUENTIAL\n1000;secret1000\n")
    uas = subprocess.Popen(
        ["sipp", "-sf", str(SCEN / "notify_uas.xml"), "-inf", str(phone_csv), "-i", "127.0.0.1", "-p", str(port),
         "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_msg"],
        cwd=tmp_path, stdout=(tmp_path / "uas.out").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        run = cli(env, "--json", "device", "reboot", str(users.devices["1000"]), "--wait", "20")
        out = json.loads(run.stdout)
        assert run.returncode == 0, run.stdout + registrar.output() + (tmp_path / "uas.out").read_text()
        assert out["state"] == "ok" and out["result"].startswith("200 OK from 127.0.0.1:")
        assert uas.wait(20) == 0
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()
    trace = "".join(p.read_text() for p in tmp_path.glob("notify_uas_*_messages.log"))
    assert "Event: check-sync;reboot=true" in trace
    assert 'Authorization: Digest username="1000", realm="phone.test"' in trace
    assert "secret1000" not in registrar.output()
    with transaction(engine) as s:
        cmd = s.scalars(select(DeviceCommand)).one()
        assert (cmd.action, cmd.state, cmd.finished_at is not None) == ("reboot", "ok", True)
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "device.reboot")).one().target_id == str(
            cmd.device_id
        )


def test_command_for_unregistered_device_says_not_registered(
    registrar: RunningRegistrar, users: Users, env: dict[str, str]
) -> None:
    run = cli(env, "device", "resync", str(users.devices["1001"]), "--wait", "10")
    assert run.returncode == 1
    assert "not_registered" in run.stdout


def test_command_without_registrar_says_it_is_not_running(users: Users, env: dict[str, str]) -> None:
    run = cli(env, "device", "reboot", str(users.devices["1000"]), "--wait", "5")
    assert run.returncode == 3
    assert "registrar is not running" in run.stdout
