"""Téléphones and Touches forms lose no input (issue 10 point 3): the module is saved, the add form
starts empty after a success, hidden fields are neither drawn nor sent, the module count follows the
module, unsaved edits are shown, and the key grid refuses (never drops) a label without a type."""

from __future__ import annotations

from sqlalchemy import select

from core import devices, keys
from core.catalogue import default_catalogue
from core.db import transaction
from core.models import Device
from core.permissions import system_actor


def widget_keys(at) -> set[str]:
    kinds = ("text_input", "selectbox", "number_input", "checkbox")
    return {w.key for kind in kinds for w in getattr(at, kind) if w.key}


def phones(app, world, **query):
    return app(world.admin_a_id, "pages/phones.py", line=str(world.seed.line_a2), **query)


def pick_model(at, kind: str, model: str) -> None:
    at.selectbox(key="add_kind").set_value(kind).run()
    at.selectbox(key="add_model").set_value(model).run()


def save_new(at) -> None:
    at.button(key="add_save").click().run()
    assert not at.exception


def test_a_desk_phone_added_with_its_module_keeps_it(app, world, engine):
    at = phones(app, world)
    pick_model(at, "desk_phone", "yealink-t46u")
    at.text_input(key="add_0_mac").input("805EC0000051")
    at.selectbox(key="add_0_exp").set_value("yealink-exp43").run()
    count = at.number_input(key="add_0_exp_n_yealink-exp43")
    assert count.value == 1  # a chosen module counts at least one
    count.set_value(2).run()
    save_new(at)
    assert "Saved." in [s.value for s in at.success]
    with transaction(engine) as s:
        d = s.scalar(select(Device).where(Device.mac == "805EC0000051"))
        assert (d.expansion_model_id, d.expansion_count) == ("yealink-exp43", 2)


def test_module_count_follows_the_chosen_module(app, world):
    at = phones(app, world)
    pick_model(at, "desk_phone", "yealink-t46s")  # takes the EXP40, up to 6 of them
    assert not [n for n in at.number_input if n.key and n.key.startswith("add_0_exp_n")]  # no module: no count
    at.selectbox(key="add_0_exp").set_value("yealink-exp40").run()
    assert at.number_input(key="add_0_exp_n_yealink-exp40").proto.max == 6
    pick_model(at, "desk_phone", "yealink-t46u")  # takes the EXP43, up to 3
    at.selectbox(key="add_0_exp").set_value("yealink-exp43").run()
    n = at.number_input(key="add_0_exp_n_yealink-exp43")
    assert (n.proto.min, n.proto.max) == (1, default_catalogue().get("yealink-exp43").max_modules) == (1, 3)


def test_the_add_form_starts_empty_after_a_success(app, world, engine):
    at = phones(app, world)
    pick_model(at, "desk_phone", "snom-d785")
    at.text_input(key="add_0_mac").input("000413000061")
    at.text_input(key="add_0_label").input("Accueil")
    save_new(at)
    assert "add_0_mac" not in widget_keys(at)
    assert (at.text_input(key="add_1_mac").value, at.text_input(key="add_1_label").value) == ("", "")
    assert at.selectbox(key="add_model").value == "snom-d785"  # the model stays for the next phone
    at.text_input(key="add_1_mac").input("000413000062")
    save_new(at)  # failed before: the previous MAC was still in the form ("belongs to another device")
    assert not at.error
    with transaction(engine) as s:
        macs = set(s.scalars(select(Device.mac).where(Device.line_id == world.seed.line_a2)))
    assert {"000413000061", "000413000062"} <= macs


def test_fields_the_model_does_not_take_are_neither_drawn_nor_sent(app, world, engine):
    at = phones(app, world)
    pick_model(at, "desk_phone", "snom-d785")
    at.text_input(key="add_0_mac").input("000413000071")  # typed for a desk phone...
    pick_model(at, "softphone", "linphone-ipphone")  # ...then the user picks a softphone
    assert {"add_0_mac", "add_0_pm", "add_0_exp"}.isdisjoint(widget_keys(at))
    at.text_input(key="add_0_label").input("Mobile Bob")
    save_new(at)  # core refuses a softphone's MAC: a sent MAC would show an error here
    assert not at.error
    with transaction(engine) as s:
        soft = s.scalar(select(Device).where(Device.label == "Mobile Bob"))
        assert soft is not None and soft.mac is None
        web = devices.add_device(s, system_actor("t"), world.seed.line_a2, "webphone", label="Web Bob")
    at = phones(app, world)
    edit = f"edit{web['id']}_0"
    assert {k for k in widget_keys(at) if k.startswith(edit)} == {f"{edit}_label"}  # no passwords, no MAC
    soft_keys = {k for k in widget_keys(at) if k.startswith(f"edit{soft.id}_0")}
    assert f"edit{soft.id}_0_admin_password" in soft_keys and f"edit{soft.id}_0_mac" not in soft_keys


