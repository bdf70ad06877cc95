"""Kamailio's call records (acc) on SQLite: written by Kamailio into files, moved into our tables by serve.

On PostgreSQL Kamailio's acc module inserts into `acc` and `missed_calls` itself. On SQLite it cannot: every
SIP worker would insert, Kamailio's db_sqlite waits on no lock, and a record whose insert met another writer's
lock was lost (the stock tables lost 84 % of them at 40 calls in flight, docs/PERFORMANCE.md). A lost record is
a call TopStop does not price. So on SQLite acc writes through db_flatstore, one line per record appended to
`<table>_<n>.log` in the switch's runtime directory (no lock, no database), and serve, every second:

1. reads the files it took at its previous pass (`*.taken`), inserts their records in one transaction (our
   connection waits on locks) and removes them;
2. takes the files written since (renamed `*.taken`) and has Kamailio reopen its files (`flatstore.rotate`
   over RPC): each worker checks for that before its next write, so once the RPC has returned nothing more
   is appended to a taken file, and the next pass reads it whole.

   Only a file this process saw at an earlier second is taken: a worker reopens when the rotation's time,
   in whole seconds, is later than its file's opening; a rotation in the very second a worker reopened is
   ignored by it, it would go on appending to the file taken (records lost when it is removed; measured:
   every record after the first round of bench/switch calls).

A record reaches our tables 2-3 s after its call event. If serve dies between a commit and the removal of the
files it inserted, their records are inserted again at its next start (at most one pass's worth).

Fields are `|`-separated (acc's fixed columns, then `ACC_EXTRA` in order); db_flatstore writes a `|` inside
a value as `%7C` and leaves `%` as is, so a literal `%7C` in a From user reads back as `|`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, insert

from core.db import transaction
from core.models import AccRecord, MissedCall

log = logging.getLogger(__name__)

# The db_extra columns of acc (core.models._CallRecord) and what fills them (switch/kamailio/parts/calls.cfg.j2
# sets the AVPs). One list: the configuration is rendered from it and the files are read by it.
ACC_EXTRA: tuple[tuple[str, str], ...] = (
    ("src_user", "$fU"),
    ("src_domain", "$fd"),
    ("src_ip", "$si"),
    ("src_port", "$sp"),
    ("dst_ouser", "$avp(calls_dialled)"),
    ("dst_user", "$avp(calls_user)"),
    ("dst_domain", "$avp(calls_domain)"),
    ("line_id", "$avp(calls_line)"),
    ("callee_line_id", "$avp(calls_callee)"),
    ("call_kind", "$avp(calls_kind)"),
    ("start_time", "$avp(calls_start)"),
)
FIXED = ("method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time")
COLUMNS = FIXED + tuple(name for name, _ in ACC_EXTRA)
_INTEGERS = {"src_port", "line_id", "callee_line_id"}
TABLES = {"acc": AccRecord, "missed_calls": MissedCall}


def db_extra() -> str:
    """acc's `db_extra` parameter."""
    return ";".join(f"{name}={value}" for name, value in ACC_EXTRA)


class BadRecord(ValueError):
    pass


def parse(line: str) -> dict[str, object]:
    """One record of a flatstore file as the row acc would have inserted."""
    fields = line.split("|")
    if len(fields) != len(COLUMNS):
        raise BadRecord(f"{len(fields)} fields, {len(COLUMNS)} expected")
    row: dict[str, object] = {}
    for name, raw in zip(COLUMNS, fields, strict=True):
        value = raw.replace("%7C", "|")
        if name == "time":
            row[name] = datetime.fromtimestamp(int(value), UTC)
        elif name == "start_time":
            row[name] = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) if value else None
        elif name in _INTEGERS:
            row[name] = int(value) if value else None
        else:
            row[name] = value if value or name in FIXED else None
    return row


def _table_of(path: Path) -> str:
    """`acc_129.log` and `acc_129.1733.taken` are acc's; `missed_calls_129.log` missed_calls'."""
    return path.name.split(".", 1)[0].rsplit("_", 1)[0]


def _read(path: Path) -> list[dict[str, object]]:
    rows = []
    bad: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            rows.append(parse(line))
        except ValueError as e:  # BadRecord too
            bad.append(str(e))
    if bad:
        log.warning("%d malformed call records skipped in %s (%s)", len(bad), path.name, bad[0])
    return rows


# (file, inode) -> when this process first saw it (time.time()): see the module's docstring, step 2.
_first_seen: dict[tuple[Path, int], float] = {}


def _ripe(directory: Path, now: float, settled: bool) -> list[Path]:
    """The non-empty files Kamailio is writing that a rotation now is sure to close."""
    found, ripe = set(), []
    for path in directory.glob("*.log"):
        if _table_of(path) not in TABLES:
            continue
        st = path.stat()
        key = (path, st.st_ino)
        found.add(key)
        first = _first_seen.setdefault(key, now)
        if st.st_size and (settled or int(now) > int(first)):
            ripe.append(path)
    for key in [k for k in _first_seen if k[0].parent == directory and k not in found]:
        del _first_seen[key]
    return ripe


def ingest(engine: Engine, directory: Path, rotate: Callable[[], object], now: float | None = None,
           settled: bool = False) -> int:  # fmt: skip
    """One pass (see the module's docstring); the records inserted. `settled`: Kamailio has stopped, every
    file is whole."""
    taken = sorted(p for p in directory.glob("*.taken") if _table_of(p) in TABLES)
    inserted = 0
    if taken:
        by_table: dict[str, list[dict[str, object]]] = {}
        for path in taken:
            by_table.setdefault(_table_of(path), []).extend(_read(path))
        with transaction(engine) as s:
            for table, rows in by_table.items():
                for i in range(0, len(rows), 500):
                    s.execute(insert(TABLES[table]), rows[i : i + 500])
                inserted += len(rows)
        for path in taken:
            path.unlink()
    fresh = _ripe(directory, time.time() if now is None else now, settled)
    stamp = time.time_ns()
    moved = []
    for path in fresh:
        target = path.with_name(f"{path.name.split('.', 1)[0]}.{stamp}.taken")
        path.rename(target)
        moved.append((path, target))
    if moved:
        try:
            rotate()
        except Exception:
            # Kamailio may still append to the files it has open: give them their names back (unless a worker
            # did reopen, then the taken file is whole) and take them next time.
            for path, target in moved:
                try:
                    os.link(target, path)
                except FileExistsError:
                    continue
                target.unlink()
            raise
    return inserted


def drain(engine: Engine, directory: Path) -> int:
    """Every record left in the files, once Kamailio has stopped (nothing appends any more)."""
    if not directory.is_dir():
        return 0
    return sum(ingest(engine, directory, lambda: None, settled=True) for _ in range(2))
