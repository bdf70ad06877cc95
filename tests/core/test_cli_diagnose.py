"""`python -m core device diagnose ID` through a subprocess, as support staff run it."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from core import event_kinds as ek
from core.db import make_engine, transaction
from core.models import AccessLog, AuditEvent, Ban, Device, Line, RetiredKey
from tests.conftest import run_core

pytestmark = pytest.mark.db


@pytest.fixture
def cli(env, empty_engine):
    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        return run_core(env, *args, code=code)

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
    # Faults first, the cause (its file refused for the MAC) before the symptom; no serve runs: a warning.
    assert codes == ["mac_mismatch", "never_fetched", "registrar_not_running"]
    for f in report["findings"]:
        assert set(f) == {"code", "severity", "text", "evidence", "action"} and f["text"]
        assert set(f["action"]) == {"button", "command"}
    assert report["findings"][0]["evidence"][0]["source_ip"] == "203.0.113.5"
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


def test_json_report_with_an_old_key_and_a_banned_office_then_the_ban_lifted(cli, settings):
    """The phone asks with the key a Nouveau clé retired, from the office address that is banned; the
    vPBX's admin lists the ban and lifts it through the CLI, and the finding is gone."""
    cli("account", "add", "acme-admin", "--role", "vpbx_admin", "--vpbx", "acme")
    cli("account", "add", "alice", "--role", "user", "--line", "+41215550101")
    d = json.loads(cli("--json", "device", "add", "--line", "+41215550101", "--model", "yealink-t46u").stdout)
    engine = make_engine(settings.db_url)
    with transaction(engine) as s:
        old_key = s.get(Device, d["id"]).access_key  # type: ignore[union-attr]
    cli("device", "new-key", str(d["id"]))
    now = datetime.now(UTC)
    with transaction(engine) as s:
        digest = hashlib.sha256(str(old_key).encode()).hexdigest()
        if s.scalars(select(RetiredKey).where(RetiredKey.key_hash == digest)).one_or_none() is None:
            s.add(RetiredKey(key_hash=digest, device_id=d["id"]))  # H2: devices.new_key does not store it yet
        s.add(AccessLog(at=now - timedelta(minutes=1), source_ip="198.51.100.7", path="/<key>.cfg", status=404,
                        user_agent="Yealink SIP-T46U 108.86.0.20", device_id=d["id"], reason=ek.OLD_KEY))  # fmt: skip
        s.execute(update(Device).where(Device.id == d["id"]).values(last_access_ip="198.51.100.7"))
        s.add(Ban(source_ip="198.51.100.7", scope="all", reason="auth failures", expires_at=now + timedelta(hours=1)))
    report = json.loads(cli("--as", "acme-admin", "device", "diagnose", str(d["id"]), "--json").stdout)
    findings = {f["code"]: f for f in report["findings"]}
    assert {"old_key_used", "source_banned", "registrar_not_running"} <= set(findings)
    assert findings["old_key_used"]["severity"] == "fault"
    assert findings["old_key_used"]["action"] == {"button": "setup", "command": f"python -m core device show {d['id']}"}
    assert findings["old_key_used"]["evidence"][0]["reason"] == "old_key"
    assert findings["source_banned"]["action"] == {"button": "unban", "command": "python -m core ban lift 198.51.100.7"}
    assert "key_rotation" in [row["kind"] for row in report["timeline"]]
    assert old_key not in json.dumps(report) and hashlib.sha256(str(old_key).encode()).hexdigest() not in json.dumps(
        report)  # fmt: skip

    listed = json.loads(cli("--as", "acme-admin", "--json", "ban", "list").stdout)
    assert [(b["source_ip"], b["scope"]) for b in listed] == [("198.51.100.7", "all")]
    assert json.loads(cli("--as", "other-admin", "--json", "ban", "list").stdout) == []  # not globex's phones
    refused = cli("--as", "other-admin", "ban", "lift", "198.51.100.7", code=2)
    assert refused.stderr.strip() == ("error: source_ip: 198.51.100.7 is not an address of your vPBX's phones"
                                      " (last access or live registration)")  # fmt: skip
    user = cli("--as", "alice", "ban", "list", code=2)
    assert user.stderr.strip() == "error: a user account may not list or lift bans"
    assert cli("ban", "lift", "198.51.100.x", code=2).stderr.strip() == (
        "error: source_ip: '198.51.100.x' is not an IP address")  # fmt: skip
    lifted = cli("--as", "acme-admin", "ban", "lift", "198.51.100.7").stdout
    assert lifted.startswith("ban on 198.51.100.7 lifted (all)")
    assert cli("ban", "lift", "198.51.100.7", code=2).stderr.strip() == "error: source_ip: 198.51.100.7 is not banned"
    report = json.loads(cli("device", "diagnose", str(d["id"]), "--json").stdout)
    assert "source_banned" not in {f["code"] for f in report["findings"]}
    with transaction(engine) as s:
        assert s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "ban.lift")).all() == ["acme-admin"]
    engine.dispose()
