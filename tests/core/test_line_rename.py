"""A line's display name can be changed (issue 14 point 7): by its vPBX administrator and the provider, not by
the end user (core.permissions.LINE_EDIT_ROLES says why); its length and characters checked; every file
carrying the line's account moves, so phones fetch the new name; audited with before and after."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from core import devices, lines
from core.db import transaction
from core.errors import NotFound, PermissionDenied, ValidationError
from core.models import AuditEvent, Device, Line
from core.render import Renderer

pytestmark = pytest.mark.db


def _revision(engine, device_id):
    with transaction(engine) as s:
        return s.get(Device, device_id).config_revision


def _served(engine, settings, device_id):
    with transaction(engine) as s:
        return Renderer(settings).render(s.get(Device, device_id)).content.decode()


def test_the_vpbx_admin_renames_a_line_and_its_phones_get_the_new_name(engine, settings, provider, seed):
    with transaction(engine) as s:
        desk = devices.add_device(s, provider, seed.line_a1, "yealink-t46u")["id"]
        base = devices.add_device(s, provider, seed.line_a1, "yealink-w70b")["id"]
        handset = devices.add_device(s, provider, seed.line_a1, "yealink-w56h", base=base)["id"]
    before = {d: _revision(engine, d) for d in (desk, base, handset)}
    with transaction(engine) as s:
        view = lines.update_line(s, seed.admin_a, seed.line_a1, display_name="  Alice Martin ")
    assert view["display_name"] == "Alice Martin"  # trimmed
    # Every file carrying the account moves once (the base once, not again for its handset): phones refetch.
    assert {d: _revision(engine, d) - before[d] for d in before} == {desk: 1, base: 1, handset: 1}
    assert "account.1.display_name = Alice Martin" in _served(engine, settings, desk)
    assert "Alice Martin" in _served(engine, settings, base)
    with transaction(engine) as s:
        entry = s.scalars(select(AuditEvent).where(AuditEvent.action == "line.update")).one()
    assert entry.actor == "admin-acme" and entry.target_id == str(seed.line_a1)
    assert json.loads(entry.detail)["display_name"] == {"from": "Alice", "to": "Alice Martin"}


def test_the_same_name_again_moves_nothing_and_records_nothing(engine, provider, seed):
    with transaction(engine) as s:
        desk = devices.add_device(s, provider, seed.line_a1, "yealink-t46u")["id"]
    before = _revision(engine, desk)
    with transaction(engine) as s:
        lines.update_line(s, provider, seed.line_a1, display_name="Alice ")
    assert _revision(engine, desk) == before
    with transaction(engine) as s:
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "line.update")).all() == []


def test_an_empty_name_lets_the_phone_show_the_extension(engine, settings, provider, seed):
    with transaction(engine) as s:
        desk = devices.add_device(s, provider, seed.line_a1, "yealink-t46u")["id"]
        assert lines.update_line(s, provider, seed.line_a1, display_name="")["display_name"] == ""
    assert "account.1.display_name = 101" in _served(engine, settings, desk)


def test_who_may_rename(engine, provider, seed):
    with transaction(engine) as s:
        assert lines.update_line(s, provider, seed.line_b1, display_name="Carol B.")["display_name"] == "Carol B."
        assert lines.update_line(s, seed.admin_a, seed.line_a2, display_name="Bob B.")["display_name"] == "Bob B."
        with pytest.raises(NotFound):  # another vPBX's line: the same answer as a missing one
            lines.update_line(s, seed.admin_a, seed.line_b1, display_name="X")
        with pytest.raises(PermissionDenied) as refused:  # the end user, even on their own line: ask the admin
            lines.update_line(s, seed.user_a1, seed.line_a1, display_name="Direction")
    assert refused.value.code == "role_forbidden"
    with transaction(engine) as s:
        assert s.get(Line, seed.line_a1).display_name == "Alice"


@pytest.mark.parametrize(
    "name, code",
    [
        ("x" * (lines.DISPLAY_MAX + 1), "too_long"),
        ("Alice\nMartin", "control_chars"),
        ("Alice\tMartin", "control_chars"),
        ('Alice "boss"', "display_name_chars"),
        ("Alice <sip:evil@x>", "display_name_chars"),
        ("Alice\\Martin", "display_name_chars"),
    ],
)
def test_bad_names_are_refused_naming_the_field_and_nothing_changes(engine, provider, seed, name, code):
    with pytest.raises(ValidationError) as err, transaction(engine) as s:
        lines.update_line(s, provider, seed.line_a1, display_name=name)
    assert (err.value.code, err.value.field) == (code, "display_name")
    with transaction(engine) as s:
        assert s.get(Line, seed.line_a1).display_name == "Alice"


def test_names_people_have_are_accepted(engine, provider, seed):
    for name in ("Zoé Müller-O'Brien", "Réception & Accueil", "李小龙", "x" * lines.DISPLAY_MAX):
        with transaction(engine) as s:
            assert lines.update_line(s, provider, seed.line_a1, display_name=name)["display_name"] == name


def test_a_refused_extension_keeps_the_name_too(engine, provider, seed):
    with pytest.raises(ValidationError), transaction(engine) as s:
        lines.update_line(s, provider, seed.line_a1, display_name="Alice M.", extension="102")  # Bob's
    with transaction(engine) as s:
        assert s.get(Line, seed.line_a1).display_name == "Alice"


# --- CLI: python -m core line update NUMBER --display-name ... -------------------------------------------------


@pytest.fixture
def cli(env, empty_engine):
    def run(*args, code=0):
        proc = subprocess.run([sys.executable, "-m", "core", *args], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert proc.returncode == code, proc.stderr
        return proc

    run("init")
    run("vpbx", "add", "acme", "--domain", "acme.voip.example")
    run("line", "add", "--vpbx", "acme", "--number", "+41215550101", "--extension", "101", "--name", "Alice")
    run("account", "add", "alice", "--role", "user", "--line", "+41215550101", "--password", "long-enough-pw")
    run("account", "add", "adm", "--role", "vpbx_admin", "--vpbx", "acme", "--password", "long-enough-pw")
    return run


def test_cli_line_update_renames_and_moves_the_phones_file(cli):
    dev = json.loads(cli("--json", "device", "add", "--line", "+41215550101", "--model", "yealink-t46u").stdout)
    out = cli("--as", "adm", "line", "update", "+41215550101", "--display-name", "Alice Martin").stdout
    assert out.strip() == "line +41215550101 (Poste 101): display name 'Alice Martin'"
    shown = json.loads(cli("--json", "device", "show", str(dev["id"])).stdout)
    assert shown["config_revision"] == dev["config_revision"] + 1
    assert "account.1.display_name = Alice Martin" in cli("device", "config", str(dev["id"])).stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--as", "alice", "line", "update", "+41215550101", "--display-name", "Direction"], "may not change lines"),
        (["line", "update", "+41215550101"], "nothing to change: give --display-name, --extension"),
        (["line", "update", "+41215550101", "--display-name", 'A "b"'], "display_name"),
        (["line", "update", "+41215550101", "--display-name", "x" * 65], "at most 64 characters"),
        (["line", "update", "+41219999999", "--display-name", "X"], "no such line"),
    ],
)
def test_cli_line_update_refusals_are_one_line(cli, args, needle):
    proc = cli(*args, code=2)
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr
    shown = json.loads(cli("--json", "line", "show", "+41215550101").stdout)
    assert shown["display_name"] == "Alice"
