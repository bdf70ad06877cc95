"""Fraude's "where the sources are" (dashboard/fraud_maps.py) and Appareil's « Alertes » (dashboard/device_alerts.py),
through AppTest: the countries as bars and a table, the lines over time by country and by network, in French and
in English, scoped to the account; the device's alerts with their evidence and its CSV, read only once opened.

Traffic is written as the endpoint writes it (access_log, security_event), most of it folded by core.rollup as
serve does; alerts are raised by core.alerts.scan over raw rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from core import alerts, rollup
from core import event_kinds as ek
from core.db import transaction
from core.models import AccessLog, SecurityEvent
from dashboard.alerts_panel import CSV_COLUMNS
from dashboard.device_alerts import SHOWN, expander_key
from dashboard.i18n import LANG_KEY, TEXTS
from tests.core.test_statement_counts import counting
from tests.dashboard.test_one_language import leaks, problems

NOW = datetime.now(UTC).replace(microsecond=0)
NL, CH, AU, LAN = "193.0.6.139", "195.186.1.1", "1.128.0.1", "192.168.1.10"
GEO_CHARTS = ("fraud_geo_map", "fraud_geo_countries_chart", "fraud_geo_by_country", "fraud_geo_by_network")


def traffic(engine: Engine, world: Any) -> None:
    """Alice's desk phone (acme) from NL, CH, AU and its LAN; Carol's (globex) from CH; a scanner in AU probing
    unknown keys; failed SIP logins on Bob's line (acme) from NL. Rolled up, but for a tail of two downloads."""

    def fetch(device: int, ip: str, n: int, minutes: float = 30) -> list[dict[str, Any]]:
        return [{"at": NOW - timedelta(minutes=minutes, seconds=i), "source_ip": ip, "path": "/k.cfg", "status": 200,
                 "reason": "", "device_id": device} for i in range(n)]  # fmt: skip

    with engine.begin() as conn:
        conn.execute(insert(AccessLog), [*fetch(world.desk_a1, NL, 5), *fetch(world.desk_a1, CH, 3),
                                         *fetch(world.desk_a1, AU, 2), *fetch(world.desk_a1, LAN, 4),
                                         *fetch(world.desk_b1, CH, 7)])  # fmt: skip
        conn.execute(insert(AccessLog), [{"at": NOW - timedelta(minutes=20, seconds=i), "source_ip": AU,
                                          "path": "/x.cfg", "status": 404, "reason": ek.UNKNOWN_KEY}
                                         for i in range(30)])  # fmt: skip
        conn.execute(insert(SecurityEvent), [{"at": NOW - timedelta(minutes=10, seconds=i), "source_ip": NL,
                                              "kind": ek.SIP_AUTH_FAILED, "line_id": world.seed.line_a2}
                                             for i in range(10)])  # fmt: skip
    rollup.roll_up(engine, now=NOW + timedelta(hours=1))
    with engine.begin() as conn:  # the tail: not rolled up, counted all the same
        conn.execute(insert(AccessLog), fetch(world.desk_a1, NL, 2, minutes=5))


def chart(at, key: str) -> dict[str, Any]:
    (found,) = [c for c in at.get("plotly_chart") if c.key == key]
    return json.loads(found.proto.spec)


def countries_table(at, lang: str):
    (table,) = [d for d in at.dataframe if TEXTS[lang]["fg_busiest"] in d.value.columns]
    return table.value


def bars(at) -> dict[str, int]:
    (trace,) = chart(at, "fraud_geo_countries_chart")["data"]
    return dict(zip(trace["y"], trace["x"], strict=True))


def tab(at, lang: str, text: str) -> None:
    """Open one of the section's tabs (what a click sets: the tab's label under the tabs' key)."""
    at.session_state["fraud_geo_tab"] = TEXTS[lang][text]
    at.run()
    assert not at.exception, at.exception


def drawn(at) -> list[str]:
    return [c.key for c in at.get("plotly_chart") if c.key in GEO_CHARTS]


