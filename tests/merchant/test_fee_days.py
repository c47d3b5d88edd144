"""The daily fee rollup stays equal to what the records add up to: through the real flows on every
backend, under any order of status changes and refunds (hypothesis), after the migration that made it,
and a planted difference is found.

Fees (the default schedule): 0.99 -> 10, 4.99 -> 30, 10.00 -> 59, 12.97 -> 37.613 + 30 = 68.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from book import Book, at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journeys import FINANCE, STOREFRONT, SUPPORT, open_postpaid, open_prepaid
from sqlalchemy import Connection, Engine, event, select, update

from fpscore.db import migrate, utcnow
from fpscore.errors import InsufficientBalance
from fpscore.merchant import analytics, fee_days, flows
from fpscore.merchant.schema import FeeDay, Funding, Purchase, Refund, Settlement
from fpscore.money import Amount

_fee_days = FeeDay.__table__
MOVEMENTS = {"purchase": Purchase.__table__, "funding": Funding.__table__, "settlement": Settlement.__table__}


def usd(text: str) -> Amount:
    return Amount.parse(text)


def test_flows_keep_the_rollup(any_merchant, any_processor):
    prepaid = open_prepaid(any_merchant, "ada@buyers.example", fund="10.00")
    songs = [flows.purchase(any_merchant, STOREFRONT, prepaid, "Song", usd("0.99")) for _ in range(5)]
    flows.refund_purchase(any_merchant, SUPPORT, songs[0].row_id, "duplicate")
    flows.refund_purchase(any_merchant, SUPPORT, songs[1].row_id, "part", usd("0.50"))
    postpaid = open_postpaid(any_merchant, "bob@buyers.example")
    items = [flows.purchase(any_merchant, STOREFRONT, postpaid, "Item", usd("4.99")) for _ in range(3)]
    flows.refund_purchase(any_merchant, SUPPORT, items[2].row_id, "part", usd("2.00"))
    flows.settle(any_merchant, FINANCE, postpaid)

    assert fee_days.differences(any_merchant.engine) == []
    # Prepaid: 3 songs keep 10 each, the one refunded in full 0, the one refunded 0.50 keeps
    # 10 - (10 * 50 / 99 = 5.05 -> 5) = 5. Postpaid: 30 + 30 + 30 - (30 * 200 / 499 = 12.02 -> 12).
    by_kind = {row.kind: row for row in analytics.fees_by_kind(any_merchant.engine)}
    assert (by_kind["Prepaid"].purchases, by_kind["Prepaid"].refunded_cents) == (5, 149)
    assert (by_kind["Prepaid"].fees_alone_cents, by_kind["Prepaid"].fees_paid_cents) == (35, 59)
    assert (by_kind["Postpaid"].fees_alone_cents, by_kind["Postpaid"].fees_paid_cents) == (78, 68)
    [today] = analytics.fees_by_period(any_merchant.engine, "day")
    assert (today.fees_alone_cents, today.fees_paid_cents, today.saved_cents) == (113, 127, -14)


def test_a_failed_or_repeated_answer_adds_nothing(merchant, processor):
    prepaid = open_prepaid(merchant, "cy@buyers.example", fund="1.00")
    flows.purchase(merchant, STOREFRONT, prepaid, "Song", usd("0.99"))
    with pytest.raises(InsufficientBalance):  # 0.01 left
        flows.purchase(merchant, STOREFRONT, prepaid, "Song", usd("0.99"))
    [row] = analytics.fees_by_kind(merchant.engine)
    assert (row.purchases, row.fees_alone_cents) == (1, 10)
    with merchant.engine.begin() as conn:  # the same answer recorded again
        purchase_id = conn.execute(select(Purchase.__table__.c.id).where(Purchase.__table__.c.status ==
                                   "Success")).scalar_one()  # fmt: skip
        flows.record_status(conn, Purchase.__table__, purchase_id, "Success", utcnow())
    assert fee_days.differences(merchant.engine) == []


_op = st.tuples(
    st.sampled_from(sorted(MOVEMENTS)),
    st.sampled_from(["PI-A", "PI-C", "CI-B"]),  # the two prepaid ones keep their days in other shards
    st.integers(0, 40),  # day
    st.integers(1, 3000),  # cents
    st.lists(st.sampled_from(["Pending", "Success", "Failure"]), min_size=1, max_size=3),  # answers
    st.lists(st.tuples(st.integers(1, 3000), st.booleans()), max_size=3),  # refunds: cents, succeeds
)
_examples = itertools.count()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_op, max_size=10))
def test_any_order_of_answers_and_refunds_keeps_the_rollup(merchant_engine: Engine, ops):
    """On both backends (PostgreSQL in a session time zone far from UTC); the examples share the database,
    each with instruments of its own, and the rollup must equal the records after each."""
    engine = merchant_engine
    book = Book(engine)
    n = next(_examples)
    ids = {name: f"{name}-{n}" for name in ("PI-A", "PI-C", "CI-B")}
    book.instrument(ids["PI-A"], f"a{n}@buyers.example", "Prepaid")
    book.instrument(ids["PI-C"], f"c{n}@buyers.example", "Prepaid")
    book.instrument(ids["CI-B"], f"b{n}@buyers.example", "Postpaid", credit_limit_cents=100_000)
    start = at("2024-02-27", 23, 59)
    for kind, name, day, cents, answers, refunds in ops:
        instrument_id = ids[name]
        when = start + timedelta(days=day, minutes=day)
        price = str(Amount(cents))
        if kind == "purchase":
            row_id = book.purchase(instrument_id, when, price, status="Requested")
        else:
            book.charge(Funding if kind == "funding" else Settlement, instrument_id, when, price, "Requested")
            with engine.connect() as conn:
                table = MOVEMENTS[kind]
                row_id = conn.execute(select(table.c.id).order_by(table.c.id.desc()).limit(1)).scalar_one()
        for answer in answers:
            with engine.begin() as conn:
                flows.record_status(conn, MOVEMENTS[kind], row_id, answer, utcnow())
        if kind != "purchase" or "Success" not in answers:
            continue
        left = cents
        for refund_cents, succeeds in refunds:
            if refund_cents > left:
                continue
            refund_id = book.refund(row_id, instrument_id, when + timedelta(days=3), refund_cents)
            with engine.begin() as conn:
                flows.record_status(
                    conn, Refund.__table__, refund_id, "Success" if succeeds else "Failure", utcnow()
                )
            left -= refund_cents if succeeds else 0
    assert fee_days.differences(engine) == []


def test_migration_fills_the_rollup_from_the_records(merchant_engine: Engine):
    """Migration 0002 fills the rollup with its own frozen SQL: what `rebuild` computes today."""
    migrate(merchant_engine, "merchant", "0001", downgrade=True)
    book = Book(merchant_engine)
    book.instrument("PI-A", "a@buyers.example", "Prepaid")
    book.instrument("CI-B", "b@buyers.example", "Postpaid", credit_limit_cents=5_000)
    book.charge(Funding, "PI-A", at("2024-03-01", 9), "10.00")
    book.purchase("PI-A", at("2024-03-01", 23, 30), "0.99")  # already 2 March in Auckland
    book.purchase("PI-A", at("2024-03-02", 10), "0.99", refunded="0.99")
    book.purchase("PI-A", at("2024-03-02", 11), "0.99", status="Failure")
    book.purchase("CI-B", at("2024-03-02", 12), "9.99", refunded="5.00")
    book.charge(Settlement, "CI-B", at("2024-03-02", 13), "4.99")
    migrate(merchant_engine, "merchant")
    assert fee_days.differences(merchant_engine) == []
    days = analytics.fees_by_period(merchant_engine, "day")
    rows = [(r.period_start, r.purchases, r.fees_alone_cents, r.fees_paid_cents) for r in days]
    # 9.99 refunded 5.00 keeps 55 - 28 = 27 of its fee alone; 4.99 settled costs 30
    assert rows == [(date(2024, 3, 1), 1, 10, 59), (date(2024, 3, 2), 2, 27, 30)]


def test_a_planted_difference_is_found_and_rebuild_mends_it(merchant_engine: Engine):
    book = Book(merchant_engine)
    book.instrument("PI-A", "a@buyers.example", "Prepaid")
    book.purchase("PI-A", at("2024-03-01", 10), "0.99")
    book.purchase("PI-A", at("2024-03-05", 10), "4.99")
    with merchant_engine.begin() as conn:
        fee_days.rebuild(conn)
    assert fee_days.differences(merchant_engine) == []
    with merchant_engine.begin() as conn:
        conn.execute(update(_fee_days).where(_fee_days.c.day == date(2024, 3, 1)).values(purchases=2))
        conn.execute(_fee_days.delete().where(_fee_days.c.day == date(2024, 3, 5)))
    assert fee_days.differences(merchant_engine) == [
        fee_days.RollupDifference(date(2024, 3, 1), "Prepaid", "USD", (1, 99, 0, 10, 0), (2, 99, 0, 10, 0)),
        fee_days.RollupDifference(date(2024, 3, 5), "Prepaid", "USD", (1, 499, 0, 30, 0), (0, 0, 0, 0, 0)),
    ]
    with merchant_engine.begin() as conn:
        fee_days.rebuild(conn)
    assert fee_days.differences(merchant_engine) == []


def test_concurrent_successes_on_one_day_all_count(merchant_engine: Engine):
    """Answers recorded at once from many threads, on instruments of one kind and one day: every one is
    counted once (the upsert of a new day's row races safely; shards spread the row locks)."""
    book = Book(merchant_engine)
    instruments = [book.instrument(f"PI-{n}", f"p{n}@buyers.example", "Prepaid") for n in range(6)]
    purchases = [
        book.purchase(instruments[n % 6], at("2024-03-01", 12, n), "0.99", status="Requested")
        for n in range(48)
    ]

    def succeed(purchase_id: int) -> None:
        with merchant_engine.begin() as conn:
            flows.record_status(conn, Purchase.__table__, purchase_id, "Success", utcnow())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(succeed, purchases))
    assert fee_days.differences(merchant_engine) == []
    [day] = analytics.fees_by_period(merchant_engine, "day")
    assert (day.purchases, day.fees_alone_cents) == (48, 480)


