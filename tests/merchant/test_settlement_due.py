"""The settlement policy's SQL condition (which instruments `due_instruments` lists and `due_totals`
counts) and its words (`SettlementPolicy.why_due`) agree both ways over a grid of debt, credit limit and
age, at the thresholds and a unit either side of them, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from fpscore.config import Settings
from fpscore.merchant.connect import Merchant, connect
from fpscore.merchant.schema import Customer, MerchantInstrument
from fpscore.merchant.settlement import SettlementPolicy, due_instruments, due_totals
from fpscore.money import Amount

NOW = datetime(2026, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC)  # not on a second: the age is exact to the µs
POLICIES = (
    SettlementPolicy(share_basis_points=8_000, max_age=timedelta(days=30)),
    SettlementPolicy(share_basis_points=8_250, max_age=timedelta(days=1)),  # a share in cents: 1/2 cent
)
LIMITS = (0, 1, 2_500, 3_333)
TINY = timedelta(microseconds=1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def merchant(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Merchant]:
    chosen = settings if request.param == "sqlite" else request.getfixturevalue("postgres_settings")
    made = connect(chosen)
    yield made
    made.close()


def debts(limit: int, policy: SettlementPolicy) -> set[int]:
    """No debt, one cent, and the debts around the share of `limit` the policy settles at."""
    share = -(-limit * policy.share_basis_points // 10_000)  # the smallest debt at the share
    return {d for d in (0, 1, share - 1, share, share + 1, limit, limit + 1) if d >= 0}


def ages(policy: SettlementPolicy) -> tuple[timedelta | None, ...]:
    """No debt_since, young, and a microsecond either side of the policy's age."""
    return (None, timedelta(hours=1), policy.max_age - TINY, policy.max_age, policy.max_age + TINY)


def test_the_sql_due_condition_and_the_words_agree_at_and_around_the_thresholds(merchant):
    grid = {
        (limit, debt, age)
        for policy in POLICIES
        for limit in LIMITS
        for debt, age in itertools.product(debts(limit, policy), ages(policy))
    }
    rows = {
        f"inst-{n:04d}": (limit, debt, None if age is None else NOW - age)
        for n, (limit, debt, age) in enumerate(sorted(grid, key=str))
    }
    with merchant.engine.begin() as conn:
        customer = conn.execute(
            insert(Customer.__table__)
            .values(email="grid@buyers.example", name="Grid", created_at=NOW)
            .returning(Customer.__table__.c.id)
        ).scalar_one()
        conn.execute(
            insert(MerchantInstrument.__table__),
            [
                {"id": instrument_id, "customer_id": customer, "kind": "Postpaid", "sender_token_id": "s",
                 "credit_limit_cents": limit, "currency": "USD", "status": "Active", "balance_cents": debt,
                 "debt_since": since, "created_at": NOW - timedelta(days=400)}
                for instrument_id, (limit, debt, since) in rows.items()
            ],
        )  # fmt: skip
    for policy in POLICIES:
        listed = {item.instrument_id: item for item in due_instruments(merchant, policy, NOW)}
        said_due = {
            instrument_id
            for instrument_id, (limit, debt, since) in rows.items()
            if debt > 0 and policy.why_due(Amount(debt), Amount(limit), since, NOW)
        }
        assert set(listed) == said_due, policy
        assert all(item.why for item in listed.values())
        totals = due_totals(merchant, policy, NOW)
        assert totals.instruments == len(said_due)
        assert totals.debt == (Amount(sum(rows[i][1] for i in said_due)),)
        # each threshold is met by some instruments and missed by others, so the grid tests both ways
        assert 0 < len(said_due) < len(rows)
