"""Which device a request names, and its files, with the hot path kept cheap.

The dashboard runs in another process, so a "new key" or a config change must be seen by the very
next request. Lookups run on a connection this process holds open (no ORM, no pool checkout):
- SQLite: key -> device rows are cached, and every request first checks whether any connection
  (another process, or this process's access-log writer) has committed: by the WAL-index header
  in `<db>-shm` (wal_watch.py, no statement), else by `PRAGMA data_version` on that connection.
  Any change drops the whole cache, so the next lookup of each key is a fresh SELECT; a commit
  can never be missed, only cost a revalidation.
- PostgreSQL has no such counter: one indexed SELECT per request.
Retired keys (the SHA-256 of each key a "Nouveau clé" replaced, retired_key) are a set in memory, so
an unknown key (a random probe) costs one hash and a set lookup, never a statement of its own. The
set grows by id (`id > last seen`), read on an unknown key when the database moved on (SQLite:
the same version the key cache follows) or every `retired_refresh` seconds (PostgreSQL). A hit,
which only a phone that once held the key can cause, is confirmed by one indexed SELECT (its device
may have been deleted since: the cascade took the row).
MAC lookups (bootstrap, rare) are always a SELECT; a MAC is unique per vPBX only, so the lookup
tells "exactly one device waits for it" from "several" (endpoint.py refuses the latter).
The expensive part (loading the ORM device, rendering) is cached by (device, key, config_revision,
file name): a config change bumps the revision, so a stale file can never be served.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, update
from sqlalchemy.orm import Session

from core.credentials import ProvisioningMac, key_hash
from core.devices import queue_redirection
from core.errors import NotFound
from core.models import Device, KeyHandover
from core.phonebook import SERVED_SQL, entries_from_rows
from core.provisioning import responses
from core.provisioning.responses import Response
from core.provisioning.types import RendererLike
from core.provisioning.wal_watch import WalWatch, open_watch
from core.render import RenderedFile

log = logging.getLogger(__name__)

_COLUMNS = "id, model_id, access_key, config_revision, mac, provisioning_mac"
# PostgreSQL hands out ids when a transaction inserts, not when it commits: a Nouveau clé committed
# just after a read past a higher id would be skipped for good, so each read looks this many ids back.
# SQLite's writers take turns, so its ids appear in commit order.
RETIRED_LOOKBACK = 64
PHONEBOOK_CACHE = 256  # rendered phone books kept (one per family and vPBX; 5,000 entries are ~600 kB)


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: int
    model_id: str
    access_key: str | None
    config_revision: int
    mac: str | None
    provisioning_mac: str


class _BoundedCache:
    """A bounded map for rendered files: reads take no lock (a dict lookup is atomic), a fill past
    `size` forgets the oldest entry. A forgotten file is simply rendered again on its next fetch."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        self.get = self._data.get

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.size:
                del self._data[next(iter(self._data))]


