"""The settlement policy says why a debt is due in words (the share of the credit limit reached, how long
it has been owed, or both), by the same thresholds its SQL condition uses, and says itself in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fpscore.merchant.settlement import SettlementPolicy
from fpscore.money import Amount

NOW = datetime(2026, 5, 1, tzinfo=UTC)
POLICY = SettlementPolicy(share_basis_points=8_000, max_age=timedelta(days=30))


@pytest.mark.parametrize(
    ("debt", "since_days", "why"),
    [
        (2_000, 1, "80% of the credit limit"),  # exactly the share
        (1_999, 1, ""),  # just under it, and young
        (500, 31, "owed 31 days"),
        (500, 30, "owed 30 days"),  # exactly the age
        (2_400, 45, "96% of the credit limit and owed 45 days"),
    ],
)
def test_why_a_debt_is_due(debt, since_days, why):
    since = NOW - timedelta(days=since_days)
    assert POLICY.why_due(Amount(debt), Amount(2_500), since, NOW) == why


def test_no_debt_since_is_never_too_old():
    assert POLICY.why_due(Amount(100), Amount(2_500), None, NOW) == ""


def test_the_policy_in_words():
    assert str(POLICY) == "debt at 80% of the credit limit or more, or owed for 30 days or more"
    assert str(SettlementPolicy(8_250, timedelta(days=1))).endswith(
        "82.5% of the credit limit or more, or owed for 1 day or more"
    )
