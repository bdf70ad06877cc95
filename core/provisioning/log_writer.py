"""Write-behind for the access log and security events.

Requests only append to an in-memory queue; one thread writes batches (every `interval`
seconds or `batch` rows) in one transaction, so a burst of phones does not serialise on the
database. `stop()` writes everything still queued: a clean shutdown loses no row.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, insert, update

from core.models import AccessLog, Device, SecurityEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LogEntry:
    at: datetime
    source_ip: str
    user_agent: str
    method: str
    path: str  # already masked
    device_id: int | None
    status: int
    bytes: int
    reason: str


_STOP = object()


class LogWriter:
    def __init__(self, engine: Engine, interval: float = 0.5, batch: int = 1000) -> None:
        self.engine = engine
        self.interval = interval
        self.batch = batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="access-log-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Flush everything queued and end the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def log(self, entry: LogEntry) -> None:
        self._queue.put(entry)

    def event(self, **fields: Any) -> None:
        """A SecurityEvent row (kind, source_ip, at, ...), written with the next batch."""
        self._queue.put(fields)

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything queued so far is written (tests and shutdown use it)."""
        done = threading.Event()
        self._queue.put(done)
        if self._thread is None:
            self._drain_now()
        return done.wait(timeout)

    def _drain_now(self) -> None:
        items: list[Any] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self._write(items)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            items: list[Any] = [self._queue.get()]
            deadline = time.monotonic() + self.interval
            while len(items) < self.batch and not isinstance(items[-1], threading.Event):
                if items[-1] is _STOP:
                    break
                try:
                    items.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            if items[-1] is _STOP:
                stopping = True
                while True:  # anything put after the stop marker still gets written
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
            self._write(items)

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

    def _insert(self, entries: list[LogEntry], events: list[dict[str, Any]]) -> None:
        last: dict[int, LogEntry] = {}
        for e in entries:
            if e.device_id is not None and e.status < 400:
                last[e.device_id] = e  # the device's last successful access
        with self.engine.begin() as conn:
            if entries:
                conn.execute(
                    insert(AccessLog),
                    [
                        {
                            "at": e.at,
                            "source_ip": e.source_ip,
                            "user_agent": e.user_agent,
                            "method": e.method,
                            "path": e.path,
                            "device_id": e.device_id,
                            "status": e.status,
                            "bytes": e.bytes,
                            "reason": e.reason,
                        }
                        for e in entries
                    ],
                )
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
