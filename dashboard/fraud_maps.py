"""Fraude: where the traffic comes from (issue 13 point 2), below the alerts and the per-source charts.

For the period the page already has and a kind picked here (téléchargements / recherches de clés / échecs SIP;
probes for the provider only, as core.fraud.visible_kinds says), three tabs, only the open one drawn: the sources
per country as bars with their table (`core.fraud_geo.sources_by_country`), and the counts over time by country
and by provider network as lines, the top TOP and the rest as one grey "others" (`core.fraud_geo.series`). One
statement per tab's data, cached for REPORT_SECONDS per database, account, period and kind like the page's own
report; the section is a fragment, so picking a kind or a tab redraws it alone.

The world map: a `scatter_geo` of each located country's centroid (core.geo's offline centroids), its bubble's
area proportional to its count. Plotly.js draws the land and borders from a topojson it would fetch from
cdn.plot.ly; the dashboard serves that file itself (static/plotly/, Streamlit's static serving) and points
plotly's `topojsonURL` at it, so the map works without Internet access. Private addresses and unknown countries
have no place on a map: their total is said below it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from core import fraud, fraud_geo
from core.fraud_geo import OTHER
from core.permissions import Actor
from core.rollup import DOWNLOAD, PROBE, SIP_FAILED
from core.settings import current_settings
from dashboard.alerts_panel import country_label
from dashboard.db import tx
from dashboard.i18n import lang, t

KIND_KEY = "fraud_geo_kind"
TAB_KEY = "fraud_geo_tab"  # the open tab's label (st.tabs tracking its state)
REPORT_SECONDS = 30  # as pages/fraud.py's report: the charts may lag this much
TOP = fraud_geo.TOP
BARS = 15  # countries drawn as bars; the table below lists them all
OTHERS_COLOUR = "#b0b0b0"
KIND_TEXTS = {DOWNLOAD: "fg_kind_download", PROBE: "fg_kind_probe", SIP_FAILED: "fg_kind_sip_failed"}
PLOT_CONFIG = {"displayModeBar": False}  # its tooltips are Plotly's English whatever the language
TOPOJSON_URL = "/app/static/plotly/"  # plotly.js appends "world_110m.json": static/plotly/README.md
MAP_CONFIG = {**PLOT_CONFIG, "topojsonURL": TOPOJSON_URL}
MAP_BUBBLE = 40  # the busiest country's bubble, in pixels across


@st.cache_data(ttl=REPORT_SECONDS, max_entries=64, show_spinner=False)
def _countries(db_url: str, who: Actor, p: fraud.Period, kind: str) -> list[dict[str, Any]]:
    """The first tab's rows: per address, not per bucket (at provider size 3,000 rows, not 80,000)."""
    del db_url  # part of the cache key: one cache per database
    with tx() as s:
        return fraud_geo.sources_by_country(s, who, p, kind)


@st.cache_data(ttl=REPORT_SECONDS, max_entries=64, show_spinner=False)
def _report(db_url: str, who: Actor, p: fraud.Period, kind: str) -> dict[str, Any]:
    """The series tabs' data, both from one statement (fraud_geo.series: the rollup's geo grains)."""
    del db_url
    with tx() as s:
        return fraud_geo.series(s, who, p, kind)


def country_name(code: str) -> str:
    """A country as its code ("CH"); "others", an unknown country and a private address's kind in words."""
    if code == OTHER:
        return t("fraud_others")
    return country_label(code) if code else t("fg_unknown")


def network_name(network: str) -> str:
    if network == OTHER:
        return t("fraud_others")
    return country_label(network) if network == "invalid" else network


def _colon() -> str:
    return " :" if lang() == "fr" else ":"  # French typography: a space before a colon


def _hover(row: dict[str, Any]) -> str:
    busiest = ", ".join(f"{a['source_ip']} ({a['count']})" for a in row["top_addresses"])
    return (f"<b>{country_name(row['country'])}</b><br>{t('count')}{_colon()} {row['count']}<br>"
            f"{t('fg_addresses')}{_colon()} {row['addresses']}<br>{t('fg_busiest')}{_colon()} {busiest}")  # fmt: skip


def countries_chart(countries: list[dict[str, Any]]) -> None:
    """The busiest BARS countries as horizontal bars, busiest on top; hover: country, count, addresses."""
    shown = countries[:BARS][::-1]  # plotly draws the first bar at the bottom
    fig = go.Figure(go.Bar(
        x=[r["count"] for r in shown], y=[country_name(r["country"]) for r in shown], orientation="h",
        hovertext=[_hover(r) for r in shown], hoverinfo="text", text=[r["count"] for r in shown],
        textposition="auto",
    ))  # fmt: skip
    fig.update_xaxes(title_text=t("count"))
    fig.update_yaxes(type="category", title_text=t("al_country"))
    fig.update_layout(height=max(160, 60 + 26 * len(shown)), margin={"l": 0, "r": 0, "t": 10, "b": 0})
    st.plotly_chart(fig, key="fraud_geo_countries_chart", config=PLOT_CONFIG)
    if len(countries) > BARS:
        st.caption(t("fg_bars_cut", shown=BARS, total=len(countries)))


