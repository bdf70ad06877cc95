"""`python -m core device diagnose ID` through a subprocess, as support staff run it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.db import make_engine, transaction
from core.models import AccessLog, Device, Line

pytestmark = pytest.mark.db


@pytest.fixture
def cli(env, empty_engine):
    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "core", *args], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        return proc

    run("init")
    run("vpbx", "add", "acme", "--domain", "acme.voip.example")
    run("vpbx", "add", "globex", "--domain", "globex.voip.example")
    run("line", "add", "--vpbx", "acme", "--number", "+41215550101")
    run("account", "add", "other-admin", "--role", "vpbx_admin", "--vpbx", "globex")
    return run


def test_json_report_names_the_fault_and_keeps_secrets_out(cli, settings):
    d = json.loads(cli("--json", "device", "add", "--line", "+41215550101", "--model", "yealink-t46u", "--mac",
                       "80:5e:c0:01:02:03", "--admin-password", "4711").stdout)  # fmt: skip
    engine = make_engine(settings.db_url)
    with transaction(engine) as s:  # a phone showing another MAC asked for this device's file
        s.add(AccessLog(at=datetime.now(UTC) - timedelta(minutes=2), source_ip="203.0.113.5", path="/<key>.cfg",
                        user_agent="Yealink SIP-T46U 80:5e:c0:99:99:99", device_id=d["id"], status=404,
                        reason="key_mac_mismatch"))  # fmt: skip
        secrets = [s.scalars(select(Line.sip_password)).one(), s.get(Device, d["id"]).access_key, "4711"]  # type: ignore[union-attr]
    engine.dispose()
    proc = cli("device", "diagnose", str(d["id"]), "--json")
    report = json.loads(proc.stdout)
    assert set(report) == {"device", "verdict", "findings", "timeline"}
    assert report["device"] == d["id"] and report["verdict"] == "fault"
    codes = [f["code"] for f in report["findings"]]
    assert codes == ["never_fetched", "mac_mismatch"]
    for f in report["findings"]:
        assert set(f) == {"code", "severity", "text", "evidence", "action"} and f["text"]
        assert set(f["action"]) == {"button", "command"}
    assert report["findings"][1]["evidence"][0]["source_ip"] == "203.0.113.5"
    assert report["timeline"][0]["kind"] == "refusal"
    assert not [secret for secret in secrets if secret in proc.stdout]


def test_text_report_for_support_staff_in_either_language(cli):
    d = json.loads(cli("--json", "device", "add", "--line", "+41215550101", "--model", "yealink-t46u").stdout)
    english = cli("device", "diagnose", str(d["id"])).stdout  # a fault is still a report: exit 0
    assert english.startswith(f"device {d['id']}: FAULT\n")
    assert "[fault] never_fetched: The phone has never downloaded" in english
    assert f"fix: python -m core device show {d['id']}" in english
    french = cli("device", "diagnose", str(d["id"]), "--lang", "fr").stdout
    assert "n'a encore jamais téléchargé sa configuration" in french


@pytest.mark.parametrize("as_other", [False, True])
def test_unknown_or_forbidden_device_is_a_one_line_error(cli, as_other):
    d = json.loads(cli("--json", "device", "add", "--line", "+41215550101", "--model", "yealink-t46u").stdout)
    args = ("--as", "other-admin", "device", "diagnose", str(d["id"])) if as_other else ("device", "diagnose", "999")
    proc = cli(*args, code=2)
    assert proc.stdout == "" and proc.stderr.strip().splitlines() == ["error: device: no such device"]
