"""The stock side of bench/switch/run.py: Kamailio's own tables, created from the SQL files Kamailio
ships (/usr/share/kamailio/<db>/), holding the same users, and bench/switch/stock.cfg filled in."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
SQL_FILES = ("standard-create.sql", "auth_db-create.sql", "usrloc-create.sql", "acc-create.sql")
BASE_MODULES = set(re.findall(r'^loadmodule "([^"]+)"', (HERE / "stock.cfg").read_text(), re.M))


def ha1(user: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()


def create_sqlite(path: Path, users: list[tuple[str, str]], domain: str) -> str:
    """Kamailio's SQLite schema in `path` with `users` (name, password) as subscribers; its db_url."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")  # as voipadmin's own SQLite file (core/db.py); it stays set in the file
    for name in SQL_FILES:
        con.executescript((Path("/usr/share/kamailio/db_sqlite") / name).read_text())
    con.executemany(
        "INSERT INTO subscriber (username, domain, ha1, ha1b) VALUES (?, ?, ?, '')",
        [(u, domain, ha1(u, domain, pw)) for u, pw in users],
    )
    con.commit()
    con.close()
    return f"sqlite://{path}"


def create_postgres(server: str, database: str, users: list[tuple[str, str]], domain: str) -> str:
    """A fresh PostgreSQL database `database` on `server` (host:port, user postgres) with Kamailio's
    schema and `users` as subscribers; its db_url."""
    with psycopg.connect(f"postgresql://postgres@{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        admin.execute(f'CREATE DATABASE "{database}"')
    with psycopg.connect(f"postgresql://postgres@{server}/{database}") as con:
        for name in SQL_FILES:
            con.execute((Path("/usr/share/kamailio/postgres") / name).read_text())  # type: ignore[arg-type]
        with con.cursor() as cur:
            cur.executemany(
                "INSERT INTO subscriber (username, domain, ha1, ha1b) VALUES (%s, %s, %s, '')",
                [(u, domain, ha1(u, domain, pw)) for u, pw in users],
            )
    return f"postgres://postgres@{server}/{database}"


def acc_rows(db_url: str) -> int:
    """Rows Kamailio's acc module wrote into the stock `acc` table."""
    if db_url.startswith("sqlite://"):
        with sqlite3.connect(db_url.removeprefix("sqlite://")) as con:
            return int(con.execute("SELECT count(*) FROM acc").fetchone()[0])
    with psycopg.connect(db_url.replace("postgres://", "postgresql://", 1)) as con:
        row = con.execute("SELECT count(*) FROM acc").fetchone()
        return int(row[0]) if row else 0


# Without a config of ours (--aa): what voipadmin's base renders (switch/kamailio/kamailio.cfg.j2).
DEFAULT_PARAMS = """modparam("usrloc", "db_mode", 1)
modparam("auth_db", "calculate_ha1", 0)
modparam("auth_db", "password_column", "ha1")
modparam("auth_db", "load_credentials", "")"""
COPIED = re.compile(r'^modparam\("(usrloc|registrar|auth|auth_db|tm|rr|nathelper)",\s*"(?!db_url")[^"]+",.*$', re.M)


def render(port: int, db_url: str, domain: str, run_dir: Path, ours: str) -> str:
    """stock.cfg for `port`/`db_url`, with the processes, log level, modules and module parameters of our
    rendered config `ours` copied in."""
    children = re.search(r"^children\s*=\s*(\d+)", ours, re.M)
    debug = re.search(r"^debug\s*=\s*(-?\d+)", ours, re.M)
    modules = re.findall(r'^loadmodule "([^"]+)"', ours, re.M)
    extra = [m for m in modules if m not in BASE_MODULES and not m.startswith("db_")]
    text = (HERE / "stock.cfg").read_text()
    values = {
        "CHILDREN": children.group(1) if children else "4",
        "DEBUG": debug.group(1) if debug else "1",
        "EXTRA_MODULES": "\n".join(f'loadmodule "{m}"' for m in extra),
        "PARAMS": "\n".join(m.group(0) for m in COPIED.finditer(ours)) if ours else DEFAULT_PARAMS,
        "DB_MODULE": "db_sqlite.so" if db_url.startswith("sqlite") else "db_postgres.so",
        "PORT": str(port),
        "DB_URL": db_url,
        "DOMAIN": domain,
        "RUNDIR": str(run_dir),
    }
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def db_mode(config: str) -> int:
    found = re.search(r'modparam\("usrloc",\s*"db_mode",\s*(\d+)\)', config)
    return int(found.group(1)) if found else 0
