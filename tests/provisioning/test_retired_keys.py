"""Retired keys (a "Nouveau clé" replaced them): refused like any unknown key, logged as the device's
old URL (reason old_key), not counted as probing, and looked up in memory (no statement per guess)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from core import devices, rollup
from core import event_kinds as reasons
from core.credentials import key_hash
from core.db import transaction
from core.models import AccessLog, Device, FraudRollup, RetiredKey, SecurityEvent
from core.permissions import Actor
from core.provisioning.app import ProvisioningApp, build_app
from core.provisioning.directory import RETIRED_LOOKBACK
from core.provisioning.responses import NOT_FOUND
from core.settings import Settings
from tests.net import wait_for
from tests.provisioning.conftest import TEST_LIMITS, Dev, client_for, https_client
from tests.provisioning.fake_renderer import FakeRenderer

pytestmark = pytest.mark.db

MAC = "001565AABBCC"
GUESS = "ab" * 24


def _new_key(engine: Engine, actor: Actor, dev: Dev) -> str:
    """Nouveau clé through the use case; returns the new key (the old one is `dev.key`)."""
    with transaction(engine) as s:
        devices.new_key(s, actor, dev.id)
    with transaction(engine) as s:
        key = s.scalar(select(Device.access_key).where(Device.id == dev.id))
    assert key is not None and key != dev.key
    return key


def _log(app: ProvisioningApp, engine: Engine) -> list[tuple[str, int | None, int, str]]:
    """Every access-log row as (source, device, status, reason), once the writer wrote what is queued."""
    assert app.writer.flush()
    with transaction(engine) as s:
        rows = s.execute(select(AccessLog.source_ip, AccessLog.device_id, AccessLog.status, AccessLog.reason)
                         .order_by(AccessLog.id)).all()  # fmt: skip
    return [tuple(r) for r in rows]


def test_old_key_is_answered_as_an_unknown_key_and_logged_as_the_devices_old_url(
    running, make_device, engine, provider
):
    dev = make_device()
    with client_for(running, ip="192.0.2.30") as phone:
        assert phone.get(f"/{dev.key}.cfg").status_code == 200
        fresh = _new_key(engine, provider, dev)
        old = phone.get(f"/{dev.key}.cfg")
        old_file = phone.get(f"/{dev.key}/y000000000108.cfg")
        guess = phone.get(f"/{GUESS}.cfg")
        new = phone.get(f"/{fresh}.cfg")
    # Nothing in the answer tells a retired key from a guess: status, body and headers are the same.
    assert (old.status_code, old.content, dict(old.headers)) == (404, NOT_FOUND, dict(guess.headers))
    assert (old_file.status_code, old_file.content) == (404, NOT_FOUND)
    assert new.status_code == 200
    assert _log(running, engine) == [
        ("192.0.2.30", dev.id, 200, reasons.OK),
        ("192.0.2.30", dev.id, 404, reasons.OLD_KEY),
        ("192.0.2.30", dev.id, 404, reasons.OLD_KEY),
        ("192.0.2.30", None, 404, reasons.UNKNOWN_KEY),
        ("192.0.2.30", dev.id, 200, reasons.OK),
    ]


def test_old_key_never_counts_as_a_miss(running, make_device, engine, provider):
    """A phone with its old URL retrying behind an office NAT must not throttle that address: the
    office's other phones keep their bootstrap, and no probe alarm is raised."""
    dev = make_device()
    waiting = make_device(mac=MAC, provisioning_mac="once")
    _new_key(engine, provider, dev)
    with client_for(running, ip="192.0.2.40") as office:
        retries = [office.get(f"/{dev.key}.cfg").status_code for _ in range(3 * TEST_LIMITS.miss_threshold)]
        boot = office.get("/001565aabbcc.cfg", headers={"user-agent": "Yealink SIP-T46U 108.86.0.20"})
    assert retries == [404] * (3 * TEST_LIMITS.miss_threshold)
    assert boot.status_code == 200  # a throttled source gets no bootstrap
    assert not running.counter.is_throttled("192.0.2.40")
    with transaction(engine) as s:
        assert s.scalars(select(SecurityEvent.kind)).all() == []
    assert waiting.id


