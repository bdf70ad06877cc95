"""The dashboard's database access: one engine per process (per URL), a transaction per action."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.db import make_engine, transaction
from core.settings import current_settings


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    # Keyed by URL: tests run several apps in one process, each on its own database.
    return make_engine(url)


def engine() -> Engine:
    return _engine(current_settings().db_url)


@contextmanager
def tx() -> Iterator[Session]:
    """One unit of work on the shared engine (commit on success, rollback on error)."""
    with transaction(engine()) as session:
        yield session
