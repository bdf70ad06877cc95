"""The fraud page: charts from core.fraud and the responses (new key, new SIP credentials, block)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.db import transaction
from core.models import AccessLog, Device, Line


def seed_downloads(engine, device_id: int) -> None:
    now = datetime.now(UTC)
    with transaction(engine) as s:
        s.add_all([AccessLog(at=now - timedelta(minutes=m), source_ip=ip, path="/****.cfg", status=200,
                             device_id=device_id) for m, ip in ((1, "198.51.100.1"), (2, "203.0.113.9"))])  # fmt: skip


def test_charts_and_shared_devices_for_the_provider(app, world, engine, shown):
    seed_downloads(engine, world.desk_a1)
    at = app(world.provider_id, "pages/fraud.py")
    charts = at.get("plotly_chart")
    assert len(charts) == 1  # downloads only: no probes or SIP failures recorded
    assert "198.51.100.1" in charts[0].proto.spec and "203.0.113.9" in charts[0].proto.spec
    assert "Bureau Alice" in at.dataframe[0].value.to_string()


def test_new_key_changes_the_url(app, world, engine):
    with transaction(engine) as s:
        before = s.get(Device, world.desk_a1).access_key
    at = app(world.admin_a_id, "pages/fraud.py")
    at.selectbox(key="fraud_device").set_value(world.desk_a1).run()
    at.button(key="fraud_new_key").click().run()
    assert not at.exception
    assert "New key made: the old URL no longer answers." in [s.value for s in at.success]
    with transaction(engine) as s:
        assert s.get(Device, world.desk_a1).access_key != before


def test_block_unblock_and_new_sip_credentials_without_showing_them(app, world, engine, shown):
    with transaction(engine) as s:
        old_password = s.get(Line, world.seed.line_a2).sip_password
    at = app(world.admin_a_id, "pages/fraud.py")
    at.selectbox(key="fraud_line").set_value(world.seed.line_a2).run()
    at.button(key="fraud_block").click().run()
    with transaction(engine) as s:
        assert s.get(Line, world.seed.line_a2).pstn_blocked is True
    at.button(key="fraud_block").click().run()
    at.button(key="fraud_new_sip").click().run()
    with transaction(engine) as s:
        line = s.get(Line, world.seed.line_a2)
        assert line.pstn_blocked is False and line.sip_password != old_password
        assert line.sip_password not in shown(at)


def test_vpbx_admin_cannot_act_on_another_vpbx(app, world):
    at = app(world.admin_a_id, "pages/fraud.py")
    assert not any("Carol" in o for o in at.selectbox(key="fraud_device").options)
    assert not any("+41225550201" in o for o in at.selectbox(key="fraud_line").options)
