"""Annuaire in a real browser: deleting a contact names it, does nothing before its confirmation, and deletes
that contact only (checked in the database, with its audit row)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core import phonebook
from core.db import make_engine, transaction
from core.models import AuditEvent, PhonebookContact
from core.permissions import system_actor
from tests.browser.conftest import login, wait_idle

pytestmark = pytest.mark.browser


def _state(db_url: str) -> tuple[list[tuple[int, str, str]], list[tuple[str, str]]]:
    engine = make_engine(db_url)
    with transaction(engine) as s:
        contacts = sorted((c.id, c.name, c.number) for c in s.scalars(select(PhonebookContact)))
        audit = [
            (e.action, e.target_id) for e in s.scalars(select(AuditEvent).where(AuditEvent.action.like("phonebook.%")))
        ]
    engine.dispose()
    return contacts, audit


def test_deleting_a_contact_asks_first_and_deletes_only_it(page, server):
    engine = make_engine(server.db_url)
    with transaction(engine) as s:
        dentist = phonebook.add_contact(s, system_actor("pytest"), "Dentist & Co", "+41215550888", vpbx_name="acme")
        phonebook.add_contact(s, system_actor("pytest"), "Plumber", "+41215550999", vpbx_name="acme")
    engine.dispose()
    before, audit_before = _state(server.db_url)
    login(page, server, "support", "/phonebook")
    base = f"pb_edit_{dentist['id']}"
    page.locator(f".st-key-{base}_delete button").click()
    expect(page.get_by_text("Delete 'Dentist & Co' (+41215550888) from the phone book?")).to_be_visible()
    wait_idle(page)
    assert _state(server.db_url) == (before, audit_before)  # asked, not done
    page.locator(f".st-key-{base}_delete_yes button").click()
    expect(page.get_by_text("Contact 'Dentist & Co' deleted.")).to_be_visible()
    wait_idle(page)
    after, audit = _state(server.db_url)
    assert after == [c for c in before if c[0] != dentist["id"]] and len(after) == 1  # that contact, and only it
    assert audit[len(audit_before) :] == [("phonebook.delete", str(dentist["id"]))]
