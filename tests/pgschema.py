"""PostgreSQL for the tests: the URL from FPS_TEST_POSTGRES_URL (skip, saying why, when unset or
unreachable) and throwaway schemas, so that tests can run in parallel against one database."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from fpscore.config import Settings
from fpscore.db import make_engine


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


@contextmanager
def on_postgres(settings: Settings) -> Iterator[Settings]:
    """`settings` with both databases, the processor's and the merchant's, on PostgreSQL, each in a
    throwaway schema of the test database (dropped after)."""
    schemas = [PostgresSchema(), PostgresSchema()]
    urls = [
        make_url(schema.url).set(query={"options": f"-csearch_path={schema.name}"}).render_as_string(False)
        for schema in schemas
    ]
    try:
        yield dataclasses.replace(settings, processor_database_url=urls[0], database_url=urls[1])
    finally:
        for schema in schemas:
            schema.drop()
