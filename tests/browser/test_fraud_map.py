"""Fraude's world map in a real browser with no Internet: plotly.js draws its land and borders from the topojson
the dashboard serves itself (static/plotly/), never from cdn.plot.ly, and places a bubble per located country
(issue 13 point 2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, Request, Route, expect
from sqlalchemy import insert

from core.db import make_engine, transaction
from core.models import AccessLog
from tests.browser.conftest import Server, login, wait_idle

pytestmark = pytest.mark.browser

SOURCES = {"193.0.6.139": 5, "195.186.1.1": 3, "1.128.0.1": 2}  # NL, CH, AU


def _fetches(server: Server) -> None:
    now = datetime.now(UTC)
    engine = make_engine(server.db_url)
    try:
        with transaction(engine) as s:
            s.execute(insert(AccessLog), [
                {"at": now - timedelta(minutes=10, seconds=i), "source_ip": ip, "path": "/k.cfg", "status": 200,
                 "reason": "", "device_id": server.desk} for ip, n in SOURCES.items() for i in range(n)])  # fmt: skip
    finally:
        engine.dispose()


def test_the_map_draws_from_our_own_topojson_without_internet(page: Page, server: Server) -> None:
    _fetches(server)
    outside: list[str] = []
    topojson: list[int] = []

    def offline(route: Route, request: Request) -> None:  # everything not ours is unreachable, as on an island
        outside.append(request.url)
        route.abort()

    page.context.route(lambda url: not url.startswith(server.url), offline)
    page.on("response", lambda r: topojson.append(r.status) if r.url.endswith("/world_110m.json") else None)
    login(page, server, "support", "/fraud")
    wait_idle(page)
    chart = page.locator(".st-key-fraud_geo_map")
    expect(chart.locator("g.geo .layer.land path")).to_have_count(1)  # the land, drawn from the topojson
    expect(chart.locator("g.geo .layer.countries path").first).to_be_attached()
    expect(chart.locator("g.scattergeo path.point")).to_have_count(len(SOURCES))  # one bubble per country
    assert topojson == [200]
    # The one thing asked of the Internet: the tab's favicon, which Streamlit draws from a page's material icon
    # at fonts.gstatic.com (the tab keeps its default icon offline); nothing of the map.
    favicon = "https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/"
    assert [u for u in outside if not u.startswith(favicon)] == []
