"""État: registrations beside last config access; reboot/resync through core.device_commands, with the
command row's outcome shown as it changes and the buttons drawn only where they can work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from core import heartbeat
from core.db import transaction
from core.device_commands import OUTCOMES
from core.models import DeviceCommand
from dashboard.commands import REQUESTS_KEY
from tests.dashboard.conftest import register


def alerts(at) -> dict[str, list[str]]:
    return {kind: [e.value for e in getattr(at, kind)] for kind in ("info", "success", "warning", "error")}


def test_registrations_and_registered_devices(app, world, engine, shown):
    register(engine, world)
    at = app(world.alice_id, "pages/status.py")
    table = at.dataframe[0].value.to_string()
    assert "Yealink SIP-T46U" in table and "192.0.2.10:5062" in table and "sip:41215550101@192.0.2.10:5062" in table
    at = app(world.alice_id, "pages/phones.py")
    rows = at.dataframe[0].value
    assert list(rows["Registration"]) == ["registered", "not registered"]  # the desk phone, not the softphone


def test_reboot_shows_sent_then_the_registrars_answer(app, world, engine):
    register(engine, world)
    heartbeat.beat(engine, "sip")
    at = app(world.alice_id, "pages/status.py")
    at.button(key=f"reboot_{world.desk_a1}").click().run()
    assert not at.exception
    assert alerts(at)["info"] == ["Reboot: request sent, waiting for the registrar…"]
    assert not any("Request sent" in s for s in alerts(at)["success"])  # no blanket "sent" any more
    with transaction(engine) as s:
        command = s.scalar(select(DeviceCommand).where(DeviceCommand.device_id == world.desk_a1))
        assert command is not None and command.action == "reboot" and command.requested_by == "alice"
        s.execute(update(DeviceCommand).values(state="sending"))
    at.run()  # what the polling fragment does every second
    assert alerts(at)["info"] == ["Reboot: sent to the phone, waiting for its answer…"]
    with transaction(engine) as s:
        s.execute(update(DeviceCommand).values(state="ok", result="200 OK from 192.0.2.10:5062",
                                               finished_at=datetime.now(UTC)))  # fmt: skip
    at.run()
    assert not at.exception
    assert alerts(at)["success"] == ["Reboot: the phone answered (200 OK)."]
    assert alerts(at)["info"] == []


@pytest.mark.parametrize(
    "state, result, kind, text",
    [
        ("pending", "", "info", "Resync: request sent, waiting for the registrar…"),
        ("sending", "", "info", "Resync: sent to the phone, waiting for its answer…"),
        ("ok", "200 OK from 192.0.2.10:5062", "success", "Resync: the phone answered (200 OK)."),
        ("not_registered", "no current registration for this device", "warning",
         "Resync: the phone is not registered; the request did not reach it."),
        ("timeout", "no answer within 8 s", "warning", "Resync: no answer from the phone."),
        ("failed", "486 Busy Here from 192.0.2.10:5062", "error", "Resync: failed (486 Busy Here)."),
        # the registrar's own words stay out of the UI (they are English whatever the language)
        ("failed", "connection to 192.0.2.10:5 is closed", "error", "Resync: failed (no SIP answer from the phone)."),
    ],
)  # fmt: skip
def test_each_command_state_has_its_shown_state(app, world, engine, state, result, kind, text):
    assert state in OUTCOMES  # every state the registrar writes is mapped
    with transaction(engine) as s:
        cmd = DeviceCommand(device_id=world.desk_a1, action="resync", requested_by="alice", state=state, result=result)
        s.add(cmd)
        s.flush()
        command_id = cmd.id
    at = app(world.alice_id)
    at.session_state[REQUESTS_KEY] = {world.desk_a1: command_id}
    at.switch_page("pages/status.py").run()
    assert not at.exception
    shown_states = {k: [v for v in values if v.startswith("Resync:")] for k, values in alerts(at).items()}
    assert shown_states == {k: [text] if k == kind else [] for k in shown_states}


def test_buttons_are_offered_only_where_they_can_work(app, world, engine, shown):
    at = app(world.alice_id, "pages/status.py")  # registrar down
    assert not [b for b in at.button if b.label in ("Reboot", "Resync")]
    assert "Reboot, Resync not offered: the registrar is not running." in shown(at)
    heartbeat.beat(engine, "sip")
    at = app(world.alice_id, "pages/status.py")  # up, but no phone registered
    assert not [b for b in at.button if b.label in ("Reboot", "Resync")]
    assert "Reboot, Resync not offered: the phone is not registered." in shown(at)
    assert "Reboot, Resync not offered: this model cannot do it remotely." in shown(at)  # the softphone
    register(engine, world)
    at = app(world.alice_id, "pages/status.py")
    assert {b.key for b in at.button if b.label in ("Reboot", "Resync")} == {
        f"reboot_{world.desk_a1}",
        f"resync_{world.desk_a1}",
    }
