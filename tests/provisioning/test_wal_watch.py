"""The WAL-index header as a commit detector (core/provisioning/wal_watch.py), on plain sqlite3 files."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from core.provisioning.wal_watch import open_watch, sqlite_mapping


def _wal_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return conn


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _shm_maps(shm: Path) -> int:
    with open("/proc/self/maps") as maps:
        return sum(1 for line in maps if line.rstrip("\n").endswith(str(shm.resolve())))


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


def test_the_watch_opens_no_descriptor_and_maps_nothing_of_its_own(tmp_path):
    """Closing any -shm descriptor would drop SQLite's locks on it, and a mapping of our own could outlive
    SQLite's guarantee that -shm keeps its size (SIGBUS): the watch reads SQLite's own mapping instead."""
    conns = [_wal_db(tmp_path / "b.db") for _ in range(3)]
    conns[0].execute("SELECT 1").fetchone()
    fds, maps = _fds(), _shm_maps(tmp_path / "b.db-shm")
    watches = [open_watch(c) for c in conns for _ in range(5)]
    assert all(w is not None for w in watches)
    assert _fds() == fds
    assert _shm_maps(tmp_path / "b.db-shm") == maps == 1  # SQLite's one mapping per process, not one more
    for c in conns:
        c.close()


def test_the_mapping_is_found_only_for_the_exact_file_shared_and_from_offset_zero(tmp_path):
    shm = str(tmp_path / "x.db-shm")
    maps = tmp_path / "maps"
    maps.write_text(
        f"7f0000000000-7f0000008000 rw-p 00000000 08:01 11 {shm}\n"  # private: not SQLite's shared view
        f"7f0000010000-7f0000018000 rw-s 00008000 08:01 11 {shm}\n"  # region 1, not the header's
        f"7f0000020000-7f0000028000 rw-s 00000000 08:01 12 {shm}-other\n"
        f"7f0000030000-7f0000038000 rw-s 00000000 08:01 11 {shm} (deleted)\n"
        f"7f0000040000-7f0000048000 rw-s 00000000 08:01 11 {shm}\n"
    )
    assert sqlite_mapping(shm, str(maps)) == 0x7F0000040000
    assert sqlite_mapping(shm + "-none", str(maps)) is None
    assert sqlite_mapping(shm, str(tmp_path / "no-procfs")) is None


def test_no_watch_without_a_wal_index_file(tmp_path):
    rollback = sqlite3.connect(tmp_path / "c.db")
    rollback.execute("CREATE TABLE t (x INTEGER)")
    assert open_watch(rollback) is None  # journal_mode=delete: the PRAGMA it is
    memory = sqlite3.connect(":memory:")
    memory.execute("PRAGMA journal_mode=WAL")
    assert open_watch(memory) is None
    rollback.close()
    memory.close()
