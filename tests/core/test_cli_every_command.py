"""Every CLI subcommand run through the process boundary (`python -m core ...`), each checked by
what it printed or changed in the database (issue 15.7).

The list of commands comes from the argparse tree itself, and the session below records which
command each run reached: a new subcommand without a run here fails
`test_every_subcommand_is_run_or_covered_by_a_live_test`. The long-running ones (`serve`, `up`) are
run by the lifetime tests named in LIVE.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from core.cli import build_parser
from core.db import make_engine, transaction
from core.models import (
    AccessLog,
    Account,
    AuditEvent,
    Ban,
    Device,
    DeviceCommand,
    Line,
    MissedCall,
    PhonebookContact,
    RedirectionJob,
)

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
# Commands that run until stopped: each is started, checked and stopped by these tests.
LIVE = {
    "serve": ("tests/core/test_serve_lifetime.py", "test_kill_9_of_serve_takes_the_https_server_down"),
    "up": ("tests/core/test_launcher.py", "test_up_runs_both_and_ctrl_c_stops_both"),
}


def all_commands(parser: argparse.ArgumentParser | None = None, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every leaf command of the CLI ("device add", "models", ...), read from argparse."""
    parser = parser or build_parser()
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = all_commands(sub, (*prefix, name))
                found |= nested or {" ".join((*prefix, name))}
    return found


GROUPS = {c.split(" ")[0] for c in all_commands() if " " in c}


class Cli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.ran = env, set()

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "core", *args], env=self.env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        words = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] != "--as")]
        self.ran.add(" ".join(words[:2]) if words[0] in GROUPS else words[0])
        return proc

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json").stdout)


@pytest.mark.timeout(900)  # ~70 `python -m core` runs in a row: minutes on a busy 2-core machine
def test_every_subcommand_is_run_or_covered_by_a_live_test(env, empty_engine, settings):
    cli = Cli(env)
    _session(cli, make_engine(settings.db_url))
    assert cli.ran | set(LIVE) == all_commands()
    assert not cli.ran & set(LIVE)


def test_the_live_tests_named_for_serve_and_up_exist():
    for command, (path, name) in LIVE.items():
        source = (ROOT / path).read_text()
        functions = {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}
        assert name in functions, f"{command}: {path}::{name} is gone"
        assert f'"-m", "core", "{command}"' in source, f"{path} no longer runs `python -m core {command}`"


def _phonebook(cli: Cli, engine: Engine, dev: str) -> None:
    """The vPBX phone book: a contact added, changed, listed; a CSV checked (a bad row by row and column, nothing
    written), imported, exported back; the book as phones get it (the lines first); a contact deleted."""
    c = cli.json("phonebook", "add", "Plumber & Sons", "+41 21 555 09 99", "--vpbx", "acme", "--organisation", "ACME")
    assert (c["name"], c["number"]) == ("Plumber & Sons", "+41215550999")
    assert cli.json("phonebook", "update", str(c["id"]), "--organisation", "Pipes")["organisation"] == "Pipes"
    csv_file = Path(cli.env["VOIPADMIN_DATA_DIR"]).parent / "book.csv"
    csv_file.write_text("name,number,organisation\nDentist,+41215550888,\nNobody,not-a-number,\n")
    refused = cli("phonebook", "import", str(csv_file), "--vpbx", "acme", "--dry-run", code=1).stdout
    assert "row 3, number: 'not-a-number' is not a number" in refused and "nothing written" in refused
    csv_file.write_text("name,number,organisation\nDentist,+41215550888,\n")
    assert cli.json("phonebook", "import", str(csv_file), "--vpbx", "acme")["added"] == 1
    names = [x["name"] for x in cli.json("phonebook", "list", "--vpbx", "acme")]
    assert names == ["Dentist", "Plumber & Sons"]
    exported = cli("phonebook", "export", "--vpbx", "acme").stdout
    assert exported == "name,number,organisation\nDentist,+41215550888,\nPlumber & Sons,+41215550999,Pipes\n"
    book = cli.json("phonebook", "show", "--vpbx", "acme")
    assert [e["source"] for e in book] == ["line", "line", "contact", "contact"]
    assert "deleted" in cli("phonebook", "delete", str(c["id"])).stdout
    with transaction(engine) as s:
        assert s.scalars(select(PhonebookContact.name)).all() == ["Dentist"]
    assert "phonebook.xml" in cli("device", "config", dev).stdout  # the phone's file points at it


