"""An end user's « Nouveau clé » for their own phone, in a real browser (issue 14 points 1 and 8): they log in,
open their phone (Device, in the menu), press New key, read that the old URL stops at once, confirm, and see
the new URL. The database then holds the new key with the function keys kept, and the provisioning endpoint
(core.provisioning's WSGI app over the same database, in-process: the browser fixtures run no `serve`) answers
the old URL 404 and the new one with the phone's file."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from core.db import make_engine, transaction
from core.models import AuditEvent, Device
from core.provisioning.app import build_app
from core.render import Renderer
from core.settings import Settings
from tests.browser.conftest import Server, login, wait_idle

pytestmark = pytest.mark.browser

PUBLIC_URL = "https://prov.example.net:8448"  # the server's VOIPADMIN_PUBLIC_URL (tests/browser/conftest.py)
UA = "Yealink SIP-T46U 108.86.0.20 80:5e:c0:11:22:33"  # Alice's desk phone itself


def desk_state(server: Server) -> tuple[str | None, list[tuple[int, int, str, str, str]], list[str]]:
    """Alice's desk phone: its access key, its function keys, and who asked for its new keys."""
    engine = make_engine(server.db_url)
    with transaction(engine) as s:
        d = s.get(Device, server.desk)
        assert d is not None
        state = (
            d.access_key,
            sorted((k.module, k.index, k.function, k.value, k.label) for k in d.keys),
            list(s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "device.new_key"))),
        )
    engine.dispose()
    return state


def fetch(server: Server, tmp_path: Path, *keys: str) -> list[int]:
    """What the provisioning endpoint answers the phone for each key's URL (`/<key>.cfg`)."""
    settings = Settings(data_dir=tmp_path / "prov", db_url=server.db_url, public_url=PUBLIC_URL)
    engine = make_engine(server.db_url)
    app = build_app(settings, engine, Renderer(settings))
    try:
        with app.running():
            transport = httpx.WSGITransport(app=app, remote_addr="192.0.2.10")  # type: ignore[arg-type]
            with httpx.Client(transport=transport, base_url="https://testserver", headers={"user-agent": UA}) as c:
                return [c.get(f"/{key}.cfg").status_code for key in keys]
    finally:
        engine.dispose()


def test_an_end_user_gets_a_new_key_for_their_phone_and_sees_the_new_url(page: Page, server: Server, tmp_path):
    old_key, old_keys, asked = desk_state(server)
    assert old_key and old_keys and asked == []
    assert fetch(server, tmp_path, old_key) == [200]  # the phone's URL works before

    login(page, server, "alice")
    page.get_by_test_id("stSidebarNav").get_by_text("Device", exact=True).click()
    expect(page.get_by_role("heading", name="Yealink T46U — Bureau Alice")).to_be_visible()
    wait_idle(page)
    page.locator(".st-key-dv_new_key button").click()
    confirm = page.locator(".st-key-device_view_confirm")
    expect(confirm).to_contain_text(
        "New key for Yealink T46U — Bureau Alice: the current URL stops working at once. The phone cannot fetch"
        " its configuration until the new URL is entered on it. Function keys and settings are kept."
    )
    wait_idle(page)
    assert desk_state(server)[0] == old_key  # asked, nothing done yet
    confirm.locator(".st-key-dv_confirm_yes button").click()

    outcome = page.locator(".st-key-device_view_new_url")
    expect(outcome).to_contain_text("New key made: the old URL no longer answers.")
    wait_idle(page)
    new_key, new_keys, asked = desk_state(server)
    assert new_key and new_key != old_key and new_keys == old_keys and asked == ["alice"]  # keys kept
    expect(outcome.get_by_test_id("stCode")).to_have_text(f"{PUBLIC_URL}/{new_key}.cfg")  # the new URL, shown
    expect(page.get_by_text(old_key)).to_have_count(0)  # and nowhere the old one
    assert fetch(server, tmp_path, old_key, new_key) == [404, 200]  # the old URL stopped at once
