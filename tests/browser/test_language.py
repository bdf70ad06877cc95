"""The language choice is kept with the account and used by the login form (issue 10 point 4), in chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from core.db import make_engine, transaction
from core.models import Account
from tests.browser.conftest import PASSWORD, Server, wait_idle
from tests.net import wait_for

pytestmark = pytest.mark.browser


@pytest.fixture
def french_browser_page(browser: Browser) -> Iterator[Page]:
    """A browser asking for French (Accept-Language fr-CH): English on screen must come from a choice."""
    context = browser.new_context(locale="fr-CH")
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def _language(server: Server, username: str) -> str:
    engine = make_engine(server.db_url)
    with transaction(engine) as s:
        language = s.scalar(select(Account.language).where(Account.username == username))
    engine.dispose()
    return str(language)


def _lang_cookie(page: Page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == "voipadmin_lang"), None)


def _log_in(page: Page, username: str, user_label: str, password_label: str, button: str) -> None:
    page.get_by_label(user_label).fill(username)
    page.get_by_label(password_label).fill(PASSWORD)
    page.get_by_role("button", name=button).click()
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
    wait_idle(page)


def test_language_survives_reload_logout_and_follows_the_account(french_browser_page, server):
    page = french_browser_page
    assert _language(server, "support") == _language(server, "alice") == "fr"
    page.goto(f"{server.url}/session/login")
    expect(page.locator("html")).to_have_attribute("lang", "fr")  # the browser's language: French
    _log_in(page, "support", "Nom d'utilisateur", "Mot de passe", "Se connecter")
    expect(page.get_by_role("heading", name="Aperçu")).to_be_visible()

    page.locator(".st-key-lang_switch").get_by_text("English").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    wait_idle(page)
    assert _language(server, "support") == "en"  # kept with the account, not only in this tab
    wait_for(lambda: _lang_cookie(page) == "en", timeout=10, what="the switch to set the login form's cookie")

    page.reload()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    wait_idle(page)

    page.get_by_test_id("stSidebarNav").get_by_text("Log out").click()
    page.wait_for_url("**/session/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")  # the cookie outweighs the browser's French
    expect(page.get_by_label("User name")).to_be_visible()
    expect(page.get_by_text("Mot de passe")).to_have_count(0)

    # Alice's account is French: logging in from the English form (no choice made on it) gives French.
    _log_in(page, "alice", "User name", "Password", "Log in")
    expect(page.get_by_role("heading", name="Aperçu")).to_be_visible()
    expect(page.get_by_text("Overview")).to_have_count(0)
    assert _language(server, "alice") == "fr"

    page.get_by_test_id("stSidebarNav").get_by_text("Se déconnecter").click()
    page.wait_for_url("**/session/login")
    expect(page.get_by_label("Nom d'utilisateur")).to_be_visible()  # the last account's language


def test_the_login_form_s_own_switch_picks_its_language_and_keeps_it_with_the_account(french_browser_page, server):
    page = french_browser_page
    page.goto(f"{server.url}/session/login")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_label("User name")).to_be_visible()
    expect(page.get_by_text("Mot de passe")).to_have_count(0)
    _log_in(page, "alice", "User name", "Password", "Log in")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert _language(server, "alice") == "en"
