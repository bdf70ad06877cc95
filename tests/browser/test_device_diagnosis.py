"""Appareil in a real browser (issue 12 point 6): a faulty device's finding, its fixing button pressed and
confirmed, the change checked in the database, and the verdict on the page changing with it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from core import heartbeat, lines
from core.db import make_engine, transaction
from core.models import AccessLog, AuditEvent, Device, Line, Registration
from core.permissions import system_actor
from tests.browser.conftest import Server, login, wait_idle

pytestmark = pytest.mark.browser

UA = "Yealink SIP-T46U 108.86.0.20 80:5e:c0:11:22:33"


def healthy_but_blocked(server: Server) -> int:
    """Alice's desk phone fetched its file after its last change and is registered; its line is blocked."""
    engine = make_engine(server.db_url)
    now = datetime.now(UTC)
    with transaction(engine) as s:
        device = s.get(Device, server.desk)
        assert device is not None
        line_id = device.line_id
        s.execute(update(Device).where(Device.id == server.desk).values(
            updated_at=now - timedelta(hours=1), last_access_at=now, last_access_ip="192.0.2.10",
            last_access_ua=UA))  # fmt: skip
        s.add(AccessLog(at=now, source_ip="192.0.2.10", user_agent=UA, path="/abc…", device_id=server.desk,
                        status=200, reason="ok"))  # fmt: skip
        s.add(Registration(aor="sip:41215550101@acme.voip.example", contact="sip:41215550101@192.0.2.10:5062",
                           line_id=line_id, source_ip="192.0.2.10", source_port=5062, transport="udp",
                           user_agent=UA, call_id="c1", cseq=1, expires_at=now + timedelta(hours=1)))  # fmt: skip
        lines.set_blocked(s, system_actor("pytest"), line_id, True)
    heartbeat.beat(engine, "sip", now=now + timedelta(minutes=10))  # a registrar runs (fresh for the whole test)
    engine.dispose()
    return line_id


def blocked_and_audit(server: Server, line_id: int) -> tuple[bool, list[tuple[str, str]]]:
    engine = make_engine(server.db_url)
    with transaction(engine) as s:
        line = s.get(Line, line_id)
        assert line is not None
        audit = [(e.action, e.actor) for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "line.unblock"))]
        result = line.pstn_blocked, audit
    engine.dispose()
    return result


def test_unblocking_a_blocked_line_from_its_finding_turns_the_verdict_ok(page: Page, server: Server):
    line_id = healthy_but_blocked(server)
    login(page, server, "support")
    page.goto(f"{server.url}/device?device={server.desk}")
    finding = page.locator(".st-key-dv_finding_line_blocked")
    expect(finding).to_contain_text(  # core's words: nothing enforces the block here (core.call_control)
        "Blocking calls to the public network is asked for line +41215550101; nothing that handles calls enforces it"
    )
    expect(page.get_by_text("This phone works, but one point needs your attention.")).to_be_visible()
    expect(finding.get_by_role("link", name="Troubleshooting")).to_have_attribute(
        "href", re.compile(r"(^|/)help\?code=line_blocked$")
    )
    finding.locator(".st-key-dv_line_blocked_unblock button").click()
    confirm = page.locator(".st-key-device_view_confirm")
    expect(confirm).to_contain_text("Lift the block asked for extension +41215550101? It was not enforced")
    wait_idle(page)
    assert blocked_and_audit(server, line_id) == (True, [])  # asked, not done
    confirm.locator(".st-key-dv_confirm_yes button").click()
    expect(page.get_by_text("This phone works: nothing to report.")).to_be_visible()
    expect(page.locator(".st-key-dv_finding_line_blocked")).to_have_count(0)
    expect(page.get_by_text("The extension's block request is lifted (it was not enforced).")).to_be_visible()
    wait_idle(page)
    assert blocked_and_audit(server, line_id) == (False, [("line.unblock", "support")])
