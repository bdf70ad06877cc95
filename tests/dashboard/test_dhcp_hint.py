"""Where the agent sets Provisioning MAC « une fois » on a model without a redirection service, the DHCP options
that lead the factory phone to its bootstrap are said (issue 14 point 7): Téléphones' add and edit forms, and
the Appareil view."""

from __future__ import annotations

from core import devices
from core.db import transaction
from core.permissions import system_actor
from core.settings import current_settings


def dhcp_notes(at) -> list[str]:
    return [i.value for i in at.info if "DHCP" in i.value]


def test_the_add_form_says_the_options_once_chosen_for_a_model_without_redirection(app, world):
    at = app(world.admin_a_id, "pages/phones.py", lang="fr", line=str(world.seed.line_a2))
    at.selectbox(key="add_kind").set_value("ata").run()
    at.selectbox(key="add_model").set_value("grandstream-ht801").run()
    assert dhcp_notes(at) == []  # Provisioning MAC « non »: nothing to bootstrap
    at.selectbox(key="add_0_pm").set_value("once").run()
    (note,) = dhcp_notes(at)
    base = f"{current_settings().public_base}/"
    assert note.startswith("Ce modèle n'a pas de service de redirection du fabricant")
    assert f"- Option DHCP 66 : `{base}` — Réglage d'usine" in note and f"- Option DHCP 160 : `{base}`" in note
    at.selectbox(key="add_kind").set_value("desk_phone").run()
    at.selectbox(key="add_model").set_value("yealink-t46u").run()
    at.selectbox(key="add_0_pm").set_value("once").run()
    assert dhcp_notes(at) == []  # Yealink's redirection service sends the phone to us


def test_the_edit_form_says_them_when_once_is_chosen(app, world, engine):
    with transaction(engine) as s:
        d = devices.add_device(s, system_actor("t"), world.seed.line_a2, "cisco-spa112", mac="88755AAABB07")["id"]
    at = app(world.admin_a_id, "pages/phones.py", lang="en", line=str(world.seed.line_a2))
    assert dhcp_notes(at) == []
    pm = next(w for w in at.selectbox if w.key and w.key.startswith(f"edit{d}_") and w.key.endswith("_pm"))
    pm.set_value("once").run()
    (note,) = dhcp_notes(at)
    assert "- DHCP option 160:" in note and "spa112.cfg" in note and "- DHCP option 159:" in note


def test_the_device_view_says_them_while_provisioning_mac_is_once(app, world, engine):
    with transaction(engine) as s:
        d = devices.add_device(s, system_actor("t"), world.seed.line_a1, "grandstream-grp2614", mac="C074ADAABB05",
                               provisioning_mac="once")["id"]  # fmt: skip
    at = app(world.alice_id, "pages/device.py", lang="en", device=str(d))
    (note,) = dhcp_notes(at)
    assert note.startswith('This model has no manufacturer redirection service: with Provisioning MAC "once"')
    at = app(world.alice_id, "pages/device.py", lang="en", device=str(world.desk_a1))  # Yealink, « non »
    assert dhcp_notes(at) == []
