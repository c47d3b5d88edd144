"""What the dashboard keeps between runs: the Merchant (engines, client) per configuration in
`st.cache_resource`, and read models in one `st.cache_data` cache with a short time to live, cleared after
every write.

Everything comes from the FPS_* environment (`Settings.from_env`), and every cache key includes the
configuration, so a test points the app at its own data with FPS_DATA_DIR (and clears the caches between
tests with `clear_all`) and two configurations never share an entry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import streamlit as st

from fpscore.config import Settings
from fpscore.merchant import analytics, queries
from fpscore.merchant.connect import Merchant, connect
from fpscore.merchant.settlement import (
    DueInstrument,
    DueTotals,
    SettlementPolicy,
    due_instruments,
    due_totals,
)

if TYPE_CHECKING:  # the dashboard never touches SQL itself
    from sqlalchemy import Engine

READ_TTL_S = 30
MAX_CACHED_READS = 500
# Only these modules' functions are read through the cache (they take the engine first): the read models of
# fpscore.merchant.queries (one module each) and analytics.
READ_MODULES = queries.READ_MODULES | {analytics.__name__}

P = ParamSpec("P")
R = TypeVar("R")


def _config_key() -> tuple[str, ...]:
    s = Settings.from_env()
    return (s.database_url, s.processor_database_url, s.endpoint or "", s.access_key_id or "")


def _release(merchant: Merchant) -> None:
    merchant.close()


@st.cache_resource(show_spinner="Connecting to the merchant database…", on_release=_release)
def _merchant(config_key: tuple[str, ...]) -> Merchant:
    return connect(Settings.from_env())


def merchant() -> Merchant:
    """The Merchant for the current FPS_* configuration, made once per process."""
    return _merchant(_config_key())


def policy() -> SettlementPolicy:
    return SettlementPolicy.of(Settings.from_env())


@st.cache_data(ttl=READ_TTL_S, max_entries=MAX_CACHED_READS, show_spinner=False)
def _read(
    config_key: tuple[str, ...], module: str, name: str, args: tuple[Any, ...], kwargs: tuple[Any, ...]
) -> Any:
    if module not in READ_MODULES:
        raise ValueError(f"{module}.{name} is not a read model")
    function = getattr(importlib.import_module(module), name)
    return function(merchant().engine, *args, **dict(kwargs))


def read(function: Callable[Concatenate[Engine, P], R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """`function(engine, *args, **kwargs)` for a read model of READ_MODULES (fpscore.merchant.queries and
    .analytics), cached for READ_TTL_S seconds per configuration and arguments."""
    return _read(_config_key(), function.__module__, function.__name__, args, tuple(sorted(kwargs.items())))


@st.cache_data(ttl=READ_TTL_S, max_entries=50, show_spinner=False)
def _due(
    config_key: tuple[str, ...], share_basis_points: int, max_age_s: float, limit: int
) -> tuple[list[DueInstrument], DueTotals]:
    now = merchant().clock()
    return due_instruments(merchant(), policy(), now, limit=limit), due_totals(merchant(), policy(), now)


def due(limit: int) -> tuple[list[DueInstrument], DueTotals]:
    """The `limit` largest debts due for settlement under the policy, and how many are due in all."""
    current = policy()
    return _due(_config_key(), current.share_basis_points, current.max_age.total_seconds(), limit)


def after_write() -> None:
    """Forget every cached read model: called after each write, whatever its outcome."""
    _read.clear()
    _due.clear()


def clear_all() -> None:
    """Forget the read models and close the Merchant (tests, between app instances)."""
    after_write()
    _merchant.clear()
