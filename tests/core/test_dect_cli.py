"""DECT across lines through `python -m core` (issue 14 point 3): `device bases`, `device add/set --base`,
`device show` and `line show` naming a handset's base and a base's handsets with their lines."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import run_core

pytestmark = pytest.mark.db

HALL, BOB = "+41215550101", "+41215550102"


@pytest.fixture
def cli(env, empty_engine):
    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return run_core(env, *args, code=0 if ok else None)

    run("init")
    run("vpbx", "add", "acme", "--domain", "acme.voip.example")
    run("vpbx", "add", "globex", "--domain", "globex.voip.example")
    run("line", "add", "--vpbx", "acme", "--number", HALL, "--extension", "101", "--name", "Hall")
    run("line", "add", "--vpbx", "acme", "--number", BOB, "--extension", "102", "--name", "Bob")
    run("line", "add", "--vpbx", "globex", "--number", "+41225550201", "--extension", "201")
    return run


def _json(proc: subprocess.CompletedProcess[str]) -> object:
    return json.loads(proc.stdout)


def _add(cli, line: str, model: str, *more: str) -> dict:
    return _json(cli("--json", "device", "add", "--line", line, "--model", model, *more))  # type: ignore[return-value]


def test_a_handset_on_a_base_of_another_line_through_the_cli(cli):
    base = _add(cli, HALL, "yealink-w70b", "--mac", "805EC0000B01", "--label", "Entrance")
    listed = _json(cli("--json", "device", "bases", "--line", BOB, "--model", "yealink-w56h"))
    assert [(b["id"], b["line"], b["mac"], b["free"]) for b in listed] == [(base["id"], HALL, "805EC0000B01", 10)]
    text = cli("device", "bases", "--line", BOB, "--model", "yealink-w56h").stdout
    assert f'{base["id"]} Yealink W70B "Entrance" MAC 805EC0000B01 on line {HALL} (101)' in text
    assert "free slots: 10" in text

    h = _add(cli, BOB, "yealink-w56h", "--base", str(base["id"]), "--label", "Bob's handset")
    assert h["base"]["line"] == HALL and h["base"]["label"] == "Entrance"
    shown = _json(cli("--json", "device", "show", str(base["id"])))
    assert [(x["id"], x["line"], x["display_name"]) for x in shown["handset_details"]] == [(h["id"], BOB, "Bob")]
    text = cli("device", "show", str(base["id"])).stdout
    assert "handsets (1/10):" in text and f'"Bob\'s handset" MAC - on line {BOB} (102)' in text
    assert f"base station: {base['id']} Yealink W70B" in cli("device", "show", str(h["id"])).stdout
    bob = _json(cli("--json", "line", "show", BOB))
    assert [(d["id"], d["base"]["id"], d["base"]["line"]) for d in bob["devices"]] == [(h["id"], base["id"], HALL)]
    hall = _json(cli("--json", "line", "show", HALL))
    assert hall["devices"][0]["handset_details"][0]["line"] == BOB

    config = cli("device", "config", str(base["id"])).stdout  # both lines' accounts: the base's own has none here
    assert "account.1.user_name = 41215550102" in config and "41215550101" not in config.split("## Web access")[0]

    other = _add(cli, HALL, "yealink-w80", "--label", "Upstairs")
    revisions = (base["config_revision"], other["config_revision"])
    moved = _json(cli("--json", "device", "set", str(h["id"]), "--base", str(other["id"])))
    assert moved["base"]["id"] == other["id"]
    after = [_json(cli("--json", "device", "show", str(b)))["config_revision"] for b in (base["id"], other["id"])]
    assert after[0] > revisions[0] and after[1] > revisions[1]
    refused = cli("device", "delete", str(other["id"]), ok=False)
    assert refused.returncode != 0 and "handsets first" in refused.stderr


def test_a_base_of_another_vpbx_is_refused_without_naming_it(cli):
    theirs = _add(cli, "+41225550201", "yealink-w70b", "--mac", "805EC0000B02", "--label", "Globex HQ")
    refused = cli("device", "add", "--line", BOB, "--model", "yealink-w56h", "--base", str(theirs["id"]), ok=False)
    assert refused.returncode != 0
    assert f"no base station {theirs['id']} among this vPBX's devices" in refused.stderr
    assert "Globex" not in refused.stderr and "805EC0000B02" not in refused.stderr
    assert _json(cli("--json", "device", "bases", "--line", BOB, "--model", "yealink-w56h")) == []
    assert _json(cli("--json", "device", "list", "--line", BOB)) == []