def test_edit_form_shows_unsaved_changes_and_starts_clean_after_saving(app, world, engine, shown):
    at = app(world.alice_id, "pages/phones.py")
    key = f"edit{world.desk_a1}_0"
    assert "Unsaved changes." not in shown(at)
    at.text_input(key=f"{key}_label").input("Bureau 3").run()
    at.checkbox(key=f"{key}_user_password_gen").check().run()
    assert "Unsaved changes." in shown(at)
    at.button(key=f"{key}_save").click().run()
    assert not at.exception and "Unsaved changes." not in shown(at)
    after = f"edit{world.desk_a1}_1"
    assert at.checkbox(key=f"{after}_user_password_gen").value is False  # a second save would not regenerate
    assert at.text_input(key=f"{after}_label").value == "Bureau 3"
    with transaction(engine) as s:
        assert s.get(Device, world.desk_a1).label == "Bureau 3"


def test_removing_the_module_warns_that_its_keys_go(app, world):
    at = app(world.alice_id, "pages/phones.py")
    at.selectbox(key=f"edit{world.desk_a1}_0_exp").set_value("").run()
    assert any("removed modules are deleted" in w.value for w in at.warning)


def key_rows(engine, device_id):
    with transaction(engine) as s:
        return {(k["module"], k["index"]): (k["type"], k["value"], k["label"])
                for k in keys.list_keys(s, system_actor("t"), device_id)}  # fmt: skip


def test_key_grid_refuses_a_label_without_a_type_and_keeps_it(app, world, engine, shown):
    before = key_rows(engine, world.desk_a1)
    at = app(world.alice_id, "pages/keys.py", device=str(world.desk_a1))
    editor = f"keys_{world.desk_a1}_0_0"
    at.session_state[editor] = {"edited_rows": {4: {"label": "Réception"}, 6: {"value": "104"}},
                                "added_rows": [], "deleted_rows": []}  # fmt: skip
    at.run()
    assert "Keys changed, not saved yet: 2" in shown(at)
    at.button(key=f"save_keys_{world.desk_a1}_0").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors == ["Key 5: choose a key type, or clear its value and label",
                      "Key 7: choose a key type, or clear its value and label"]  # fmt: skip
    assert key_rows(engine, world.desk_a1) == before  # nothing saved, nothing dropped
    assert at.session_state[editor]["edited_rows"][4] == {"label": "Réception"}  # still in the grid


def test_switching_device_with_unsaved_keys_asks_first(app, world, engine, shown):
    with transaction(engine) as s:
        other = devices.add_device(s, system_actor("t"), world.seed.line_a1, "snom-d785", label="Second")["id"]
    at = app(world.alice_id, "pages/keys.py", device=str(world.desk_a1))
    editor = f"keys_{world.desk_a1}_0_0"
    at.session_state[editor] = {"edited_rows": {2: {"type": "speed_dial", "value": "*97"}},
                                "added_rows": [], "deleted_rows": []}  # fmt: skip
    at.run()
    at.selectbox(key="keys_device").set_value(other).run()
    assert at.selectbox(key="keys_device").value == world.desk_a1  # stays until the user decides
    assert any("1 key(s) changed, not saved" in w.value for w in at.warning)
    assert at.session_state[editor]["edited_rows"] == {2: {"type": "speed_dial", "value": "*97"}}
    at.button(key="keys_keep").click().run()
    assert at.selectbox(key="keys_device").value == world.desk_a1 and not at.warning
    at.selectbox(key="keys_device").set_value(other).run()
    at.button(key="keys_discard").click().run()
    assert not at.exception
    assert at.selectbox(key="keys_device").value == other
    assert "Keys of Snom D785 — Second" in shown(at) and not at.warning
    assert (0, 3) not in key_rows(engine, world.desk_a1)  # the discarded edit was never saved


def test_switching_line_with_unsaved_keys_is_held_until_they_are_saved_or_discarded(app, world, engine):
    at = app(world.admin_a_id, "pages/keys.py", device=str(world.desk_a1), line=str(world.seed.line_a1))
    editor = f"keys_{world.desk_a1}_0_0"
    at.session_state[editor] = {"edited_rows": {2: {"type": "speed_dial", "value": "*97"}},
                                "added_rows": [], "deleted_rows": []}  # fmt: skip
    at.run()
    at.text_input(key="line_pick_q").input("+41").run()
    hits = [b for b in at.button if (b.key or "").startswith("line_pick_hit_")]
    assert len(hits) >= 2 and all(b.disabled for b in hits)  # no other line while the edits wait
    assert any("Save or discard the 1 changed key(s)" in c.value for c in at.caption)
    assert at.session_state[editor]["edited_rows"] == {2: {"type": "speed_dial", "value": "*97"}}
    at.session_state[editor] = {"edited_rows": {}, "added_rows": [], "deleted_rows": []}  # discarded
    at.run()
    hits = {b.key: b for b in at.button if (b.key or "").startswith("line_pick_hit_")}
    assert not hits[f"line_pick_hit_{world.seed.line_a2}"].disabled
