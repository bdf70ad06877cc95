"""Has anyone committed to this SQLite database? Answered by reading 48 bytes of shared memory.

In WAL mode every commit, by any connection of any process, rewrites the WAL-index header at
the start of `<db>-shm` before the commit returns (https://www.sqlite.org/walformat.html): the
frame count, the checksum of the last frame and a change counter move, and a WAL restart changes
the salts. SQLite writes the header's second copy, then a memory barrier, then the first copy, so
seeing a new first copy means the commit is visible to the next read transaction. Comparing the
first copy with the one seen last is therefore a commit detector as exact as `PRAGMA data_version`
(a checkpoint may also change it: a needless revalidation, never a missed commit), at ~0.06 µs
instead of a statement (~1.4 µs, and a GIL release that lets other threads in mid-request).

Two POSIX hazards shape the code:
- Closing *any* descriptor of a file drops *all* of this process's fcntl locks on it, including the
  ones SQLite holds on `-shm` for every connection of the process. So the descriptor (and the mmap,
  which holds a dup of it on Python < 3.13) opened here is never closed: one per database file, kept
  for the life of the process.
- Reading a mapping past the end of a truncated file is SIGBUS. SQLite only truncates `-shm` when no
  connection anywhere has the database open; the caller holds its lookup connection open for as long
  as it uses the watch, and opens the watch only once that connection has read the database.

Anything unexpected (not WAL, in-memory database, no `-shm`, an unknown header version) returns
None, and the caller keeps `PRAGMA data_version`.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
from typing import Any

log = logging.getLogger(__name__)

HEADER = 48  # one copy of the WAL-index header; the first copy is written last
_MAGIC_VERSION = 3007000  # WalIndexHdr.iVersion of every SQLite since WAL exists
_SIZE = 136  # both header copies and the checkpoint info: SQLite creates -shm at 32 KiB

# -shm path -> (inode, mapping or None if unusable); descriptors and mappings are never closed (see above).
_maps: dict[str, tuple[int, mmap.mmap | None]] = {}
_maps_lock = threading.Lock()


def _mapping(shm_path: str) -> mmap.mmap | None:
    """The process-wide read-only mapping of `shm_path`, opened once per file (a replaced file gets its own)."""
    with _maps_lock:
        try:
            inode = os.stat(shm_path).st_ino
        except OSError:
            return None
        known = _maps.get(shm_path)
        if known is not None and known[0] == inode:
            return known[1]
        fd = os.open(shm_path, os.O_RDONLY | os.O_CLOEXEC)  # never closed: see the module docstring
        stat = os.fstat(fd)
        mapping = mmap.mmap(fd, _SIZE, access=mmap.ACCESS_READ) if stat.st_size >= _SIZE else None
        _maps[shm_path] = (stat.st_ino, mapping)  # remembered even if unusable: one descriptor per file
        return mapping


class WalWatch:
    """`header()` changes whenever anyone committed since the previous call (valid while the connection is open)."""

    def __init__(self, mapping: mmap.mmap) -> None:
        self._map = mapping

    def header(self) -> bytes:
        return self._map[:HEADER]


def open_watch(raw: Any) -> WalWatch | None:
    """A watch for the `main` database of the sqlite3 connection `raw`, or None if only the PRAGMA will do.

    `raw` must stay open while the watch is used: its shared lock is what keeps `-shm` from being
    truncated under the mapping.
    """
    cur = raw.cursor()
    try:
        cur.execute("PRAGMA data_version")  # a read transaction: -shm exists and this connection holds it
        cur.fetchone()
        cur.execute("PRAGMA journal_mode")
        if str(cur.fetchone()[0]).lower() != "wal":
            return None
        cur.execute("PRAGMA database_list")
        path = next((row[2] for row in cur.fetchall() if row[1] == "main"), "")
    finally:
        cur.close()
    if not path:  # in-memory or temporary database: its WAL-index is not in a file
        return None
    try:
        mapping = _mapping(path + "-shm")
    except (OSError, ValueError):  # unreadable -shm (another owner), mmap refused: the PRAGMA still works
        log.warning("provisioning: cannot map %s-shm; checking commits with PRAGMA data_version", path, exc_info=True)
        return None
    if mapping is None:
        return None
    version, _unused, _change, is_init = struct.unpack_from("=IIIB", mapping, 0)
    if version != _MAGIC_VERSION or is_init != 1:
        return None
    return WalWatch(mapping)