def world_map(countries: list[dict[str, Any]]) -> None:
    """Each located country as a bubble on its centroid; the rest (private, unknown) counted in a caption."""
    placed = [r for r in countries if r["lat"] is not None]
    unplaced = sum(r["count"] for r in countries if r["lat"] is None)
    if placed:
        top = max(r["count"] for r in placed)
        fig = go.Figure(go.Scattergeo(
            lat=[r["lat"] for r in placed], lon=[r["lon"] for r in placed], text=[r["country"] for r in placed],
            hovertext=[_hover(r) for r in placed], hoverinfo="text", mode="markers",
            marker={"size": [MAP_BUBBLE * (r["count"] / top) ** 0.5 for r in placed], "sizemin": 4,
                    "color": "#d62728", "opacity": 0.6, "line": {"width": 0}},
        ))  # fmt: skip
        fig.update_geos(projection_type="natural earth", resolution=110, showcountries=True, showland=True,
                        landcolor="#eeeeee", countrycolor="#bbbbbb", showframe=False)  # fmt: skip
        fig.update_layout(height=360, margin={"l": 0, "r": 0, "t": 0, "b": 0})
        st.plotly_chart(fig, key="fraud_geo_map", config=MAP_CONFIG)
    if unplaced:
        st.caption(t("fg_map_unplaced", count=unplaced))


def countries_table(countries: list[dict[str, Any]]) -> None:
    st.dataframe(
        [{t("al_country"): country_name(r["country"]), t("count"): r["count"], t("fg_addresses"): r["addresses"],
          t("fg_busiest"): ", ".join(a["source_ip"] for a in r["top_addresses"])} for r in countries],
        hide_index=True, key="fraud_geo_countries_table",
    )  # fmt: skip


def series_chart(data: dict[str, Any], p: fraud.Period, name: Callable[[str], str], key: str) -> None:
    """One line per group over every bucket of the period (zeros included), "others" in grey."""
    counts = {(r["bucket"], r["key"]): r["count"] for r in data["rows"]}
    fig = go.Figure()
    for group in data["keys"]:
        fig.add_scatter(x=data["buckets"], y=[counts.get((b, group), 0) for b in data["buckets"]], name=name(group),
                        mode="lines+markers", marker_size=4,
                        line_color=OTHERS_COLOUR if group == OTHER else None)  # fmt: skip
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=data["buckets"], nticks=12,
                     title_text=t("hour") if p.grain == "hour" else t("fraud_day"))  # fmt: skip
    fig.update_yaxes(title_text=t("count"), rangemode="tozero")
    fig.update_layout(height=320, margin={"l": 0, "r": 0, "t": 10, "b": 0}, hovermode="x unified",
                      legend_title_text=t("al_country") if key.endswith("country") else t("fg_network"))  # fmt: skip
    st.plotly_chart(fig, key=key, config=PLOT_CONFIG)


@st.fragment
def geo_section(actor: Actor, period: fraud.Period) -> None:
    """The section (one call from pages/fraud.py): a fragment, so picking a kind or a tab redraws only this part.
    Only the open tab is drawn (st.tabs tracking its state): one chart at a time for the browser to draw, and the
    per-bucket rows are read only for the series tabs."""
    st.subheader(t("fg_title"))
    kinds = {k: t(KIND_TEXTS[k]) for k in fraud.visible_kinds(actor)}  # said now, in this run's language
    kind = st.segmented_control(t("fg_kind"), list(kinds), default=DOWNLOAD, format_func=kinds.__getitem__,
                                key=KIND_KEY) or DOWNLOAD  # fmt: skip
    if kind not in kinds:  # a kind this account does not see (left in the session): the first one
        kind = DOWNLOAD
    st.caption(t("fg_note"))
    db_url = current_settings().db_url
    countries = _countries(db_url, actor, period, kind)
    if not countries:
        st.caption(t("no_data"))
        return
    tab_countries, tab_country, tab_network = st.tabs(
        [t("fg_tab_countries"), t("fg_by_country"), t("fg_by_network")], key=TAB_KEY, on_change="rerun"
    )
    if tab_countries.open:
        with tab_countries:
            world_map(countries)
            countries_chart(countries)
            countries_table(countries)
    if tab_country.open:
        with tab_country:
            series_chart(_report(db_url, actor, period, kind)["by_country"], period, country_name,
                         "fraud_geo_by_country")  # fmt: skip
    if tab_network.open:
        with tab_network:
            series_chart(_report(db_url, actor, period, kind)["by_network"], period, network_name,
                         "fraud_geo_by_network")  # fmt: skip
