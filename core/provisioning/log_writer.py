"""Write-behind for the access log and security events.

Requests only append to an in-memory deque; one thread writes batches (every `interval`
seconds or `batch` rows) in one transaction, so a burst of phones does not serialise on the
database. `stop()` writes everything still queued: a clean shutdown loses no row.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, insert, update
from sqlalchemy.exc import DisconnectionError, OperationalError

from core.models import AccessLog, Device, SecurityEvent

log = logging.getLogger(__name__)


# One access-log row is a plain tuple in this column order: a tuple literal costs a request a sixth
# of a NamedTuple's construction. `at` is `time.time()`: the writer formats it, not the request.
LOG_COLUMNS = ("at", "source_ip", "user_agent", "method", "path", "device_id", "status", "bytes", "reason")
# A request on the plain-HTTP port adds its scheme; every other row leaves the column to its
# default ("https"): one value less to bind per row, measured at ~0.3 µs of the writer's ~2.7.
PLAIN_HTTP_COLUMNS = (*LOG_COLUMNS, "scheme")
LogRow = tuple[Any, ...]
# Parameters per multi-row INSERT: under SQLite's oldest limit (999) and PostgreSQL's (65535).
MAX_PARAMETERS = 900
ROWS_PER_STATEMENT = MAX_PARAMETERS // len(LOG_COLUMNS)
_DEVICE, _STATUS = LOG_COLUMNS.index("device_id"), LOG_COLUMNS.index("status")
# Every event row carries every column: one executemany binds the first row's keys for all of them,
# so a probe event (no device) next to a key-misuse event (a device) failed the whole batch.
EVENT_DEFAULTS: dict[str, Any] = {
    "source_port": None, "username": "", "user_agent": "", "line_id": None, "device_id": None, "detail": "",
}  # fmt: skip
# The database itself failing (down, locked past the busy timeout): worth retrying the whole batch.
# Anything else is a row the database refuses (a deleted device's id...): retrying cannot help.
_TRANSIENT = (OperationalError, DisconnectionError)


def _as_datetime(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


class _SqliteStamp:
    """`at` as the text SQLite stores ("YYYY-MM-DD HH:MM:SS.ffffff", UTC): the date and time part is
    formatted once per second, so a row costs one f-string (a datetime plus `isoformat` cost ~1 µs)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, at: float) -> str:
        # To the microsecond exactly as `datetime.fromtimestamp` does: fraction apart, half-even.
        fraction, whole = math.modf(at)
        second, micro = int(whole), round(fraction * 1e6)
        if micro == 1_000_000:
            second, micro = second + 1, 0
        if second != self._second:  # one thread (the writer) calls this
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")
            self._second = second
        return f"{self._prefix}.{micro:06d}"


def _bind_at_for(column_bind: Callable[[datetime], Any] | None) -> Callable[[float], Any]:
    """The cheapest conversion of a `time.time()` stamp that gives what the column type itself would
    bind for the same instant; checked at start, else the column's own conversion is used."""
    if column_bind is None:  # the driver takes datetimes (PostgreSQL)
        return _as_datetime
    fast = _SqliteStamp()
    probes = (1767225600.0, 1767225600.000008, 1798761599.999999, 1798761599.9999996)
    if all(fast(p) == column_bind(_as_datetime(p)) for p in probes):
        return fast
    return lambda at: column_bind(_as_datetime(at))


