"""What an end user may do for themselves (issue 14 point 1, manual §6): a « Nouveau clé » for a device of their
own line (function keys kept, the old URL stops at once); SIP credentials and the PSTN block stay with the vPBX
administrator and the provider, and the refusal says whom to ask. Through core and the CLI."""

from __future__ import annotations

import json
import subprocess

import pytest
from sqlalchemy import select

from core import accounts, devices, keys, lines
from core.credentials import key_hash
from core.db import transaction
from core.errors import NotFound, PermissionDenied
from core.models import AuditEvent, Device, Line, RetiredKey
from dashboard.error_texts import say
from tests.conftest import run_core

pytestmark = pytest.mark.db


@pytest.fixture
def phones(engine, seed, provider):
    with transaction(engine) as s:
        accounts.add_account(s, provider, "alice", "user", line_number="+41215550101", password="correct horse battery")
        mine = devices.add_device(s, provider, seed.line_a1, "yealink-t46u", mac="805EC0112233", label="Bureau")["id"]
        keys.set_key(s, provider, mine, 1, "line", "1", "Alice")
        keys.set_key(s, provider, mine, 2, "blf", "102", "Bob")
        bobs = devices.add_device(s, provider, seed.line_a2, "snom-d785", mac="000413AABBCC")["id"]
    return {"mine": mine, "bobs": bobs}


def state(engine, device_id):
    with transaction(engine) as s:
        d = s.get(Device, device_id)
        assert d is not None
        return d.access_key, sorted((k.module, k.index, k.function, k.value, k.label) for k in d.keys)


def test_an_end_user_gets_a_new_key_for_their_own_device_keys_kept_old_url_retired(engine, seed, phones):
    old_key, old_keys = state(engine, phones["mine"])
    with transaction(engine) as s:
        view = devices.new_key(s, seed.user_a1, phones["mine"])
    new_key, new_keys = state(engine, phones["mine"])
    assert new_key not in (None, old_key) and new_keys == old_keys and view["url"].endswith(f"/{new_key}.cfg")
    with transaction(engine) as s:
        retired = s.scalar(select(RetiredKey).where(RetiredKey.device_id == phones["mine"]))
        assert retired is not None and retired.key_hash == key_hash(str(old_key))  # its old URL: a 404 from now on
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "device.new_key"))
        assert event is not None and event.actor == "alice" and old_key not in event.detail


def test_another_lines_device_is_the_same_not_found_as_a_missing_one(engine, seed, phones):
    before = state(engine, phones["bobs"])
    for device_id in (phones["bobs"], 9999):
        with pytest.raises(NotFound) as err, transaction(engine) as s:
            devices.new_key(s, seed.user_a1, device_id)
        assert (err.value.code, err.value.field) == ("device_not_found", "device")
    assert state(engine, phones["bobs"]) == before


@pytest.mark.parametrize(
    ("call", "doing"),
    [
        (lambda s, actor, line: lines.line_credentials(s, actor, line), "read_sip_credentials"),
        (lambda s, actor, line: lines.new_sip_credentials(s, actor, line), "change_sip_credentials"),
        (lambda s, actor, line: lines.set_blocked(s, actor, line, True), "block_lines"),
        (lambda s, actor, line: lines.set_blocked(s, actor, line, False), "block_lines"),
    ],
)
def test_sip_credentials_and_the_pstn_block_send_an_end_user_to_their_vpbx_administrator(engine, seed, call, doing):
    with transaction(engine) as s:
        before = s.get(Line, seed.line_a1)
        assert before is not None
        password, blocked = before.sip_password, before.pstn_blocked
    with pytest.raises(PermissionDenied) as err, transaction(engine) as s:
        call(s, seed.user_a1, seed.line_a1)
    assert (err.value.code, err.value.params) == ("ask_vpbx_admin", {"doing": doing})
    assert str(err.value).endswith(": ask your vPBX administrator")
    assert say(err.value.code, err.value.params, "fr").endswith(" : demandez-le à l'administrateur de votre vPBX")
    assert "administrator" in say(err.value.code, err.value.params, "en")
    with transaction(engine) as s:
        after = s.get(Line, seed.line_a1)
        assert after is not None and (after.sip_password, after.pstn_blocked) == (password, blocked)
    with transaction(engine) as s:  # their administrator may
        call(s, seed.admin_a, seed.line_a1)


def test_the_refusal_reads_plainly_in_both_languages():
    params = {"doing": "change_sip_credentials"}
    assert say("ask_vpbx_admin", params, "en") == (
        "only your vPBX administrator (or the provider) may change SIP credentials: ask your vPBX administrator"
    )
    assert say("ask_vpbx_admin", params, "fr") == (
        "seul l'administrateur de votre vPBX (ou l'opérateur) peut changer les identifiants SIP : demandez-le à"
        " l'administrateur de votre vPBX"
    )


@pytest.fixture
def cli(env, phones):
    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        return run_core(env, *args, code=code)

    return run


def test_cli_as_an_end_user_new_key_on_their_line_and_whom_to_ask_for_the_rest(cli, engine, phones):
    old_key, old_keys = state(engine, phones["mine"])
    view = json.loads(cli("--as", "alice", "--json", "device", "new-key", str(phones["mine"])).stdout)
    new_key, new_keys = state(engine, phones["mine"])
    assert new_key != old_key and view["url"].endswith(f"/{new_key}.cfg") and new_keys == old_keys
    other = cli("--as", "alice", "device", "new-key", str(phones["bobs"]), code=2)
    assert other.stderr.strip() == "error: device: no such device"  # as for an id that does not exist
    for args in (("line", "credentials", "+41215550101"), ("line", "new-credentials", "+41215550101"),
                 ("line", "block", "+41215550101"), ("line", "unblock", "+41215550101")):  # fmt: skip
        refused = cli("--as", "alice", *args, code=2)
        assert refused.stderr.startswith("error: only your vPBX administrator (or the provider) may "), args
        assert refused.stderr.strip().endswith(": ask your vPBX administrator"), args
