"""Touches (issue 14 point 4): keys from the vPBX offered as a searchable list with free entry and a warning
for an extension the vPBX lacks, the voicemail default shown, and saving one tab never losing another's edits."""

from __future__ import annotations

from core import keys
from core.db import transaction
from core.permissions import system_actor


def stored(engine, device_id):
    with transaction(engine) as s:
        return {(k["module"], k["index"]): (k["type"], k["value"]) for k in keys.list_keys(s, system_actor("t"),
                                                                                            device_id)}  # fmt: skip


def edits(rows):
    return {"edited_rows": rows, "added_rows": [], "deleted_rows": []}


def test_saving_one_tab_keeps_what_was_typed_in_another(app, world, engine, shown):
    d = world.desk_a1
    at = app(world.alice_id, "pages/keys.py", device=str(d))
    at.session_state[f"keys_{d}_0_0"] = edits({2: {"type": "speed_dial", "value": "*97"}})
    at.session_state[f"keys_{d}_1_0"] = edits({0: {"type": "blf", "value": "101", "label": "Alice"}})
    at.run()
    at.button(key=f"save_keys_{d}_0").click().run()  # the phone's tab only
    assert not at.exception
    assert stored(engine, d)[(0, 3)] == ("speed_dial", "*97")
    assert (1, 1) not in stored(engine, d)  # the module's tab was not saved...
    assert at.session_state[f"keys_{d}_1_0"]["edited_rows"] == {0: {"type": "blf", "value": "101", "label": "Alice"}}
    assert "Keys changed, not saved yet: 1" in shown(at)  # ...and its edit is still there, still counted
    at.button(key=f"save_keys_{d}_1").click().run()
    assert stored(engine, d)[(1, 1)] == ("blf", "101") and stored(engine, d)[(0, 3)] == ("speed_dial", "*97")


def test_the_value_list_offers_the_vpbxs_lines_and_puts_one_on_a_key(app, world, engine, shown):
    d = world.desk_a1
    at = app(world.alice_id, "pages/keys.py", device=str(d))
    pick = f"keypick_{d}_0"
    offered = at.selectbox(key=f"{pick}_value").options
    assert offered == ["101 · Alice", "102 · Bob"]  # globex's 201 (Carol) never
    assert set(at.selectbox(key=f"{pick}_type").options) == {"BLF", "Team", "Extension", "Pickup", "Intercom"}
    at.session_state[f"keys_{d}_0_0"] = edits({2: {"type": "speed_dial", "value": "*97"}})  # typed in the grid
    at.run()
    at.selectbox(key=f"{pick}_index").set_value(5)
    functions = at.selectbox(key=f"{pick}_type")
    functions.select_index(functions.options.index("Extension"))  # by label: format_func runs in the app's language
    at.selectbox(key=f"{pick}_value").select_index(1)  # 102 · Bob
    at.button(key=f"{pick}_put").click().run()
    assert not at.exception
    grid = at.data_editor[0].value
    assert (grid.loc[4, "type"], grid.loc[4, "value"]) == ("extension", "102")
    assert (grid.loc[2, "type"], grid.loc[2, "value"]) == ("speed_dial", "*97")  # what was typed is kept
    assert "Keys changed, not saved yet: 2" in shown(at)
    at.button(key=f"save_keys_{d}_0").click().run()
    assert stored(engine, d)[(0, 5)] == ("extension", "102") and stored(engine, d)[(0, 3)] == ("speed_dial", "*97")
    assert "Keys changed, not saved yet" not in shown(at)


def test_a_free_value_that_is_no_extension_is_warned_about_not_refused(app, world, engine):
    """Typed in the grid (AppTest cannot type a new option into a selectbox: tests/browser does that)."""
    d = world.desk_a1
    at = app(world.alice_id, "pages/keys.py", device=str(d))
    at.session_state[f"keys_{d}_0_0"] = edits({5: {"type": "blf", "value": "999"}, 6: {"type": "team", "value": "9"}})
    at.run()
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1  # a team's group number need not be a line
    assert "Key 6: extension 999 does not exist in the vPBX (the value is kept)." in warnings
    at.button(key=f"save_keys_{d}_0").click().run()
    assert not at.error and stored(engine, d)[(0, 6)] == ("blf", "999")  # saved: a warning is no refusal
    assert "Key 6: extension 999 does not exist in the vPBX (the value is kept)." in [w.value for w in at.warning]


def test_the_voicemail_default_is_said_in_french(app, world):
    at = app(world.alice_id, "pages/keys.py", lang="fr", device=str(world.desk_a1))
    assert "Messagerie vide : compose *86101 (la boîte vocale de la ligne)." in [c.value for c in at.caption]


def test_the_vpbx_admin_sets_the_voicemail_access_number_and_a_user_is_not_offered_it(app, world, engine, shown):
    from core import vpbx

    at = app(world.admin_a_id, "pages/keys.py", device=str(world.desk_a1), line=str(world.seed.line_a1))
    at.text_input(key="vm_access_acme").input("*9 7").run()
    at.button(key="vm_access_save_acme").click().run()
    assert [e.value for e in at.error] == ["'*9 7' is not a voicemail access number (1-16 digits, * or #, e.g. *86)"]
    at.text_input(key="vm_access_acme").input("*97").run()
    at.button(key="vm_access_save_acme").click().run()
    assert "Access number saved: the vPBX's phones get it at their next update." in shown(at)
    assert "Voicemail left empty: dials *97101 (the line's mailbox)." in [c.value for c in at.caption]
    with transaction(engine) as s:
        assert {v["name"]: v["voicemail_access"] for v in vpbx.list_vpbx(s, system_actor("t"))} == {
            "acme": "*97", "globex": "*86"}  # fmt: skip
    alice = app(world.alice_id, "pages/keys.py", device=str(world.desk_a1))
    assert not [w for w in alice.text_input if (w.key or "").startswith("vm_access")]
