"""Fraude in a real browser: block one line, then press "Unblock" — the same line is unblocked and the
other is never touched, twice in a row; the database and the audit trail say so (issue 10, point 1)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from core.db import make_engine, transaction
from core.models import AuditEvent, Line
from tests.browser.conftest import login, wait_idle

pytestmark = pytest.mark.browser


def _state(db_url: str) -> tuple[dict[str, tuple[int, bool]], list[tuple[str, str]]]:
    engine = make_engine(db_url)
    try:
        with transaction(engine) as s:
            lines = {n: (i, b) for i, n, b in s.execute(select(Line.id, Line.number, Line.pstn_blocked))}
            audit = [(a, t) for a, t in s.execute(
                select(AuditEvent.action, AuditEvent.target_id).where(AuditEvent.action.like("line.%"))
                .order_by(AuditEvent.id))]  # fmt: skip
        return lines, audit
    finally:
        engine.dispose()


def _confirm(page: Page, action: str, line_id: int, name: str) -> None:
    page.locator(f".st-key-fraud_{action}_line_{line_id}").get_by_role("button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(name)  # the dialog names the line it will change
    dialog.locator(f".st-key-fraud_yes_line_{line_id}").get_by_role("button").click()
    expect(dialog).to_have_count(0)
    wait_idle(page)


def test_unblock_after_block_acts_on_the_same_line_twice_in_a_row(page, server):
    lines, before = _state(server.db_url)
    alice, bob = lines["+41215550101"][0], lines["+41215550102"][0]
    login(page, server, "support", "/fraud")
    expect(page.get_by_role("heading", name="Fraud", exact=True)).to_be_visible()
    search = page.locator(".st-key-fraud_q").get_by_role("textbox")
    search.fill("+4121555010")
    search.press("Enter")
    wait_idle(page)
    expect(page.locator(f".st-key-fraud_line_{bob}")).to_be_visible()  # both lines on screen
    for _ in range(2):
        _confirm(page, "block", alice, "+41215550101")
        expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("+41215550101")
        lines, _ = _state(server.db_url)
        assert (lines["+41215550101"][1], lines["+41215550102"][1]) == (True, False)
        unblock = page.locator(f".st-key-fraud_unblock_line_{alice}").get_by_role("button")
        expect(unblock).to_have_accessible_name("Unblock the extension")
        _confirm(page, "unblock", alice, "+41215550101")
        lines, _ = _state(server.db_url)
        assert (lines["+41215550101"][1], lines["+41215550102"][1]) == (False, False)
        expect(page.locator(f".st-key-fraud_block_line_{bob}")).to_be_visible()  # Bob never changed
    _, audit = _state(server.db_url)
    assert audit[len(before) :] == [("line.block", str(alice)), ("line.unblock", str(alice))] * 2
