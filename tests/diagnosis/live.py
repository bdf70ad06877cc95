"""The servers of the wire tests, as shipped: a fresh database at head, the registrar (`python -m core.sip`,
short expiries and purges) and `serve --no-sip` (Granian over TLS, the shipped renderer) as subprocesses
on it (SQLite, or PostgreSQL with VOIPADMIN_TEST_DB_URL). Started at once, as `up` starts them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy import Engine

from core.db import make_engine
from core.migrate import stamp_head
from core.models import Base
from core.settings import Settings
from tests.conftest import PG_URL, PUBLIC_URL, _drop_everything
from tests.provisioning.conftest import LiveServer, start_live_server
from tests.sip.conftest import RunningRegistrar, start_registrar

QUICK = ("--min-expires", "1", "--purge-every", "0.5", "--bans-every", "0.5")
T = TypeVar("T")


@dataclass
class Live(Generic[T]):
    engine: Engine
    env: dict[str, str]  # for `python -m core ...` on the same database
    registrar: RunningRegistrar
    server: LiveServer
    tmp: Path
    seeded: T  # what `seed` returned


@contextmanager
def live_servers(tmp: Path, seed: Callable[[Engine], T]) -> Iterator[Live[T]]:
    """`seed(engine)` fills the fresh database before the servers start; everything is stopped and
    dropped after."""
    settings = Settings(data_dir=tmp / "data", db_url=PG_URL or f"sqlite:///{tmp / 'test.sqlite3'}",
                        public_url=PUBLIC_URL)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOIPADMIN_")}
    env.update(VOIPADMIN_DB_URL=settings.db_url, VOIPADMIN_DATA_DIR=str(settings.data_dir),
               VOIPADMIN_PUBLIC_URL=settings.public_url)  # fmt: skip
    engine = make_engine(settings.db_url)
    if PG_URL:
        _drop_everything(engine)
    Base.metadata.create_all(engine)
    stamp_head(engine)  # as tests/conftest.py's engine: serve finds the schema at head
    seeded = seed(engine)
    pool = ThreadPoolExecutor(1)  # both start at once: each waits for its own readiness
    starting = pool.submit(start_live_server, env, settings.data_dir, renderer=None)
    try:
        with start_registrar(settings, env, tmp, args=QUICK) as registrar:
            yield Live(engine, env, registrar, starting.result(), tmp, seeded)
    finally:
        pool.shutdown()
        if starting.exception() is None:
            starting.result().stop()
        if PG_URL:
            _drop_everything(engine)
        engine.dispose()
