"""Destructive actions on Téléphones, in a real browser, checked in the database (issue 10 point 1):
each names its object, does nothing before its confirmation, and changes that object only."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from core.db import make_engine, transaction
from core.models import AuditEvent, Device
from tests.browser.conftest import Server, login, wait_idle

pytestmark = pytest.mark.browser


Devices = dict[int, tuple[str | None, str, list[tuple[int, int, str, str, str]]]]


def snapshot(server: Server) -> tuple[Devices, list[tuple[str, str]]]:
    """Every device as (access key, label, its function keys), and the audit trail as (action, target)."""
    engine = make_engine(server.db_url)
    with transaction(engine) as s:
        devices = {
            d.id: (d.access_key, d.label, sorted((k.module, k.index, k.function, k.value, k.label) for k in d.keys))
            for d in s.scalars(select(Device))
        }
        audit = [(e.action, e.target_id) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    engine.dispose()
    return devices, audit


def open_device(page: Page, label: str) -> None:
    page.get_by_test_id("stExpander").filter(has_text=label).locator("summary").click()


def test_delete_names_the_device_asks_and_deletes_only_it(page, server):
    before, audit_before = snapshot(server)
    login(page, server, "alice", "/phones")
    open_device(page, "Mobile Alice")
    page.locator(f".st-key-del_{server.soft} button").click()
    dialog = page.get_by_test_id("stDialog")
    expect(dialog).to_contain_text("Delete the device IP-Phone IP-Phone app — Mobile Alice?")
    expect(dialog.locator(".st-key-delete_confirm button")).to_have_text("Delete IP-Phone IP-Phone app — Mobile Alice")
    dialog.locator(".st-key-delete_cancel button").click()
    expect(page.get_by_test_id("stDialog")).to_have_count(0)
    wait_idle(page)
    assert snapshot(server) == (before, audit_before)  # cancelled: nothing changed
    page.locator(f".st-key-del_{server.soft} button").click()
    page.get_by_test_id("stDialog").locator(".st-key-delete_confirm button").click()
    expect(page.get_by_text("Device deleted.")).to_be_visible()
    expect(page.get_by_test_id("stDialog")).to_have_count(0)
    expect(page.get_by_test_id("stExpander").filter(has_text="Mobile Alice")).to_have_count(0)
    wait_idle(page)
    after, audit = snapshot(server)
    assert set(before) - set(after) == {server.soft}  # that device, and only it
    assert {k: v for k, v in before.items() if k != server.soft} == after  # the others untouched
    assert audit[len(audit_before) :] == [("device.delete", str(server.soft))]


def test_new_key_names_the_device_asks_and_keeps_its_keys(page, server):
    before, audit_before = snapshot(server)
    old_key, _, old_keys = before[server.desk]
    assert old_key and old_keys  # the desk phone has an URL and a key (line 1)
    login(page, server, "alice", "/phones")
    open_device(page, "Bureau Alice")
    page.locator(f".st-key-setup_{server.desk} button").click()
    dialog = page.get_by_test_id("stDialog")
    expect(dialog).to_contain_text(old_key)
    dialog.locator(".st-key-setup_new_key button").click()
    confirm = dialog.locator(".st-key-setup_new_key_confirm")
    expect(confirm).to_contain_text("New key for Yealink T46U — Bureau Alice")
    wait_idle(page)
    assert snapshot(server)[0][server.desk][0] == old_key  # asked, not done
    confirm.locator(".st-key-setup_new_key_no button").click()
    expect(confirm).to_have_count(0)
    wait_idle(page)
    assert snapshot(server) == (before, audit_before)  # cancelled
    dialog.locator(".st-key-setup_new_key button").click()
    dialog.locator(".st-key-setup_new_key_yes button").click()
    expect(dialog).to_contain_text("New key made: the old URL no longer answers.")
    after, audit = snapshot(server)
    new_key, label, new_keys = after[server.desk]
    assert new_key and new_key != old_key and (label, new_keys) == ("Bureau Alice", old_keys)  # keys kept
    expect(dialog).to_contain_text(new_key)  # the dialog shows the new URL...
    expect(dialog).not_to_contain_text(old_key)  # ...and nowhere the old one
    assert {k: v for k, v in after.items() if k != server.desk} == {k: v for k, v in before.items() if k != server.desk}
    assert audit[len(audit_before) :] == [("device.new_key", str(server.desk))]
