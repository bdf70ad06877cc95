"""`python -m core device import FILE [--dry-run]` and `device export --vpbx ID` through the process
boundary, as support staff script them (issue 14.6): progress on stderr, exit 1 and every refusal
(--json: the list) when a row is refused, and an export that imports back unchanged."""

from __future__ import annotations

import json
import subprocess

import pytest
from sqlalchemy import delete, func, select

from core.db import make_engine, transaction
from core.models import Device
from tests.conftest import run_core

pytestmark = pytest.mark.db

HEADER = "line,model,mac,label,username,provisioning_mac,admin_password,user_password,base,expansion,keys\n"


@pytest.fixture
def cli(env, empty_engine):
    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        return run_core(env, *args, code=code)

    run("init")
    run("vpbx", "add", "acme", "--domain", "acme.voip.example")
    run("vpbx", "add", "globex", "--domain", "globex.voip.example")
    run("line", "add", "--vpbx", "acme", "--number", "+41215550101", "--extension", "101")
    run("line", "add", "--vpbx", "acme", "--number", "+41215550102", "--extension", "102")
    run("line", "add", "--vpbx", "globex", "--number", "+41225550201")
    run("account", "add", "adm", "--role", "vpbx_admin", "--vpbx", "acme", "--password", "a-long-password-1")
    return run


def _devices(settings):
    engine = make_engine(settings.db_url)
    try:
        with transaction(engine) as s:
            return s.scalar(select(func.count()).select_from(Device))
    finally:
        engine.dispose()


def test_refused_rows_exit_1_list_every_error_and_write_nothing(cli, tmp_path, settings):
    f = tmp_path / "bad.csv"
    f.write_text(HEADER + "+41215550101,yealink-t46u,zz,,,,12,,,,1:blf:x\n+41225550201,yealink-t46u,,,,,,,,,\n")
    proc = cli("--as", "adm", "device", "import", str(f), code=1)
    assert proc.stdout.splitlines() == [
        "row 2, mac: 'zz' is not a MAC address (12 hex characters, e.g. 00041345C9BF)",
        "row 2, admin_password: must be 4 to 9 digits, or empty for a generated password",
        "row 2, keys (1:blf:x): 'x' is not valid for a blf key (extension to watch)",
        "row 3, line: no such line",  # another vPBX's line: as if it did not exist
    ]
    assert "checking [" in proc.stderr and "4 error(s) in 2 row(s): nothing written" in proc.stderr
    report = json.loads(cli("--as", "adm", "device", "import", str(f), "--json", code=1).stdout)
    assert [(e["row"], e["column"], e["code"]) for e in report["errors"]] == [
        (2, "mac", "mac_invalid"), (2, "admin_password", "password_digits"), (2, "keys", "key_value_invalid"),
        (3, "line", "line_not_found")]  # fmt: skip
    assert report["created"] == 0 and _devices(settings) == 0


def test_dry_run_then_import_then_round_trip(cli, tmp_path, settings):
    f = tmp_path / "devices.csv"
    f.write_text(HEADER + (
        "+41215550101,yealink-w70b,805EC000000B,Base,,,,,,,\n"
        "+41215550101,yealink-w56h,,Hall,,,,,805EC000000B,,\n"
        "+41215550102,yealink-t46u,80-5e-c0-00-00-01,Desk,bob,once,1234,,,yealink-exp43:1,1:line;2:blf:101:Alice;1.3:url:https\\://x.example\n"
    ))  # fmt: skip
    dry = cli("device", "import", str(f), "--dry-run")
    assert dry.stdout.strip() == "3 row(s) checked, nothing written (dry run)" and _devices(settings) == 0
    assert "checking [" in dry.stderr and "3/3" in dry.stderr
    done = cli("--as", "adm", "device", "import", str(f))
    assert done.stdout.strip() == "3 row(s) 3 device(s) added" and "writing" in done.stderr
    first = cli("device", "export", "--vpbx", "acme").stdout
    assert "+41215550102,yealink-t46u,805EC0000001,Desk,bob,once,1234,,,yealink-exp43:1," in first
    engine = make_engine(settings.db_url)
    with transaction(engine) as s:
        s.execute(delete(Device).where(Device.base_station_id.isnot(None)))
        s.execute(delete(Device))
    engine.dispose()
    out = tmp_path / "export.csv"
    (tmp_path / "first.csv").write_text(first)
    cli("--as", "adm", "device", "import", str(tmp_path / "first.csv"))
    cli("--as", "adm", "device", "export", "--vpbx", "acme", "--output", str(out))
    assert out.read_text() == first


def test_an_admin_exports_only_their_vpbx(cli):
    proc = cli("--as", "adm", "device", "export", "--vpbx", "globex", code=2)
    assert proc.stderr.strip() == "error: vpbx: no vPBX named 'globex'"
    proc = cli("device", "export", "--vpbx", "999", code=2)
    assert proc.stderr.strip() == "error: vpbx: no vPBX named '999'"
