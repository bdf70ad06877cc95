"""Appareil (pages/device.py): one device's parameters, its findings, the manual's buttons and its timeline,
for each role that may see it; every button goes through core as the acting account."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from core import devices, heartbeat
from core.db import transaction
from core.models import AuditEvent, Device, DeviceCommand
from core.permissions import system_actor
from tests.dashboard.conftest import register


def access_key(engine, device_id: int) -> str | None:
    with transaction(engine) as s:
        device = s.get(Device, device_id)
        assert device is not None
        return device.access_key


def test_provider_sees_the_parameters_and_no_secret(app, world, engine, shown):
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    text = shown(at)
    for expected in ("Yealink T46U", "805EC0112233", "Bureau Alice", "+41215550101", "Provisioning MAC",
                     "Last access", "never", "not registered"):  # fmt: skip
        assert expected in text, expected
    key = access_key(engine, world.desk_a1)
    assert key and key not in text  # the URL's key is shown only in Configuration manuelle
    assert at.selectbox(key="device_view_pick").value == world.desk_a1


def test_vpbx_admin_and_end_user_see_their_device(app, world, shown):
    for account in (world.admin_a_id, world.alice_id):
        at = app(account, "pages/device.py", device=str(world.desk_a1))
        assert "Bureau Alice" in shown(at) and "805EC0112233" in shown(at)


def test_a_foreign_device_id_shows_nothing_of_it(app, world, shown):
    for account, foreign in ((world.alice_id, world.desk_a2), (world.admin_a_id, world.desk_b1)):
        at = app(account, "pages/device.py", device=str(foreign))
        text = shown(at)
        assert "No such device." in text
        for secret in ("Bureau Bob", "000413AABBCC", "Carol", "805EC0998877"):
            assert secret not in text, secret
        # The picker falls back on the account's own line.
        assert at.selectbox(key="device_view_pick").value not in (world.desk_a2, world.desk_b1)


def test_without_an_id_a_picker_chooses_the_lines_device(app, world, shown):
    at = app(world.alice_id, "pages/device.py")
    picker = at.selectbox(key="device_view_pick")
    assert picker.options == ["Yealink T46U — Bureau Alice", "IP-Phone IP-Phone app — Mobile Alice"]
    picker.set_value(world.soft_a1).run()
    assert not at.exception
    assert "Mobile Alice" in at.header[0].value
    assert at.query_params["device"] == str(world.soft_a1)  # the URL names the device shown


def test_end_user_gets_a_new_key_for_their_own_device_after_confirming(app, world, engine):
    before = access_key(engine, world.desk_a1)
    at = app(world.alice_id, "pages/device.py", device=str(world.desk_a1))
    at.button(key="dv_new_key").click().run()
    assert access_key(engine, world.desk_a1) == before  # asked first, nothing changed yet
    question = at.warning[0].value
    assert "Yealink T46U — Bureau Alice" in question and "current URL stops answering" in question
    at.button(key="dv_confirm_yes").click().run()
    assert not at.exception
    assert access_key(engine, world.desk_a1) not in (None, before)
    assert at.success[0].value == "New key made: the old URL no longer answers."
    with transaction(engine) as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "device.new_key"))
        assert event is not None and event.actor == "alice"


def test_cancel_keeps_the_key(app, world, engine):
    before = access_key(engine, world.desk_a1)
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    at.button(key="dv_new_key").click().run()
    at.button(key="dv_confirm_no").click().run()
    assert access_key(engine, world.desk_a1) == before and not at.warning


def test_resync_writes_a_command_and_shows_its_outcome(app, world, engine):
    register(engine, world)
    heartbeat.beat(engine, "sip")
    at = app(world.admin_a_id, "pages/device.py", device=str(world.desk_a1))
    assert any("**Registration**: registered" in m.value for m in at.markdown)
    at.button(key="dv_resync").click().run()
    assert not at.exception
    with transaction(engine) as s:
        command = s.scalar(select(DeviceCommand).where(DeviceCommand.device_id == world.desk_a1))
        assert command is not None and command.action == "resync" and command.requested_by == "admin-acme"
        command.state, command.result, command.finished_at = "ok", "200 OK from 192.0.2.10:5062", datetime.now(UTC)
    at.run()
    assert "Resync: the phone answered (200 OK)." in [e.value for e in at.success]


def test_reboot_asks_first_naming_the_phone(app, world, engine):
    register(engine, world)
    heartbeat.beat(engine, "sip")
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    at.button(key="dv_reboot").click().run()
    with transaction(engine) as s:
        assert s.scalar(select(DeviceCommand)) is None
    assert "Reboot Yealink T46U — Bureau Alice?" in at.warning[0].value
    at.button(key="dv_confirm_yes").click().run()
    with transaction(engine) as s:
        command = s.scalar(select(DeviceCommand))
        assert command is not None and command.action == "reboot" and command.requested_by == "support"
    assert "Reboot: request sent, waiting for the registrar…" in [e.value for e in at.info]


def test_without_registrar_the_commands_say_why(app, world):
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    assert not [b for b in at.button if b.key in ("dv_reboot", "dv_resync")]
    assert any("the registrar is not running" in c.value for c in at.caption)


def test_setup_opens_the_manual_setup_dialog(app, world, engine):
    at = app(world.alice_id, "pages/device.py", device=str(world.soft_a1))
    at.button(key="dv_setup").click().run()
    assert not at.exception
    with transaction(engine) as s:
        url = devices.get_device(s, system_actor("t"), world.soft_a1)["url"]
    assert [c.value for c in at.code] == [url]  # the dialog's URL with its copy button, and nowhere else
