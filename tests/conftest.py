"""Shared fixtures: a migrated processor database on SQLite (always) and PostgreSQL (when reachable).

PostgreSQL tests read FPS_TEST_POSTGRES_URL and skip with the reason when it is unset or unreachable.
Each test gets its own schema, so tests can run in parallel against one database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pgschema import PostgresSchema
from sqlalchemy import Engine

from fpscore.db import make_engine, migrate
from fpscore.processor import Processor


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def engine(backend: str, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A migrated, empty processor database on each backend."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'processor.sqlite3'}")
        migrate(engine, "processor")
        yield engine
        engine.dispose()
    else:
        schema = PostgresSchema()
        engine = schema.engine(pool_size=20, max_overflow=20)
        migrate(engine, "processor")
        yield engine
        engine.dispose()
        schema.drop()


@pytest.fixture
def processor(engine: Engine) -> Processor:
    return Processor(engine)


@pytest.fixture
def caller_id(processor: Processor) -> int:
    return processor.ensure_caller("AKIDCALLER", "caller-secret", "Tune Shop", "billing@tuneshop.example")


@pytest.fixture
def buyer_id(processor: Processor) -> int:
    return processor.find_or_create_buyer("ada@buyers.example", "Ada")
