"""DECT across lines in the dashboard (issue 14 point 3): the add/edit forms offer the vPBX's compatible bases
with a free slot, labelled so a support agent tells them apart (label, MAC, line, free slots); Téléphones
(the line view) names each handset's base and its line; Appareil lists a base's handsets with their lines."""

from __future__ import annotations

from sqlalchemy import select

from core import devices
from core.db import transaction
from core.models import Device
from core.permissions import system_actor

ALICE, BOB = "+41215550101", "+41215550102"


def _bases(engine, world):
    """A W70B on Alice's line, a W80 on Bob's, and a globex base no acme form may offer."""
    actor = system_actor("t")
    with transaction(engine) as s:
        hall = devices.add_device(s, actor, world.seed.line_a1, "yealink-w70b", mac="805EC0000C01", label="Hall")
        upstairs = devices.add_device(s, actor, world.seed.line_a2, "yealink-w80", mac="805EC0000C02", label="Étage")
        devices.add_device(s, actor, world.seed.line_b1, "yealink-w70b", mac="805EC0000C03", label="Globex HQ")
    return hall["id"], upstairs["id"]


def _handset(engine, world, base_id, line_id=None, label="Combiné Bob"):
    with transaction(engine) as s:
        return devices.add_device(s, system_actor("t"), line_id or world.seed.line_a2, "yealink-w56h", base=base_id,
                                  label=label)["id"]  # fmt: skip


def test_the_add_form_offers_the_vpbxs_bases_on_every_line_labelled(app, world, engine):
    hall, upstairs = _bases(engine, world)
    at = app(world.admin_a_id, "pages/phones.py", line=str(world.seed.line_a2))
    at.selectbox(key="add_kind").set_value("dect_handset").run()
    at.selectbox(key="add_model").set_value("yealink-w56h").run()
    base = at.selectbox(key="add_0_base")
    assert base.options == [
        f"Yealink W80 (W80DM/W80B) — Étage · MAC 805EC0000C02 · Extension 102 — {BOB} · 30 free slot(s)",
        f"Yealink W70B — Hall · MAC 805EC0000C01 · Extension 101 — {ALICE} · 10 free slot(s)",
    ]  # the line's own base first; the globex one never
    base.set_value(hall).run()
    at.text_input(key="add_0_label").input("Combiné Bob")
    at.button(key="add_save").click().run()
    assert not at.exception and not at.error
    with transaction(engine) as s:
        h = s.scalar(select(Device).where(Device.label == "Combiné Bob"))
        assert (h.line_id, h.base_station_id) == (world.seed.line_a2, hall)


def test_the_forms_labels_are_french_in_french(app, world, engine):
    _bases(engine, world)
    at = app(world.admin_a_id, "pages/phones.py", lang="fr", line=str(world.seed.line_a1))
    at.selectbox(key="add_kind").set_value("dect_handset").run()
    at.selectbox(key="add_model").set_value("yealink-w56h").run()
    assert at.selectbox(key="add_0_base").options[0] == (
        f"Yealink W70B — Hall · MAC 805EC0000C01 · Poste 101 — {ALICE} · 10 place(s) libre(s)"
    )


def test_the_edit_form_keeps_the_current_base_and_moves_the_handset(app, world, engine):
    hall, upstairs = _bases(engine, world)
    h = _handset(engine, world, hall)
    at = app(world.admin_a_id, "pages/phones.py", line=str(world.seed.line_a2))
    field = at.selectbox(key=f"edit{h}_0_base")
    assert field.value == hall  # preselected: saving another field never moves it
    assert len(field.options) == 2 and "Hall" in field.options[1] and "10 free slot(s)" in field.options[1]
    field.set_value(upstairs).run()
    at.button(key=f"edit{h}_0_save").click().run()
    assert not at.exception and not at.error
    with transaction(engine) as s:
        assert s.get(Device, h).base_station_id == upstairs


def test_the_line_view_names_each_handsets_base_and_its_line(app, world, engine, shown):
    hall, _ = _bases(engine, world)
    _handset(engine, world, hall)
    bob = app(world.admin_a_id, "pages/phones.py", line=str(world.seed.line_a2))
    table = bob.dataframe[0].value
    row = table[table["Device"] == "Yealink W56H — Combiné Bob"].iloc[0]
    assert row["Base station"] == f"Yealink W70B — Hall · MAC 805EC0000C01 · Extension 101 — {ALICE} Alice"
    alice = app(world.admin_a_id, "pages/phones.py", line=str(world.seed.line_a1))
    table = alice.dataframe[0].value
    row = table[table["Device"] == "Yealink W70B — Hall"].iloc[0]
    assert row["Handsets"] == f"Yealink W56H — Combiné Bob · MAC — · Extension 102 — {BOB} Bob"


def test_the_base_view_lists_its_handsets_with_their_lines(app, world, engine, shown):
    hall, _ = _bases(engine, world)
    _handset(engine, world, hall)
    _handset(engine, world, hall, world.seed.line_a1, label="Combiné Alice")
    at = app(world.admin_a_id, "pages/device.py", device=str(hall))
    assert "Handsets (2 of 10)" in [h.value for h in at.subheader]
    text = shown(at)
    assert f"Yealink W56H — Combiné Bob · MAC — · Extension 102 — {BOB} Bob" in text
    assert f"Yealink W56H — Combiné Alice · MAC — · Extension 101 — {ALICE} Alice" in text


def test_the_handset_view_names_its_base_and_the_bases_line(app, world, engine, shown):
    hall, _ = _bases(engine, world)
    h = _handset(engine, world, hall)
    at = app(world.admin_a_id, "pages/device.py", lang="fr", device=str(h))
    assert "Station de base" in [s.value for s in at.subheader]
    assert f"Yealink W70B — Hall · MAC 805EC0000C01 · Poste 101 — {ALICE} Alice" in shown(at)
