"""Shared fixtures: a throwaway database per test (SQLite file, or PostgreSQL when
VOIPADMIN_TEST_DB_URL is set, as the second CI pass does), settings pointing at a temp data dir,
and actors of each role on seeded data."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.db import make_engine, transaction
from core.migrate import stamp_head
from core.models import Base
from core.permissions import Actor, system_actor
from core.settings import Settings, current_settings


def run_core(env: dict[str, str], *args: str, code: int | None = 0) -> subprocess.CompletedProcess[str]:
    """`python -m core ARGS` as a user types it, in `env`; its exit code checked unless `code` is None."""
    proc = subprocess.run([sys.executable, "-m", "core", *args], env=env, capture_output=True, text=True, timeout=120)
    assert code is None or proc.returncode == code, (args, proc.stdout, proc.stderr)
    return proc


PG_URL = os.environ.get("VOIPADMIN_TEST_DB_URL")


PUBLIC_URL = "https://prov.example.net:8448"


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test starts from a known environment: its own data dir and public URL, nothing else."""
    for name in list(os.environ):
        if name.startswith("VOIPADMIN_") and name != "VOIPADMIN_TEST_DB_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("VOIPADMIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VOIPADMIN_PUBLIC_URL", PUBLIC_URL)
    current_settings.cache_clear()
    yield
    current_settings.cache_clear()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return PG_URL or f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", db_url=db_url, public_url=PUBLIC_URL)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.db_url)
    if PG_URL:
        _drop_everything(eng)
    Base.metadata.create_all(eng)
    stamp_head(eng)  # the schema equals the migrations' (tests/core/test_migrations.py), so serve won't redo it
    yield eng
    if PG_URL:
        _drop_everything(eng)
    eng.dispose()


def _drop_everything(eng: Engine) -> None:
    with eng.begin() as c:
        Base.metadata.drop_all(c)
        c.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


@pytest.fixture
def empty_engine(db_url: str) -> Iterator[Engine]:
    """A database with no schema at all (for migrations and `init`)."""
    eng = make_engine(db_url)
    _drop_everything(eng)
    yield eng
    _drop_everything(eng)
    eng.dispose()


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """Environment for a subprocess (`python -m core ...`) on the test's database and data dir."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("VOIPADMIN_")}
    e.update(
        VOIPADMIN_DB_URL=settings.db_url,
        VOIPADMIN_DATA_DIR=str(settings.data_dir),
        VOIPADMIN_PUBLIC_URL=settings.public_url,
    )
    return e


@pytest.fixture
def provider() -> Actor:
    return system_actor("pytest")


@dataclass
class Seed:
    """Two vPBXs, each with lines, and actors of every role."""

    vpbx_a: int
    vpbx_b: int
    line_a1: int
    line_a2: int
    line_b1: int
    admin_a: Actor
    user_a1: Actor
    admin_b: Actor


@pytest.fixture
def seed(engine: Engine, provider: Actor) -> Seed:
    from core import lines, vpbx

    with transaction(engine) as s:
        a = vpbx.add_vpbx(s, provider, "acme", "acme.voip.example")
        b = vpbx.add_vpbx(s, provider, "globex", "globex.voip.example")
        a1 = lines.add_line(s, provider, "acme", "+41215550101", extension="101", display_name="Alice")["line"]
        a2 = lines.add_line(s, provider, "acme", "+41215550102", extension="102", display_name="Bob")["line"]
        b1 = lines.add_line(s, provider, "globex", "+41225550201", extension="201", display_name="Carol")["line"]
    return Seed(
        vpbx_a=a["id"],
        vpbx_b=b["id"],
        line_a1=a1["id"],
        line_a2=a2["id"],
        line_b1=b1["id"],
        admin_a=Actor("admin-acme", "vpbx_admin", account_id=None, vpbx_id=a["id"]),
        user_a1=Actor("alice", "user", account_id=None, vpbx_id=a["id"], line_id=a1["id"]),
        admin_b=Actor("admin-globex", "vpbx_admin", account_id=None, vpbx_id=b["id"]),
    )


DB_FIXTURES = {"engine", "empty_engine", "db_url", "seed"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that touches the database is a `db` test: CI runs those again on PostgreSQL."""
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)
    other_pass = "sqlite_only" if PG_URL else "postgresql_only"  # the marker of tests for the other pass
    deselected = [item for item in items if item.get_closest_marker(other_pass)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker(other_pass)]