def chart_texts(at) -> list[str]:
    """What the section's charts drawn now say: axis and legend titles, trace names, hover texts."""
    texts = []
    for key in drawn(at):
        fig = chart(at, key)
        for axis in ("xaxis", "yaxis", "legend"):
            texts.append(fig["layout"].get(axis, {}).get("title", {}).get("text", ""))
        for trace in fig["data"]:
            texts += [str(trace.get("name", "")), *(str(h) for h in trace.get("hovertext", []))]
    return [t for t in texts if t.strip()]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_countries_and_networks_are_drawn_in_the_readers_language(app, world, engine, lang):
    traffic(engine, world)
    at = app(world.provider_id, "pages/fraud.py", lang=lang)
    words = TEXTS[lang]
    assert words["fg_title"] in [h.value for h in at.subheader]
    kinds = at.segmented_control(key="fraud_geo_kind")
    assert kinds.value == "download"
    assert list(kinds.options) == [words["fg_kind_download"], words["fg_kind_probe"], words["fg_kind_sip_failed"]]
    private = words["al_country_private"]
    assert bars(at) == {private: 4, "AU": 2, "NL": 7, "CH": 10}  # busiest on top: drawn last
    fig = chart(at, "fraud_geo_countries_chart")
    assert (fig["layout"]["xaxis"]["title"]["text"], fig["layout"]["yaxis"]["title"]["text"]) == (
        words["count"], words["al_country"])  # fmt: skip
    hover = dict(zip(fig["data"][0]["y"], fig["data"][0]["hovertext"], strict=True))
    colon = " :" if lang == "fr" else ":"
    assert hover["NL"] == (f"<b>NL</b><br>{words['count']}{colon} 7<br>{words['fg_addresses']}{colon} 1<br>"
                           f"{words['fg_busiest']}{colon} {NL} (7)")  # fmt: skip
    table = countries_table(at, lang)
    assert list(table.columns) == [words["al_country"], words["count"], words["fg_addresses"], words["fg_busiest"]]
    assert table.values.tolist() == [["CH", 10, 1, CH], ["NL", 7, 1, NL], [private, 4, 1, LAN], ["AU", 2, 1, AU]]
    assert drawn(at) == ["fraud_geo_map", "fraud_geo_countries_chart"]  # only the open tab is drawn
    found = problems(at, lang, "fraud sources by country") + [f"chart: {p}" for p in leaks(chart_texts(at), lang)]
    tab(at, lang, "fg_by_country")
    assert drawn(at) == ["fraud_geo_by_country"]
    by_country = chart(at, "fraud_geo_by_country")
    found += [f"chart: {p}" for p in leaks(chart_texts(at), lang)]
    tab(at, lang, "fg_by_network")
    assert drawn(at) == ["fraud_geo_by_network"]
    by_network = chart(at, "fraud_geo_by_network")
    found += problems(at, lang, "fraud sources by network") + [f"chart: {p}" for p in leaks(chart_texts(at), lang)]
    assert [t["name"] for t in by_country["data"]] == ["CH", "NL", private, "AU"]
    assert [t["name"] for t in by_network["data"]] == ["195.186.0.0/16", "193.0.0.0/16", "192.168.1.0/24",
                                                       "1.128.0.0/16"]  # fmt: skip
    assert len(by_country["layout"]["xaxis"]["categoryarray"]) == 7  # the page's period: 7 days, every day
    assert sum(sum(t["y"]) for t in by_network["data"]) == 23
    assert by_network["layout"]["legend"]["title"]["text"] == words["fg_network"]
    at.segmented_control(key="fraud_days").set_value(1).run()  # the page's period drives the section
    assert len(chart(at, "fraud_geo_by_network")["layout"]["xaxis"]["categoryarray"]) == 24
    assert chart(at, "fraud_geo_by_network")["layout"]["xaxis"]["title"]["text"] == words["hour"]
    tab(at, lang, "fg_tab_countries")
    at.segmented_control(key="fraud_geo_kind").set_value("probe").run()
    assert bars(at) == {"AU": 30}
    found += problems(at, lang, "fraud sources, probes")
    at.segmented_control(key="fraud_geo_kind").set_value("sip_failed").run()
    assert bars(at) == {"NL": 10}
    assert not found, "\n".join(found)


def test_the_world_map_places_each_country_on_its_centroid_from_our_own_topojson(app, world, engine):
    """Bubbles on the located countries, area by count; the private addresses said below; plotly's base map read
    from the dashboard's own static folder (static/plotly/), not from cdn.plot.ly."""
    from core import geo
    from core.settings import ROOT
    from dashboard.fraud_maps import TOPOJSON_URL

    traffic(engine, world)
    at = app(world.provider_id, "pages/fraud.py", lang="fr")
    (found,) = [c for c in at.get("plotly_chart") if c.key == "fraud_geo_map"]
    (trace,) = json.loads(found.proto.spec)["data"]
    placed = dict(zip(trace["text"], zip(trace["lat"], trace["lon"], strict=True), strict=True))
    assert placed == {code: geo.centroid(code) for code in ("CH", "NL", "AU")}
    sizes = dict(zip(trace["text"], trace["marker"]["size"], strict=True))
    assert sizes["CH"] > sizes["NL"] > sizes["AU"]  # 10 > 7 > 2 requests
    assert TEXTS["fr"]["fg_map_unplaced"].format(count=4) in [c.value for c in at.caption]
    config = json.loads(found.proto.config)
    assert config["topojsonURL"] == TOPOJSON_URL == "/app/static/plotly/"
    served = ROOT / "static" / "plotly" / "world_110m.json"  # what Streamlit serves at TOPOJSON_URL
    assert {"countries", "land", "coastlines"} <= set(json.loads(served.read_text())["objects"])


