"""The voipadmin side of bench/switch/run.py: our database (migrated, one vPBX, its lines, the
`subscriber` table filled by voipadmin's own sync) and the config `python -m core switch config` prints
for it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from sqlalchemy import Engine, func, insert, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.db import make_engine  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import AccRecord, Line, Vpbx  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.switch import locations, subscribers  # noqa: E402
from core.switch.kamailio_config import KamailioContext, context_for  # noqa: E402
from core.switch.kamailio_process import SYNC_INTERVAL, move_call_records  # noqa: E402

HOST = "127.0.0.1"
DATABASE = "bench_switch_ours"


def database(work: Path, db: str, pg: str) -> str:
    """A fresh voipadmin database: a SQLite file in `work`, or PostgreSQL database DATABASE on `pg`."""
    if db == "sqlite":
        return f"sqlite:///{work / 'voipadmin.sqlite3'}"
    with psycopg.connect(f"postgresql://postgres@{pg}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    return f"postgresql+psycopg://postgres@{pg}/{DATABASE}"


def seed(engine: Engine, users: list[tuple[str, str]], domain: str) -> None:
    upgrade(engine)  # the schema as serve expects it (migrations)
    with engine.begin() as conn:
        vpbx = conn.execute(insert(Vpbx).values(name="bench", sip_domain=domain).returning(Vpbx.id)).scalar_one()
        conn.execute(insert(Line), [
            {"vpbx_id": vpbx, "number": f"+4121555{u}", "extension": u, "sip_username": u, "sip_password": pw}
            for u, pw in users
        ])  # fmt: skip
    subscribers.sync(engine, (HOST,))  # what serve does every second


# serve moves acc's files into our tables on SQLite (move_call_records); the counter below does it too, so
# that every record written is counted: one at a time.
_records_lock = threading.Lock()


def upkeep(engine: Engine, ctx: KamailioContext, stop: threading.Event) -> threading.Thread:
    """What serve does beside Kamailio every second (core/switch/kamailio_process.py): the subscriber diff,
    the location mirror into `registration` and (SQLite) the call records' move, while the rounds run."""

    def run() -> None:
        while not stop.wait(SYNC_INTERVAL):
            subscribers.sync(engine, (HOST,))
            locations.mirror(engine)
            with _records_lock:
                move_call_records(engine, ctx)

    thread = threading.Thread(target=run, name="upkeep", daemon=True)
    thread.start()
    return thread


def call_records(engine: Engine, ctx: KamailioContext) -> Callable[[], int]:
    """Rows in our `acc` table once every record Kamailio wrote is there (on SQLite: once its files are moved
    in, as serve's pass does it)."""

    def pending() -> bool:
        files = ctx.acc_dir.iterdir() if ctx.acc_dir is not None else iter(())
        return any(f.suffix == ".taken" or f.stat().st_size for f in files)

    def count() -> int:
        deadline = time.monotonic() + 10
        while True:  # a file is taken once it is a second old, read at the pass after (call_records.py)
            with _records_lock:
                move_call_records(engine, ctx)
            if not pending() or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(AccRecord)).scalar_one())

    return count


def prepare(
    work: Path, db: str, pg: str, port: int, users: list[tuple[str, str]], domain: str
) -> tuple[str, Callable[[], int], Path, Engine, KamailioContext]:
    """Seed our database; returns the rendered config, the call-record counter, Kamailio's runtime
    directory (the config names its RPC socket there), the engine on our database and the context the
    config was rendered from."""
    work.mkdir(parents=True, exist_ok=True)
    url = database(work, db, pg)
    engine = make_engine(url)
    seed(engine, users, domain)
    data = work / "data"
    env = {**os.environ, "VOIPADMIN_DB_URL": url, "VOIPADMIN_DATA_DIR": str(data), "VOIPADMIN_SWITCH": "kamailio",
           "VOIPADMIN_SIP_HOST": domain, "PYTHONPATH": str(ROOT),
           # every REGISTER comes from 127.0.0.1: without this, pike (the security part) blocks the load itself
           "VOIPADMIN_SIP_RATE": "0"}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "core", "switch", "config", "--listen", HOST, "--port", str(port)],
                          env=env, capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"python -m core switch config failed: {proc.stderr}")
    ctx = context_for(Settings.from_env(env), HOST, port)
    ctx.runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if ctx.acc_dir is not None:
        ctx.acc_dir.mkdir(exist_ok=True, mode=0o700)
    return proc.stdout, call_records(engine, ctx), ctx.runtime_dir, engine, ctx
