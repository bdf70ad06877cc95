"""Fraude's alerts in a real browser: the support account opens Fraude, picks the alert in the table, writes a
note and resolves it; the page says who resolved it, and the database says the same (issue 13 point 2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import insert, select

from core import alerts
from core import event_kinds as ek
from core.db import make_engine, transaction
from core.models import AccessLog, AuditEvent
from core.permissions import system_actor
from tests.browser.conftest import Server, login, wait_idle

pytestmark = pytest.mark.browser

NOTE = "Téléphone réinitialisé, nouvelle clé envoyée"


def _raise_old_key_alert(server: Server) -> int:
    """Alice's desk phone asked twice with its retired key, then one alerts pass (as serve runs it)."""
    now = datetime.now(UTC)
    engine = make_engine(server.db_url)
    try:
        with transaction(engine) as s:
            s.execute(insert(AccessLog), [
                {"at": now - timedelta(minutes=3, seconds=-i), "source_ip": "198.51.100.7", "status": 404,
                 "user_agent": "Yealink SIP-T46U 108.86.0.20 80:5e:c0:11:22:33", "path": "/p/abcdef…/x.cfg",
                 "reason": ek.OLD_KEY, "device_id": server.desk} for i in range(2)])  # fmt: skip
        alerts.scan(engine, None, now=now + timedelta(seconds=5))
        with transaction(engine) as s:
            (alert,) = alerts.list_alerts(s, system_actor("pytest"), device_id=server.desk)
        return int(alert["id"])
    finally:
        engine.dispose()


def _stored(server: Server, alert_id: int) -> tuple[dict, list[tuple[str, str, dict]]]:
    engine = make_engine(server.db_url)
    try:
        with transaction(engine) as s:
            alert = alerts.get_alert(s, system_actor("pytest"), alert_id)
            audit = [(a, actor, json.loads(d or "{}")) for a, actor, d in s.execute(
                select(AuditEvent.action, AuditEvent.actor, AuditEvent.detail)
                .where(AuditEvent.action.like("alert.%"), AuditEvent.target_id == str(alert_id)))]  # fmt: skip
        return alert, audit
    finally:
        engine.dispose()


def test_support_resolves_an_alert_with_a_note(page: Page, server: Server) -> None:
    alert_id = _raise_old_key_alert(server)
    login(page, server, "support", "/fraud")
    expect(page.get_by_role("heading", name="Open alerts")).to_be_visible()
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("1")  # one high alert open
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid).to_be_visible()
    grid.click(position={"x": 15, "y": 35 + 17})  # row 1's selection box (rows are 35 px high)
    wait_idle(page)
    detail = page.locator(f".st-key-fraud_alert_{alert_id}")
    expect(detail).to_contain_text("Retired key used after New key")
    expect(detail).to_contain_text("Bureau Alice")
    assert page.url.endswith(f"/fraud?alert={alert_id}")  # the URL names the alert shown
    note = detail.locator(f".st-key-fraud_alert_note_{alert_id}_0 textarea")
    note.fill(NOTE)
    note.press("Tab")  # a text area applies its value when it loses the focus
    wait_idle(page)
    before, _ = _stored(server, alert_id)
    assert before["state"] == "open"  # typing changed nothing yet
    detail.locator(f".st-key-fraud_alert_resolve_{alert_id}").get_by_role("button").click()
    wait_idle(page)
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("Alert resolved by support (")
    expect(detail).to_contain_text(f"Note: {NOTE}")
    expect(detail.locator(f".st-key-fraud_alert_resolve_{alert_id}")).to_have_count(0)  # nothing left to do
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("0")
    after, audit = _stored(server, alert_id)
    assert (after["state"], after["note"], after["acted_by"]) == ("resolved", NOTE, "support")
    assert [(a, actor, d.get("note")) for a, actor, d in audit] == [("alert.resolve", "support", NOTE)]
