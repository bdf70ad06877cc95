"""The vPBX phone book's use cases (core/phonebook.py): who may do what, the rules of a contact, the CSV import's
dry run and all-or-nothing apply, the export that imports back unchanged, what phones are served, and the
statements it takes whatever the size."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from core import phonebook
from core.db import transaction
from core.errors import NotFound, PermissionDenied, ValidationError
from core.models import AuditEvent, PhonebookContact
from tests.core.test_statement_counts import counting

pytestmark = pytest.mark.db


def _contacts(engine, vpbx_id):
    with transaction(engine) as s:
        rows = s.scalars(select(PhonebookContact).where(PhonebookContact.vpbx_id == vpbx_id))
        return sorted((c.name, c.number, c.organisation) for c in rows)


def test_an_admin_edits_its_own_book_and_a_user_reads_it(engine, seed):
    with transaction(engine) as s:
        c = phonebook.add_contact(s, seed.admin_a, " Plumber & Sons ", "+41 (21) 555-09.99", "ACME")
        assert (c["name"], c["number"], c["organisation"]) == ("Plumber & Sons", "+41215550999", "ACME")
        phonebook.update_contact(s, seed.admin_a, c["id"], number="*97")
    with transaction(engine) as s:
        assert [x["number"] for x in phonebook.list_contacts(s, seed.user_a1)] == ["*97"]
        book = phonebook.phonebook(s, seed.user_a1)
        with pytest.raises(PermissionDenied) as refused:
            phonebook.add_contact(s, seed.user_a1, "Mine", "123")
        assert refused.value.code == "role_forbidden"
    assert [(e["source"], e["name"], e["number"]) for e in book] == [
        ("line", "Alice", "101"),
        ("line", "Bob", "102"),
        ("contact", "Plumber & Sons", "*97"),
    ]
    with transaction(engine) as s:
        phonebook.delete_contact(s, seed.admin_a, c["id"])
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "phonebook_contact")).all()
    assert actions == ["phonebook.add", "phonebook.update", "phonebook.delete"]
    assert _contacts(engine, seed.vpbx_a) == []


def test_another_vpbx_book_is_never_shown_nor_touched(engine, seed, provider):
    with transaction(engine) as s:
        theirs = phonebook.add_contact(s, provider, "Globex HQ", "+41225550000", vpbx_name="globex")
        phonebook.add_contact(s, seed.admin_a, "Acme HQ", "+41215550000")
    with transaction(engine) as s:
        assert [c["name"] for c in phonebook.list_contacts(s, seed.admin_a)] == ["Acme HQ"]
        assert "Globex HQ" not in {e["name"] for e in phonebook.phonebook(s, seed.user_a1)}
        assert "Carol" not in {e["name"] for e in phonebook.phonebook(s, seed.admin_a)}
        for call in (
            lambda: phonebook.update_contact(s, seed.admin_a, theirs["id"], name="Mine now"),
            lambda: phonebook.delete_contact(s, seed.admin_a, theirs["id"]),
            lambda: phonebook.list_contacts(s, seed.admin_a, "globex"),
            lambda: phonebook.phonebook(s, seed.user_a1, "globex"),
        ):
            with pytest.raises(NotFound):  # the same answer as for a contact or vPBX that does not exist
                call()
    assert _contacts(engine, seed.vpbx_b) == [("Globex HQ", "+41225550000", "")]


@pytest.mark.parametrize(
    ("name", "number", "organisation", "code", "field"),
    [
        ("", "123", "", "phonebook_name_required", "name"),
        ("A" * 101, "123", "", "too_long", "name"),
        ("Tab\there", "123", "", "control_chars", "name"),
        ("Bob", "call me", "", "phonebook_number_invalid", "number"),
        ("Bob", "", "", "phonebook_number_invalid", "number"),
        ("Bob", "1" * 33, "", "phonebook_number_invalid", "number"),
        ("Bob", "123", "O" * 101, "too_long", "organisation"),
    ],
)
def test_a_bad_contact_is_refused_naming_its_field(engine, seed, name, number, organisation, code, field):
    with transaction(engine) as s, pytest.raises(ValidationError) as refused:
        phonebook.add_contact(s, seed.admin_a, name, number, organisation)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_the_same_name_and_number_twice_is_refused(engine, seed):
    with transaction(engine) as s:
        phonebook.add_contact(s, seed.admin_a, "Bob", "123")
        other = phonebook.add_contact(s, seed.admin_a, "Bob", "456")
        with pytest.raises(ValidationError) as refused:
            phonebook.update_contact(s, seed.admin_a, other["id"], number="123")
    assert refused.value.code == "phonebook_contact_exists"


def test_the_provider_names_the_vpbx(engine, seed, provider):
    with transaction(engine) as s, pytest.raises(ValidationError) as refused:
        phonebook.list_contacts(s, provider)
    assert (refused.value.code, refused.value.field) == ("phonebook_vpbx_required", "vpbx")


BAD_CSV = (
    "name;number;organisation\n"
    "Dentist;+41 21 555 08 88;Smile SA\n"
    ";123;\n"  # row 3: no name
    "Garage;twelve;\n"  # row 4: no number
    "Dentist;+41215550888;again\n"  # row 5: row 2 again
    "\n"
    "Baker;124;;extra\n"  # row 7: a cell too many
)


def test_a_dry_run_lists_every_error_by_row_and_column_and_writes_nothing(engine, seed):
    with transaction(engine) as s:
        result = phonebook.import_csv(s, seed.admin_a, BAD_CSV, dry_run=True)
    assert [(e.row, e.column, e.code) for e in result.errors] == [
        (3, "name", "phonebook_name_required"),
        (4, "number", "phonebook_number_invalid"),
        (5, "name", "phonebook_row_twice"),
        (7, "organisation", "phonebook_csv_row_cells"),
    ]
    assert result.errors[2].params == {"row": 2}
    with transaction(engine) as s:  # applied, the same file writes nothing either: all or nothing
        applied = phonebook.import_csv(s, seed.admin_a, BAD_CSV)
    assert not applied.applied and len(applied.errors) == 4
    assert _contacts(engine, seed.vpbx_a) == []


def test_a_header_without_the_columns_is_refused_on_row_1(engine, seed):
    with transaction(engine) as s:
        result = phonebook.import_csv(s, seed.admin_a, "who,phone\nBob,123\n", dry_run=True)
    assert [(e.row, e.column, e.code) for e in result.errors] == [
        (1, "name", "phonebook_csv_column_missing"),
        (1, "number", "phonebook_csv_column_missing"),
        (1, "who", "phonebook_csv_column_unknown"),
        (1, "phone", "phonebook_csv_column_unknown"),
    ]


def test_french_headers_are_read_as_the_columns(engine, seed):
    with transaction(engine) as s:
        result = phonebook.import_csv(s, seed.admin_a, "Nom;Numéro;Société\nBob;123;Bob SA\n")
    assert result.applied and _contacts(engine, seed.vpbx_a) == [("Bob", "123", "Bob SA")]


def test_import_adds_updates_and_the_export_imports_back_unchanged(engine, seed):
    with transaction(engine) as s:
        phonebook.add_contact(s, seed.admin_a, "Dentist", "+41215550888", "Old name")
    text = '\ufeffname,number,organisation\nDentist,+41215550888,Smile SA\n"Quote ""Q"", & Co",=1+2,\n'
    text = text.replace("=1+2", "'+41215550777")  # a spreadsheet's quote before a +: stripped on import
    with transaction(engine) as s:
        result = phonebook.import_csv(s, seed.admin_a, text)
    assert (result.applied, result.added, result.updated, result.unchanged) == (True, 1, 1, 0)
    before = _contacts(engine, seed.vpbx_a)
    assert before == [("Dentist", "+41215550888", "Smile SA"), ('Quote "Q", & Co', "+41215550777", "")]
    with transaction(engine) as s:
        exported = phonebook.export_csv(s, seed.admin_a)
        again = phonebook.import_csv(s, seed.admin_a, exported)
    assert (again.added, again.updated, again.unchanged, again.errors) == (0, 0, 2, ())
    assert _contacts(engine, seed.vpbx_a) == before


def test_export_defuses_formula_cells(engine, seed):
    with transaction(engine) as s:
        phonebook.add_contact(s, seed.admin_a, "=HYPERLINK(1)", "123", "@SUM")
        exported = phonebook.export_csv(s, seed.admin_a)
        assert exported.splitlines()[1] == "'=HYPERLINK(1),123,'@SUM"
        again = phonebook.import_csv(s, seed.admin_a, exported, dry_run=True)
    assert (again.unchanged, again.errors) == (1, ())


def _fill(engine, vpbx_id, n):
    with transaction(engine) as s:
        s.execute(
            insert(PhonebookContact),
            [{"vpbx_id": vpbx_id, "name": f"Contact {i:05d}", "number": f"{i:06d}", "organisation": ""}
             for i in range(n)],
        )  # fmt: skip


def test_the_served_book_takes_the_same_statements_for_100_and_1000_contacts(engine, seed):
    counts = []
    for n in (100, 1000):
        with transaction(engine) as s:
            s.query(PhonebookContact).delete()
        _fill(engine, seed.vpbx_a, n)
        with transaction(engine) as s, counting(engine) as statements:
            entries = phonebook.served_entries(s, seed.vpbx_a)
            listed = phonebook.list_contacts(s, seed.admin_a)
        assert len(entries) == n + 2 and len(listed) == n
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 3
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(PhonebookContact)) == 1000
