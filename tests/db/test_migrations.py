"""The migrations of both databases build exactly the schema the models declare, and undo it; the staff
table's role constraint takes every role fpscore.merchant.roles defines, and nothing else."""

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pgschema import PostgresSchema
from sqlalchemy import Engine, insert, inspect
from sqlalchemy.exc import IntegrityError

from fpscore.db import make_engine, migrate, utcnow
from fpscore.merchant.roles import ROLES
from fpscore.merchant.schema import Base as MerchantBase
from fpscore.merchant.schema import Staff
from fpscore.processor.schema import Base


@pytest.fixture
def merchant_engine(backend: str, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A migrated, empty merchant database on each backend."""
    schema = None
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'merchant.sqlite3'}")
    else:
        schema = PostgresSchema()
        engine = schema.engine()
    migrate(engine, "merchant")
    yield engine
    engine.dispose()
    if schema is not None:
        schema.drop()


def _differences(engine: Engine, metadata) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def test_migrations_match_models(engine):
    assert _differences(engine, Base.metadata) == []


def test_downgrade_to_base_and_back(engine):
    migrate(engine, "processor", "base", downgrade=True)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine, "processor")
    assert "ledger_entries" in inspect(engine).get_table_names()


def test_merchant_migrations_match_models(merchant_engine):
    assert _differences(merchant_engine, MerchantBase.metadata) == []


def test_merchant_downgrade_to_base_and_back(merchant_engine):
    migrate(merchant_engine, "merchant", "base", downgrade=True)
    assert set(inspect(merchant_engine).get_table_names()) <= {"alembic_version"}
    migrate(merchant_engine, "merchant")
    assert _differences(merchant_engine, MerchantBase.metadata) == []


def test_the_staff_table_takes_every_role_and_no_other(merchant_engine):
    staff = Staff.__table__
    row = {"display_name": "x", "password_hash": "scrypt$", "created_at": utcnow()}
    with merchant_engine.begin() as conn:
        conn.execute(insert(staff), [{**row, "username": f"user-{role}", "role": role} for role in ROLES])
    with pytest.raises(IntegrityError), merchant_engine.begin() as conn:
        conn.execute(insert(staff).values(**row, username="user-owner", role="owner"))