def _calls(cli: Cli, engine: Engine) -> None:
    """A line's calls as the switch recorded them (tests/switch/test_calls_live.py has Kamailio write them); a
    vPBX's blocked destinations added and removed in one command (tests/core/test_calls.py has the rules)."""
    with transaction(engine) as s:
        line_id = s.scalar(select(Line.id).where(Line.number == "+41215550101"))
        at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
        s.add(MissedCall(method="INVITE", callid="c1", sip_code="403", sip_reason="PSTN blocked", line_id=line_id,
                         time=at, call_kind="pstn", dst_ouser="0041449999999"))  # fmt: skip
    (call,) = cli.json("line", "calls", "+41215550101")
    assert (call["disposition"], call["callee"], call["kind"]) == ("refused", "0041449999999", "pstn")
    listed = cli.json("vpbx", "blocked-prefixes", "acme", "--add", "00882", "--add", "+41 900")
    assert [p["prefix"] for p in listed] == ["+41900", "+882"]
    assert cli("vpbx", "blocked-prefixes", "acme", "--remove", "+41900").stdout == "+882\n"


def _topstop(cli: Cli, engine: Engine) -> None:
    """TopStop from the CLI: a line's day limit set, reached by a finished PSTN call (the block made by serve's
    pass, here run by hand), shown, and lifted with a note (tests/core/test_topstop.py has the rules)."""
    from core.settings import Settings
    from core.topstop import enforce
    from tests.topstop_calls import answered, hung_up

    assert cli.json("topstop", "set", "--line", "+41215550101", "--period", "day", "--amount", "1")["limit"] == "1.00"
    with transaction(engine) as s:
        line_id = s.scalar(select(Line.id).where(Line.number == "+41215550101"))
    start = datetime.now(UTC) - timedelta(minutes=2)
    hung_up(engine, answered(engine, line_id, "0041900123456", start), start + timedelta(seconds=60))  # 3.00
    enforce.run_pass(engine, Settings.from_env(cli.env))
    shown = cli.json("topstop", "show", "--line", "+41215550101")
    assert (shown["blocked"], shown["periods"][0]["spent"], shown["currency"]) == (True, "3.00", "EUR")
    assert [(r["number"], r["blocked"]) for r in cli.json("topstop", "show")] == [("+41215550101", True)]
    lifted = cli.json("topstop", "unblock", "--line", "+41215550101", "--note", "customer on holiday abroad")
    assert lifted["lifted"][0]["note"] == "customer on holiday abroad"
    assert "PSTN open" in cli("topstop", "show", "--line", "+41215550101").stdout
    (alert,) = cli.json("alerts", "list")  # the block's high alert, handled like any other
    assert (alert["rule"], alert["subject"]) == ("topstop_reached", f"line:{line_id}")
    cli("alerts", "resolve", str(alert["id"]), "--note", "limit raised with the customer")


