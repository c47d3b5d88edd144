"""The merchant's own balance at the processor: FpsClient.get_account_balance parses GetAccountBalance into
typed Amounts and records the call like every other; the health call asks it for who may run the checks
(and refuses, recording it, anyone else); embedded and over `fpscore serve`."""

from __future__ import annotations

import json

import pytest
from journeys import ANALYST, FINANCE, STOREFRONT, SUPPORT, TROUBLESHOOTER, open_postpaid, open_prepaid
from sqlalchemy import Engine, select

from fpscore.db import make_engine
from fpscore.merchant import flows, health
from fpscore.merchant.client import AccountBalance
from fpscore.merchant.connect import connect
from fpscore.merchant.roles import Forbidden
from fpscore.merchant.schema import ApiCall, AuditEvent
from fpscore.money import Amount
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import Caller, LedgerAccount


def caller_balance(processor_engine: Engine) -> Amount:
    """The one caller's ledger account (`caller:<email>`), as stored; check_ledger proves it from entries."""
    assert check_ledger(processor_engine) == []
    accounts, callers = LedgerAccount.__table__, Caller.__table__
    with processor_engine.connect() as conn:
        [cents] = conn.execute(
            select(accounts.c.balance_cents).join(callers, callers.c.balance_account_id == accounts.c.id)
        ).scalars()
    return Amount(cents)


def trade(merchant) -> Amount:  # type: ignore[no-untyped-def]
    """Fund, buy, refund, settle and write off through the flows; what the caller earned, net of fees."""
    prepaid = open_prepaid(merchant, "ada@buyers.example", fund="10.00")
    song = flows.purchase(merchant, STOREFRONT, prepaid, "Song", Amount.parse("0.99"))
    flows.purchase(merchant, STOREFRONT, prepaid, "Album", Amount.parse("7.49"))
    flows.refund_purchase(merchant, SUPPORT, song.row_id, "played by mistake")
    postpaid = open_postpaid(merchant, "bob@buyers.example")
    flows.purchase(merchant, STOREFRONT, postpaid, "Level pack", Amount.parse("4.99"))
    flows.write_off(merchant, SUPPORT, postpaid, Amount.parse("1.00"), "disputed")
    settled = flows.settle(merchant, FINANCE, postpaid)
    funded_fee = merchant.fee_schedule.fee(Amount.parse("10.00"))
    assert settled.fee is not None
    return Amount.parse("7.49") + Amount.parse("4.99") - funded_fee - settled.fee


def expect(balance: AccountBalance, total: Amount) -> None:
    assert (balance.total, balance.pending_in, balance.pending_out) == (total, Amount(0), Amount(0))
    assert balance.disburse == balance.refund == total and total.cents > 0
    assert all(isinstance(a, Amount) for a in (balance.total, balance.disburse, balance.refund))


def test_the_client_parses_the_balance_and_records_the_call(merchant):
    fee = merchant.fee_schedule.fee(Amount.parse("10.00"))
    open_prepaid(merchant, "cy@buyers.example", fund="10.00")
    before_any_sale = merchant.client.get_account_balance(actor="test")
    assert before_any_sale.total == -fee  # fees before earnings: the total is below zero, parsed signed
    assert before_any_sale.disburse == before_any_sale.refund == Amount(0)

    total = trade(merchant) - fee
    assert caller_balance(merchant.processor_engine) == total
    balance = health.account_balance(merchant, TROUBLESHOOTER)
    expect(balance, total)

    calls = ApiCall.__table__
    with merchant.engine.connect() as conn:
        rows = conn.execute(
            select(calls).where(calls.c.action == "GetAccountBalance").order_by(calls.c.id)
        ).all()
    assert [(row.actor, row.http_status, row.error_code, row.attempt) for row in rows] == [
        ("test", 200, None, 1),
        ("theo", 200, None, 1),
    ]
    assert rows[-1].request_id == balance.request_id
    assert "<TotalBalance><CurrencyCode>USD</CurrencyCode>" in rows[-1].response_body
    params = json.loads(rows[-1].request_params)
    assert params == {"Action": "GetAccountBalance", "Version": "2010-08-28"}  # no key, no signature


def test_only_who_may_run_the_checks_asks_and_a_refusal_is_recorded(merchant):
    for staff in (FINANCE, TROUBLESHOOTER):
        assert health.account_balance(merchant, staff).total == Amount(0)
    with pytest.raises(Forbidden):
        health.account_balance(merchant, ANALYST)
    with merchant.engine.connect() as conn:
        events = AuditEvent.__table__
        refused = conn.execute(
            select(events.c.actor, events.c.action, events.c.subject).where(events.c.outcome == "Refused")
        ).all()
        asked = conn.execute(
            select(ApiCall.__table__.c.actor).where(ApiCall.__table__.c.action == "GetAccountBalance")
        ).scalars()
        assert sorted(asked) == ["fiona", "theo"]  # the analyst's request never left
    assert [tuple(row) for row in refused] == [("ana", "reconcile", "account balance")]


def test_the_health_call_carries_the_balance(merchant):
    total = trade(merchant)
    result = health.check(merchant, FINANCE)
    assert result.ok and result.balance_error is None and result.balance is not None
    expect(result.balance, total)


def test_over_fpscore_serve(served_settings):
    merchant = connect(served_settings)
    try:
        total = trade(merchant)
        expect(merchant.client.get_account_balance(actor="test"), total)
    finally:
        merchant.close()
    processor_engine = make_engine(served_settings.processor_database_url)
    try:
        assert caller_balance(processor_engine) == total
    finally:
        processor_engine.dispose()
