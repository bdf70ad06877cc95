"""The per-process key cache: a change committed anywhere (another process included) is seen by the
very next request; nothing is served from the cache once the database moved on."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from core.credentials import new_access_key
from core.provisioning.app import ProvisioningApp, build_app
from core.provisioning.responses import NOT_FOUND
from tests.provisioning.conftest import TEST_LIMITS, client_for

pytestmark = pytest.mark.db


def in_other_process(db_url: str, sql: str, checkpoint: bool = False, **params: object) -> None:
    """Commit `sql` from a separate Python process, as the dashboard would (returns once committed).

    `checkpoint`: first empty the WAL (TRUNCATE checkpoint), so the commit restarts the WAL-index from frame 0.
    """
    script = textwrap.dedent(
        """
        import json, sys
        from sqlalchemy import text
        from core.db import make_engine
        engine = make_engine(sys.argv[1])
        with engine.begin() as conn:
            if sys.argv[4] == "1" and engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            assert conn.execute(text(sys.argv[2]), json.loads(sys.argv[3])).rowcount == 1
        """
    )
    argv = [sys.executable, "-c", script, db_url, sql, json.dumps(params), "1" if checkpoint else "0"]
    subprocess.run(argv, check=True, timeout=60)


@pytest.fixture(params=["wal-index", pytest.param("data_version", marks=pytest.mark.sqlite_only)])
def watched(request, app, engine) -> Iterator[ProvisioningApp]:
    """The app with each way of noticing commits on SQLite; PostgreSQL has neither (a SELECT per request)."""
    if engine.dialect.name != "sqlite":
        assert app.directory.change_detector == "none"
    else:
        app.directory.use_wal_watch = request.param == "wal-index"
        assert app.directory.change_detector == request.param
    with app.running():
        yield app


def test_new_key_from_another_process_404s_on_the_very_next_request(watched, make_device, settings):
    running = watched
    dev = make_device()
    fresh = new_access_key()
    with client_for(running) as c:
        for _ in range(3):  # warm: the key is now cached
            assert c.get(f"/{dev.key}.cfg").status_code == 200
        in_other_process(settings.db_url, "UPDATE device SET access_key = :k WHERE id = :i", k=fresh, i=dev.id)
        old = c.get(f"/{dev.key}.cfg")
        new = c.get(f"/{fresh}.cfg")
    assert (old.status_code, old.content) == (404, NOT_FOUND)
    assert new.status_code == 200


def test_config_change_from_another_process_is_served_on_the_next_request(watched, make_device, settings):
    running = watched
    dev = make_device()
    with client_for(running) as c:
        assert "revision=1" in c.get(f"/{dev.key}.cfg").text
        in_other_process(settings.db_url, "UPDATE device SET config_revision = 2 WHERE id = :i", i=dev.id)
        after = c.get(f"/{dev.key}.cfg")
    assert "revision=2" in after.text


def test_deleted_device_404s_on_the_next_request(watched, make_device, settings):
    running = watched
    dev = make_device()
    with client_for(running) as c:
        assert c.get(f"/{dev.key}.cfg").status_code == 200
        in_other_process(settings.db_url, "UPDATE device SET access_key = NULL WHERE id = :i", i=dev.id)
        assert c.get(f"/{dev.key}.cfg").status_code == 404


def test_new_key_after_the_wal_restarts_404s_on_the_very_next_request(watched, make_device, settings):
    """A checkpoint empties the WAL and the next commit starts again at frame 0: still seen, every time."""
    running = watched
    dev = make_device()
    key = dev.key
    with client_for(running) as c:
        for _ in range(3):
            assert c.get(f"/{key}.cfg").status_code == 200
            assert running.writer.flush()  # our own writer's commits are in the WAL too
            assert c.get(f"/{key}.cfg").status_code == 200  # cached again, for the current header
            fresh = new_access_key()
            sql = "UPDATE device SET access_key = :k WHERE id = :i"
            in_other_process(settings.db_url, sql, checkpoint=True, k=fresh, i=dev.id)
            old = c.get(f"/{key}.cfg")
            assert (old.status_code, old.content) == (404, NOT_FOUND)
            key = fresh
        assert c.get(f"/{key}.cfg").status_code == 200


@pytest.mark.sqlite_only
def test_a_cached_key_runs_no_statement_with_the_wal_index(app, engine, make_device):
    """The point of the WAL-index header: a cached key costs no SQL at all (the PRAGMA costs one per request)."""
    dev = make_device()
    directory = app.directory
    assert directory.change_detector == "wal-index"
    statements: list[str] = []
    directory._connection().set_trace_callback(statements.append)
    with app.running(), client_for(app) as c:
        assert c.get(f"/{dev.key}.cfg").status_code == 200
        statements.clear()
        for _ in range(5):
            assert c.get(f"/{dev.key}.cfg").status_code == 200
    assert statements == []


def test_key_lookups_hit_the_database_only_after_a_commit(settings, engine, renderer, make_device, monkeypatch):
    # SQLite: cached, revalidated by data_version. PostgreSQL has no data_version: one SELECT per request.
    cached = engine.dialect.name == "sqlite"
    # The writer commits only when flushed here, so every commit in this test is one the test makes.
    running = build_app(settings, engine, renderer, dataclasses.replace(TEST_LIMITS, log_interval=3600))
    dev = make_device()
    directory = running.directory
    queries: list[str] = []
    real = directory._query_locked
    monkeypatch.setattr(directory, "_query_locked", lambda sql, value: queries.append(value) or real(sql, value))
    guess = "ab" * 24
    with running.running(), client_for(running) as c:
        for _ in range(5):
            assert c.get(f"/{dev.key}.cfg").status_code == 200
        expected = [dev.key] if cached else [dev.key] * 5
        assert queries == expected
        for _ in range(2):
            assert c.get(f"/{guess}.cfg").status_code == 404
        expected += [guess, guess]  # unknown keys are never cached
        assert queries == expected
        assert running.writer.flush()  # the access-log writer commits: data_version moves
        assert c.get(f"/{dev.key}.cfg").status_code == 200
    assert queries == [*expected, dev.key]