def test_old_key_from_a_throttled_source_gets_the_unknown_keys_429(running, make_device, engine, provider):
    """Throttled by guesses, a source gets 429 for an unknown key: for a retired one too (same answer),
    still logged as the device's old URL."""
    dev = make_device()
    _new_key(engine, provider, dev)
    with client_for(running, ip="192.0.2.50") as prober:
        for _ in range(TEST_LIMITS.miss_threshold):
            prober.get(f"/{GUESS}.cfg")
        guess = prober.get(f"/{GUESS}.cfg")
        old = prober.get(f"/{dev.key}.cfg")
    assert guess.status_code == old.status_code == 429
    assert guess.content == old.content and "retry-after" in old.headers
    assert _log(running, engine)[-2:] == [
        ("192.0.2.50", None, 429, reasons.THROTTLED),
        ("192.0.2.50", dev.id, 429, reasons.OLD_KEY),
    ]


@pytest.fixture(params=["wal-index", pytest.param("data_version", marks=pytest.mark.sqlite_only)])
def quiet(request, settings: Settings, engine: Engine, renderer: FakeRenderer) -> Iterator[ProvisioningApp]:
    """The app whose writer commits only when the test flushes it, retired keys re-read at most hourly
    on PostgreSQL: every read below is one the test caused. On SQLite with each way of noticing commits."""
    limits = dataclasses.replace(TEST_LIMITS, miss_threshold=1000, log_interval=3600, retired_refresh=3600)
    app = build_app(settings, engine, renderer, limits)
    if engine.dialect.name == "sqlite":
        app.directory.use_wal_watch = request.param == "wal-index"
        assert app.directory.change_detector == request.param
    with app.running():
        yield app


