"""The dashboard's cache reads only read models (`resources.read` keys on the function's module): every
read model of fpscore.merchant.queries, whichever module of the package holds it, and of analytics;
anything else is refused before it runs."""

from __future__ import annotations

import inspect

import pytest

from dashboard import resources
from fpscore.merchant import analytics, flows, queries


def read_models(package):  # type: ignore[no-untyped-def]
    """The functions of `package` (or its modules) that take the merchant's engine first."""
    for name in dir(package):
        value = getattr(package, name)
        if inspect.isfunction(value) and value.__module__.startswith(package.__name__):
            if next(iter(inspect.signature(value).parameters), None) == "engine":
                yield value


def test_every_read_model_is_read_through_the_cache():
    models = [*read_models(queries), *read_models(analytics)]
    assert {queries.instruments, queries.instrument_view, queries.movements, queries.call_record,
            queries.audit_events, analytics.fee_totals} <= set(models)  # fmt: skip
    uncached = [f"{m.__module__}.{m.__name__}" for m in models if m.__module__ not in resources.READ_MODULES]
    assert uncached == []


def test_a_function_that_is_not_a_read_model_is_refused():
    with pytest.raises(ValueError, match="is not a read model"):
        resources.read(flows.instrument, "PI-1")
