"""Throttling, bans and the MAC bootstrap (Provisioning MAC once -> done), in-process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.db import transaction
from core.models import Ban, Device, RedirectionJob, SecurityEvent
from core.provisioning.responses import NOT_FOUND
from core.provisioning.throttle import MissCounter
from tests.provisioning.conftest import TEST_LIMITS, client_for

pytestmark = pytest.mark.db

MAC = "001565AABBCC"
GUESS = "/" + "ab" * 24 + ".cfg"


def test_a_probing_source_is_throttled_and_others_are_not(running, make_device, engine):
    dev = make_device(mac=MAC)
    other = make_device(mac="001565DDEEFF", provisioning_mac="once")
    with client_for(running, ip="192.0.2.10") as prober, client_for(running, ip="192.0.2.20") as office:
        first = [prober.get(GUESS).status_code for _ in range(TEST_LIMITS.miss_threshold)]
        after = prober.get(GUESS)
        # From the throttled address: a valid key is still served (an office behind one NAT)...
        valid = prober.get(f"/{dev.key}.cfg")
        # ...but MAC-named bootstrap requests are not: MACs can be enumerated, keys cannot.
        bootstrap = prober.get("/001565ddeeff.cfg", headers={"user-agent": "Yealink W70B"})
        # Another source is untouched.
        office_miss = office.get(GUESS)
        office_ok = office.get(f"/{dev.key}.cfg")
        office_boot = office.get("/001565ddeeff.cfg", headers={"user-agent": "Yealink W70B"})
    assert first == [404] * TEST_LIMITS.miss_threshold
    assert after.status_code == 429 and int(after.headers["retry-after"]) > 0
    assert valid.status_code == 200
    assert bootstrap.status_code == 429
    assert (office_miss.status_code, office_miss.content) == (404, NOT_FOUND)
    assert office_ok.status_code == 200 and office_boot.status_code == 200
    running.writer.flush()
    with transaction(engine) as s:
        events = s.scalars(select(SecurityEvent)).all()
    assert [(e.kind, e.source_ip) for e in events] == [("provisioning_probe", "192.0.2.10")]
    assert other.id


def test_miss_counter_window_and_cooldown():
    now = [1000.0]
    c = MissCounter(threshold=3, window=10, cooldown=60, clock=lambda: now[0])
    assert not c.record_miss("a") and not c.record_miss("a")
    now[0] += 11  # the window passed: counting starts again
    assert not c.record_miss("a") and not c.record_miss("a")
    assert c.record_miss("a") and c.is_throttled("a") and not c.is_throttled("b")
    assert c.retry_after("a") == 60
    now[0] += 59
    assert c.is_throttled("a")
    now[0] += 2
    assert not c.is_throttled("a")


def test_miss_counter_memory_is_bounded():
    c = MissCounter(threshold=3, window=10, cooldown=60, clock=lambda: 0.0, max_sources=100)
    for i in range(1000):
        c.record_miss(f"10.0.{i // 256}.{i % 256}")
    assert len(c._sources) <= 100


@pytest.mark.parametrize(("scope", "expires_in", "status"), [
    ("provisioning", 3600, 403),
    ("all", 3600, 403),
    ("sip", 3600, 200),
    ("provisioning", -1, 200),
])  # fmt: skip
def test_bans(running, make_device, engine, scope, expires_in, status):
    dev = make_device()
    with transaction(engine) as s:
        s.add(Ban(source_ip="192.0.2.66", scope=scope, expires_at=datetime.now(UTC) + timedelta(seconds=expires_in)))
    with client_for(running, ip="192.0.2.66") as banned, client_for(running, ip="192.0.2.67") as fine:
        r = banned.get(f"/{dev.key}.cfg")
        ok = fine.get(f"/{dev.key}.cfg")
    assert r.status_code == status
    assert ok.status_code == 200
    if status == 403:
        assert "revision" not in r.text and r.headers["cache-control"] == "no-store"


def test_bootstrap_once_then_key_fetch_sets_done_and_queues_withdrawal(running, make_device, engine):
    dev = make_device(model_id="yealink-t46u", mac=MAC, provisioning_mac="once")
    with transaction(engine) as s:
        changed_at = s.get(Device, dev.id).updated_at
    with client_for(running, ua="Yealink SIP-T46U 108.86.0.20 00:15:65:aa:bb:cc") as phone:
        boot = phone.get("/001565aabbcc.cfg")
        unknown_name = phone.get("/001565aabbcc-boot.xml")
        main = phone.get(f"/{dev.key}.cfg")
        again = phone.get("/001565aabbcc.cfg")
        still = phone.get(f"/{dev.key}.cfg")
    assert boot.status_code == 200
    assert f"provisioning_url=https://prov.example.net:8448/{dev.key}.cfg" in boot.text
    assert "secret=" not in boot.text
    assert boot.headers["cache-control"] == "no-store"
    assert unknown_name.status_code == 404 and unknown_name.content == NOT_FOUND
    assert main.status_code == 200
    assert (again.status_code, again.content) == (404, NOT_FOUND)  # done: no more bootstrap
    assert still.status_code == 200
    with transaction(engine) as s:
        assert s.get(Device, dev.id).provisioning_mac == "done"
        # The fetch is no change for the phone to fetch (Aperçu's "pending" compares updated_at with it).
        assert s.get(Device, dev.id).updated_at == changed_at
        jobs = s.scalars(select(RedirectionJob)).all()
    assert [(j.device_id, j.service, j.mac, j.action, j.state) for j in jobs] == [
        (dev.id, "yealink_rps", MAC, "withdraw", "pending")
    ]


def test_done_without_redirection_service_queues_nothing(running, make_device, engine):
    dev = make_device(model_id="grandstream-ht802", mac="000B82112233", provisioning_mac="once")
    with client_for(running, ua="Grandstream HT802 1.0.43.11") as c:
        assert c.get(f"/{dev.key}.cfg").status_code == 200
    with transaction(engine) as s:
        assert s.get(Device, dev.id).provisioning_mac == "done"
        assert s.scalars(select(RedirectionJob)).all() == []


@pytest.mark.parametrize("state", ["no", "done"])
def test_no_bootstrap_unless_once(running, make_device, state):
    make_device(mac=MAC, provisioning_mac=state)
    with client_for(running, ua="Yealink SIP-T46U") as c:
        r = c.get("/001565aabbcc.cfg")
    assert (r.status_code, r.content) == (404, NOT_FOUND)


def test_bootstrap_refused_when_the_user_agent_shows_another_mac(running, make_device):
    make_device(mac=MAC, provisioning_mac="once")
    with client_for(running, ua="Yealink SIP-T46U 108.86.0.20 00:15:65:00:00:01") as c:
        r = c.get("/001565aabbcc.cfg")
    assert r.status_code == 404


def test_burst_from_many_threads_is_served_and_logged_in_full(running, make_device, engine):
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import func

    from core.models import AccessLog

    devices = [make_device() for _ in range(20)]
    with client_for(running) as c, ThreadPoolExecutor(8) as pool:  # the server runs requests on several threads
        results = list(pool.map(c.get, [f"/{d.key}.cfg" for d in devices for _ in range(25)]))
    assert {r.status_code for r in results} == {200}
    running.shutdown()  # a clean stop writes everything still queued
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(AccessLog)) == 500
        assert s.scalar(select(func.count()).select_from(Device).where(Device.last_access_at.is_not(None))) == 20
    running.startup()  # the fixture stops it again
