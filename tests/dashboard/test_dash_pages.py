"""AppTest over the real app.py: every page for every role, rights seen from the UI, and the page actions."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core import devices, keys
from core.db import transaction
from core.models import Device
from core.permissions import system_actor

PAGES = ["pages/home.py", "pages/phones.py", "pages/keys.py", "pages/status.py"]
ROLES = ["provider_id", "admin_a_id", "alice_id"]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", [*PAGES, "pages/fraud.py"])
def test_every_page_runs_for_every_role(app, world, role, page):
    at = app(getattr(world, role))
    if page == "pages/fraud.py" and role == "alice_id":
        with pytest.raises(ValueError, match="Could not find"):  # not in a user's navigation at all
            at.switch_page(page)
        return
    at.switch_page(page).run()
    assert not at.exception
    assert at.title[0].value in ("Overview", "Phones", "Keys", "Status", "Fraud")


def test_anonymous_sees_the_login_prompt_only(app, world, shown):
    at = app(None)
    text = shown(at)
    assert "Log in to use the AdminCenter." in text
    for secret in ("Bureau Alice", "805EC0112233", "+41215550101", "Carol"):
        assert secret not in text
    with pytest.raises(ValueError):
        at.switch_page("pages/phones.py")


@pytest.mark.parametrize(
    "page", ["pages/home.py", "pages/phones.py", "pages/keys.py", "pages/status.py", "pages/fraud.py"]
)
def test_page_file_run_directly_without_login_shows_nothing(world, page, shown):
    """What Streamlit's pages/ auto-discovery would serve by URL before app.py ever ran."""
    at = AppTest.from_file(f"../../{page}", default_timeout=60)
    at.query_params["line"] = str(world.seed.line_a1)
    at.query_params["device"] = str(world.desk_a1)
    at.run()
    assert not at.exception
    text = shown(at)
    assert "Connectez-vous" in text
    assert "Bureau Alice" not in text and "805EC0112233" not in text and "+4121555" not in text
    assert not at.dataframe and not at.selectbox and not at.text_input


def test_user_sees_only_their_line(app, world, shown):
    at = app(world.alice_id, "pages/phones.py")
    text = shown(at)
    assert "Bureau Alice" in text and "805EC0112233" in text
    assert "Bureau Bob" not in text and "Carol" not in text and "000413AABBCC" not in text


def test_user_asking_another_lines_device_by_url_sees_nothing_of_it(app, world, shown):
    at = app(world.alice_id, "pages/keys.py", device=str(world.desk_a2), line=str(world.seed.line_a2))
    text = shown(at)
    assert "No such device." in text
    assert "Bureau Bob" not in text and "Snom" not in text and "000413AABBCC" not in text
    assert "+41215550102" not in text  # Bob's line is not offered either
    at = app(world.alice_id, "pages/phones.py", line=str(world.seed.line_b1))
    assert "Carol" not in shown(at) and "+41225550201" not in shown(at)


def test_vpbx_admin_sees_its_vpbx_only(app, world, shown):
    at = app(world.admin_a_id, "pages/phones.py")
    at.text_input(key="line_pick_q").input("+41").run()  # the line picker is a search (a number prefix)
    options = "\n".join(b.label for b in at.button if (b.key or "").startswith("line_pick_hit_"))
    assert "+41215550101" in options and "+41215550102" in options and "+41225550201" not in options
    at = app(world.admin_a_id, "pages/fraud.py")
    assert "Carol" not in shown(at)


def test_add_device_from_the_catalogue(app, world, engine):
    at = app(world.admin_a_id, "pages/phones.py", line=str(world.seed.line_a2))
    at.selectbox(key="add_kind").set_value("desk_phone").run()
    at.selectbox(key="add_model").set_value("yealink-t46u").run()
    at.text_input(key="add_0_mac").input("80:5e:c0:00:00:42")
    at.text_input(key="add_0_label").input("Salle de conférence")
    button(at, "+ Save").click().run()
    assert not at.exception
    assert "Saved." in [s.value for s in at.success]
    with transaction(engine) as s:
        added = s.scalar(select(Device).where(Device.mac == "805EC0000042"))
        assert added is not None and added.line_id == world.seed.line_a2 and added.label == "Salle de conférence"


def test_core_refusal_is_shown_next_to_its_field(app, world, engine):
    at = app(world.alice_id, "pages/phones.py")
    at.selectbox(key="add_kind").set_value("desk_phone").run()
    at.text_input(key="add_0_mac").input("not-a-mac")
    button(at, "+ Save").click().run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "MAC" in errors[0].upper()
    with transaction(engine) as s:
        assert len(devices.list_devices(s, system_actor("t"), world.seed.line_a1)) == 2


