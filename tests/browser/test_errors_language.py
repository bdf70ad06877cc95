"""A form refusal in a real browser says core's code in the chosen language, and a language switch says it
again in the other one (issue 10, point 4): what the support desk reads, not what AppTest sees."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from dashboard.error_texts import say
from dashboard.i18n import TEXTS
from tests.browser.conftest import PASSWORD, Server
from tests.dashboard.test_one_language import leaks

WAIT = 30_000  # ms; two shared cores: a rerun may take longer than expect's default 5 s


def wait_idle(page: Page) -> None:
    """Streamlit finished the current run (as tests/browser/conftest.py, with a longer deadline)."""
    expect(page.locator("[data-testid='stApp'][data-test-script-state='notRunning']")).to_have_count(1, timeout=WAIT)


def _login(page: Page, server: Server, lang: str) -> None:
    tr = TEXTS[lang]
    page.goto(f"{server.url}/session/login?lang={lang}&next=/phones")
    page.get_by_label(tr["username_login"]).fill("alice")
    page.get_by_label(tr["password_login"]).fill(PASSWORD)
    page.get_by_role("button", name=tr["login"]).click()
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible(timeout=WAIT)
    wait_idle(page)


def _choose_language(page: Page, lang: str) -> None:
    """The sidebar switch; clicking the language already chosen would unselect it, so only if needed."""
    title = page.get_by_role("heading", name=TEXTS[lang]["phones"], exact=True)
    if title.count() == 0:
        page.get_by_test_id("stSidebar").get_by_role("radio", name=TEXTS[lang]["language_name"]).click()
        wait_idle(page)
    expect(title).to_be_visible(timeout=WAIT)


# The text a person reads: icons are ligatures whose text ("error", "delete") is drawn as a glyph.
READABLE = """(el) => { const c = el.cloneNode(true);
    c.querySelectorAll("[data-testid='stIconMaterial'], [translate='no'][aria-hidden='true']")
        .forEach((i) => i.remove());
    document.body.appendChild(c); const text = c.innerText; c.remove(); return text; }"""


def _screen_text(page: Page) -> list[str]:
    texts = [page.get_by_test_id(area).evaluate(READABLE) for area in ("stMain", "stSidebar")]
    return [line for text in texts for line in text.splitlines() if line.strip()]  # a line per element


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_refused_mac_is_said_in_the_chosen_language_then_in_the_other(page, server, lang):
    other = "en" if lang == "fr" else "fr"
    _login(page, server, lang)
    _choose_language(page, lang)
    mac = page.locator("[class*='st-key-add_'][class*='_mac'] input")
    mac.fill("zz")
    # While typing, Streamlit writes its own English "Press Enter to apply" under the input.
    assert not leaks(_screen_text(page), lang)
    mac.press("Tab")
    wait_idle(page)
    page.get_by_role("button", name=TEXTS[lang]["save_new"]).click()
    wait_idle(page)
    alert = page.get_by_test_id("stAlertContentError").get_by_test_id("stMarkdownContainer")
    expect(alert).to_have_count(1, timeout=WAIT)
    expect(alert).to_have_text(say("mac_invalid", {"value": "zz"}, lang), timeout=WAIT)
    assert not leaks(_screen_text(page), lang)

    _choose_language(page, other)  # the message on screen is kept as a code: it is said again
    expect(alert).to_have_count(1, timeout=WAIT)
    expect(alert).to_have_text(say("mac_invalid", {"value": "zz"}, other), timeout=WAIT)
    assert not leaks(_screen_text(page), other)