def test_a_rebuild_meeting_a_flow_counts_its_movement_once(merchant_engine: Engine):
    """A rebuild waits for a flow that is recording a Success (on PostgreSQL by locking the table; on
    SQLite by its write lock), and no flow can commit in the middle of a rebuild: otherwise the DELETE
    could miss the flow's new row while the INSERT counted its movement again. Counted once. The rebuild
    is seen to ask the database before the flow commits, and to get its DELETE through only after."""
    book = Book(merchant_engine)
    book.instrument("PI-A", "a@buyers.example", "Prepaid")
    purchase_id = book.purchase("PI-A", at("2024-03-01", 10), "0.99", status="Requested")
    rebuilder: list[int] = []  # the rebuild's thread
    moments: dict[str, float] = {}

    def through(_conn: Connection, _cursor: object, statement: str, *_args: object) -> None:
        if threading.get_ident() in rebuilder and statement.lstrip().upper().startswith("DELETE"):
            moments["through"] = time.monotonic()

    def rebuild() -> None:
        rebuilder.append(threading.get_ident())
        moments["asked"] = time.monotonic()  # what follows waits in the database, from the connection on
        with merchant_engine.begin() as conn:
            fee_days.rebuild(conn)

    event.listen(merchant_engine, "after_cursor_execute", through)
    try:
        with merchant_engine.connect() as flow, ThreadPoolExecutor(max_workers=1) as pool:
            transaction = flow.begin()
            flows.record_status(flow, Purchase.__table__, purchase_id, "Success", utcnow())
            rebuilding = pool.submit(rebuild)
            deadline = time.monotonic() + 10
            while "asked" not in moments and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)  # time enough for a rebuild that did not wait to get through
            committed = time.monotonic()
            transaction.commit()
            rebuilding.result(timeout=30)
    finally:
        event.remove(merchant_engine, "after_cursor_execute", through)
    assert moments["asked"] < committed < moments["through"]
    assert fee_days.differences(merchant_engine) == []
    [day] = analytics.fees_by_period(merchant_engine, "day")
    assert day.purchases == 1
