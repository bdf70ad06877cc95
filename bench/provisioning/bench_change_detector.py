"""Per-request cost of noticing commits (core/provisioning/wal_watch.py): the WAL-index header against
`PRAGMA data_version`, both on the same WAL database and connection, in the same run.

    .venv/bin/python -m pytest bench/provisioning/bench_change_detector.py -p no:cacheprovider -q

Results and the reading against the endpoint's CPU per request: docs/PERFORMANCE.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.provisioning.wal_watch import open_watch


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = sqlite3.connect(tmp_path / "bench.db", isolation_level=None, check_same_thread=False)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE t (x INTEGER)")
    c.execute("INSERT INTO t VALUES (1)")
    yield c
    c.close()


def test_wal_index_header(benchmark, conn):
    watch = open_watch(conn)
    assert watch is not None
    benchmark(watch.header)


def test_pragma_data_version(benchmark, conn):
    cur = conn.cursor()  # kept, as DeviceDirectory keeps it

    def ask() -> int:
        cur.execute("PRAGMA data_version")
        return cur.fetchone()[0]

    benchmark(ask)