def _count_reads(app: ProvisioningApp, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    directory = app.directory
    reads = {"since": 0, "confirm": 0}
    real: Callable[[str, Any], list[tuple[Any, ...]]] = directory._rows_locked

    def counting(sql: str, value: Any) -> list[tuple[Any, ...]]:
        if sql == directory._retired_since_sql:
            reads["since"] += 1
        elif sql == directory._retired_device_sql:
            reads["confirm"] += 1
        return real(sql, value)

    monkeypatch.setattr(directory, "_rows_locked", counting)
    return reads


def test_guesses_cost_no_retired_key_statement(quiet, make_device, engine, provider, monkeypatch):
    dev = make_device()
    _new_key(engine, provider, dev)
    reads = _count_reads(quiet, monkeypatch)
    with client_for(quiet) as c:
        for i in range(20):
            assert c.get(f"/{i:048x}.cfg").status_code == 404
        assert reads == {"since": 1, "confirm": 0}  # the first unknown key read the set; guesses never hit it
        assert c.get(f"/{dev.key}.cfg").status_code == 404
        assert reads == {"since": 1, "confirm": 1}  # a hit is confirmed (its device may be gone)
        assert quiet.writer.flush()  # a commit (ours): SQLite re-reads the new ids once, PostgreSQL on its clock
        for i in range(5):
            assert c.get(f"/{i:048x}.cfg").status_code == 404
    sqlite = engine.dialect.name == "sqlite"
    assert reads == {"since": 2 if sqlite else 1, "confirm": 1}


def test_a_new_key_committed_after_the_set_was_read_is_recognised(quiet, make_device, engine, provider):
    dev = make_device()
    with client_for(quiet) as c:
        assert c.get(f"/{GUESS}.cfg").status_code == 404  # the set is read (empty)
        _new_key(engine, provider, dev)
        if engine.dialect.name != "sqlite":
            quiet.directory.retired_refresh = 0  # PostgreSQL re-reads on its clock, not on commits
        assert c.get(f"/{dev.key}.cfg").status_code == 404
    assert _log(quiet, engine)[-1] == ("198.51.100.7", dev.id, 404, reasons.OLD_KEY)


def test_the_read_looks_back_for_ids_committed_out_of_order(quiet, make_device, engine):
    """PostgreSQL: a transaction holding a lower id may commit after a read saw a higher one."""
    directory = quiet.directory
    directory._retired_lookback = RETIRED_LOOKBACK  # SQLite's ids come in commit order: forced here
    a, b = make_device(), make_device()
    with transaction(engine) as s:
        s.add(RetiredKey(id=100, key_hash=key_hash("a" * 48), device_id=a.id))
    assert directory.retired_device(GUESS) is None  # reads up to id 100
    with transaction(engine) as s:  # the late commit of id 90
        s.add(RetiredKey(id=90, key_hash=key_hash("b" * 48), device_id=b.id))
    directory.retired_refresh = 0
    directory.close()  # SQLite: the version moves on reconnect
    assert directory.retired_device("b" * 48) == b.id
    assert directory.retired_device("a" * 48) == a.id


def test_a_deleted_devices_old_key_is_an_unknown_key_again(running, make_device, engine, provider):
    """The cascade took its retired keys; the in-memory set still has the hash, the confirmation does not:
    logged without a device (a row naming a deleted device would be refused by the writer, and lost)."""
    dev, other = make_device(), make_device()
    _new_key(engine, provider, dev)
    _new_key(engine, provider, other)
    with client_for(running, ip="192.0.2.60") as phone:
        assert phone.get(f"/{dev.key}.cfg").status_code == 404
        assert running.writer.flush()  # written while the device exists (then SET NULL by its deletion)
        with transaction(engine) as s:
            devices.delete_device(s, provider, dev.id)
        gone = phone.get(f"/{dev.key}.cfg")
        still = phone.get(f"/{other.key}.cfg")
    assert (gone.status_code, gone.content) == (404, NOT_FOUND)
    assert still.status_code == 404
    assert _log(running, engine) == [
        ("192.0.2.60", None, 404, reasons.OLD_KEY),
        ("192.0.2.60", None, 404, reasons.UNKNOWN_KEY),
        ("192.0.2.60", other.id, 404, reasons.OLD_KEY),
    ]
    assert running.writer.dropped == 0


def test_old_key_rows_are_neither_downloads_nor_probes_in_the_rollup(running, make_device, engine, provider):
    dev = make_device()
    _new_key(engine, provider, dev)
    with client_for(running, ip="192.0.2.70") as phone:
        for _ in range(3):
            assert phone.get(f"/{dev.key}.cfg").status_code == 404
    with client_for(running, ip="192.0.2.71") as prober:
        assert prober.get(f"/{GUESS}.cfg").status_code == 404
    assert [r[3] for r in _log(running, engine)] == [reasons.OLD_KEY] * 3 + [reasons.UNKNOWN_KEY]
    assert rollup.roll_up(engine, now=datetime.now(UTC) + timedelta(hours=1)) == 4
    with transaction(engine) as s:
        rolled = s.execute(select(FraudRollup.kind, FraudRollup.source_ip, func.sum(FraudRollup.n))
                           .where(FraudRollup.grain == rollup.DAY)
                           .group_by(FraudRollup.kind, FraudRollup.source_ip)).all()  # fmt: skip
    assert [tuple(r) for r in rolled] == [(rollup.PROBE, "192.0.2.71", 1)]


def test_old_key_over_https_against_serve(live_server, make_device, engine, provider):
    """The real `serve` (Granian, TLS): after a Nouveau clé the old URL is refused like a guess, and
    its access-log row names the device with reason old_key; a random key names none."""
    dev = make_device()
    guess = "cd" * 24
    with https_client("127.0.0.6") as phone:
        before = phone.get(f"{live_server.url}/{dev.key}.cfg")
        fresh = _new_key(engine, provider, dev)  # the dashboard's use case, committed while serve runs
        old = phone.get(f"{live_server.url}/{dev.key}.cfg")
        random_key = phone.get(f"{live_server.url}/{guess}.cfg")
        new = phone.get(f"{live_server.url}/{fresh}.cfg")
    assert before.status_code == 200 and before.text.startswith("# main.cfg")
    assert (old.status_code, old.content) == (random_key.status_code, random_key.content) == (404, NOT_FOUND)
    assert old.headers.get("cache-control") == random_key.headers.get("cache-control") == "no-store"
    assert new.status_code == 200

    def logged() -> list[tuple[Any, ...]]:  # the log is written behind: poll until all four rows are in
        with transaction(engine) as s:
            rows = s.execute(select(AccessLog.device_id, AccessLog.status, AccessLog.reason, AccessLog.path)
                             .where(AccessLog.source_ip == "127.0.0.6").order_by(AccessLog.id)).all()  # fmt: skip
        return [tuple(r) for r in rows] if len(rows) == 4 else []

    rows = wait_for(logged, 15, "the access-log rows of 127.0.0.6")
    assert [r[:3] for r in rows] == [
        (dev.id, 200, reasons.OK),
        (dev.id, 404, reasons.OLD_KEY),
        (None, 404, reasons.UNKNOWN_KEY),
        (dev.id, 200, reasons.OK),
    ]
    assert all(dev.key not in r[3] and key_hash(dev.key) not in r[3] for r in rows)  # paths are masked
