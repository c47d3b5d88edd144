"""The chapter's journeys end to end, prepaid and postpaid, in-process (SQLite, then PostgreSQL) and over
HTTP, checking the merchant's and the processor's databases after each step."""

from __future__ import annotations

import pytest
from journeys import FINANCE, STOREFRONT, SUPPORT, open_postpaid, open_prepaid
from sqlalchemy import func, select

from fpscore.errors import InsufficientBalance
from fpscore.merchant import flows
from fpscore.merchant.schema import (
    ApiCall,
    Funding,
    MerchantInstrument,
    Order,
    Purchase,
    Refund,
    Settlement,
    WriteOff,
)
from fpscore.money import Amount
from fpscore.processor.invariants import check_ledger


def usd(text: str) -> Amount:
    return Amount.parse(text, allow_zero=True)


def book(merchant, instrument_id):
    with merchant.engine.connect() as conn:
        table = MerchantInstrument.__table__
        return conn.execute(select(table).where(table.c.id == instrument_id)).one()


def live(processor, instrument_id, kind):
    caller_id = processor.caller_for_key("AKIDSHOP").caller_id
    if kind == "Prepaid":
        return processor.get_prepaid_balance(caller_id, instrument_id).available
    return processor.get_debt_balance(caller_id, instrument_id).available


def rows(merchant, model, **where):
    table = model.__table__
    with merchant.engine.connect() as conn:
        query = select(table).where(*(table.c[name] == value for name, value in where.items()))
        return conn.execute(query.order_by(table.c.id)).all()


def test_prepaid_journey(any_merchant, any_processor):
    processor = any_processor
    merchant = any_merchant
    instrument_id = open_prepaid(merchant, "ada@buyers.example", limit="25.00")
    assert book(merchant, instrument_id).balance_cents == 0
    assert live(processor, instrument_id, "Prepaid") == usd("0")

    funding = flows.fund(merchant, STOREFRONT, instrument_id, usd("20.00"))
    [funded] = rows(merchant, Funding, instrument_id=instrument_id)
    assert (funded.status, funded.transaction_id, funded.fee_cents) == ("Success", funding.transaction_id, 88)
    assert (
        book(merchant, instrument_id).balance_cents == 2000 == live(processor, instrument_id, "Prepaid").cents
    )

    songs = [flows.purchase(merchant, STOREFRONT, instrument_id, f"Song {n}", usd("0.99")) for n in range(3)]
    assert {p.status for p in rows(merchant, Purchase, instrument_id=instrument_id)} == {"Success"}
    assert (
        book(merchant, instrument_id).balance_cents == 1703 == live(processor, instrument_id, "Prepaid").cents
    )
    assert {o.status for o in rows(merchant, Order)} == {"Paid"}

    flows.refund_purchase(merchant, SUPPORT, songs[0].row_id, "wrong song")
    assert (
        book(merchant, instrument_id).balance_cents == 1802 == live(processor, instrument_id, "Prepaid").cents
    )
    assert rows(merchant, Purchase, id=songs[0].row_id)[0].refunded_cents == 99

    with pytest.raises(InsufficientBalance):
        flows.purchase(merchant, STOREFRONT, instrument_id, "Album", usd("18.03"))
    failed = rows(merchant, Purchase, instrument_id=instrument_id)[-1]
    assert (failed.status, failed.error_code, failed.transaction_id) == (
        "Failure",
        "InsufficientBalance",
        None,
    )
    assert (
        book(merchant, instrument_id).balance_cents == 1802 == live(processor, instrument_id, "Prepaid").cents
    )
    assert check_ledger(processor.engine) == []


def test_postpaid_journey(any_merchant, any_processor):
    processor = any_processor
    merchant = any_merchant
    instrument_id = open_postpaid(merchant, "bob@buyers.example", limit="25.00", per_purchase="10.00")
    for product, price in (("Sword", "4.99"), ("Shield", "7.50"), ("Potion", "0.99")):
        flows.purchase(merchant, STOREFRONT, instrument_id, product, usd(price))
    state = book(merchant, instrument_id)
    assert state.balance_cents == 1348 == live(processor, instrument_id, "Postpaid").cents
    assert state.debt_since is not None

    flows.write_off(merchant, SUPPORT, instrument_id, usd("0.99"), "potion never arrived")
    [written] = rows(merchant, WriteOff, instrument_id=instrument_id)
    assert (written.reason, written.requested_by, written.status) == (
        "potion never arrived",
        "sam",
        "Success",
    )
    assert (
        book(merchant, instrument_id).balance_cents
        == 1249
        == live(processor, instrument_id, "Postpaid").cents
    )

    flows.settle(merchant, FINANCE, instrument_id, usd("5.00"))
    flows.settle(merchant, FINANCE, instrument_id)
    settled = rows(merchant, Settlement, instrument_id=instrument_id)
    assert [s.amount_cents for s in settled] == [500, 749] and [s.fee_cents for s in settled] == [30, 42]
    state = book(merchant, instrument_id)
    assert state.balance_cents == 0 == live(processor, instrument_id, "Postpaid").cents
    assert state.debt_since is None
    assert check_ledger(processor.engine) == []

    [sword] = rows(merchant, Purchase, instrument_id=instrument_id, product="Sword")
    with pytest.raises(flows.FlowRefused, match="settled or written off already"):  # no debt left to take off
        flows.refund_purchase(merchant, SUPPORT, sword.id, "too late")
    assert rows(merchant, Refund, instrument_id=instrument_id) == []

    with merchant.engine.connect() as conn:
        calls = ApiCall.__table__
        missing = conn.execute(
            select(func.count()).where(calls.c.http_status == 200, calls.c.request_id.is_(None))
        ).scalar_one()
    assert missing == 0