class LogWriter:
    """One writer thread per process. Requests only `deque.append` (atomic, no lock, no wake-up):
    the thread wakes every `interval` seconds, or at once when `batch` rows are waiting."""

    def __init__(self, engine: Engine, interval: float = 0.5, batch: int = 1000) -> None:
        self.engine = engine
        self.interval = interval
        self.batch = batch
        self._pending: deque[Any] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0
        self._mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._table = cast(Table, AccessLog.__table__)  # a declarative class's table is a Table
        self._insert_sql: dict[tuple[int, int], str] = {}  # (columns, rows per statement) -> SQL
        # The column type's own conversion (UTCDateTime on this dialect), so rows match ORM-written ones.
        at_type = self._table.c.at.type.dialect_impl(engine.dialect)
        self._bind_at = _bind_at_for(at_type.bind_processor(engine.dialect))

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="access-log-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Flush everything queued and end the thread."""
        if self._thread is not None:
            self._stopping = True
            self._wake.set()
            self._thread.join()
            self._thread = None
        self._drain_now()  # anything appended while the thread was finishing

    def log(self, row: LogRow) -> None:
        self._pending.append(row)
        if len(self._pending) >= self.batch and not self._wake.is_set():
            self._wake.set()

    def event(self, **fields: Any) -> None:
        """A SecurityEvent row (kind, source_ip, at, ...), written with the next batch."""
        self._pending.append({**EVENT_DEFAULTS, **fields})

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything queued so far is written (tests and shutdown use it)."""
        done = threading.Event()
        self._pending.append(done)
        if self._thread is None:
            self._drain_now()
        else:
            self._wake.set()
        return done.wait(timeout)

    def _take(self) -> list[Any]:
        items: list[Any] = []
        pending = self._pending
        while pending:  # popleft is atomic: request threads can go on appending meanwhile
            items.append(pending.popleft())
        return items

    def _drain_now(self) -> None:
        self._write(self._take())

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            stopping = self._stopping
            items = self._take()
            for start in range(0, len(items), self.batch):
                self._write(items[start : start + self.batch])
            if stopping:
                return

    def _write(self, items: list[Any]) -> None:
        entries = [i for i in items if type(i) is tuple]
        events = [i for i in items if isinstance(i, dict)]
        if entries or events:
            self._write_batch(entries, events)
        for i in items:
            if isinstance(i, threading.Event):
                i.set()

    def _write_batch(self, entries: list[LogRow], events: list[dict[str, Any]]) -> None:
        """One transaction for the batch; the database failing is retried, a refused row is isolated."""
        for attempt in range(3):
            try:
                self._insert(entries, events)
                self.written += len(entries)
                return
            except _TRANSIENT:
                log.exception("access log: batch of %d rows not written (attempt %d)", len(entries), attempt + 1)
                time.sleep(0.2 * (attempt + 1))
            except Exception:
                self._write_one_by_one(entries, events)
                return
        self.dropped += len(entries)

    def _write_one_by_one(self, entries: list[LogRow], events: list[dict[str, Any]]) -> None:
        """After a batch the database refused: each row in its own transaction, so only the bad one is
        lost; one log line for the pass, not one per row (a flood of bad rows must not flood the log)."""
        bad: list[str] = []
        singles: list[tuple[list[LogRow], list[dict[str, Any]]]] = [([e], []) for e in entries]
        singles += [([], [e]) for e in events]
        for one_entry, one_event in singles:
            try:
                self._insert(one_entry, one_event)
                self.written += len(one_entry)
            except Exception as exc:
                self.dropped += len(one_entry)
                what = f"row {one_entry[0][4]!r}" if one_entry else f"event {one_event[0].get('kind')!r}"
                bad.append(f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        if bad:
            log.error("access log: %d of %d rows dropped, the database refused them; first %s",
                      len(bad), len(singles), bad[0])  # fmt: skip

    def _sql(self, columns: tuple[str, ...], rows: int) -> str:
        sql = self._insert_sql.get((len(columns), rows))
        if sql is None:
            marks = "(" + ", ".join([self._mark] * len(columns)) + ")"
            head = f"INSERT INTO {self._table.name} ({', '.join(columns)}) VALUES "
            sql = self._insert_sql[(len(columns), rows)] = head + ", ".join([marks] * rows)
        return sql

    def _insert_rows(self, conn: Connection, entries: list[LogRow], columns: tuple[str, ...]) -> None:
        """Multi-row INSERTs straight to the driver, up to MAX_PARAMETERS values each.

        Not the ORM insert (its per-row work cost more than a request), and not one statement per row:
        sqlite3 releases the GIL around every statement, and each hand-back stalls the request thread.
        """
        bind_at = self._bind_at
        per_statement = MAX_PARAMETERS // len(columns)
        for start in range(0, len(entries), per_statement):
            chunk = entries[start : start + per_statement]
            params: list[Any] = []
            for e in chunk:
                params.append(bind_at(e[0]))
                params.extend(e[1:])
            conn.exec_driver_sql(self._sql(columns, len(chunk)), tuple(params))

    def _insert(self, entries: list[LogRow], events: list[dict[str, Any]]) -> None:
        last: dict[int, LogRow] = {}
        for e in entries:
            device_id = e[_DEVICE]
            if device_id is not None and e[_STATUS] < 400:
                last[device_id] = e  # the device's last successful access
        with self.engine.begin() as conn:
            plain = [e for e in entries if len(e) == len(PLAIN_HTTP_COLUMNS)]
            if plain:  # rare: only with the plain-HTTP port enabled
                entries = [e for e in entries if len(e) == len(LOG_COLUMNS)]
                self._insert_rows(conn, plain, PLAIN_HTTP_COLUMNS)
            if entries:
                self._insert_rows(conn, entries, LOG_COLUMNS)
            if last:
                # updated_at is kept: a phone fetching its file is not a change to the device.
                conn.execute(
                    update(Device)
                    .where(Device.id == bindparam("b_id"))
                    .values(
                        last_access_at=bindparam("b_at"),
                        last_access_ip=bindparam("b_ip"),
                        last_access_ua=bindparam("b_ua"),
                        updated_at=Device.updated_at,
                    ),
                    # In id order: two workers' writers updating the same devices in request order took
                    # their row locks in opposite orders and PostgreSQL aborted one (DeadlockDetected).
                    [
                        {"b_id": d, "b_at": _as_datetime(e[0]), "b_ip": e[1], "b_ua": e[2]}
                        for d, e in sorted(last.items())
                    ],
                )
            if events:
                conn.execute(insert(SecurityEvent), events)