class DeviceDirectory:
    def __init__(
        self,
        engine: Engine,
        renderer: RendererLike,
        cache_size: int = 20_000,
        wal_watch: bool = True,
        retired_refresh: float = 2.0,
    ) -> None:
        self.engine = engine
        self.renderer = renderer
        self._conn: Any = None
        self._raw: Any = None  # the DB-API connection behind _conn
        self._lock = threading.Lock()
        self._versioned = engine.dialect.name == "sqlite"
        self.use_wal_watch = wal_watch  # False: always the PRAGMA (read at connect; tests cover both ways)
        self._watch: WalWatch | None = None  # set per connection: valid only while that connection is open
        self._version: bytes | int | None = None  # WAL-index header or data_version the key cache is valid for
        self._version_cursor: Any = None  # kept: a fresh cursor per request costs more than the PRAGMA
        self._keys: dict[str, DeviceRow] = {}
        self._keys_max = cache_size
        # Every retired key's hash (~150 bytes each; never pruned but by a device's deletion, seen on a hit).
        self._retired: set[str] = set()
        self._retired_last_id = 0
        self._retired_version: bytes | int | None = None  # SQLite: the version the set was last read at
        self._retired_read_at = -float("inf")  # PostgreSQL: time.monotonic() of the last read
        self.retired_refresh = retired_refresh
        self._retired_lookback = 0 if self._versioned else RETIRED_LOOKBACK
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._by_key_sql = f"SELECT {_COLUMNS} FROM device WHERE access_key = {mark}"
        self._retired_since_sql = f"SELECT id, key_hash FROM retired_key WHERE id > {mark} ORDER BY id"
        self._retired_device_sql = f"SELECT device_id FROM retired_key WHERE key_hash = {mark}"
        # MACs are unique per vPBX only: at most two rows tell "exactly one" from "several".
        once = f"provisioning_mac = '{ProvisioningMac.ONCE.value}'"
        self._vpbx_of_device_sql = (
            "SELECT vpbx.id, vpbx.name FROM device JOIN line ON line.id = device.line_id"
            f" JOIN vpbx ON vpbx.id = line.vpbx_id WHERE device.id = {mark}"
        )
        self._served_sql = SERVED_SQL.format(mark=mark)
        self._once_by_mac_sql = f"SELECT {_COLUMNS} FROM device WHERE mac = {mark} AND {once} LIMIT 2"
        self._names = _BoundedCache(cache_size)
        self._files = _BoundedCache(cache_size)
        self._phonebooks: dict[str, str | None] = {}  # model id -> its phone book's name (catalogue data)
        self._books = _BoundedCache(PHONEBOOK_CACHE)  # (family, vPBX, its name) -> (the rows read, the response)

    # -- the per-request lookups ---------------------------------------------------------------

    def _connection(self) -> Any:
        """The DB-API connection this process keeps for lookups (opened on first use, again after an error)."""
        if self._raw is None:
            proxy = self.engine.raw_connection()
            raw = proxy.dbapi_connection  # read before detach(), which unhooks the fairy from it
            assert raw is not None  # a fresh checkout from the pool always has one
            proxy.detach()  # ours for the process lifetime; never handed back to the pool in autocommit
            if self.engine.dialect.name == "postgresql":
                raw.autocommit = True  # no transaction left open between requests
            self._conn, self._raw = proxy, raw
            if self._versioned and self.use_wal_watch:
                self._watch = open_watch(raw)
        return self._raw

    @property
    def change_detector(self) -> str:
        """How this directory notices commits: "wal-index", "data_version" (SQLite) or "none" (a SELECT per request)."""
        if not self._versioned:
            return "none"
        with self._lock:
            self._connection()
            return "wal-index" if self._watch is not None else "data_version"

    def _query_locked(self, sql: str, value: str) -> DeviceRow | None:
        rows = self._query_all_locked(sql, value)
        return rows[0] if rows else None

    def _query_all_locked(self, sql: str, value: str) -> list[DeviceRow]:
        return [DeviceRow(*row) for row in self._rows_locked(sql, value)]

    def _rows_locked(self, sql: str, *values: str | int) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            try:
                cur = self._connection().cursor()
                try:
                    cur.execute(sql, values)
                    rows: list[tuple[Any, ...]] = cur.fetchall()
                finally:
                    cur.close()
                return rows
            except Exception:
                self.close()  # a dropped connection: reconnect once, then let the error out
                if attempt == 2:
                    raise
        return []

    def _revalidate_locked(self) -> None:
        """Drop the key cache if anyone committed since the last request (SQLite only)."""
        for attempt in (1, 2):
            try:
                raw = self._connection()
                if self._watch is not None:
                    version: bytes | int = self._watch.header()
                    break
                if self._version_cursor is None:
                    self._version_cursor = raw.cursor()
                self._version_cursor.execute("PRAGMA data_version")
                version = self._version_cursor.fetchone()[0]
                break
            except Exception:
                self.close()
                if attempt == 2:
                    raise
        if version != self._version:
            self._keys.clear()
            self._version = version

    def by_key(self, key: str) -> DeviceRow | None:
        # One lock around check, lookup and fill: requests run on several threads, and a row read
        # before another thread's revalidation must not land in the cache after that clear.
        with self._lock:
            if not self._versioned:
                return self._query_locked(self._by_key_sql, key)
            self._revalidate_locked()
            row = self._keys.get(key)
            if row is None:
                # Queried after the version was read, so the row is at least as new as that version.
                row = self._query_locked(self._by_key_sql, key)
                if row is not None:  # only real keys: guesses cannot grow the cache
                    if len(self._keys) >= self._keys_max:
                        self._keys.clear()
                    self._keys[key] = row
            return row

    def retired_device(self, key: str) -> int | None:
        """The device a "Nouveau clé" took `key` from, or None (a key never issued: a guess).

        Asked for unknown keys only, right after `by_key` (whose revalidation read the version the
        set follows on SQLite)."""
        digest = key_hash(key)
        with self._lock:
            self._refresh_retired_locked()
            if digest not in self._retired:
                return None
            rows = self._rows_locked(self._retired_device_sql, digest)
            if not rows:  # its device was deleted, and the cascade took the row
                self._retired.discard(digest)
                return None
            return int(rows[0][0])

    def _refresh_retired_locked(self) -> None:
        version = self._version  # read before the SELECT: the rows are at least as new (None: PostgreSQL)
        if self._versioned:
            if version is not None and version == self._retired_version:
                return
        else:
            now = time.monotonic()
            if now - self._retired_read_at < self.retired_refresh:
                return
            self._retired_read_at = now
        rows = self._rows_locked(self._retired_since_sql, max(0, self._retired_last_id - self._retired_lookback))
        for row_id, digest in rows:
            self._retired.add(digest)
            self._retired_last_id = max(self._retired_last_id, row_id)
        self._retired_version = version if self._version == version else None  # not across a reconnect

    def once_by_mac(self, mac: str) -> list[DeviceRow]:
        """The devices (at most two) with this MAC waiting for their MAC-named bootstrap."""
        with self._lock:
            return self._query_all_locked(self._once_by_mac_sql, mac)

    def close(self) -> None:
        self._keys.clear()
        self._version = self._version_cursor = None  # a new connection has its own data_version sequence
        self._retired_version = None  # the set itself stays right: it grows by id
        self._watch = None  # the mapping is safe to read only while our connection keeps -shm alive
        if self._raw is not None:
            try:
                self._raw.close()
            finally:
                self._conn = self._raw = None

    # -- files: cache first, else load and render on the request's thread ------------------------

    def _rev(self, row: DeviceRow) -> tuple[Any, ...]:
        return (row.id, row.access_key, row.config_revision)

    def cached_names(self, row: DeviceRow) -> frozenset[str] | None:
        result: frozenset[str] | None = self._names.get(self._rev(row))
        return result

    def cached_file(self, row: DeviceRow, name: str | None) -> Response | None:
        result: Response | None = self._files.get((*self._rev(row), name))
        return result

    def load_file(self, row: DeviceRow, name: str | None) -> Response | None:
        """Load the device and render (never under the lookup lock). None when the model has no such file."""
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
        response = responses.make(200, rendered.content, rendered.content_type)
        self._files.put((*self._rev(row), name), response)
        return response

    def phonebook_name(self, row: DeviceRow) -> str | None:
        """The name of the vPBX phone book under this device's key (None: its family takes none)."""
        name: str | None = self._phonebooks.get(row.model_id, "")
        if name == "":
            name = self._phonebooks[row.model_id] = self.renderer.phonebook_name(row.model_id)
        return name

    def load_phonebook(self, row: DeviceRow) -> Response | None:
        """The device's vPBX phone book: read on every fetch (two statements whatever its size, so a contact or line
        changed in the dashboard shows at the next fetch), rendered only when what was read differs from the last
        render for that family and vPBX (the rows themselves are the cache key: no stale book, whatever changed)."""
        with self._lock:  # the lookups' own connection, as by_key: no ORM, no pool checkout on the hot path
            found = self._rows_locked(self._vpbx_of_device_sql, row.id)
            if not found:
                return None
            vpbx_id, vpbx_name = found[0]
            rows = tuple(self._rows_locked(self._served_sql, vpbx_id, vpbx_id))
        model = self.renderer.catalogue.get(row.model_id)
        key = (model.family if model else row.model_id, vpbx_id, vpbx_name)  # one render per family and vPBX
        cached: tuple[tuple[Any, ...], Response] | None = self._books.get(key)
        if cached is not None and cached[0] == rows:
            return cached[1]
        rendered = self.renderer.render_phonebook(row.model_id, vpbx_name, entries_from_rows(rows))
        response = responses.make(200, rendered.content, rendered.content_type)
        self._books.put(key, (rows, response))
        return response

    def load_bootstrap(self, row: DeviceRow, name: str) -> RenderedFile | None:
        """The bootstrap file for a MAC-named request (rare: not cached)."""
        with Session(self.engine) as session:
            device = session.get(Device, row.id)
            return None if device is None else self.renderer.bootstrap(device, name)

    def take_handover(self, device_id: int, key: str, source_ip: str, name: str | None) -> RenderedFile | None:
        """A retired key's one last use during a fraud response (core.respond, models.KeyHandover): the
        secret-free bootstrap pointing at the device's new key, if a handover waits for this key from this
        address and has not expired; claimed by a conditional UPDATE, so it is served once whatever the
        processes. Asked only for retired keys (rare: a phone on its old URL), one indexed statement."""
        now = datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            result = session.execute(
                update(KeyHandover)
                .where(KeyHandover.key_hash == key_hash(key), KeyHandover.device_id == device_id,
                       KeyHandover.source_ip == source_ip, KeyHandover.used_at.is_(None), KeyHandover.expires_at > now)
                .values(used_at=now)
            )  # fmt: skip
            if cast("CursorResult[Any]", result).rowcount != 1:
                return None
            device = session.get(Device, device_id)
            return None if device is None else self.renderer.handover(device, name)

    def mark_done(self, row: DeviceRow) -> bool:
        """First key fetch while Provisioning MAC is `once`: set `done`, queue the redirection withdrawal.

        The conditional UPDATE makes this safe against a concurrent fetch in another process.
        """
        model = self.renderer.catalogue.get(row.model_id)
        with Session(self.engine) as session, session.begin():
            result = session.execute(
                update(Device)
                .where(Device.id == row.id, Device.provisioning_mac == ProvisioningMac.ONCE)
                # updated_at kept: this is the fetch itself, not a change the phone still has to fetch
                .values(provisioning_mac=ProvisioningMac.DONE, updated_at=Device.updated_at)
            )
            if cast("CursorResult[Any]", result).rowcount != 1:  # an UPDATE's result has a row count
                return False
            queue_redirection(session, row.id, model, row.mac, "withdraw")
        log.info("device %s: provisioning MAC once -> done", row.id)
        return True
