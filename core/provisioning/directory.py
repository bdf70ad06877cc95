"""Which device a request names, and its files, with the hot path kept cheap.

Every request by key or MAC runs one indexed SELECT on a connection this process holds open
(no ORM, no pool checkout): the dashboard runs in another process, so a "new key" or a config
change must be seen at once, and asking the database is the only way to know. The expensive part
(loading the ORM device, rendering) is cached by (device, key, config_revision, file name): a
config change bumps the revision, so a stale file can never be served.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.models import Device, RedirectionJob
from core.provisioning.types import RendererLike
from core.render import RenderedFile

log = logging.getLogger(__name__)

_COLUMNS = "id, model_id, access_key, config_revision, mac, provisioning_mac"


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: int
    model_id: str
    access_key: str | None
    config_revision: int
    mac: str | None
    provisioning_mac: str


class _LRU:
    """A small thread-safe LRU (render threads fill it, the event loop reads it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class DeviceDirectory:
    def __init__(self, engine: Engine, renderer: RendererLike, cache_size: int = 20_000) -> None:
        self.engine = engine
        self.renderer = renderer
        self._conn: Any = None
        self._lock = threading.Lock()
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._by_key_sql = f"SELECT {_COLUMNS} FROM device WHERE access_key = {mark}"
        self._by_mac_sql = f"SELECT {_COLUMNS} FROM device WHERE mac = {mark}"
        self._names = _LRU(cache_size)
        self._files = _LRU(cache_size)

    # -- the per-request lookups ---------------------------------------------------------------

    def _connect(self) -> Any:
        proxy = self.engine.raw_connection()
        proxy.detach()  # ours for the process lifetime; never handed back to the pool in autocommit
        raw = proxy.driver_connection
        if self.engine.dialect.name == "postgresql":
            raw.autocommit = True  # no transaction left open between requests
        return proxy

    def _query(self, sql: str, value: str) -> DeviceRow | None:
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None:
                    self._conn = self._connect()
                try:
                    cur = self._conn.cursor()
                    try:
                        cur.execute(sql, (value,))
                        row = cur.fetchone()
                    finally:
                        cur.close()
                    return DeviceRow(*row) if row else None
                except Exception:
                    self.close()  # a dropped connection: reconnect once, then let the error out
                    if attempt == 2:
                        raise
        return None

    def by_key(self, key: str) -> DeviceRow | None:
        return self._query(self._by_key_sql, key)

    def by_mac(self, mac: str) -> DeviceRow | None:
        return self._query(self._by_mac_sql, mac)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    # -- files: cache first, then load and render in a worker thread ----------------------------

    def _rev(self, row: DeviceRow) -> tuple[Any, ...]:
        return (row.id, row.access_key, row.config_revision)

    def cached_names(self, row: DeviceRow) -> frozenset[str] | None:
        result: frozenset[str] | None = self._names.get(self._rev(row))
        return result

    def cached_file(self, row: DeviceRow, name: str | None) -> RenderedFile | None:
        result: RenderedFile | None = self._files.get((*self._rev(row), name))
        return result

    def load_file(self, row: DeviceRow, name: str | None) -> RenderedFile | None:
        """Render (blocking: run in a thread). None when the model has no such file."""
        with Session(self.engine) as session:
            device = session.get(Device, row.id)
            if device is None:
                return None
            names = frozenset(self.renderer.file_names(device))
            self._names.put(self._rev(row), names)
            if name is not None and name not in names:
                return None
            try:
                rendered = self.renderer.render(device, name)
            except NotFound:
                return None
        self._files.put((*self._rev(row), name), rendered)
        return rendered

    def load_bootstrap(self, row: DeviceRow, name: str) -> RenderedFile | None:
        """The bootstrap file for a MAC-named request (rare: not cached)."""
        with Session(self.engine) as session:
            device = session.get(Device, row.id)
            return None if device is None else self.renderer.bootstrap(device, name)

    def mark_done(self, row: DeviceRow) -> bool:
        """First key fetch while Provisioning MAC is `once`: set `done`, queue the redirection withdrawal.

        The conditional UPDATE makes this safe against a concurrent fetch in another process.
        """
        model = self.renderer.catalogue.get(row.model_id)
        with Session(self.engine) as session, session.begin():
            result = session.execute(
                update(Device)
                .where(Device.id == row.id, Device.provisioning_mac == "once")
                .values(provisioning_mac="done")
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            if model is not None and model.redirection and row.mac:
                session.add(RedirectionJob(device_id=row.id, service=model.redirection, mac=row.mac, action="withdraw"))
        log.info("device %s: provisioning MAC once -> done", row.id)
        return True