def test_edit_device_regenerates_password_without_showing_it(app, world, engine, shown):
    with transaction(engine) as s:
        before = s.get(Device, world.desk_a1).admin_password
    at = app(world.alice_id, "pages/phones.py")
    key = f"edit{world.desk_a1}_0"  # _0: the form's first version (new keys after each save)
    at.checkbox(key=f"{key}_admin_password_gen").check()
    at.text_input(key=f"{key}_label").input("Bureau 2")
    at.button(key=f"{key}_save").click().run()
    assert not at.exception
    with transaction(engine) as s:
        device = s.get(Device, world.desk_a1)
        assert device.label == "Bureau 2" and device.admin_password != before
        assert device.admin_password not in shown(at)


def test_delete_asks_for_confirmation_and_reminds_factory_reset(app, world, engine):
    at = app(world.admin_a_id, "pages/phones.py", line=str(world.seed.line_a2))
    at.button(key=f"del_{world.desk_a2}").click().run()
    assert any("factory-reset" in w.value for w in at.warning)
    with transaction(engine) as s:
        assert s.get(Device, world.desk_a2) is not None  # nothing happens before the confirmation
    at.button(key="delete_confirm").click().run()
    assert not at.exception
    with transaction(engine) as s:
        assert s.get(Device, world.desk_a2) is None


def test_setup_dialog_shows_url_qr_and_pending_steps(app, world, engine):
    at = app(world.alice_id, "pages/phones.py")
    at.button(key=f"setup_{world.soft_a1}").click().run()
    with transaction(engine) as s:
        url = devices.get_device(s, system_actor("t"), world.soft_a1)["url"]
    assert url in [c.value for c in at.code]
    assert len(at.image) == 1  # the QR code
    assert any(url in m.value for m in at.markdown)  # the family's manual steps, with the device's own URL


def test_keys_table_saves_and_reports_bad_rows(app, world, engine):
    at = app(world.alice_id, "pages/keys.py", device=str(world.desk_a1))
    editor = f"keys_{world.desk_a1}_0_0"
    assert at.data_editor[0].value.loc[1, "type"] == "blf"
    at.session_state[editor] = {"edited_rows": {2: {"type": "speed_dial", "value": "*97", "label": "VM"}},
                                "added_rows": [], "deleted_rows": []}  # fmt: skip
    at.run()
    at.button(key=f"save_keys_{world.desk_a1}_0").click().run()
    assert not at.exception
    with transaction(engine) as s:
        stored = {(k["index"], k["type"], k["value"]) for k in keys.list_keys(s, system_actor("t"), world.desk_a1)}
    assert (3, "speed_dial", "*97") in stored
    at.session_state[f"keys_{world.desk_a1}_0_1"] = {"edited_rows": {3: {"type": "blf", "value": "abc"}},
                                                     "added_rows": [], "deleted_rows": []}  # fmt: skip
    at.run()
    at.button(key=f"save_keys_{world.desk_a1}_0").click().run()
    assert any(e.value.startswith("Key 4:") for e in at.error)
    with transaction(engine) as s:
        assert all(k["index"] != 4 for k in keys.list_keys(s, system_actor("t"), world.desk_a1))


def test_keys_offer_only_the_models_functions_one_tab_per_module(app, world):
    at = app(world.alice_id, "pages/keys.py", device=str(world.desk_a1))
    assert [t.label for t in at.tabs] == ["Yealink T46U", "Yealink EXP43 #1"]


def test_status_page_degrades_without_registrar(app, world, shown):
    at = app(world.alice_id, "pages/status.py")
    assert "registrar is not running" in shown(at)
    assert not [b for b in at.button if b.label in ("Reboot", "Resync")]  # not offered, and it says why


def test_french_is_the_manuals_wording(app, world, shown):
    at = app(world.alice_id, "pages/phones.py", lang="fr")
    text = shown(at)
    for term in ("Téléphones", "Actualiser", "Configuration manuelle", "Supprimer", "Dernier accès"):
        assert term in text


def test_overview_shows_the_certificate_fingerprint_to_admins(app, world, settings):
    from core.tls import ensure_certificate, fingerprint

    assert "has not created its certificate" in " ".join(i.value for i in app(world.provider_id).info)
    ensure_certificate(settings)
    digest = fingerprint(settings)
    assert digest and len(digest) == 95
    assert digest in [c.value for c in app(world.admin_a_id).code]
    assert digest not in [c.value for c in app(world.alice_id).code]
