"""The line picker in a real browser: a search (not a list of every line), a click picks the line it shows,
`?line=` preselects, the chosen line follows from page to page, a user's one line is simply shown."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.db import make_engine
from core.models import Line
from tests.browser.conftest import login, wait_idle

pytestmark = pytest.mark.browser


def line_id(server, number: str) -> int:
    engine = make_engine(server.db_url)
    with engine.connect() as conn:
        found = conn.scalar(select(Line.id).where(Line.number == number))
    engine.dispose()
    assert found is not None
    return found


def test_search_then_click_picks_that_line_and_it_follows_to_other_pages(page, server):
    bob = line_id(server, "+41215550102")
    login(page, server, "support", "/phones")
    expect(page.get_by_role("heading", name="Extension 101")).to_be_visible()  # the first line by default
    search = page.locator(".st-key-line_pick_q input")
    search.fill("bob")
    search.press("Enter")
    wait_idle(page)
    hits = page.locator("[class*='st-key-line_pick_hit_'] button")
    expect(hits).to_have_count(1)  # only the match, never every line
    expect(hits.first).to_contain_text("+41215550102")
    hits.first.click()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Extension 102")).to_be_visible()
    expect(page.get_by_text("Bureau Bob").first).to_be_attached()  # a dataframe cell: in the DOM, drawn on canvas
    assert f"line={bob}" in page.url
    expect(search).to_have_value("")  # the search is done
    page.get_by_test_id("stSidebarNav").get_by_text("Status", exact=True).click()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Extension 102")).to_be_visible()  # still Bob's line


def test_deep_link_preselects_and_nothing_matching_says_so(page, server):
    bob = line_id(server, "+41215550102")
    login(page, server, "support", f"/phones?line={bob}")
    expect(page.get_by_role("heading", name="Extension 102")).to_be_visible()
    search = page.locator(".st-key-line_pick_q input")
    search.fill("nobody here")
    search.press("Enter")
    wait_idle(page)
    expect(page.get_by_text("No extension matches “nobody here”.")).to_be_visible()
    expect(page.locator("[class*='st-key-line_pick_hit_']")).to_have_count(0)


def test_a_user_sees_their_line_without_a_search(page, server):
    bob = line_id(server, "+41215550102")
    login(page, server, "alice", f"/phones?line={bob}")  # another line by URL: ignored
    expect(page.get_by_role("heading", name="Extension 101")).to_be_visible()
    expect(page.locator(".st-key-line_pick_q")).to_have_count(0)
    expect(page.get_by_text("Bureau Bob")).to_have_count(0)
