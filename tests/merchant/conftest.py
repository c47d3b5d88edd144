"""Fixtures for the merchant side: both databases migrated, the processor either in-process (behind the
transport adapter, the embedded default) or as `fpscore serve` over real HTTP."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
from helpers import free_port
from pgschema import PostgresSchema, on_postgres
from sqlalchemy import Engine

from fpscore.config import Settings
from fpscore.db import make_engine, migrate
from fpscore.merchant.connect import Merchant, connect
from fpscore.processor import Processor


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    base = Settings.from_env({"FPS_DATA_DIR": str(tmp_path)})
    return dataclasses.replace(base, access_key_id="AKIDSHOP", secret_access_key="shop-secret-key")


@pytest.fixture
def merchant(settings: Settings) -> Iterator[Merchant]:
    merchant = connect(settings)
    merchant.client.backoff_s = 0.0
    yield merchant
    merchant.close()


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fpscore` commands run in this process see the same embedded databases as `merchant`."""
    monkeypatch.setenv("FPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FPS_ACCESS_KEY_ID", settings.access_key_id or "")
    monkeypatch.setenv("FPS_SECRET_ACCESS_KEY", settings.secret_access_key or "")


@pytest.fixture
def served_settings(settings: Settings, tmp_path) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    """Settings whose FPS_ENDPOINT is `fpscore serve` (gunicorn, two workers) on a loopback port."""
    port = free_port()
    env = {
        **os.environ,
        "FPS_DATA_DIR": str(settings.data_dir),
        "FPS_PROCESSOR_DATABASE_URL": settings.processor_database_url,
        "FPS_ACCESS_KEY_ID": settings.access_key_id or "",
        "FPS_SECRET_ACCESS_KEY": settings.secret_access_key or "",
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "fpscore.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=log, stderr=log,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(endpoint + "ready", timeout=1)
            break
        except requests.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()
            time.sleep(0.1)
    yield dataclasses.replace(settings, endpoint=endpoint)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    log.close()


@pytest.fixture
def postgres_settings(settings: Settings) -> Iterator[Settings]:
    """Both databases on PostgreSQL, each in a throwaway schema of the test database."""
    with on_postgres(settings) as on_it:
        yield on_it


@pytest.fixture(params=["embedded", "http", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_merchant(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Merchant]:
    """The merchant with the processor in-process, with `fpscore serve` over HTTP, and in-process with
    both databases on PostgreSQL."""
    chosen = {
        "embedded": lambda: settings,
        "http": lambda: request.getfixturevalue("served_settings"),
        "postgres": lambda: request.getfixturevalue("postgres_settings"),
    }[request.param]()
    merchant = connect(chosen)
    merchant.client.backoff_s = 0.0
    yield merchant
    merchant.close()


def _processor_at(url: str) -> Iterator[Processor]:
    engine = make_engine(url)
    migrate(engine, "processor")
    yield Processor(engine)
    engine.dispose()


@pytest.fixture
def processor(settings: Settings) -> Iterator[Processor]:
    """The processor's own view of its database, to check what the merchant was told."""
    yield from _processor_at(settings.processor_database_url)


@pytest.fixture
def any_processor(any_merchant: Merchant, settings: Settings) -> Iterator[Processor]:
    """The processor behind `any_merchant`: in-process, or the database `fpscore serve` runs on."""
    if any_merchant.processor_engine is not None:
        yield Processor(any_merchant.processor_engine)
    else:
        yield from _processor_at(settings.processor_database_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def merchant_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A migrated, empty merchant database; on PostgreSQL in its own schema with a session time zone far
    from UTC, so that grouping by the session's day would put rows in the wrong period."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'merchant.sqlite3'}")
        migrate(engine, "merchant")
        yield engine
        engine.dispose()
        return
    schema = PostgresSchema()
    engine = make_engine(
        schema.url, connect_args={"options": f"-csearch_path={schema.name} -ctimezone=Pacific/Auckland"}
    )
    migrate(engine, "merchant")
    yield engine
    engine.dispose()
    schema.drop()
