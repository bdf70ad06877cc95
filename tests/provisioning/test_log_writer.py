"""The access-log writer: rows stamped with `time.time()` by requests, stored as the column type would store them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

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