def test_a_vpbx_admin_sees_its_vpbx_sources_and_no_probes(app, world, engine):
    traffic(engine, world)
    at = app(world.admin_a_id, "pages/fraud.py")
    assert list(at.segmented_control(key="fraud_geo_kind").options) == ["Downloads", "SIP failures"]
    assert bars(at) == {"private address": 4, "AU": 2, "CH": 3, "NL": 7}  # not Carol's 7 from CH
    at.segmented_control(key="fraud_geo_kind").set_value("sip_failed").run()
    assert bars(at) == {"NL": 10}  # Bob's line is acme's
    at = app(world.admin_b_id, "pages/fraud.py")
    assert bars(at) == {"CH": 7}
    assert countries_table(at, "en").values.tolist() == [["CH", 7, 1, CH]]
    at.segmented_control(key="fraud_geo_kind").set_value("sip_failed").run()
    assert not [c for c in at.get("plotly_chart") if c.key in GEO_CHARTS]
    assert TEXTS["en"]["no_data"] in [c.value for c in at.caption]


def test_no_traffic_says_so(app, world):
    at = app(world.provider_id, "pages/fraud.py", lang="fr")
    assert TEXTS["fr"]["fg_title"] in [h.value for h in at.subheader]
    assert not [c for c in at.get("plotly_chart") if c.key in GEO_CHARTS]


# -- Appareil: the device's alerts ----------------------------------------------------------------------


FORMULA_UA = "=cmd|' /C calc'!A0"


def raise_alerts(engine: Engine, world: Any) -> None:
    """Alice's desk phone asked twice with its retired key (one User-Agent a spreadsheet formula); Carol's once."""
    start = NOW - timedelta(minutes=5)
    with transaction(engine) as s:
        s.execute(insert(AccessLog), [
            {"at": start, "source_ip": NL, "user_agent": "Yealink SIP-T46U", "path": "/p/abcdef…/x.cfg",
             "status": 404, "reason": ek.OLD_KEY, "device_id": world.desk_a1},
            {"at": start + timedelta(seconds=1), "source_ip": AU, "user_agent": FORMULA_UA, "path": "/p/abcdef…/x.cfg",
             "status": 404, "reason": ek.OLD_KEY, "device_id": world.desk_a1},
            {"at": start, "source_ip": CH, "user_agent": "Yealink", "path": "/p/123456…/y.cfg", "status": 404,
             "reason": ek.OLD_KEY, "device_id": world.desk_b1}])  # fmt: skip
    alerts.scan(engine, None, now=NOW + timedelta(seconds=5))


