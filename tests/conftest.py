"""Shared fixtures: a migrated processor database on SQLite (always) and PostgreSQL (when reachable).

PostgreSQL tests read FPS_TEST_POSTGRES_URL and skip with the reason when it is unset or unreachable.
Each test gets its own schema, so tests can run in parallel against one database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache

import pytest
from sqlalchemy import Engine, create_engine, text

from fpscore.db import make_engine, migrate
from fpscore.processor import Processor


@cache
def postgres_url() -> str:
    """The PostgreSQL test URL, or pytest.skip with why it cannot be used."""
    url = os.environ.get("FPS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("FPS_TEST_POSTGRES_URL is not set (CI sets it to the local PostgreSQL)")
    try:
        probe = create_engine(url)
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
        probe.dispose()
    except Exception as exc:  # any failure to connect means: skip, saying why
        pytest.skip(f"PostgreSQL at FPS_TEST_POSTGRES_URL is unreachable: {exc.__class__.__name__}")
    return url


class PostgresSchema:
    """A throwaway schema in the test database; `url_options` points connections at it."""

    def __init__(self) -> None:
        self.url = postgres_url()
        self.name = f"t_{uuid.uuid4().hex[:16]}"
        self._admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.name}"'))

    def engine(self, **kwargs: object) -> Engine:
        return make_engine(self.url, connect_args={"options": f"-csearch_path={self.name}"}, **kwargs)

    def drop(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self._admin.dispose()


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
