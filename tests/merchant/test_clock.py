"""The merchant's clock: every record the merchant's flows write is stamped by `Merchant.clock`, and the
embedded processor runs on the same clock, so both sides agree on when things happened (the demo's 90
days are simulated through it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from journeys import FINANCE, STOREFRONT, open_postpaid
from sqlalchemy import select

from fpscore.db import UtcDateTime
from fpscore.merchant import flows, recovery, settlement
from fpscore.merchant.connect import connect
from fpscore.merchant.demo import SimulatedClock
from fpscore.merchant.movements import FUND_PREPAID
from fpscore.merchant.schema import Base
from fpscore.money import Amount
from fpscore.processor.schema import Transaction

LEAP_DAY = datetime(2024, 2, 29, 12, 0, tzinfo=UTC)
STAFF_TABLES = {"staff", "sign_in_failures"}  # sign-in keeps real time (fpscore.merchant.staff)


def stamps(engine, tables):  # type: ignore[no-untyped-def]
    """Every timestamp held in `tables`, as (table.column, value)."""
    found = []
    with engine.connect() as conn:
        for table in tables:
            columns = [column for column in table.c if isinstance(column.type, UtcDateTime)]
            for row in conn.execute(select(*columns)) if columns else ():
                found += [(f"{table.name}.{c.name}", v) for c, v in zip(columns, row, strict=True) if v]
    return found


def test_the_merchant_and_the_embedded_processor_run_on_the_merchant_clock(settings):
    clock = SimulatedClock(LEAP_DAY)
    merchant = connect(settings, clock)
    merchant.client.backoff_s = 0.0
    try:
        instrument_id = open_postpaid(merchant, "ada@example.com", limit="50.00")
        flows.purchase(merchant, STOREFRONT, instrument_id, "Song: Paper Harbor", Amount.parse("0.99"))
        flows.settle(merchant, FINANCE, instrument_id)
        flows.purchase(merchant, STOREFRONT, instrument_id, "Song: Quiet Tide", Amount.parse("1.29"))
        merchant_tables = [t for name, t in Base.metadata.tables.items() if name not in STAFF_TABLES]
        written = stamps(merchant.engine, merchant_tables)
        made = stamps(merchant.processor_engine, [Transaction.__table__])
        later = LEAP_DAY + timedelta(minutes=10)
        assert {name for name, _ in written} >= {
            "customers.created_at", "orders.created_at", "token_references.completed_at",
            "instruments.debt_since", "instruments.balance_seen_at", "purchases.completed_at",
            "settlements.created_at", "api_calls.created_at", "audit_events.created_at",
        }  # fmt: skip
        assert [(name, at) for name, at in written + made if not LEAP_DAY <= at < later] == []
        assert len(made) >= 3

        # Settlement policy and recovery read the same clock: a month on, the debt is due by age, and a
        # movement written without an answer is cut off once the client's attempts are over.
        with merchant.engine.begin() as conn:
            values = {"instrument_id": instrument_id, "amount_cents": 100, "currency": "USD", "fee_cents": 0}
            flows._requested(conn, STOREFRONT, FUND_PREPAID.table, "fund-lost", values, clock())
        policy = settlement.SettlementPolicy(share_basis_points=10_000, max_age=timedelta(days=30))
        assert settlement.due_instruments(merchant, policy) == []
        assert [(c.requested, c.cut_off) for c in recovery.in_flight(merchant)] == [(1, 0)]
        clock.at(LEAP_DAY + timedelta(days=31))
        assert [due.instrument_id for due in settlement.due_instruments(merchant, policy)] == [instrument_id]
        assert [(c.requested, c.cut_off) for c in recovery.in_flight(merchant)] == [(1, 1)]
    finally:
        merchant.close()
