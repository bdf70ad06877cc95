"""The WAL-index header as a commit detector (core/provisioning/wal_watch.py), on plain sqlite3 files."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from core.provisioning.wal_watch import open_watch


def _wal_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return conn


def test_every_commit_by_another_connection_changes_the_header(tmp_path):
    reader, writer = _wal_db(tmp_path / "a.db"), _wal_db(tmp_path / "a.db")
    watch = open_watch(reader)
    assert watch is not None
    seen = {watch.header()}
    for i in range(20):
        if i % 5 == 4:  # empty the WAL: the next commit starts again at frame 0 with new salts
            assert writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        writer.execute("INSERT INTO t VALUES (?)", (i,))
        header = watch.header()
        assert header not in seen  # never back to an earlier header: no commit can hide behind an old one
        seen.add(header)
        assert watch.header() == header  # and nothing moves without a commit
    reader.close()
    writer.close()


def test_one_descriptor_per_file_however_often_it_is_opened(tmp_path):
    """Closing a -shm descriptor would drop SQLite's locks on it: each file is opened once and kept."""
    conns = [_wal_db(tmp_path / "b.db") for _ in range(3)]
    open_watch(conns[0])
    before = len(os.listdir("/proc/self/fd"))
    watches = [open_watch(c) for c in conns for _ in range(5)]
    assert all(w is not None for w in watches)
    assert len(os.listdir("/proc/self/fd")) == before
    for c in conns:
        c.close()


def test_no_watch_without_a_wal_index_file(tmp_path):
    rollback = sqlite3.connect(tmp_path / "c.db")
    rollback.execute("CREATE TABLE t (x INTEGER)")
    assert open_watch(rollback) is None  # journal_mode=delete: the PRAGMA it is
    memory = sqlite3.connect(":memory:")
    memory.execute("PRAGMA journal_mode=WAL")
    assert open_watch(memory) is None
    rollback.close()
    memory.close()
