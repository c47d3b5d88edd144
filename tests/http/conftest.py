"""Fixtures for the HTTP tests: a real processor server on a loopback port and a signing client.

HTTP tests run on SQLite unless they parametrize `backend` themselves (`fpshttp.BOTH_BACKENDS`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fpshttp import CALLER_KEY, CALLER_SECRET, Clock, FpsClient
from helpers import open_postpaid, open_prepaid, serve
from sqlalchemy import Engine

from fpscore.processor import InstrumentSetup, Processor
from fpscore.processor.app import make_app


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def processor(engine: Engine, clock: Clock) -> Processor:
    return Processor(engine, clock=clock)


@pytest.fixture
def base_url(processor: Processor) -> Iterator[str]:
    url, stop = serve(make_app(processor))
    yield url
    stop()


@pytest.fixture
def fps(base_url: str, caller_id: int, clock: Clock) -> FpsClient:
    return FpsClient(base_url, CALLER_KEY, CALLER_SECRET, clock)


@pytest.fixture
def prepaid(processor: Processor, caller_id: int, buyer_id: int) -> InstrumentSetup:
    """A prepaid instrument funded with 20.00 (limit 25.00)."""
    return open_prepaid(processor, caller_id, buyer_id, fund="20.00")


@pytest.fixture
def postpaid(processor: Processor, caller_id: int, buyer_id: int) -> InstrumentSetup:
    """A credit instrument: limit 25.00, at most 10.00 a purchase, no debt yet."""
    return open_postpaid(processor, caller_id, buyer_id)
