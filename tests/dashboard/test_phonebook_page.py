"""Annuaire (pages/phonebook.py) through AppTest: the book as phones get it, a contact added / changed / deleted
(asked first), a refusal next to its field in the reader's language, the CSV check listing its refusals by row
and column with nothing written, then the import; another vPBX's contacts never shown; a user reads only."""

from __future__ import annotations

from sqlalchemy import select

from core import phonebook
from core.db import transaction
from core.models import PhonebookContact
from core.permissions import system_actor

PAGE = "pages/phonebook.py"


def _contacts(engine):
    with transaction(engine) as s:
        return sorted((c.name, c.number) for c in s.scalars(select(PhonebookContact)))


def _globex_contact(engine):
    with transaction(engine) as s:
        phonebook.add_contact(s, system_actor("test"), "Globex supplier", "+41225550999", vpbx_name="globex")


def test_an_admin_adds_a_contact_and_sees_the_book_of_its_vpbx_only(app, world, engine, shown):
    _globex_contact(engine)
    at = app(world.admin_a_id, PAGE)
    text = shown(at)
    assert "Alice" in text and "Bob" in text and "Carol" not in text and "Globex" not in text
    at.text_input(key="pb_add_name_0").input("Plumber & Sons")
    at.text_input(key="pb_add_number_0").input("+41 21 555 09 99")
    at.button(key="pb_add_save").click().run()
    assert not at.exception
    assert ("Plumber & Sons", "+41215550999") in _contacts(engine)
    assert "Plumber & Sons" in at.dataframe[-1].value.to_string()  # the book as phones get it
    assert at.text_input(key="pb_add_name_1").value == ""  # the form starts again empty


def test_a_refused_number_is_said_in_french_next_to_its_field_and_nothing_is_written(app, world, engine):
    at = app(world.admin_a_id, PAGE, lang="fr")
    at.text_input(key="pb_add_name_0").input("Plombier")
    at.text_input(key="pb_add_number_0").input("appelez-moi")
    at.button(key="pb_add_save").click().run()
    errors = [e.value for e in at.error]
    assert errors == ["« appelez-moi » n'est pas un numéro qu'un téléphone peut composer (chiffres, + initial"
                      " facultatif, * et #)"]  # fmt: skip
    assert at.text_input(key="pb_add_name_0").value == "Plombier"  # the typed name is kept
    assert _contacts(engine) == []


def test_a_contact_is_changed_then_deleted_after_asking(app, world, engine):
    with transaction(engine) as s:
        c = phonebook.add_contact(s, system_actor("test"), "Dentist", "+41215550888", vpbx_name="acme")
    at = app(world.admin_a_id, PAGE)
    base = f"pb_edit_{c['id']}"
    at.text_input(key=f"{base}_name_0").set_value("Dentist Smile").run()
    at.button(key=f"{base}_save").click().run()
    assert _contacts(engine) == [("Dentist Smile", "+41215550888")]
    at.button(key=f"{base}_delete").click().run()
    assert _contacts(engine) == [("Dentist Smile", "+41215550888")]  # asked first
    assert any("Dentist Smile" in w.value for w in at.warning)
    at.button(key=f"{base}_delete_yes").click().run()
    assert not at.exception and _contacts(engine) == []


BAD = "name;number\nDentist;+41215550888\n;123\nGarage;twelve\n"


def test_the_csv_check_lists_each_refusal_by_row_and_column_and_the_import_writes_all_or_nothing(app, world, engine):
    at = app(world.admin_a_id, PAGE, lang="fr")
    at.text_area(key="pb_paste_0").input(BAD).run()
    at.button(key="pb_check").click().run()
    (table,) = [df.value for df in at.dataframe if "Ligne" in df.value.columns]
    assert table[["Ligne", "Colonne"]].values.tolist() == [[3, "nom"], [4, "numéro"]]
    assert table["Problème"].tolist()[0] == "une entrée de l'annuaire a besoin d'un nom"
    at.button(key="pb_apply").click().run()  # refused rows: the import writes nothing either
    assert _contacts(engine) == []
    at.text_area(key="pb_paste_0").input("nom;numéro\nDentist;+41215550888\n").run()
    at.button(key="pb_check").click().run()
    assert [i.value for i in at.info if "Fichier correct" in i.value] == [
        "Fichier correct (1 lignes) : 1 à ajouter, 0 à mettre à jour, 0 inchangées."
    ]
    assert _contacts(engine) == []
    at.button(key="pb_apply").click().run()
    assert _contacts(engine) == [("Dentist", "+41215550888")]


def test_a_user_reads_the_book_and_gets_no_editing(app, world, engine, shown):
    with transaction(engine) as s:
        phonebook.add_contact(s, system_actor("test"), "Dentist", "+41215550888", vpbx_name="acme")
    _globex_contact(engine)
    at = app(world.alice_id, PAGE)
    text = shown(at)
    assert "Dentist" in text and "Bob" in text and "Globex" not in text
    assert not [b for b in at.button if b.key and b.key.startswith("pb_")]
    assert not [w for w in at.text_input if w.key and w.key.startswith("pb_")]


def test_support_picks_the_vpbx(app, world, engine, shown):
    _globex_contact(engine)
    at = app(world.provider_id, PAGE)
    at.selectbox(key="pb_vpbx").set_value("globex").run()
    text = shown(at)
    assert "Globex supplier" in text and "Carol" in text and "Alice" not in text