def _session(cli: Cli, engine: Engine) -> None:
    """A support engineer's session, one outcome checked per command."""
    assert "database ready: " in cli("init").stdout
    with engine.connect() as c:
        assert c.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    assert cli.json("vpbx", "add", "acme", "--domain", "acme.voip.example")["sip_domain"] == "acme.voip.example"
    assert [v["name"] for v in cli.json("vpbx", "list")] == ["acme"]
    assert cli.json("vpbx", "voicemail", "acme", "*97")["voicemail_access"] == "*97"

    line = cli.json("line", "add", "--vpbx", "acme", "--number", "+41215550101", "--extension", "101")
    assert line["number"] == "+41215550101" and len(line["sip_password"]) == 24
    cli("line", "add", "--vpbx", "acme", "--number", "+41215550102", "--name", "Bob")
    assert [x["number"] for x in cli.json("line", "list", "--vpbx", "acme")] == ["+41215550101", "+41215550102"]
    assert cli.json("line", "show", "+41215550102")["display_name"] == "Bob"
    assert cli.json("line", "credentials", "+41215550101")["sip_password"] == line["sip_password"]
    fresh = cli.json("line", "new-credentials", "+41215550101")
    with transaction(engine) as s:
        stored = s.scalars(select(Line.sip_password).where(Line.number == "+41215550101")).one()
    assert fresh["changed"] is True and stored != line["sip_password"]
    assert stored not in json.dumps(fresh)  # not printed: `line credentials` is the audited way to read it
    assert cli.json("line", "credentials", "+41215550101")["sip_password"] == stored
    cli("line", "block", "+41215550101")
    assert cli.json("line", "show", "+41215550101")["pstn_blocked"] is True
    cli("line", "unblock", "+41215550101")
    assert cli.json("line", "show", "+41215550101")["pstn_blocked"] is False
    _calls(cli, engine)

    models = cli.json("models", "--kind", "dect_base")
    assert "gigaset-n670" in {m["id"] for m in models} and {m["kind"] for m in models} == {"dect_base"}

    d = cli.json("device", "add", "--line", "+41215550101", "--model", "yealink-t46u", "--mac", "80:5e:c0:01:02:03",
                 "--label", "Desk")  # fmt: skip
    dev = str(d["id"])
    assert d["mac"] == "805EC0010203" and d["model"] == "yealink-t46u"
    assert cli.json("device", "set", dev, "--label", "Reception")["label"] == "Reception"
    assert cli.json("device", "show", dev)["label"] == "Reception"
    assert [x["id"] for x in cli.json("device", "list", "--line", "+41215550101")] == [d["id"]]
    assert cli.json("device", "bases", "--line", "+41215550102", "--model", "yealink-w56h") == []  # test_dect_cli.py
    assert cli.json("device", "files", dev) == ["y000000000108.cfg", "805ec0010203.cfg"]
    report = cli.json("device", "diagnose", dev)  # added a moment ago, never fetched: a fault, still exit 0
    assert (report["device"], report["verdict"]) == (d["id"], "fault")
    assert [f["code"] for f in report["findings"]] == ["never_fetched", "registrar_not_running"]  # no serve here
    with transaction(engine) as s:  # an office NAT banned after a neighbour's failures
        s.add(Ban(source_ip="198.51.100.7", scope="sip", reason="auth failures",
                  expires_at=datetime.now(UTC) + timedelta(hours=1)))  # fmt: skip
    assert [b["source_ip"] for b in cli.json("ban", "list")] == ["198.51.100.7"]
    assert cli.json("ban", "lift", "198.51.100.7") == {"source_ip": "198.51.100.7", "lifted": 1, "scopes": ["sip"]}
    kamailio_cfg = cli("switch", "config", "--port", "5070").stdout  # checked by kamailio -c on the way
    assert "listen=udp:0.0.0.0:5070" in kamailio_cfg and line["sip_password"] not in kamailio_cfg
    assert cli.json("ban", "list") == []
    added = cli.json("ban", "add", "203.0.113.9", "--scope", "sip", "--minutes", "30", "--reason", "scanner")
    assert (added["source_ip"], added["scope"], added["reason"]) == ("203.0.113.9", "sip", "scanner")
    assert cli.json("ban", "lift", "203.0.113.9")["lifted"] == 1
    _phonebook(cli, engine, dev)
    main = cli("device", "config", dev).stdout
    assert main.startswith("#!version:1.0.0.1") and stored in main and "41215550101" in main
    assert cli.json("line", "update", "+41215550101", "--display-name", "Alice M.")["display_name"] == "Alice M."
    assert "account.1.display_name = Alice M." in cli("device", "config", dev).stdout  # its file moved
    other = cli.json("device", "config", dev, "--file", "805ec0010203.cfg")
    assert other["name"] == "805ec0010203.cfg" and stored in other["content"]
    new_url = cli.json("device", "new-key", dev)["url"]
    assert new_url != d["url"] and new_url.endswith(".cfg")
    with transaction(engine) as s:
        assert new_url.endswith(f"/{s.get(Device, d['id']).access_key}.cfg")
    # The phone still on its old URL: the alert worker's pass (`alerts scan`) raises retired_key_used.
    with transaction(engine) as s:
        s.add(AccessLog(at=datetime.now(UTC) - timedelta(seconds=10), source_ip="198.51.100.7", user_agent="Yealink",
                        path="/abcdef….cfg", device_id=d["id"], status=404, reason="old_key"))  # fmt: skip
    assert cli.json("alerts", "scan")["rows"] >= 1
    (alert,) = cli.json("alerts", "list")
    assert (alert["rule"], alert["device_id"], alert["state"]) == ("retired_key_used", d["id"], "open")
    assert [e["what"] for e in cli.json("alerts", "show", str(alert["id"]))["evidence"]] == ["old_key"]
    assert cli.json("alerts", "ack", str(alert["id"]), "--note", "calling")["state"] == "acknowledged"
    assert cli.json("alerts", "resolve", str(alert["id"]), "--note", "phone reset")["note"] == "phone reset"
    assert cli.json("alerts", "list") == []
    assert [a["id"] for a in cli.json("alerts", "list", "--state", "resolved")] == [alert["id"]]
    _topstop(cli, engine)

    # "Une fois de plus" needs a device whose MAC bootstrap was used: as the endpoint leaves it.
    with transaction(engine) as s:
        s.execute(update(Device).where(Device.id == d["id"]).values(provisioning_mac="done"))
    assert cli.json("device", "once-more", dev)["provisioning_mac"] == "once"
    with transaction(engine) as s:
        jobs = [(j.mac, j.action) for j in s.scalars(select(RedirectionJob))]
    assert jobs == [("805EC0010203", "register")]

    # No registrar runs: the request is queued as a row for `serve` to carry out, and says so.
    reboot = cli("device", "reboot", dev)
    assert "queued; warning: the registrar is not running" in reboot.stdout
    assert cli.json("device", "resync", dev)["registrar_running"] is False
    with transaction(engine) as s:
        commands = [
            (c.device_id, c.action, c.state) for c in s.scalars(select(DeviceCommand).order_by(DeviceCommand.id))
        ]
    assert commands == [(d["id"], "reboot", "pending"), (d["id"], "resync", "pending")]

    assert cli.json("key", "choices", dev) == {  # Bob's line has no extension: its number is offered
        "lines": [{"value": "101", "extension": "101", "number": "+41215550101", "name": "Alice M."},
                  {"value": "+41215550102", "extension": None, "number": "+41215550102", "name": "Bob"}],
        "voicemail": "*97101",
        "voicemail_access": "*97",
    }  # fmt: skip
    warned = cli("key", "set", dev, "--index", "3", "--type", "blf", "--value", "102", "--label", "Bob")
    assert "warning: key 3: 102 is no extension of this vPBX" in warned.stderr  # saved all the same
    assert cli.json("key", "list", dev) == [{"module": 0, "index": 3, "type": "blf", "value": "102", "label": "Bob"}]
    assert "linekey.3.value = 102" in cli("device", "config", dev).stdout
    assert "key cleared" in cli("key", "clear", dev, "--index", "3").stdout
    assert cli.json("key", "list", dev) == []

    # The fraud procedure: an end user's "I lost my data" alerts the administrators; a run to its keys step,
    # resumable (respond-status), a device counted as done by hand.
    asked = cli.json("line", "lost-data", "+41215550102", "--note", "phone stolen")
    assert (asked["state"], asked["number"]) == ("requested", "+41215550102")
    assert [a["rule"] for a in cli.json("alerts", "list")] == ["data_loss_reported"]
    run = cli.json("line", "respond", "+41215550101", "--until", "keys")
    assert [s["step"] for s in run["steps"] if s["at"]] == ["block", "credentials", "keys"]
    assert cli.json("line", "show", "+41215550101")["pstn_blocked"] is True
    assert cli.json("line", "respond-status", "+41215550101")["next_step"] == "push"
    skipped = cli.json("line", "respond-skip", "+41215550101", dev)
    assert [x["skipped_by"] for x in skipped["devices"] if x["device_id"] == d["id"]] != [""]

    added = cli.json("account", "add", "adm", "--role", "vpbx_admin", "--vpbx", "acme")
    assert added["role"] == "vpbx_admin" and len(added["password"]) == 16
    with transaction(engine) as s:
        before = s.scalars(select(Account).where(Account.username == "adm")).one()
        hash_before, epoch_before = before.password_hash, before.session_epoch
    cli("account", "password", "adm", "--password", "a-long-new-password")
    cli("account", "end-sessions", "adm")
    with transaction(engine) as s:
        after = s.scalars(select(Account).where(Account.username == "adm")).one()
        assert after.password_hash != hash_before and after.session_epoch > epoch_before
    assert [x["number"] for x in cli.json("--as", "adm", "line", "list")] == ["+41215550101", "+41215550102"]

    assert "deleted" in cli("device", "delete", dev).stdout
    assert cli.json("device", "list") == []

    # Bulk work: a CSV checked (dry run: nothing written), imported, exported in the same format.
    csv_file = Path(cli.env["VOIPADMIN_DATA_DIR"]).parent / "devices.csv"
    csv_file.write_text("line,model,mac,label,keys\n+41215550102,yealink-t46u,805EC0010299,Bulk,1:blf:101\n")
    assert cli.json("device", "import", str(csv_file), "--dry-run")["ok"] is True
    assert cli.json("device", "list") == []
    assert cli.json("device", "import", str(csv_file))["created"] == 1
    exported = cli("device", "export", "--vpbx", "acme").stdout.splitlines()
    assert exported[1:] == ["+41215550102,yealink-t46u,805EC0010299,Bulk,,no,,,,,1:blf:101"]
    with transaction(engine) as s:
        actions = set(s.scalars(select(AuditEvent.action)))
    assert {
        "device.add",
        "device.update",
        "device.delete",
        "device.new_key",
        "line.credentials.renew",
        "line.credentials.read",
        "line.block",
        "line.unblock",
        "ban.lift",
        "ban.add",
    } <= actions
    engine.dispose()
