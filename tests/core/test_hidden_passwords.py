"""Hidden passwords stay hidden (issue 14 point 2; manual §7.4.2/§7.4.4: a generated 40-digit device password is
never disclosed): every path by which an end user reads something of a device, searched for the actual secret
values. Each search is checked against support staff's view first, so it looks for something that is there.

The dashboard's paths (Appareil, Paramètres, Configuration manuelle, URL/QR, Téléphones) are searched in
tests/dashboard/test_self_service.py.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from core import accounts, devices, lines
from core.catalogue import default_catalogue
from core.db import transaction
from core.models import Device
from core.permissions import DEVICE_SECRETS, Actor, hidden_secrets
from core.render import Renderer
from core.render.context import MASK
from core.settings import Settings
from tests.conftest import run_core

pytestmark = pytest.mark.db

PASSWORD = "correct horse battery"


def url_models() -> list[str]:
    """One model of each kind and family that has files of its own (the others render nothing to read)."""
    picked: dict[tuple[str, str], str] = {("desk_phone", "yealink"): "yealink-t46u"}  # the one the CLI tests read
    for m in default_catalogue().models():
        if m.has_url:
            picked.setdefault((m.kind, m.family), m.id)
    return sorted(picked.values())


@dataclass
class Phones:
    ids: dict[str, int]  # model id -> device id, all on line a1 (Alice's), generated device passwords
    secrets: list[str]  # every password those files carry: generated device ones, the SIP passwords


@pytest.fixture
def phones(engine: Engine, seed, provider: Actor) -> Phones:
    catalogue = default_catalogue()
    ids = {}
    with transaction(engine) as s:
        accounts.add_account(s, provider, "alice", "user", line_number="+41215550101", password=PASSWORD)
        for n, model_id in enumerate(url_models()):
            mac = f"0004F2{n:06X}" if "mac" in devices.model_fields(catalogue.get(model_id)) else None  # type: ignore[arg-type]
            ids[model_id] = devices.add_device(s, provider, seed.line_a1, model_id, mac=mac, label=f"n{n}")["id"]
            base = catalogue.get(model_id)
            if base is not None and base.kind == "dect_base":  # a handset on it: its account is in the base's file
                handset = next(m for m in catalogue.models("dect_handset") if model_id in m.compatible_bases)
                devices.add_device(s, provider, seed.line_a1, handset.id, base=ids[model_id], label=f"h{n}")
        secrets = {lines.line_credentials(s, provider, seed.line_a1)["sip_password"]}
        for device_id in ids.values():
            d = s.get(Device, device_id)
            assert d is not None and d.admin_password_generated and len(d.admin_password) == 40
            secrets |= {d.admin_password, d.user_password}
    return Phones(ids, sorted(secrets))


def every_file(engine: Engine, settings: Settings, actor: Actor, device_id: int) -> str:
    """Every file the device is served, as `actor` may read it (core.permissions.hidden_secrets)."""
    renderer = Renderer(settings)
    with transaction(engine) as s:
        d = s.get(Device, device_id)
        assert d is not None
        hidden = hidden_secrets(actor, d)
        return "\n".join(renderer.render(d, name, hidden=hidden).content.decode() for name in renderer.file_names(d))


def test_support_reads_the_secrets_in_the_files_so_the_searches_below_look_for_something_there(
    engine, settings, phones, provider
):
    for model_id, device_id in phones.ids.items():
        files = every_file(engine, settings, provider, device_id)
        assert MASK not in files, model_id
        with transaction(engine) as s:
            d = s.get(Device, device_id)
            assert d is not None
            # Every family writes the SIP password; all but the softphone (no web interface) the admin password.
            carried = [d.line.sip_password] + ([d.admin_password] if model_id != "linphone-ipphone" else [])
        assert all(secret in files for secret in carried), model_id


def test_an_end_user_reads_every_file_of_every_model_without_a_password(engine, settings, phones, seed):
    for model_id, device_id in phones.ids.items():
        files = every_file(engine, settings, seed.user_a1, device_id)
        assert MASK in files, model_id
        assert [secret for secret in phones.secrets if secret in files] == [], model_id


def test_who_sees_which_password_of_a_file(engine, seed, provider):
    with transaction(engine) as s:
        chosen = devices.add_device(s, provider, seed.line_a1, "yealink-t46u", admin_password="4711")["id"]
        d = s.get(Device, chosen)
        assert d is not None
        assert hidden_secrets(provider, d) == frozenset()  # support staff: the file as the phone gets it
        # A vPBX administrator: the SIP password is theirs to hand out, the admin password they chose; not the
        # generated user password.
        assert hidden_secrets(seed.admin_a, d) == {"user_password"}
        assert hidden_secrets(seed.user_a1, d) == set(DEVICE_SECRETS)  # an end user: none at all


@pytest.fixture
def cli(env, engine, phones):
    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        return run_core(env, *args, code=code)

    return run


def test_cli_device_config_as_an_end_user_masks_every_password_and_says_whom_to_ask(cli, phones):
    desk = phones.ids["yealink-t46u"]
    support = cli("device", "config", str(desk))
    assert [secret for secret in phones.secrets if secret in support.stdout]  # the provider's file holds them
    mine = cli("--as", "alice", "device", "config", str(desk))
    assert MASK in mine.stdout and not [secret for secret in phones.secrets if secret in mine.stdout + mine.stderr]
    assert mine.stderr.strip() == (
        f"note: admin_password, sip_password, user_password shown as {MASK}: passwords stay with your vPBX"
        " administrator; ask them"
    )
    # Every file, --file by --file, and the JSON form, of a desk phone, a DECT base with its handset's account and
    # the softphone (every model's files are searched in-process above: each run here is a process start).
    for model_id in ("yealink-t46u", "gigaset-n670", "linphone-ipphone"):
        device_id = phones.ids[model_id]
        names = json.loads(cli("--as", "alice", "--json", "device", "files", str(device_id)).stdout)
        for name in names:
            out = cli("--as", "alice", "--json", "device", "config", str(device_id), "--file", name).stdout
            got = json.loads(out)
            assert got["name"] == name and got["masked"] == ["admin_password", "sip_password", "user_password"]
            assert not [secret for secret in phones.secrets if secret in out], (model_id, name)


def test_cli_views_and_listings_as_an_end_user_hold_no_password(cli, phones, seed):
    outputs = [
        cli("--as", "alice", "--json", "device", "show", str(phones.ids["yealink-t46u"])).stdout,
        cli("--as", "alice", "--json", "device", "list").stdout,
        cli("--as", "alice", "--json", "line", "show", "+41215550101").stdout,
        cli("--as", "alice", "--json", "line", "list").stdout,
        cli("--as", "alice", "--json", "key", "list", str(phones.ids["yealink-t46u"])).stdout,
        cli("--as", "alice", "--json", "device", "diagnose", str(phones.ids["yealink-t46u"])).stdout,
    ]
    for out in outputs:
        json.loads(out)
        assert not [secret for secret in phones.secrets if secret in out], out[:200]
    refused = cli("--as", "alice", "line", "credentials", "+41215550101", code=2)
    assert not [secret for secret in phones.secrets if secret in refused.stdout + refused.stderr]
    assert "ask your vPBX administrator" in refused.stderr
