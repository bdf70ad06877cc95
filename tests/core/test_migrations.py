"""The Alembic migrations build exactly the schema the ORM describes, on SQLite and PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from core.migrate import upgrade
from core.models import Base

pytestmark = pytest.mark.db


def test_upgrade_matches_models_and_is_idempotent(empty_engine):
    upgrade(empty_engine)
    upgrade(empty_engine)  # a second init changes nothing
    assert set(Base.metadata.tables) <= set(inspect(empty_engine).get_table_names())
    with empty_engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)
    assert diff == []
