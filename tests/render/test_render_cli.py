"""`python -m core device config|files` through a subprocess, on a device built with the ORM."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import Engine

from core.db import transaction
from core.models import Account, Device, FunctionKey, Line
from tests.conftest import Seed

KEY = "fedcba9876543210" * 3


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", *args], env=env, capture_output=True, text=True, timeout=60)


def _device(engine: Engine, seed: Seed) -> int:
    with transaction(engine) as s:
        line = s.get(Line, seed.line_a1)
        device = Device(line=line, model_id="yealink-t46u", access_key=KEY, admin_password="1234",
                        user_password="5678", mac="805EC0112233")  # fmt: skip
        device.keys.append(FunctionKey(module=0, index=1, function="blf", value="102", label="Bob"))
        s.add(device)
        s.add(Account(username="admin-globex", password_hash="x", role="vpbx_admin", vpbx_id=seed.vpbx_b))
        s.flush()
        return device.id


def test_device_files_json(engine: Engine, seed: Seed, env: dict[str, str]) -> None:
    device_id = _device(engine, seed)
    done = _run(env, "--json", "device", "files", str(device_id))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["y000000000108.cfg", "805ec0112233.cfg"]


def test_device_config_prints_the_main_or_named_file(engine: Engine, seed: Seed, env: dict[str, str]) -> None:
    device_id = _device(engine, seed)
    done = _run(env, "device", "config", str(device_id))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("#!version:1.0.0.1")
    assert "linekey.1.type = 16" in done.stdout and f"/{KEY}/" in done.stdout
    named = _run(env, "device", "config", str(device_id), "--file", "805ec0112233.cfg")
    assert named.returncode == 0 and "linekey.1.value = 102" in named.stdout


def test_device_config_errors(engine: Engine, seed: Seed, env: dict[str, str]) -> None:
    device_id = _device(engine, seed)
    missing = _run(env, "device", "config", str(device_id), "--file", "nope.cfg")
    assert missing.returncode == 2 and "nope.cfg" in missing.stderr and missing.stdout == ""
    other_vpbx = _run(env, "--as", "admin-globex", "device", "files", str(device_id))
    assert other_vpbx.returncode == 2 and "no such device" in other_vpbx.stderr
    assert _run(env, "device", "files", "999999").returncode == 2
