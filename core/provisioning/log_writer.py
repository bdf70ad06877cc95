"""Write-behind for the access log and security events.

Requests only append to an in-memory deque; one thread writes batches (every `interval`
seconds or `batch` rows) in one transaction, so a burst of phones does not serialise on the
database. `stop()` writes everything still queued: a clean shutdown loses no row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, bindparam, insert, update

from core.models import AccessLog, Device, SecurityEvent

log = logging.getLogger(__name__)


# 9 columns x 100 rows = 900 parameters: under SQLite's oldest limit (999) and PostgreSQL's (65535).
ROWS_PER_STATEMENT = 100


class LogEntry(NamedTuple):
    """One access-log row, in column order (a NamedTuple: the cheapest record to build once per request)."""

    at: datetime
    source_ip: str
    user_agent: str
    method: str
    path: str  # already masked
    device_id: int | None
    status: int
    bytes: int
    reason: str


_ZERO = timedelta(0)


def _same(value: datetime) -> datetime:
    return value


def _sqlite_at(value: datetime) -> str:
    if value.utcoffset() != _ZERO:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _fast_bind(column_bind: Callable[[datetime], Any]) -> Callable[[datetime], Any]:
    """On SQLite the column's own conversion formats in Python; `isoformat` (C) gives the same text
    in a fraction of the time. Used only if it agrees with the column's conversion, else that one."""
    probes = (datetime(2026, 1, 2, 3, 4, 5, 6, UTC), datetime(2026, 12, 31, 23, 59, 59, 0, UTC))
    if all(_sqlite_at(p) == column_bind(p) for p in probes):
        return _sqlite_at
    return column_bind


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
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        table = AccessLog.__table__
        self._row_marks = "(" + ", ".join([mark] * len(LogEntry._fields)) + ")"
        self._insert_head = f"INSERT INTO {table.name} ({', '.join(LogEntry._fields)}) VALUES "
        self._insert_sql: dict[int, str] = {}  # rows per statement -> SQL
        # The column type's own conversion (UTCDateTime on this dialect), so rows match ORM-written ones.
        at_type = table.c.at.type.dialect_impl(engine.dialect)  # type: ignore[attr-defined]
        self._bind_at: Callable[[datetime], Any] = _fast_bind(at_type.bind_processor(engine.dialect) or _same)

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

    def log(self, entry: LogEntry) -> None:
        self._pending.append(entry)
        if len(self._pending) >= self.batch and not self._wake.is_set():
            self._wake.set()

    def event(self, **fields: Any) -> None:
        """A SecurityEvent row (kind, source_ip, at, ...), written with the next batch."""
        self._pending.append(fields)

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
        while pending:  # popleft is atomic: appends from the event loop can go on meanwhile
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
        entries = [i for i in items if isinstance(i, LogEntry)]
        events = [i for i in items if isinstance(i, dict)]
        if entries or events:
            for attempt in range(3):
                try:
                    self._insert(entries, events)
                    self.written += len(entries)
                    break
                except Exception:
                    log.exception("access log: batch of %d rows not written (attempt %d)", len(entries), attempt + 1)
                    time.sleep(0.2 * (attempt + 1))
            else:
                self.dropped += len(entries)
        for i in items:
            if isinstance(i, threading.Event):
                i.set()

    def _insert_rows(self, conn: Connection, entries: list[LogEntry]) -> None:
        """Multi-row INSERTs straight to the driver, ROWS_PER_STATEMENT rows each.

        Not the ORM insert (its per-row work cost more than a request), and not one statement per row:
        sqlite3 releases the GIL around every statement, and each hand-back stalls the event loop thread.
        """
        bind_at = self._bind_at
        for start in range(0, len(entries), ROWS_PER_STATEMENT):
            chunk = entries[start : start + ROWS_PER_STATEMENT]
            sql = self._insert_sql.get(len(chunk))
            if sql is None:
                sql = self._insert_sql[len(chunk)] = self._insert_head + ", ".join([self._row_marks] * len(chunk))
            params: list[Any] = []
            for e in chunk:
                params.append(bind_at(e[0]))
                params.extend(e[1:])
            conn.exec_driver_sql(sql, tuple(params))

    def _insert(self, entries: list[LogEntry], events: list[dict[str, Any]]) -> None:
        last: dict[int, LogEntry] = {}
        for e in entries:
            if e.device_id is not None and e.status < 400:
                last[e.device_id] = e  # the device's last successful access
        with self.engine.begin() as conn:
            if entries:
                self._insert_rows(conn, entries)
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
                    [{"b_id": d, "b_at": e.at, "b_ip": e.source_ip, "b_ua": e.user_agent} for d, e in last.items()],
                )
            if events:
                conn.execute(insert(SecurityEvent), events)