def served_files(monkeypatch) -> dict[str, bytes]:
    served: dict[str, bytes] = {}
    load = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):  # what a download button hands Streamlit
        if isinstance(path_or_data, bytes) and filename:
            served[filename] = path_or_data
        return load(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return served


def open_alerts(at, device_id: int) -> None:
    at.session_state[expander_key(device_id)] = True  # what a click on the expander sets
    at.run()
    assert not at.exception, at.exception


def statements(engine: Engine, at) -> list[str]:
    with counting(Engine) as seen:  # every engine: the page makes its own
        at.run()
    assert not at.exception, at.exception
    return seen


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_device_view_lists_its_alerts_with_their_evidence_and_csv(app, world, engine, monkeypatch, lang):
    raise_alerts(engine, world)
    served = served_files(monkeypatch)
    words = TEXTS[lang]
    at = app(world.provider_id, "pages/device.py", lang=lang, device=str(world.desk_a1))
    (box,) = [e for e in at.expander if e.label == words["da_title"]]
    assert not at.get("download_button") or all("alert" not in (b.key or "") for b in at.get("download_button"))
    assert not any("FROM alert" in s for s in statements(engine, at))  # closed: nothing of it read
    open_alerts(at, world.desk_a1)
    with transaction(engine) as s:
        (alert,) = alerts.list_alerts(s, alerts_actor(), device_id=world.desk_a1)
    title = alerts.alert_rules.BY_CODE["retired_key_used"].title(lang)
    assert f"**{title}** · {words['al_sev_high']} · {words['al_st_open']}" in [m.value for m in at.markdown]
    (evidence,) = [d for d in at.dataframe if words["al_origin"] in d.value.columns]
    assert list(evidence.value.columns) == [words[k] for k in ("ev_time", "al_origin", "ev_address", "al_country",
                                            "al_what")] + ["User-Agent", words["al_path"]]  # fmt: skip
    assert list(evidence.value[words["al_country"]]) == ["NL", "AU"]
    (button,) = [b for b in at.get("download_button") if b.key == f"dv_alert_csv_{alert['id']}"]
    assert button.proto.label == words["al_csv"]
    parsed = list(csv.DictReader(io.StringIO(served[f"device-{world.desk_a1}-alert-{alert['id']}-evidence.csv"]
                                             .decode("utf-8"))))  # fmt: skip
    assert tuple(parsed[0]) == CSV_COLUMNS  # stable English headers, whatever the reader's language
    assert [(r["origin"], r["source_ip"], r["country"], r["what"]) for r in parsed] == [
        ("access_log", NL, "NL", "old_key"), ("access_log", AU, "AU", "old_key")]  # fmt: skip
    assert parsed[1]["user_agent"] == "'" + FORMULA_UA  # a spreadsheet shows it, never runs it
    links = [(x.proto.label, x.proto.page, x.proto.query_string) for x in at.get("page_link")]
    assert (words["da_open"], "fraud", f"alert={alert['id']}") in links
    assert "Carol" not in "\n".join(str(m.value) for m in at.markdown)  # another device's alert is not listed
    assert not (found := problems(at, lang, "device alerts")), "\n".join(found)


def alerts_actor():
    from core.permissions import system_actor

    return system_actor("pytest")


def test_the_alerts_follow_the_account_and_a_user_has_none(app, world, engine):
    raise_alerts(engine, world)
    at = app(world.admin_a_id, "pages/device.py", device=str(world.desk_a1))
    open_alerts(at, world.desk_a1)
    assert any(d for d in at.dataframe if "Origin" in d.value.columns)
    at = app(world.provider_id, "pages/device.py", device=str(world.soft_a1))  # no alert about this one
    open_alerts(at, world.soft_a1)
    assert TEXTS["en"]["da_none"] in [c.value for c in at.caption]
    at = app(world.alice_id, "pages/device.py", device=str(world.desk_a1))  # users see no alerts at all
    assert TEXTS["en"]["da_title"] not in [e.label for e in at.expander]
    # Another vPBX's device by URL: not found; the view falls back on the account's own device, Carol's.
    at = app(world.admin_b_id, "pages/device.py", device=str(world.desk_a1))
    assert at.selectbox(key="device_view_pick").value == world.desk_b1
    open_alerts(at, world.desk_b1)
    (evidence,) = [d for d in at.dataframe if "Origin" in d.value.columns]
    assert list(evidence.value["Address"]) == [CH]  # Carol's phone, never Alice's


def test_at_most_the_first_alerts_are_drawn_and_the_rest_are_on_fraude(app, world, engine):
    from core.models import Alert

    with transaction(engine) as s:
        s.execute(insert(Alert), [
            {"rule": "fetch_new_network", "severity": "low", "subject": f"device:{world.desk_a1}", "state": "resolved",
             "vpbx_id": world.seed.vpbx_a, "line_id": world.seed.line_a1, "device_id": world.desk_a1,
             "first_seen": NOW - timedelta(hours=i), "last_seen": NOW - timedelta(hours=i), "count": 1}
            for i in range(SHOWN + 3)])  # fmt: skip
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    few = len(statements(engine, at))
    open_alerts(at, world.desk_a1)
    assert TEXTS["en"]["da_cut"].format(count=SHOWN) in [c.value for c in at.caption]
    shown = [b for b in at.get("page_link") if "alert=" in b.proto.query_string]
    assert len(shown) == SHOWN
    # Open: one list and two statements per alert drawn (its row, its evidence), whatever the alerts beyond.
    assert len(statements(engine, at)) == few + 1 + 2 * SHOWN


def test_a_language_switch_keeps_the_section_drawn(app, world, engine):
    traffic(engine, world)
    at = app(world.provider_id, "pages/fraud.py", lang="fr")
    tab(at, "fr", "fg_by_network")
    at.session_state[LANG_KEY] = "en"  # the sidebar's switch: every label changes, the French tab's label is gone
    at.run()
    assert not at.exception, at.exception
    assert TEXTS["en"]["fg_title"] in [h.value for h in at.subheader]
    assert drawn(at) in (["fraud_geo_by_network"], ["fraud_geo_map", "fraud_geo_countries_chart"])  # one tab
