"""État: registrations beside last config access; reboot/resync through core.device_commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core import heartbeat
from core.db import transaction
from core.models import DeviceCommand, Registration


def register(engine, world) -> None:
    with transaction(engine) as s:
        s.add(Registration(aor="sip:41215550101@acme.voip.example", contact="sip:41215550101@192.0.2.10:5062",
                           line_id=world.seed.line_a1, source_ip="192.0.2.10", source_port=5062, transport="udp",
                           user_agent="Yealink SIP-T46U 108.86.0.20 80:5e:c0:11:22:33", call_id="c1", cseq=1,
                           expires_at=datetime.now(UTC) + timedelta(minutes=10)))  # fmt: skip


def test_registrations_and_registered_devices(app, world, engine, shown):
    register(engine, world)
    at = app(world.alice_id, "pages/status.py")
    table = at.dataframe[0].value.to_string()
    assert "Yealink SIP-T46U" in table and "192.0.2.10:5062" in table and "sip:41215550101@192.0.2.10:5062" in table
    at = app(world.alice_id, "pages/phones.py")
    rows = at.dataframe[0].value
    assert list(rows["Registration"]) == ["registered", "not registered"]  # the desk phone, not the softphone


def test_reboot_is_queued_for_the_registrar_when_it_runs(app, world, engine):
    heartbeat.beat(engine, "sip")
    at = app(world.alice_id, "pages/status.py")
    assert "registrar is not running" not in "".join(c.value for c in at.caption)
    at.button(key=f"reboot_{world.desk_a1}").click().run()
    assert not at.exception
    assert "Request sent (Reboot)." in [s.value for s in at.success]
    with transaction(engine) as s:
        command = s.scalar(select(DeviceCommand).where(DeviceCommand.device_id == world.desk_a1))
        assert command is not None and command.action == "reboot" and command.requested_by == "alice"
