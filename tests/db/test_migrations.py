"""The migrations build exactly the schema the models declare, and undo it."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from fpscore.db import migrate
from fpscore.processor.schema import Base


def test_migrations_match_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_base_and_back(engine):
    migrate(engine, "processor", "base", downgrade=True)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine, "processor")
    assert "ledger_entries" in inspect(engine).get_table_names()
