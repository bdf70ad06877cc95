"""Téléphones' « Nom affiché » (issue 14 point 7): the vPBX administrator changes a line's display name and its
phones' files move; a refused name is said next to the field, nothing saved; the end user sees the name and
whom to ask, no field."""

from __future__ import annotations

from sqlalchemy import select

from core.db import transaction
from core.models import AuditEvent, Device, Line


def name_field(at, line_id: int):
    return next(w for w in at.text_input if w.key and w.key.startswith(f"line_name_{line_id}_"))


def test_the_admin_renames_a_line_and_its_phone_is_told(app, world, engine):
    line = world.seed.line_a2
    with transaction(engine) as s:
        before = s.get(Device, world.desk_a2).config_revision
    at = app(world.admin_a_id, "pages/phones.py", lang="fr", line=str(line))
    field = name_field(at, line)
    assert (field.label, field.value, field.proto.max_chars) == ("Nom affiché", "Bob", 64)
    field.input("Bob Martin").run()
    assert "Modifications non enregistrées." in [c.value for c in at.caption]
    at.button(key=f"{field.key}_save").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Nom enregistré : les téléphones du poste le prennent")
    assert name_field(at, line).value == "Bob Martin"  # the field starts again from what is stored
    assert "Bob Martin" in at.subheader[0].value  # the line's heading says it too
    with transaction(engine) as s:
        assert s.get(Line, line).display_name == "Bob Martin"
        assert s.get(Device, world.desk_a2).config_revision == before + 1  # the Snom fetches the new name
        assert s.scalar(select(AuditEvent.actor).where(AuditEvent.action == "line.update")) == "admin-acme"


def test_a_refused_name_is_said_next_to_the_field_and_nothing_is_saved(app, world, engine):
    line = world.seed.line_a2
    at = app(world.admin_a_id, "pages/phones.py", lang="en", line=str(line))
    field = name_field(at, line)
    field.input('Bob "the boss"').run()
    at.button(key=f"{field.key}_save").click().run()
    assert [e.value for e in at.error] == ['may not hold " \\ < > (phones put the name into SIP headers)']
    assert name_field(at, line).value == 'Bob "the boss"'  # the typed text stays to be corrected
    with transaction(engine) as s:
        assert s.get(Line, line).display_name == "Bob"


def test_the_end_user_sees_the_name_and_whom_to_ask(app, world):
    at = app(world.alice_id, "pages/phones.py", lang="fr")
    assert not [w for w in at.text_input if w.key and w.key.startswith("line_name_")]
    assert (
        "Nom affiché : Alice. Seul l'administrateur du vPBX ou le support peut le changer : adressez-vous à eux."
        in [c.value for c in at.caption]
    )


def test_save_is_offered_only_for_a_change(app, world):
    at = app(world.provider_id, "pages/phones.py", line=str(world.seed.line_b1))
    field = name_field(at, world.seed.line_b1)
    assert at.button(key=f"{field.key}_save").disabled
    field.input("Carol B.").run()
    assert not at.button(key=f"{field.key}_save").disabled
