"""The per-process key cache: a change committed anywhere (another process included) is seen by the
very next request; nothing is served from the cache once the database moved on."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.credentials import new_access_key
from core.models import AccessLog
from core.provisioning import build_app
from core.provisioning.log_writer import ROWS_PER_STATEMENT, LogEntry, LogWriter
from core.provisioning.responses import NOT_FOUND
from tests.provisioning.conftest import TEST_LIMITS, client_for

pytestmark = [pytest.mark.anyio, pytest.mark.db]


def in_other_process(db_url: str, sql: str, **params: object) -> None:
    """Commit `sql` from a separate Python process, as the dashboard would (returns once committed)."""
    script = textwrap.dedent(
        """
        import json, sys
        from sqlalchemy import text
        from core.db import make_engine
        engine = make_engine(sys.argv[1])
        with engine.begin() as conn:
            assert conn.execute(text(sys.argv[2]), json.loads(sys.argv[3])).rowcount == 1
        """
    )
    subprocess.run([sys.executable, "-c", script, db_url, sql, json.dumps(params)], check=True, timeout=60)


async def test_new_key_from_another_process_404s_on_the_very_next_request(running, make_device, settings):
    dev = make_device()
    fresh = new_access_key()
    async with client_for(running) as c:
        for _ in range(3):  # warm: the key is now cached
            assert (await c.get(f"/{dev.key}.cfg")).status_code == 200
        in_other_process(settings.db_url, "UPDATE device SET access_key = :k WHERE id = :i", k=fresh, i=dev.id)
        old = await c.get(f"/{dev.key}.cfg")
        new = await c.get(f"/{fresh}.cfg")
    assert (old.status_code, old.content) == (404, NOT_FOUND)
    assert new.status_code == 200


async def test_config_change_from_another_process_is_served_on_the_next_request(running, make_device, settings):
    dev = make_device()
    async with client_for(running) as c:
        assert "revision=1" in (await c.get(f"/{dev.key}.cfg")).text
        in_other_process(settings.db_url, "UPDATE device SET config_revision = 2 WHERE id = :i", i=dev.id)
        after = await c.get(f"/{dev.key}.cfg")
    assert "revision=2" in after.text


async def test_deleted_device_404s_on_the_next_request(running, make_device, settings):
    dev = make_device()
    async with client_for(running) as c:
        assert (await c.get(f"/{dev.key}.cfg")).status_code == 200
        in_other_process(settings.db_url, "UPDATE device SET access_key = NULL WHERE id = :i", i=dev.id)
        assert (await c.get(f"/{dev.key}.cfg")).status_code == 404


async def test_key_lookups_hit_the_database_only_after_a_commit(settings, engine, renderer, make_device, monkeypatch):
    # SQLite: cached, revalidated by data_version. PostgreSQL has no data_version: one SELECT per request.
    cached = engine.dialect.name == "sqlite"
    # The writer commits only when flushed here, so every commit in this test is one the test makes.
    running = build_app(settings, engine, renderer, dataclasses.replace(TEST_LIMITS, log_interval=3600))
    dev = make_device()
    directory = running.directory
    queries: list[str] = []
    real = directory._query
    monkeypatch.setattr(directory, "_query", lambda sql, value: queries.append(value) or real(sql, value))
    guess = "ab" * 24
    async with running.running(), client_for(running) as c:
        for _ in range(5):
            assert (await c.get(f"/{dev.key}.cfg")).status_code == 200
        expected = [dev.key] if cached else [dev.key] * 5
        assert queries == expected
        for _ in range(2):
            assert (await c.get(f"/{guess}.cfg")).status_code == 404
        expected += [guess, guess]  # unknown keys are never cached
        assert queries == expected
        assert running.writer.flush()  # the access-log writer commits: data_version moves
        assert (await c.get(f"/{dev.key}.cfg")).status_code == 200
    assert queries == [*expected, dev.key]


def test_log_writer_multi_row_statements_store_every_row_exactly(engine):
    writer = LogWriter(engine, interval=60, batch=10_000)
    start = datetime(2026, 3, 4, 5, 6, 7, 8, UTC)
    n = 2 * ROWS_PER_STATEMENT + 7  # full statements and a shorter last one
    for i in range(n):
        at = start + timedelta(microseconds=i)
        writer.log(LogEntry(at, f"10.0.0.{i % 250}", "UA", "GET", f"/p{i}", None, 404, i, "x"))
    writer.start()
    writer.stop()  # flushes
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AccessLog)) == n
        last = conn.execute(select(AccessLog).where(AccessLog.path == f"/p{n - 1}")).one()
    assert last.at == start + timedelta(microseconds=n - 1)  # read back through the ORM type: same instant
    assert (last.source_ip, last.bytes, last.status, last.reason) == (f"10.0.0.{(n - 1) % 250}", n - 1, 404, "x")
    assert writer.written == n and writer.dropped == 0
