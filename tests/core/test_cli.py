"""The CLI through a subprocess, as support staff script it."""

import json
import subprocess

import pytest
from sqlalchemy import select

from core.db import make_engine
from core.models import AuditEvent
from tests.conftest import run_core

pytestmark = pytest.mark.db


@pytest.fixture
def cli(env, empty_engine):
    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return run_core(env, *args, code=0 if ok else None)

    run("init")
    return run


def _json(proc):
    return json.loads(proc.stdout)


def test_end_to_end_setup(cli, settings):
    cli("vpbx", "add", "acme", "--domain", "acme.voip.example")
    line = _json(cli("line", "add", "--vpbx", "acme", "--number", "+41215550101", "--extension", "101", "--json"))
    assert line["sip_username"] == "41215550101" and len(line["sip_password"]) == 24
    d = _json(cli("--json", "device", "add", "--line", "+41215550101", "--model", "yealink-t46u", "--mac",
                  "80:5e:c0:01:02:03", "--expansion", "yealink-exp43:1", "--admin-password", "1234"))  # fmt: skip
    assert {"id", "line", "model", "kind", "mac", "provisioning_mac", "url", "base_station", "last_access"} <= set(d)
    assert d["mac"] == "805EC0010203" and d["url"].startswith(settings.public_url + "/")
    assert d["last_access"] is None
    assert "1234" not in json.dumps(d)
    cli("key", "set", str(d["id"]), "--index", "1", "--module", "1", "--type", "blf", "--value", "102")
    assert _json(cli("key", "list", str(d["id"]), "--json")) == [
        {"module": 1, "index": 1, "type": "blf", "value": "102", "label": ""}
    ]
    shown = _json(cli("line", "show", "+41215550101", "--json"))
    assert [x["id"] for x in shown["devices"]] == [d["id"]] and shown["registrations"] == []
    fresh = _json(cli("device", "new-key", str(d["id"]), "--json"))
    assert fresh["url"] != d["url"]
    creds = _json(cli("line", "credentials", "+41215550101", "--json"))
    assert set(creds) >= {"sip_username", "domain", "sip_password"} and creds["sip_password"] == line["sip_password"]
    models = _json(cli("models", "--kind", "dect_base", "--json"))
    assert models and all({"id", "vendor", "model", "kind", "family"} <= set(m) for m in models)
    assert {m["kind"] for m in models} == {"dect_base"}


@pytest.mark.parametrize(
    "args, needle",
    [
        (["device", "add", "--line", "+41215550101", "--model", "yealink-t46u", "--mac", "zz"], "mac"),
        (["device", "add", "--line", "+41215550101", "--model", "nope"], "model"),
        (["device", "add", "--line", "+41215550101", "--model", "yealink-t46u", "--admin-password", "12"],
         "admin_password"),
        (["device", "add", "--line", "+4199999", "--model", "yealink-t46u"], "no such line"),
        (["device", "show", "999"], "no such device"),
        (["key", "set", "999", "--index", "1", "--type", "blf", "--value", "1"], "no such device"),
        (["device", "add", "--line", "+41215550101", "--model", "yealink-t46u", "--provisioning-mac", "twice"],
         "invalid choice"),
        (["device", "add", "--model", "yealink-t46u"], "--line"),
        (["device", "show", "seven"], "invalid int value"),
    ],
)  # fmt: skip
def test_refused_input_exits_nonzero_with_one_line(cli, args, needle):
    cli("vpbx", "add", "acme", "--domain", "acme.voip.example")
    cli("line", "add", "--vpbx", "acme", "--number", "+41215550101")
    proc = cli(*args, ok=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert proc.stdout == ""


def test_as_account_is_checked_and_audited(cli, settings):
    cli("vpbx", "add", "acme", "--domain", "acme.voip.example")
    cli("vpbx", "add", "globex", "--domain", "globex.voip.example")
    cli("line", "add", "--vpbx", "acme", "--number", "+41215550101")
    cli("line", "add", "--vpbx", "globex", "--number", "+41225550201")
    out = _json(cli("account", "add", "adm", "--role", "vpbx_admin", "--vpbx", "acme", "--json"))
    assert len(out["password"]) == 16
    cli("account", "add", "alice", "--role", "user", "--line", "+41215550101", "--password", "long-enough-pw")
    assert [r["number"] for r in _json(cli("--as", "adm", "line", "list", "--json"))] == ["+41215550101"]
    proc = cli("line", "show", "+41225550201", "--as", "adm", ok=False)
    assert proc.returncode != 0 and "no such line" in proc.stderr
    proc = cli("--as", "alice", "line", "credentials", "+41215550101", ok=False)
    assert proc.returncode != 0 and "ask your vPBX administrator" in proc.stderr
    proc = cli("--as", "ghost", "line", "list", ok=False)
    assert "no such account" in proc.stderr
    engine = make_engine(settings.db_url)
    with engine.connect() as c:
        actors = {row.actor for row in c.execute(select(AuditEvent.actor))}
    engine.dispose()
    assert any(a.startswith("system:") for a in actors)  # the CLI acts as the OS user by default


def test_init_demo_prints_logins_once(cli, env):
    first = cli("init", "--demo")
    assert "demo-provider" in first.stdout and "demo-admin" in first.stdout
    second = cli("init", "--demo")
    assert "already present" in second.stdout and "demo-provider" not in second.stdout
    devices = _json(cli("device", "list", "--json"))
    kinds = {d["kind"] for d in devices}
    assert {"desk_phone", "dect_base", "dect_handset", "ata", "softphone", "webphone"} <= kinds
