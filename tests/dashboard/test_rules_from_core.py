"""Issue 15.1: the dashboard asks core instead of restating it: roles per page (core.permissions),
the Provisioning MAC states a form offers (core.credentials) and the label limits (core.devices,
core.keys). Each test reads the answer from core, so a copy that drifts fails here."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from core import devices, fraud, keys
from core.catalogue import DEVICE_KINDS
from core.credentials import CHOSEN_PROVISIONING_MAC, ProvisioningMac
from core.db import transaction
from core.models import Device
from core.permissions import CERTIFICATE_ROLES, FRAUD_ROLES, ROLES, Actor
from core.rollup import DOWNLOAD, PROBE, SIP_FAILED
from core.tls import ensure_certificate
from dashboard.i18n import TEXTS

ACCOUNT_OF_ROLE = {"provider": "provider_id", "vpbx_admin": "admin_a_id", "user": "alice_id"}


def test_every_role_of_core_has_an_account_here():
    assert set(ACCOUNT_OF_ROLE) == set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_the_fraud_page_is_offered_to_the_roles_core_names(app, world, role):
    at = app(getattr(world, ACCOUNT_OF_ROLE[role]))
    if role in FRAUD_ROLES:
        at.switch_page("pages/fraud.py").run()
        assert not at.exception and at.title[0].value == "Fraud"
    else:
        with pytest.raises(ValueError, match="Could not find"):  # not in this role's navigation at all
            at.switch_page("pages/fraud.py")


@pytest.mark.parametrize("role", ROLES)
def test_the_certificate_is_shown_to_the_roles_core_names(app, world, settings, role):
    ensure_certificate(settings)
    at = app(getattr(world, ACCOUNT_OF_ROLE[role]))
    assert (TEXTS["en"]["cert_fingerprint"] in [c.value for c in at.caption]) == (role in CERTIFICATE_ROLES)


def _labels(states) -> list[str]:
    return [TEXTS["en"][f"pm_{state.value}"] for state in states]


def test_every_state_has_a_label_in_each_language():
    for texts in TEXTS.values():
        assert all(f"pm_{state.value}" in texts for state in ProvisioningMac)


def test_the_add_form_offers_the_chosen_states(app, world):
    at = app(world.admin_a_id, "pages/phones.py", line=str(world.seed.line_a2))
    at.selectbox(key="add_kind").set_value("desk_phone").run()
    at.selectbox(key="add_model").set_value("yealink-t46u").run()
    assert list(at.selectbox(key="add_0_pm").options) == _labels(CHOSEN_PROVISIONING_MAC)


def test_the_edit_form_offers_the_chosen_states_until_done(app, world, engine):
    key = f"edit{world.desk_a1}_0"
    at = app(world.alice_id, "pages/phones.py")
    assert list(at.selectbox(key=f"{key}_pm").options) == _labels(CHOSEN_PROVISIONING_MAC)
    with transaction(engine) as s:
        s.execute(update(Device).where(Device.id == world.desk_a1).values(provisioning_mac=ProvisioningMac.DONE))
    at = app(world.alice_id, "pages/phones.py")
    assert f"{key}_pm" not in {w.key for w in at.selectbox}  # done is the first fetch's: nothing to choose
    assert f"{TEXTS['en']['provisioning_mac']}: {TEXTS['en']['pm_done']}" in [c.value for c in at.caption]


@pytest.mark.parametrize("role", FRAUD_ROLES)
def test_the_fraud_charts_are_the_kinds_core_shows_the_role(app, world, role):
    at = app(getattr(world, ACCOUNT_OF_ROLE[role]), "pages/fraud.py")
    titles = {TEXTS["en"][label] for label in ("downloads", "probes", "sip_failures")} & {h.value for h in at.subheader}
    kind_titles = {DOWNLOAD: "downloads", PROBE: "probes", SIP_FAILED: "sip_failures"}
    expected = {TEXTS["en"][kind_titles[kind]] for kind in fraud.visible_kinds(Actor("t", role))}
    assert titles == expected and (TEXTS["en"]["probes"] in titles) == (role == "provider")


def test_a_device_label_is_refused_past_core_limit_with_that_limit(app, world, engine):
    """No limit of the form's own (a paste cut short would be a silent loss): core refuses, saying its limit."""
    key = f"edit{world.desk_a1}_0"
    at = app(world.alice_id, "pages/phones.py")
    at.text_input(key=f"{key}_label").input("d" * (devices.DEVICE_LABEL_MAX + 1))
    at.button(key=f"{key}_save").click().run()
    assert any(str(devices.DEVICE_LABEL_MAX) in e.value for e in at.error), [e.value for e in at.error]
    at.text_input(key=f"{key}_label").input("d" * devices.DEVICE_LABEL_MAX)
    at.button(key=f"{key}_save").click().run()
    with transaction(engine) as s:
        assert s.get(Device, world.desk_a1).label == "d" * devices.DEVICE_LABEL_MAX


def test_the_key_grid_caps_a_key_label_at_core_limit(app, world):
    at = app(world.alice_id, "pages/keys.py", device=str(world.desk_a1))
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["label"]["type_config"]["max_chars"] == keys.KEY_LABEL_MAX, columns


def test_the_add_form_offers_the_kinds_core_adds(app, world):
    at = app(world.admin_a_id, "pages/phones.py", line=str(world.seed.line_a2))
    assert list(at.selectbox(key="add_kind").options) == [TEXTS["en"][f"kind_{kind}"] for kind in DEVICE_KINDS]
