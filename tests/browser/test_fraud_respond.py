"""The data loss / abuse procedure in a real browser (issue 13 point 3): support finds Alice's line on Fraude,
opens its procedure, is asked first (nothing changes), starts it, and watches it go on by itself (the live
fragment calls respond.advance every few seconds) until it waits for the devices. The database, read through
core, says what the page says: the line blocked, a new SIP password, a new key for each device, what is left."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from core import devices, lines, respond
from core.db import make_engine, transaction
from core.errors import NotFound
from core.permissions import system_actor
from tests.browser.conftest import Server, login, wait_idle

pytestmark = pytest.mark.browser

NUMBER = "+41215550101"  # Alice's line: her desk phone (redirection) and her softphone (entered by hand)
PYTEST = system_actor("pytest")


def _read(server: Server) -> dict[str, Any]:
    """The line, its SIP password, each device's URL (its key) and its procedure, through core."""
    engine = make_engine(server.db_url)
    try:
        with transaction(engine) as s:
            line = lines.get_line(s, PYTEST, NUMBER)
            password = lines.line_credentials(s, PYTEST, NUMBER)["sip_password"]
            urls = {d: devices.get_device(s, PYTEST, d)["url"] for d in (server.desk, server.soft)}
            try:
                run: dict[str, Any] | None = respond.status(s, PYTEST, NUMBER)
            except NotFound:
                run = None
        return {"line": line, "password": password, "urls": urls, "run": run}
    finally:
        engine.dispose()


def test_support_starts_the_procedure_and_sees_it_wait_for_the_devices(page: Page, server: Server) -> None:
    before = _read(server)
    line_id = before["line"]["id"]
    assert before["run"] is None and before["line"]["pstn_blocked"] is False
    login(page, server, "support", "/fraud")
    search = page.locator(".st-key-fraud_q").get_by_role("textbox")
    search.fill(NUMBER)
    search.press("Enter")
    wait_idle(page)
    page.locator(f".st-key-fraud_respond_line_{line_id}").get_by_role("button").click()
    wait_idle(page)
    section = page.locator(f".st-key-rp_line_{line_id}")
    expect(section).to_contain_text("No procedure for this extension yet.")
    assert page.url.endswith(f"respond={line_id}")

    section.locator(f".st-key-rp_start_{line_id}").get_by_role("button").click()
    question = page.locator(f".st-key-rp_start_confirm_{line_id}")
    expect(question).to_contain_text(f"Start the data loss / abuse procedure for Extension 101 — {NUMBER} Alice")
    expect(question).to_contain_text("Block calls to the public network: asked, but not enforced")
    expect(question).to_contain_text("A new key for every device (New key)")
    wait_idle(page)
    assert _read(server) == before  # asked, nothing done

    question.locator(f".st-key-rp_start_yes_{line_id}").get_by_role("button").click()
    expect(section.locator(".st-key-rp_step_block")).to_contain_text("Block — done ")
    expect(section.locator(".st-key-rp_step_block")).to_contain_text(
        "Block asked — not enforced: nothing handles calls in this installation"
    )
    expect(section.locator(".st-key-rp_step_keys")).to_contain_text("New key for every device — done ")
    # The registrar's 6 s to load the new password, then the fragment's next tick pushes: nobody clicks.
    expect(section.locator(".st-key-rp_step_push")).to_contain_text("Push the configuration — done ", timeout=40_000)
    expect(section.locator(".st-key-rp_step_verify")).to_contain_text(
        "Verify — waiting: 2 device(s) have not shown their new configuration yet"
    )
    expect(section.locator(".st-key-rp_step_unblock")).to_contain_text("Unblock — to do")
    expect(section).to_contain_text("Left: Verify, Unblock.")
    expect(section).to_contain_text("Waiting for 2 device(s)")
    desk = section.locator(f".st-key-rp_device_{server.desk}")
    expect(desk).to_contain_text("Redirection service")
    expect(desk).to_contain_text("Configuration not fetched with its new key yet")
    expect(desk).to_contain_text("Left: fetch its configuration with the new key, register with the new credentials")
    expect(desk.locator(f".st-key-rp_skip_{_read(server)['run']['id']}_{server.desk}")).to_be_visible()
    soft = section.locator(f".st-key-rp_device_{server.soft}")
    expect(soft).to_contain_text("To enter on the phone")
    expect(soft.locator(f".st-key-rp_setup_{server.soft}")).to_be_visible()

    after = _read(server)
    run = after["run"]
    assert run is not None and (run["state"], run["started_by"], run["next_step"]) == ("running", "support", "verify")
    assert after["line"]["pstn_blocked"] is True  # the block step ran
    assert after["password"] != before["password"]  # new SIP credentials
    for device in (server.desk, server.soft):  # a new key each: the old URL no longer names it
        assert after["urls"][device] != before["urls"][device]
    left = {d["device_id"]: d["left"] for d in run["left"]}
    assert left == {server.desk: ["fetch", "register"], server.soft: ["fetch", "register"]}
    assert {d["device_id"]: d["push"] for d in run["devices"]} == {server.desk: "redirection", server.soft: "manual"}
