"""Has anyone committed to this SQLite database? Answered by reading 48 bytes of SQLite's own shared memory.

Why a trick at all: the key cache must be dropped on every commit by any process, and asking with
`PRAGMA data_version` is a statement per request (1.4-2.7 µs and a GIL release that lets the other
request threads in mid-request), about 5 % of the endpoint's CPU per keep-alive request, where the
keep-alive target of docs/PERFORMANCE.md is met only at the line. Reading the header costs ~0.1 µs
(`bench/provisioning/bench_change_detector.py`).

Why it is exact: in WAL mode every commit, by any connection of any process, rewrites the WAL-index
header at the start of `<db>-shm` before the commit returns (https://www.sqlite.org/walformat.html):
the frame count, the checksum of the last frame and a change counter move, and a WAL restart changes
the salts. SQLite writes the header's second copy, then a memory barrier, then the first copy, so a
new first copy means the commit is visible to the next read transaction. A checkpoint may change it
too: a needless revalidation, never a missed commit.

Why SQLite's mapping and not ours: SQLite maps region 0 of `-shm` once per process, for as long as
any connection of the process has the database open; we read that mapping (found in
/proc/self/maps) and open nothing. Opening the file ourselves would force two bad choices:
- closing our descriptor drops *all* of this process's fcntl locks on `-shm`, including the ones
  SQLite holds for every connection (POSIX), so it could never be closed (one leaked per file);
- our own mapping would outlive SQLite's guarantee: reading a mapping past the end of a file that
  shrank is SIGBUS, and a stale `-shm` is truncated by the next process that opens the database
  first. SQLite never truncates `-shm` while a connection holds it, and the caller keeps its lookup
  connection open for exactly as long as it reads the watch (`DeviceDirectory.close` drops it first).
So there is no descriptor to close, and the only memory read is one SQLite itself reads on every
transaction of that connection.

Anything unexpected (not Linux, not WAL, in-memory database, `-shm` in heap memory under exclusive
locking, an unknown header version) returns None, and the caller keeps `PRAGMA data_version`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import struct
from typing import Any

log = logging.getLogger(__name__)

HEADER = 48  # one copy of the WAL-index header; the first copy is written last
_MAGIC_VERSION = 3007000  # WalIndexHdr.iVersion of every SQLite since WAL exists
_SIZE = 136  # both header copies and the checkpoint info (region 0 is 32 KiB)
MAPS = "/proc/self/maps"


def sqlite_mapping(shm_path: str, maps: str = MAPS) -> int | None:
    """The address of SQLite's shared mapping of region 0 of `shm_path` in this process, or None."""
    wanted = os.path.realpath(shm_path)
    try:
        with open(maps, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                fields = line.rstrip("\n").split(maxsplit=5)
                # start-end perms offset dev inode path; a deleted file's path ends in " (deleted)".
                if len(fields) == 6 and fields[5] == wanted and int(fields[2], 16) == 0 and fields[1][3] == "s":
                    start, end = (int(x, 16) for x in fields[0].split("-"))
                    if end - start >= _SIZE and fields[1][0] == "r":
                        return start
    except OSError:  # no procfs: the PRAGMA it is
        return None
    return None


class WalWatch:
    """`header()` changes whenever anyone committed since the previous call (valid while the connection is open)."""

    def __init__(self, address: int) -> None:
        self._view = (ctypes.c_char * HEADER).from_address(address)  # a view: `.raw` copies the bytes now

    def header(self) -> bytes:
        return self._view.raw


def open_watch(raw: Any) -> WalWatch | None:
    """A watch for the `main` database of the sqlite3 connection `raw`, or None if only the PRAGMA will do.

    `raw` must stay open while the watch is used: its hold on the database is what keeps SQLite's
    mapping of `-shm` alive.
    """
    cur = raw.cursor()
    try:
        cur.execute("PRAGMA journal_mode")
        if str(cur.fetchone()[0]).lower() != "wal":
            return None
        cur.execute("SELECT count(*) FROM sqlite_schema")  # a read transaction: SQLite maps -shm region 0
        cur.fetchone()
        cur.execute("PRAGMA database_list")
        path = next((row[2] for row in cur.fetchall() if row[1] == "main"), "")
    finally:
        cur.close()
    if not path:  # in-memory or temporary database: its WAL-index is not in a file
        return None
    address = sqlite_mapping(path + "-shm")
    if address is None:
        return None
    version, _unused, _change, is_init = struct.unpack("=IIIB", ctypes.string_at(address, 13))
    if version != _MAGIC_VERSION or is_init != 1:
        return None
    return WalWatch(address)
