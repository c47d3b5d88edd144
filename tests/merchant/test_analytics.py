"""Fees saved, worked by hand: recorded rows with known times on SQLite and PostgreSQL, grouped by day,
ISO week and month; by kind and by instrument; the what-if replay; and the real flows feeding them.

The fee schedule is the default: 5% + 0.05 under 10.00, 2.9% + 0.30 from 10.00, half-up to the cent.
  0.99 -> 4.95 + 5 = 10     4.99 -> 24.95 + 5 = 30     9.99 -> 49.95 + 5 = 55
  10.00 -> 29 + 30 = 59     19.96 -> 57.884 + 30 = 88  25.00 -> 72.5 + 30 = 103   40.00 -> 116 + 30 = 146
  14.97 -> 43.413 + 30 = 73
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from book import Book, at
from journeys import STOREFRONT, open_prepaid
from sqlalchemy import Engine

from fpscore.merchant import analytics, fee_days, flows
from fpscore.merchant.schema import Funding, Settlement
from fpscore.merchant.settlement import SettlementPolicy
from fpscore.money import Amount


@pytest.fixture
def scenario(merchant_engine: Engine) -> Engine:
    """Ada: prepaid, 40.00 funded once, 20 songs on Wed 28 Feb and 20 on Mon 4 Mar (one refunded in full).
    Bob: postpaid (limit 25.00), on Tue 5 Mar three 4.99 items and a 9.99 pack refunded 5.00; his 19.96 of
    debt settled on Sunday 31 Mar at 23:30 UTC (already 1 April in Auckland).
    Cy: prepaid, 10.00 funded and one song on 5 Mar.
    Never counted: a failed funding, a failed purchase, a pending settlement."""
    book = Book(merchant_engine)
    ada = book.instrument("PI-ADA", "ada@buyers.example", "Prepaid")
    bob = book.instrument("CI-BOB", "bob@buyers.example", "Postpaid", credit_limit_cents=2500)
    cy = book.instrument("PI-CY", "cy@buyers.example", "Prepaid")
    assert book.charge(Funding, ada, at("2024-02-28", 10), "40.00") == 146
    book.charge(Funding, ada, at("2024-02-28", 9), "25.00", status="Failure")
    for minute in range(20):
        book.purchase(ada, at("2024-02-28", 12, minute), "0.99")
        book.purchase(ada, at("2024-03-04", 12, minute), "0.99", refunded="0.99" if minute == 7 else "0")
    for minute in range(3):
        book.purchase(bob, at("2024-03-05", 9, minute), "4.99")
    book.purchase(bob, at("2024-03-05", 9, 30), "9.99", refunded="5.00")
    book.purchase(bob, at("2024-03-05", 9, 40), "9.99", status="Failure")
    assert book.charge(Settlement, bob, at("2024-03-31", 23, 30), "19.96") == 88
    book.charge(Settlement, bob, at("2024-03-31", 23, 40), "5.00", status="Pending")
    assert book.charge(Funding, cy, at("2024-03-05", 8), "10.00") == 59
    book.purchase(cy, at("2024-03-05", 8, 5), "0.99")
    with merchant_engine.begin() as conn:  # the rows were written directly, not through the flows
        fee_days.rebuild(conn)
    return merchant_engine


def row(period_start: str, *numbers: int | None) -> analytics.FeeRow:
    return analytics.FeeRow(date.fromisoformat(period_start), *numbers)  # type: ignore[arg-type]


def test_fees_by_day(scenario):
    # The 9.99 pack refunded 5.00 keeps 55 - (55 * 500 / 999 = 27.53 -> 28) = 27 of its fee alone.
    assert (fee_days.fee_alone_kept(55, 999, 500), fee_days.fee_alone_kept(10, 99, 99)) == (27, 0)
    assert analytics.fees_by_period(scenario, "day") == [
        #   purchases, cents, refunded, alone,             paid, saved, rate bps,            cumulative
        row("2024-02-28", 20, 1980, 0, 200, 146, 54, 737, 54),  # 146 / 19.80 = 737.4 bps
        row("2024-03-04", 20, 1980, 99, 190, 0, 190, 0, 244),  # the refunded song costs nothing alone
        row("2024-03-05", 5, 2595, 500, 90 + 27 + 10, 59, 68, 282, 312),  # 59 / 20.95 = 281.6 bps
        row("2024-03-31", 0, 0, 0, 0, 88, -88, None, 224),
    ]


def test_fees_by_iso_week_and_month(scenario):
    assert analytics.fees_by_period(scenario, "week") == [
        row("2024-02-26", 20, 1980, 0, 200, 146, 54, 737, 54),
        row("2024-03-04", 25, 4575, 599, 317, 59, 258, 148, 312),  # 59 / 39.76 = 148.4 bps
        row("2024-03-25", 0, 0, 0, 0, 88, -88, None, 224),  # Sunday 31 March is in Monday 25's week
    ]
    assert analytics.fees_by_period(scenario, "month") == [
        row("2024-02-01", 20, 1980, 0, 200, 146, 54, 737, 54),
        row("2024-03-01", 25, 4575, 599, 317, 147, 170, 370, 224),  # 147 / 39.76 = 369.7 bps
    ]


def test_window_is_half_open_in_whole_utc_days(scenario):
    march = analytics.fees_by_period(scenario, "day", date(2024, 3, 1), date(2024, 3, 31))
    assert [(r.period_start.day, r.saved_cents, r.cumulative_saved_cents) for r in march] == [
        (4, 190, 190),
        (5, 68, 258),
    ]
    late = analytics.fees_by_period(scenario, "month", start=at("2024-03-31", 0, 0))
    assert [(r.period_start, r.fees_paid_cents) for r in late] == [(date(2024, 3, 1), 88)]
    with pytest.raises(ValueError, match="whole UTC days"):
        analytics.fees_by_period(scenario, "month", start=at("2024-03-31", 23, 30))
    assert analytics.fees_by_period(scenario, "week", end=date(2024, 1, 1)) == []
    with pytest.raises(ValueError, match="period"):
        analytics.fees_by_period(scenario, "year")  # type: ignore[arg-type]


def test_fees_by_kind_and_totals(scenario):
    assert analytics.fees_by_kind(scenario) == [
        # 205 / 39.60 = 517.7 bps; 88 / 19.96 = 440.9 bps
        analytics.KindRow("Postpaid", 1, 4, 2496, 500, 117, 88, 29, 441),
        analytics.KindRow("Prepaid", 2, 41, 4059, 99, 400, 205, 195, 518),
    ]
    total = analytics.fee_totals(scenario)
    assert (total.purchases, total.fees_alone_cents, total.fees_paid_cents, total.saved_cents) == (
        45,
        517,
        293,
        224,
    )
    assert total.effective_rate_bps == 492  # 293 / 59.56 = 491.9 bps


def test_fees_by_instrument_most_saved_first(scenario):
    rows = analytics.fees_by_instrument(scenario, limit=10)
    assert [
        (r.instrument_id, r.customer_email, r.fees_alone_cents, r.fees_paid_cents, r.saved_cents)
        for r in rows
    ] == [
        ("PI-ADA", "ada@buyers.example", 390, 146, 244),
        ("CI-BOB", "bob@buyers.example", 117, 88, 29),
        ("PI-CY", "cy@buyers.example", 10, 59, -49),  # one song does not pay for a 10.00 top-up
    ]
    assert [r.instrument_id for r in analytics.fees_by_instrument(scenario, limit=1)] == ["PI-ADA"]


def test_replay_packs_and_settlement_share(scenario):
    packs = [Amount.parse("10.00"), Amount.parse("25.00")]
    ten, twenty_five = analytics.replay(scenario, packs, SettlementPolicy())
    # Money kept: Ada 39 songs = 38.61, Cy 0.99, Bob 4 x 4.99 = 19.96. Fees alone as recorded: 517.
    # Packs of 10.00 (fee 59): Ada ceil(38.61 / 10) = 4, Cy 1. Packs of 25.00 (fee 103): Ada 2, Cy 1.
    # Bob's debt peaks at 19.96 < 80% of 25.00: settled once at the end, 88.
    assert ten == analytics.WhatIfResult(1000, 8000, 30, 45, 5956, 517, 5 * 59 + 88, 517 - 383, 5, 1, 643)
    assert twenty_five == analytics.WhatIfResult(2500, 8000, 30, 45, 5956, 517, 3 * 103 + 88, 120, 3, 1, 667)
    # Settling at half the limit: 4.99 x 3 = 14.97 >= 12.50 is settled (73), the last 4.99 alone (30).
    [half] = analytics.replay(scenario, packs[:1], SettlementPolicy(share_basis_points=5_000))
    assert (half.settlements, half.fees_with_policy_cents) == (2, 5 * 59 + 73 + 30)
    with pytest.raises(ValueError):
        analytics.replay(scenario, [])
    seen: list[tuple[int, int]] = []
    analytics.replay(scenario, packs[:1], progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 45), (45, 45)]  # the total from the rollup: the 45 successful purchases


def test_recorded_is_the_range_as_it_happened(scenario):
    # Fundings: Ada's 40.00 (146) and Cy's 10.00 (59); the failed one never counts. Settlements: Bob's
    # 19.96 (88); the pending one not yet. Money kept 59.56, fees alone 517 (test_fees_by_kind_and_totals).
    assert analytics.recorded(scenario) == analytics.WhatIfResult(
        None, None, None, 45, 5956, 517, 293, 224, 2, 1, 492
    )
    # March only: Cy's funding and Bob's settlement; Ada's 20 songs of 4 March, Bob's and Cy's purchases.
    march = analytics.recorded(scenario, date(2024, 3, 1), date(2024, 4, 1))
    assert (march.prepaid_charges, march.settlements, march.fees_with_policy_cents) == (1, 1, 59 + 88)
    assert (march.purchases, march.fees_alone_cents) == (25, 317)


def test_range_presets_hold_today():
    today = date(2024, 3, 12)
    assert {preset: analytics.preset_range(preset, today) for preset in analytics.RANGE_PRESETS} == {
        "Last 7 days": analytics.DayRange(date(2024, 3, 6), date(2024, 3, 13)),
        "Last 30 days": analytics.DayRange(date(2024, 2, 12), date(2024, 3, 13)),  # 29 Feb: a leap year
        "Last 90 days": analytics.DayRange(date(2023, 12, 14), date(2024, 3, 13)),
        "Month to date": analytics.DayRange(date(2024, 3, 1), date(2024, 3, 13)),
        "All time": analytics.DayRange(None, date(2024, 3, 13)),
    }
    assert analytics.DEFAULT_RANGE in analytics.RANGE_PRESETS
    assert analytics.preset_range("Month to date", date(2024, 3, 1)).last == date(2024, 3, 1)
    with pytest.raises(ValueError, match="preset"):
        analytics.preset_range("Last year", today)


def test_coverage_marks_periods_the_range_cuts_or_today_runs():
    today = date(2024, 3, 13)  # a Wednesday
    week = analytics.preset_range("Last 7 days", today)  # Thu 7 March to Wed 13 March
    cut = analytics.coverage(date(2024, 3, 4), "week", week, today)
    assert cut == analytics.Coverage(date(2024, 3, 7), date(2024, 3, 11), running=False, whole=False)
    running = analytics.coverage(date(2024, 3, 11), "week", week, today)
    assert running == analytics.Coverage(date(2024, 3, 11), date(2024, 3, 14), running=True, whole=False)
    assert analytics.coverage(date(2024, 3, 13), "day", week, today).running  # today: a day still running
    assert analytics.coverage(date(2024, 3, 12), "day", week, today).whole
    everything = analytics.preset_range("All time", today)
    assert analytics.coverage(date(2024, 2, 1), "month", everything, today).whole  # 29 days, all over
    assert not analytics.coverage(date(2024, 3, 1), "month", everything, today).whole
    past = analytics.DayRange(date(2024, 1, 15), date(2024, 3, 1))  # ends before today
    assert analytics.coverage(date(2024, 1, 1), "month", past, today) == analytics.Coverage(
        date(2024, 1, 15), date(2024, 2, 1), running=False, whole=False
    )
    assert analytics.coverage(date(2024, 2, 1), "month", past, today).whole
    assert analytics.period_end(date(2023, 12, 1), "month") == date(2024, 1, 1)


def test_replay_settles_debt_that_grew_old(merchant_engine):
    book = Book(merchant_engine)
    dan = book.instrument("CI-DAN", "dan@buyers.example", "Postpaid", credit_limit_cents=50_000)
    start = at("2024-05-01")
    for day in (0, 10, 40, 45, 80):
        book.purchase(dan, start + timedelta(days=day), "4.99")
    [result] = analytics.replay(merchant_engine, [Amount.parse("10.00")], SettlementPolicy())
    # Days 0 + 10 (9.98 -> 49.9 + 5 = 55) settled before day 40's purchase; days 40 + 45 (55) before
    # day 80's; day 80 alone (30) at the end.
    assert (result.settlements, result.fees_with_policy_cents, result.fees_alone_cents) == (
        3,
        55 + 55 + 30,
        150,
    )
    assert result.prepaid_charges == 0 and result.saved_cents == 10


def test_real_flows_feed_the_reports(merchant):
    """40 songs at 0.99 on a prepaid instrument funded once with 40.00: alone 40 x 10 = 400, paid 146."""
    instrument_id = open_prepaid(merchant, "ada@buyers.example", limit="50.00", fund="40.00")
    for _ in range(40):
        flows.purchase(merchant, STOREFRONT, instrument_id, "Song", Amount.parse("0.99"))
    [today] = analytics.fees_by_period(merchant.engine, "day")
    assert (today.purchases, today.fees_alone_cents, today.fees_paid_cents, today.saved_cents) == (
        40,
        400,
        146,
        254,
    )
    assert today.effective_rate_bps == 369  # 146 / 39.60 = 368.7 bps
    [pack] = analytics.replay(merchant.engine, [Amount.parse("20.00")])
    assert (pack.prepaid_charges, pack.fees_with_policy_cents) == (2, 2 * 88)  # 20.00 -> 58 + 30 = 88
