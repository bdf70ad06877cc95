"""The access-log writer: rows stamped with `time.time()` by requests, stored as the column type would store them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from core.models import AccessLog
from core.provisioning.log_writer import ROWS_PER_STATEMENT, LogWriter, _as_datetime, _bind_at_for, _SqliteStamp

pytestmark = pytest.mark.db


def test_log_writer_multi_row_statements_store_every_row_exactly(engine):
    writer = LogWriter(engine, interval=60, batch=10_000)
    start = datetime(2026, 3, 4, 5, 6, 7, 8, UTC)
    n = 2 * ROWS_PER_STATEMENT + 7  # full statements and a shorter last one
    for i in range(n):
        at = (start + timedelta(microseconds=i)).timestamp()  # what requests stamp: time.time()
        writer.log((at, f"10.0.0.{i % 250}", "UA", "GET", f"/p{i}", None, 404, i, "x"))
    writer.start()
    writer.stop()  # flushes
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AccessLog)) == n
        last = conn.execute(select(AccessLog).where(AccessLog.path == f"/p{n - 1}")).one()
    assert last.at == start + timedelta(microseconds=n - 1)  # read back through the ORM type: same instant
    assert (last.source_ip, last.bytes, last.status, last.reason) == (f"10.0.0.{(n - 1) % 250}", n - 1, 404, "x")
    assert writer.written == n and writer.dropped == 0


def test_rows_from_the_plain_http_port_keep_their_scheme(engine):
    writer = LogWriter(engine, interval=60, batch=10_000)
    at = datetime(2026, 3, 4, 5, 6, 7, 8, UTC).timestamp()
    for i in range(ROWS_PER_STATEMENT + 3):  # both kinds, more than one statement's worth in all
        row = (at, "10.0.0.1", "UA", "GET", f"/p{i}", None, 404, i, "x")
        writer.log(row if i % 2 else (*row, "http"))
    writer.stop()  # flushes without a thread
    with engine.connect() as conn:
        stored = dict(conn.execute(select(AccessLog.path, AccessLog.scheme)).all())
    assert stored == {f"/p{i}": ("https" if i % 2 else "http") for i in range(ROWS_PER_STATEMENT + 3)}


def test_stamp_formatting_equals_the_column_types_own_conversion(engine):
    """The writer formats `at` itself (cheaper than a datetime per row) only where that gives the same
    bytes as the column type; checked here on instants the start-up probe never saw."""
    at_type = AccessLog.__table__.c.at.type.dialect_impl(engine.dialect)
    column_bind = at_type.bind_processor(engine.dialect)
    bind_at = _bind_at_for(column_bind)
    rng = random.Random(7)
    instants = [rng.uniform(1.6e9, 2.1e9) for _ in range(50_000)]
    instants += [s + f for s in (1767225599, 1767225600) for f in (0.0, 0.9999995, 0.9999994999, 0.0000005)]
    own = column_bind or (lambda value: value)
    assert [bind_at(t) for t in instants] == [own(_as_datetime(t)) for t in instants]
    if engine.dialect.name == "sqlite":
        assert isinstance(bind_at, _SqliteStamp)  # the fast path is really taken here


def test_stamp_rolls_over_to_the_next_second():
    stamp = _SqliteStamp()
    assert stamp(1767225599.9999996) == "2026-01-01 00:00:00.000000"
    assert stamp(1767225599.25) == "2025-12-31 23:59:59.250000"


def test_the_devices_last_access_is_updated_in_id_order(engine, make_device):
    """Two HTTPS workers' writers updating the same devices: in request order, each took the rows' locks in
    its own order and PostgreSQL aborted one of them (DeadlockDetected, seen under load, issue 13)."""
    devices = [make_device().id for _ in range(4)]
    writer = LogWriter(engine, interval=60, batch=10_000)
    at = datetime(2026, 3, 4, 5, 6, 7, 8, UTC).timestamp()
    for i, device_id in enumerate(reversed(devices)):  # the newest device asks first
        writer.log((at + i, "10.0.0.1", "UA", "GET", "/p", device_id, 200, 1, "ok"))
    updated: list[list[int]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE DEVICE"):
            rows = parameters if executemany else [parameters]
            updated.append([r[-1] if isinstance(r, tuple | list) else r["b_id"] for r in rows])

    event.listen(engine, "before_cursor_execute", seen)
    try:
        writer.stop()  # flushes
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert updated == [sorted(devices)]


# -- issue 11, point 9: one batch mixing event kinds, one row the database refuses -----------------


def test_a_throttle_and_a_key_on_another_phone_in_one_batch_lose_no_row(engine, settings, renderer, make_device):
    """The attack as filed: a key is fetched with another phone's MAC (an event naming a device) and,
    within the same writer interval, a source is throttled (a probe event, no device). Before the fix
    the executemany of both events raised and the writer dropped the whole batch."""
    from core.models import Device, SecurityEvent
    from core.provisioning.app import Limits, build_app
    from tests.provisioning.conftest import UA, call

    victim = make_device(mac="001565AABB01")
    make_device(mac="001565AABB02")
    limits = Limits(miss_threshold=5, miss_window=60, cooldown=300, ban_refresh=0, log_interval=60)  # one batch
    app = build_app(settings, engine, renderer, limits)
    with app.running():
        status, _, _ = call(app, "GET", f"/{victim.key}.cfg", ip="198.51.100.20", user_agent=f"{UA} 00:15:65:aa:bb:02")
        assert status.startswith("404")  # the key copied to the other phone
        for i in range(5):  # then, within the same interval, the fifth miss throttles 203.0.113.9
            assert call(app, "GET", f"/{'x' * 20}{i}.cfg", ip="203.0.113.9")[0].startswith("404")
        assert call(app, "GET", f"/{victim.key}.cfg", ip="198.51.100.21", user_agent=UA)[0].startswith("200")
        assert app.writer.flush()
        assert app.writer.dropped == 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AccessLog)) == 7
        kinds = sorted(conn.scalars(select(SecurityEvent.kind)))
        last_ip = conn.scalar(select(Device.last_access_ip).where(Device.id == victim.id))
    assert kinds == ["key_mac_mismatch", "provisioning_probe"]
    assert last_ip == "198.51.100.21"  # the last-access update of that batch was kept too


def test_one_row_the_database_refuses_costs_only_that_row(engine, make_device, caplog):
    """A row naming a device that no longer exists (deleted between the request and the write) is
    refused by the foreign key: the other rows of its batch are written, the bad one logged once."""
    dev = make_device()
    writer = LogWriter(engine, interval=60, batch=10_000)
    at = datetime(2026, 3, 4, 5, 6, 7, 8, UTC).timestamp()
    for i in range(10):
        writer.log((at, "10.0.0.1", "UA", "GET", f"/p{i}", dev.id if i != 3 else 999_999, 200, 1, "ok"))
    writer.event(at=datetime.now(UTC), kind="provisioning_probe", source_ip="10.0.0.2")
    writer.event(at=datetime.now(UTC), kind="key_mac_mismatch", source_ip="10.0.0.3", device_id=999_998)
    with caplog.at_level("ERROR", logger="core.provisioning.log_writer"):
        writer.stop()  # flushes without a thread
    from core.models import SecurityEvent

    with engine.connect() as conn:
        paths = set(conn.scalars(select(AccessLog.path)))
        kinds = list(conn.scalars(select(SecurityEvent.kind)))
    assert paths == {f"/p{i}" for i in range(10) if i != 3}
    assert kinds == ["provisioning_probe"]
    assert (writer.written, writer.dropped) == (9, 1)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "2 of 12 rows dropped" in errors[0].getMessage()
