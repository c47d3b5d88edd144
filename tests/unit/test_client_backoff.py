"""The client's retries: waits double from backoff_s up to a cap, each a random share of its longest (so
clients failing together retry apart), and the retry budget adds up the longest of them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import free_port

from fpscore.errors import ServiceUnavailable
from fpscore.merchant.client import MAX_BACKOFF_S, FpsClient


def test_waits_double_up_to_the_cap_with_jitter_and_the_budget_counts_them():
    waits: list[float] = []
    bounds: list[tuple[float, float]] = []

    def jitter(low: float, high: float) -> float:
        bounds.append((low, high))
        return high * 0.75

    client = FpsClient(
        f"http://127.0.0.1:{free_port()}/", "AKID", "secret", timeout_s=(0.5, 0.5), max_attempts=6,
        backoff_s=1.0, sleep=waits.append, jitter=jitter,
    )  # fmt: skip
    with pytest.raises(ServiceUnavailable):  # nothing listens there: every attempt is refused
        client.call("GetAccountActivity", {"StartDate": "2026-01-01T00:00:00Z"}, actor="test")
    longest = [1.0, 2.0, 4.0, MAX_BACKOFF_S, MAX_BACKOFF_S]
    assert MAX_BACKOFF_S == 4.0
    assert bounds == [(high / 2, high) for high in longest]
    assert waits == [high * 0.75 for high in longest]
    assert client.retry_budget() == timedelta(seconds=6 * 1.0 + sum(longest))
