"""A MAC is unique within a vPBX only: no account learns whether another tenant holds a MAC, and the
MAC-named bootstrap, the redirection jobs and the User-Agent check stay right with duplicates
(issue 11, point 8)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import devices
from core.db import transaction
from core.errors import ValidationError
from core.models import AccessLog, Device, RedirectionJob, SecurityEvent
from core.provisioning.app import Limits, build_app
from tests.provisioning.conftest import UA, call
from tests.provisioning.fake_renderer import FakeRenderer

pytestmark = pytest.mark.db

MAC = "805EC0A1B2C3"
LIMITS = Limits(miss_threshold=50, miss_window=60, cooldown=300, ban_refresh=0, log_interval=60)


def _add(engine, actor, line, mac, **kw):
    with transaction(engine) as s:
        return devices.add_device(s, actor, line, "yealink-t46u", mac=mac, **kw)


def _update(engine, actor, device_id, **changes):
    with transaction(engine) as s:
        return devices.update_device(s, actor, device_id, **changes)


def _key(engine, device_id: int) -> str:
    with transaction(engine) as s:
        return s.get(Device, device_id).access_key


def _comparable(view: dict) -> dict:
    """What an answer says, less what differs between any two devices."""
    return {k: v for k, v in view.items() if k not in ("id", "mac", "url", "admin_password",
                                                       "user_password", "created_at", "updated_at")}  # fmt: skip


def test_admin_of_another_vpbx_adds_a_taken_mac_like_a_fresh_one(engine, seed):
    _add(engine, seed.admin_a, seed.line_a1, MAC)
    taken = _add(engine, seed.admin_b, seed.line_b1, "80:5e:c0:a1:b2:c3")  # A's MAC: no refusal
    fresh = _add(engine, seed.admin_b, seed.line_b1, "805EC0FFFFF1")  # a MAC nobody holds
    assert taken["mac"] == MAC
    assert _comparable(taken) == _comparable(fresh)  # nothing tells the two apart


def test_changing_a_device_to_another_tenants_mac_is_not_refused(engine, seed):
    _add(engine, seed.admin_a, seed.line_a1, MAC)
    dev = _add(engine, seed.admin_b, seed.line_b1, "805EC0FFFFF2")
    assert _update(engine, seed.admin_b, dev["id"], mac=MAC)["mac"] == MAC


def test_within_one_vpbx_a_mac_is_still_refused(engine, seed):
    first = _add(engine, seed.admin_a, seed.line_a1, MAC)
    with pytest.raises(ValidationError) as err:
        _add(engine, seed.admin_a, seed.line_a2, MAC)
    assert (err.value.field, err.value.code) == ("mac", "mac_taken")
    other = _add(engine, seed.admin_a, seed.line_a2, "805EC0FFFFF3")
    with pytest.raises(ValidationError):
        _update(engine, seed.admin_a, other["id"], mac=MAC)
    assert _update(engine, seed.admin_a, first["id"], mac=MAC)["mac"] == MAC  # its own MAC is no clash


def _bootstrap(app, mac: str = MAC, ip: str = "198.51.100.30"):
    return call(app, "GET", f"/{mac.lower()}.cfg", ip=ip, user_agent=f"{UA} {mac}")


def test_two_devices_waiting_for_one_mac_get_no_bootstrap_and_the_provider_an_event(engine, settings, seed):
    a = _add(engine, seed.admin_a, seed.line_a1, MAC, provisioning_mac="once")
    app = build_app(settings, engine, FakeRenderer(settings), LIMITS)
    with app.running():
        status, _, body = _bootstrap(app)
        assert status.startswith("200") and _key(engine, a["id"]) in body.decode()  # one device: served
        _add(engine, seed.admin_b, seed.line_b1, MAC, provisioning_mac="once")  # a second tenant's claim
        miss = call(app, "GET", "/805ec0eeeeee.cfg", ip="198.51.100.31", user_agent=UA)  # a MAC nobody has
        for _ in range(3):  # a phone retrying: the same 404 every time, one event
            assert _bootstrap(app)[::2] == miss[::2]
        assert app.writer.flush()
    with transaction(engine) as s:
        events = s.scalars(select(SecurityEvent).where(SecurityEvent.kind == "mac_ambiguous")).all()
        rows = s.scalars(select(AccessLog).order_by(AccessLog.id)).all()
    assert [(e.source_ip, e.device_id, e.line_id) for e in events] == [("198.51.100.30", None, None)]
    assert MAC in events[0].detail  # for the provider; no line or device: no tenant's view shows it
    assert [r.status for r in rows] == [200, 404, 404, 404, 404]
    assert {r.device_id for r in rows[1:]} == {None}


def test_a_duplicate_not_waiting_leaves_the_bootstrap_and_the_user_agent_check_alone(engine, settings, seed):
    a = _add(engine, seed.admin_a, seed.line_a1, MAC, provisioning_mac="once")
    b = _add(engine, seed.admin_b, seed.line_b1, MAC)  # same MAC, Provisioning MAC "no"
    app = build_app(settings, engine, FakeRenderer(settings), LIMITS)
    with app.running():
        assert _bootstrap(app)[0].startswith("200")
        for key in (_key(engine, a["id"]), _key(engine, b["id"])):  # each key with its phone's MAC: served
            assert call(app, "GET", f"/{key}.cfg", user_agent=f"{UA} {MAC}")[0].startswith("200")
        assert call(app, "GET", f"/{_key(engine, b['id'])}.cfg", user_agent=f"{UA} 805EC0000009")[0].startswith("404")


def test_a_mac_another_vpbx_still_waits_for_is_not_withdrawn(engine, settings, seed):
    a = _add(engine, seed.admin_a, seed.line_a1, MAC, provisioning_mac="once")
    b = _add(engine, seed.admin_b, seed.line_b1, MAC, provisioning_mac="once")

    def withdrawals() -> list[int | None]:
        with transaction(engine) as s:
            jobs = s.scalars(select(RedirectionJob).where(RedirectionJob.action == "withdraw"))
            return [j.device_id for j in jobs]

    _update(engine, seed.admin_b, b["id"], provisioning_mac="no")
    assert withdrawals() == []  # A's phone still needs the redirection to reach us
    app = build_app(settings, engine, FakeRenderer(settings), LIMITS)
    with app.running():  # A's phone fetches its key: once -> done, nobody else waits: withdrawn
        assert call(app, "GET", f"/{_key(engine, a['id'])}.cfg", user_agent=f"{UA} {MAC}")[0].startswith("200")
    assert withdrawals() == [a["id"]]
    with transaction(engine) as s:
        assert s.get(Device, a["id"]).provisioning_mac == "done"
