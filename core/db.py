"""Engine and transactions.

SQLite (embedded default) gets WAL, a busy timeout and foreign keys so the dashboard and the
serve process can share the file; PostgreSQL is used as configured.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session

from core.settings import PRIVATE_FILE_MODE, Settings, open_private, private_dir


def _private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (SQLite gives its -wal and -shm files the
    database file's own mode, so they are 0600 too), and tighten one an older version left 0644."""
    if not path.parent.exists():
        private_dir(path.parent)
    try:
        os.close(open_private(path))
    except FileExistsError:
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            try:
                if p.stat().st_mode & 0o077 and p.stat().st_uid == os.geteuid():
                    os.chmod(p, PRIVATE_FILE_MODE)
            except FileNotFoundError:
                pass


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = make_url(url).database  # None for "sqlite://" (in memory); query options apart
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_sqlite_file(Path(path))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def engine_from_settings(settings: Settings) -> Engine:
    private_dir(settings.data_dir)  # 0700 before anything is written into it
    return make_engine(settings.db_url)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
