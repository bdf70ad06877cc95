"""Provisioning MAC « une fois » on a model without a redirection service says how the factory phone finds its
bootstrap (issue 14 point 7): the DHCP options, as catalogue data per family, filled with our public URL; in the
manual steps, `device show` and the device's view; and what they name is what the endpoint answers."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import yaml

from core import devices
from core.catalogue import DEFAULT_PATH, CatalogueError, default_catalogue, parse_catalogue
from core.db import transaction
from core.dhcp import dhcp_options, needs_dhcp
from core.settings import current_settings

CATALOGUE = default_catalogue()
WITHOUT_REDIRECTION = [m for m in CATALOGUE.models() if needs_dhcp(m)]


def test_the_models_without_a_redirection_service_are_the_ones_told_about_dhcp(settings):
    assert {m.family for m in WITHOUT_REDIRECTION} == {"grandstream", "cisco", "linphone"}
    for model in CATALOGUE.models():
        options = dhcp_options(settings, model)
        if model.redirection or not model.has_url or model.family == "linphone":  # the app has no MAC bootstrap
            assert options == [], model.id
        else:
            assert options and all(o["value"].startswith(f"{settings.public_base}/") for o in options), model.id
            assert all(o["note"]["fr"] and o["note"]["en"] for o in options)


def test_every_family_with_a_bootstrap_says_its_dhcp_options_as_data():
    for family in CATALOGUE.families.values():
        assert bool(family.dhcp) == bool(family.bootstrap), family.id
    assert [o.option for o in CATALOGUE.families["polycom"].dhcp] == [160, 66]  # Poly reads 160 first
    assert [o.option for o in CATALOGUE.families["yealink"].dhcp] == [66]


def test_the_values_are_filled_with_the_public_url_and_the_models_params(settings):
    grp = dhcp_options(settings, CATALOGUE.get("grandstream-grp2614"))
    assert [(o["option"], o["value"]) for o in grp] == [(66, "https://prov.example.net:8448/"),
                                                        (160, "https://prov.example.net:8448/")]  # fmt: skip
    spa = dhcp_options(settings, CATALOGUE.get("cisco-spa504g"))
    assert (spa[1]["option"], spa[1]["value"]) == (159, "https://prov.example.net:8448/spa504G.cfg")
    assert "`spa504G.cfg`" in spa[0]["note"]["en"]


@pytest.fixture
def raw():
    return yaml.safe_load(DEFAULT_PATH.read_text())


@pytest.mark.parametrize(
    "entry, needle",
    [
        ({"option": 300, "value": "{url}"}, "DHCP option number"),
        ({"option": 66}, "'option', 'value'"),
        ({"option": 66, "value": "{url}", "colour": "red"}, "'option', 'value'"),
        ({"option": 66, "value": "{nowhere}"}, "uses {nowhere}"),
        ({"option": 66, "value": "{url}", "note": {"fr": "seulement en français"}}, "fr and en"),
        ({"option": 66, "value": "{url}", "note": {"fr": "{oops}", "en": "{oops}"}}, "uses {oops}"),
    ],
)
def test_a_broken_dhcp_entry_is_reported_by_family_and_field(raw, entry, needle):
    data = copy.deepcopy(raw)
    data["families"]["grandstream"]["dhcp"] = [entry]
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(data)
    assert "family 'grandstream'" in str(err.value) and "dhcp" in str(err.value) and needle in str(err.value)


def test_dhcp_without_a_bootstrap_is_refused(raw):
    data = copy.deepcopy(raw)
    data["families"]["linphone"]["dhcp"] = [{"option": 66, "value": "{url}"}]
    with pytest.raises(CatalogueError, match="must list bootstrap files"):
        parse_catalogue(data)


# --- where it is said --------------------------------------------------------------------------------------------


@pytest.mark.db
@pytest.mark.parametrize("lang, heading", [("fr", "Provisioning MAC « une fois »"), ("en", 'Provisioning MAC "once"')])
def test_the_manual_steps_say_the_dhcp_options_for_a_model_without_redirection(engine, provider, seed, lang, heading):
    with transaction(engine) as s:
        grp = devices.add_device(s, provider, seed.line_a1, "grandstream-grp2614", mac="C074ADAABB04",
                                 provisioning_mac="once")["id"]  # fmt: skip
        yea = devices.add_device(s, provider, seed.line_a1, "yealink-t46u", provisioning_mac="no")["id"]
        steps = devices.manual_steps(s, provider, grp, lang)
        other = devices.manual_steps(s, provider, yea, lang)
    base = f"{current_settings().public_base}/"
    assert heading in steps and f"**Option 66**{' :' if lang == 'fr' else ':'} `{base}`" in steps
    assert "`cfg<mac>.xml`" in steps and "**Option 160**" in steps
    assert "Option 66" not in other  # Yealink: its redirection service (RPS) sends the phone here


@pytest.mark.db
def test_the_manual_steps_ask_for_the_mac_first_when_it_is_missing(engine, provider, seed):
    with transaction(engine) as s:
        d = devices.add_device(s, provider, seed.line_a1, "cisco-spa112", provisioning_mac="no")["id"]
        steps = devices.manual_steps(s, provider, d, "en")
    assert "and the device's MAC entered in the AdminCenter" in steps and "**Option 159**" in steps


@pytest.mark.db
def test_get_device_carries_the_options_for_its_views(engine, provider, seed):
    with transaction(engine) as s:
        grp = devices.add_device(s, provider, seed.line_a1, "grandstream-ht801", mac="C074ADAABB09")["id"]
        snom = devices.add_device(s, provider, seed.line_a1, "snom-d785", mac="000413AABB09")["id"]
        shown, other = devices.get_device(s, seed.admin_a, grp), devices.get_device(s, seed.admin_a, snom)
    assert [o["option"] for o in shown["bootstrap_dhcp"]] == [66, 160] and other["bootstrap_dhcp"] == []


# --- CLI: device show ----------------------------------------------------------------------------------------------


@pytest.mark.db
def test_device_show_says_the_dhcp_options_while_provisioning_mac_is_once(env, empty_engine):
    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "core", *args], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    cli("init")
    cli("vpbx", "add", "acme", "--domain", "acme.voip.example")
    cli("line", "add", "--vpbx", "acme", "--number", "+41215550101")
    d = json.loads(cli("--json", "device", "add", "--line", "+41215550101", "--model", "grandstream-grp2614",
                       "--mac", "C0:74:AD:AA:BB:04", "--provisioning-mac", "once"))  # fmt: skip
    text = cli("device", "show", str(d["id"]))
    assert "no redirection service: a factory phone finds its bootstrap through DHCP, set" in text
    assert f"option 66: {env['VOIPADMIN_PUBLIC_URL']}/  (Factory setting" in text
    assert [o["option"] for o in json.loads(cli("--json", "device", "show", str(d["id"])))["bootstrap_dhcp"]] == [
        66,
        160,
    ]
    cli("device", "set", str(d["id"]), "--provisioning-mac", "no")
    assert "DHCP" not in cli("device", "show", str(d["id"]))  # nothing to bootstrap: nothing to say
