"""The fraud page: charts over the whole period, the sources table, and the responses (new key, new SIP
credentials, block/unblock) on an object found by search, each confirmed in a dialog that names it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.db import transaction
from core.models import AccessLog, AuditEvent, Device, Line
from dashboard.i18n import TEXTS


def seed_downloads(engine, device_id: int) -> None:
    now = datetime.now(UTC)
    with transaction(engine) as s:
        s.add_all([AccessLog(at=now - timedelta(minutes=m), source_ip=ip, path="/****.cfg", status=200,
                             device_id=device_id) for m, ip in ((1, "198.51.100.1"), (2, "203.0.113.9"))])  # fmt: skip


GEO = "fraud_geo_"  # the keys of the "where the sources are" section (dashboard/fraud_maps.py, its own tests)


def page_charts(at) -> list:
    """The per-source charts, without the section by country and network."""
    return [c for c in at.get("plotly_chart") if not (c.key or "").startswith(GEO)]


def spec(chart) -> dict:
    import json

    return json.loads(chart.proto.spec)


def test_charts_span_the_whole_period_and_the_sources_table_names_lines(app, world, engine, shown):
    seed_downloads(engine, world.desk_a1)
    at = app(world.provider_id, "pages/fraud.py")
    charts = page_charts(at)
    assert len(charts) == 1  # downloads only: no probes or SIP failures recorded
    fig = spec(charts[0])
    assert {trace["name"] for trace in fig["data"]} == {"198.51.100.1", "203.0.113.9"}  # no "others": none
    assert len(fig["layout"]["xaxis"]["categoryarray"]) == 7  # 7 days on the axis with two minutes of data
    assert '"displayModeBar": false' in charts[0].proto.config  # Plotly's English tooltips stay off screen
    tables = [d for d in at.dataframe if TEXTS["en"]["fg_busiest"] not in d.value.columns]  # not the countries'
    sources = tables[0].value.to_string()
    assert "198.51.100.1" in sources and "+41215550101" in sources and "Bureau Alice" in sources
    assert "Bureau Alice" in tables[1].value.to_string()  # fetched from two IPs
    at.segmented_control(key="fraud_days").set_value(1).run()
    assert len(spec(page_charts(at)[0])["layout"]["xaxis"]["categoryarray"]) == 24


def test_picking_a_source_links_the_lines_and_devices_it_touched(app, world, engine):
    seed_downloads(engine, world.desk_a1)
    at = app(world.provider_id, "pages/fraud.py")
    at.session_state["fraud_sources_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    links = {(x.proto.label, x.proto.page, x.proto.query_string) for x in at.get("page_link")}
    line = f"line={world.seed.line_a1}"
    assert links == {("+41215550101", "phones", line),
                     ("Yealink T46U Bureau Alice", "phones", f"{line}&device={world.desk_a1}")}  # fmt: skip


def test_new_key_is_confirmed_naming_the_device_then_changes_the_url(app, world, engine):
    with transaction(engine) as s:
        before = s.get(Device, world.desk_a1).access_key
    at = app(world.admin_a_id, "pages/fraud.py")
    at.text_input(key="fraud_q").input("Bureau Alice").run()
    at.button(key=f"fraud_new_key_device_{world.desk_a1}").click().run()
    with transaction(engine) as s:
        assert s.get(Device, world.desk_a1).access_key == before  # asked, not done
    assert any("Bureau Alice" in m.value for m in at.markdown if "?" in m.value)  # the dialog names it
    at.button(key=f"fraud_yes_device_{world.desk_a1}").click().run()
    assert not at.exception
    assert any("Bureau Alice" in m.value and "new key" in m.value for m in at.success)
    with transaction(engine) as s:
        assert s.get(Device, world.desk_a1).access_key != before


def test_cancel_leaves_the_line_alone(app, world, engine):
    at = app(world.admin_a_id, "pages/fraud.py")
    at.text_input(key="fraud_q").input("Bob").run()
    at.button(key=f"fraud_block_line_{world.seed.line_a2}").click().run()
    at.button(key=f"fraud_no_line_{world.seed.line_a2}").click().run()
    with transaction(engine) as s:
        assert s.get(Line, world.seed.line_a2).pstn_blocked is False


def test_block_then_unblock_acts_on_the_line_shown_and_leaves_the_other(app, world, engine, shown):
    a, b = world.seed.line_a1, world.seed.line_a2
    with transaction(engine) as s:
        old_password = s.get(Line, b).sip_password
    at = app(world.admin_a_id, "pages/fraud.py")
    at.text_input(key="fraud_q").input("+4121555010").run()  # both of acme's lines
    for _ in range(2):
        at.button(key=f"fraud_block_line_{a}").click().run()
        at.button(key=f"fraud_yes_line_{a}").click().run()
        with transaction(engine) as s:
            assert (s.get(Line, a).pstn_blocked, s.get(Line, b).pstn_blocked) == (True, False)
        assert at.button(key=f"fraud_unblock_line_{a}").label == "Unblock the extension"
        at.button(key=f"fraud_unblock_line_{a}").click().run()
        at.button(key=f"fraud_yes_line_{a}").click().run()
        with transaction(engine) as s:
            assert (s.get(Line, a).pstn_blocked, s.get(Line, b).pstn_blocked) == (False, False)
    at.button(key=f"fraud_new_sip_line_{b}").click().run()
    at.button(key=f"fraud_yes_line_{b}").click().run()
    with transaction(engine) as s:
        line = s.get(Line, b)
        assert line.sip_password != old_password and line.sip_password not in shown(at)
        audit = s.execute(select(AuditEvent.action, AuditEvent.target_id).order_by(AuditEvent.id)).all()
    assert [x for x in audit if x[0].startswith("line.")][-5:] == [
        ("line.block", str(a)), ("line.unblock", str(a)), ("line.block", str(a)), ("line.unblock", str(a)),
        ("line.credentials.renew", str(b))]  # fmt: skip


def test_vpbx_admin_finds_nothing_of_another_vpbx(app, world, shown):
    at = app(world.admin_a_id, "pages/fraud.py")
    at.text_input(key="fraud_q").input("Carol").run()
    assert "No extension or device matches." in [c.value for c in at.caption]
    assert "+41225550201" not in shown(at)


def test_no_full_list_on_load(app, world):
    at = app(world.provider_id, "pages/fraud.py")
    assert not at.selectbox and not [b for b in at.button if b.key and b.key.startswith("fraud_block_line")]
