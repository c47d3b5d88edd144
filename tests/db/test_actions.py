"""Each FPS action of the processor core and each error code it raises, on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from helpers import open_postpaid, open_prepaid, ref, usd

from fpscore import errors
from fpscore.db import utcnow
from fpscore.processor import Processor
from fpscore.processor.invariants import check_ledger
from fpscore.wire.catalogue import CALLER_REFERENCE_LENGTH


@pytest.fixture(autouse=True)
def books_balance(engine):
    yield
    assert check_ledger(engine) == []


@pytest.fixture
def other_caller(processor):
    return processor.ensure_caller("AKIDOTHER", "other-secret", "Game Shop", "pay@games.example")


def balance(processor, caller_id, setup):
    if setup.kind == "Prepaid":
        return processor.get_prepaid_balance(caller_id, setup.instrument_id).available
    return processor.get_debt_balance(caller_id, setup.instrument_id).available


def pay(processor, caller_id, setup, amount, reference=None):
    return processor.pay(
        caller_id,
        sender_token_id=setup.sender_token_id,
        amount=usd(amount),
        caller_reference=reference or ref(),
    )


def fund(processor, caller_id, setup, amount, reference=None):
    return processor.fund_prepaid(
        caller_id,
        sender_token_id=setup.funding_token_id,
        prepaid_instrument_id=setup.instrument_id,
        amount=usd(amount),
        caller_reference=reference or ref(),
    )


def settle(processor, caller_id, setup, amount, reference=None):
    return processor.settle_debt(
        caller_id,
        sender_token_id=setup.settlement_token_id,
        credit_instrument_id=setup.instrument_id,
        amount=usd(amount),
        caller_reference=reference or ref(),
    )


# -- FundPrepaid ---------------------------------------------------------------------------------------


def test_fund_prepaid_raises_balance_by_full_amount_and_charges_fee(processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, limit="50.00")
    result = fund(processor, caller_id, setup, "20.00")
    assert result.status == "Success" and len(result.transaction_id) == 35
    assert balance(processor, caller_id, setup) == usd("20.00")
    view = processor.get_transaction(caller_id, result.transaction_id)
    assert view.operation == "FundPrepaid" and view.fees == usd("0.88")  # 2.9% of 20.00 + 0.30
    assert view.instrument_id == setup.instrument_id and view.payment_method == "CC"
    assert processor.get_total_prepaid_liability(caller_id).available == usd("20.00")


def test_fund_prepaid_beyond_limit_is_refused(processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, limit="25.00")
    with pytest.raises(errors.PrepaidFundingLimitExceeded):
        fund(processor, caller_id, setup, "25.01")
    fund(processor, caller_id, setup, "20.00")
    with pytest.raises(errors.PrepaidFundingLimitExceeded):
        fund(processor, caller_id, setup, "5.01")
    assert balance(processor, caller_id, setup) == usd("20.00")
    fund(processor, caller_id, setup, "5.00")
    assert balance(processor, caller_id, setup) == usd("25.00")


def test_fund_prepaid_token_checks(processor, caller_id, buyer_id, other_caller):
    setup = open_prepaid(processor, caller_id, buyer_id)
    other = open_prepaid(processor, caller_id, buyer_id)
    with pytest.raises(errors.IncompatibleTokens):
        processor.fund_prepaid(
            caller_id,
            sender_token_id=setup.funding_token_id,
            prepaid_instrument_id=other.instrument_id,
            amount=usd("1.00"),
            caller_reference=ref(),
        )
    with pytest.raises(errors.InvalidTokenType):
        processor.fund_prepaid(
            caller_id,
            sender_token_id=setup.sender_token_id,
            prepaid_instrument_id=setup.instrument_id,
            amount=usd("1.00"),
            caller_reference=ref(),
        )
    with pytest.raises(errors.InvalidTokenId_Sender):
        fund(processor, other_caller, setup, "1.00")
    processor.cancel_token(caller_id, setup.funding_token_id, "card replaced")
    with pytest.raises(errors.TokenNotActive_Sender):
        fund(processor, caller_id, setup, "1.00")
    assert balance(processor, caller_id, setup).cents == 0


def test_expired_and_not_yet_valid_instruments(engine, caller_id, buyer_id):
    now = utcnow()
    early = Processor(engine, clock=lambda: now)
    setup = early.setup_prepaid(
        caller_id,
        buyer_id,
        caller_reference_sender=ref(),
        caller_reference_funding=ref(),
        funding_limit=usd("25"),
        validity_start=now + timedelta(days=1),
        validity_expiry=now + timedelta(days=30),
    )
    with pytest.raises(errors.InactiveInstrument):
        fund(early, caller_id, setup, "5.00")
    active = Processor(engine, clock=lambda: now + timedelta(days=2))
    fund(active, caller_id, setup, "5.00")
    pay(active, caller_id, setup, "1.00")
    late = Processor(engine, clock=lambda: now + timedelta(days=31))
    with pytest.raises(errors.InstrumentExpired):
        pay(late, caller_id, setup, "1.00")
    with pytest.raises(errors.InstrumentExpired):
        fund(late, caller_id, setup, "1.00")
    assert balance(late, caller_id, setup) == usd("4.00")


# -- Pay -----------------------------------------------------------------------------------------------


def test_prepaid_pay_spends_balance_without_fee(processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="10.00")
    result = pay(processor, caller_id, setup, "0.99")
    view = processor.get_transaction(caller_id, result.transaction_id)
    assert view.fees.cents == 0
    assert view.payment_method == "Prepaid" and view.operation == "Pay"
    assert balance(processor, caller_id, setup) == usd("9.01")


def test_prepaid_pay_insufficient_balance(processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="1.00")
    with pytest.raises(errors.InsufficientBalance):
        pay(processor, caller_id, setup, "1.01")
    pay(processor, caller_id, setup, "1.00")
    with pytest.raises(errors.InsufficientBalance):
        pay(processor, caller_id, setup, "0.01")
    assert balance(processor, caller_id, setup).cents == 0


def test_postpaid_pay_accrues_debt_up_to_limits(processor, caller_id, buyer_id):
    setup = open_postpaid(processor, caller_id, buyer_id, credit_limit="25.00", per_purchase="10.00")
    with pytest.raises(errors.AmountOutOfRange):
        pay(processor, caller_id, setup, "10.01")
    pay(processor, caller_id, setup, "10.00")
    pay(processor, caller_id, setup, "10.00")
    with pytest.raises(errors.InsufficientBalance):
        pay(processor, caller_id, setup, "5.01")
    result = pay(processor, caller_id, setup, "5.00")
    assert processor.get_transaction(caller_id, result.transaction_id).payment_method == "Debt"
    assert balance(processor, caller_id, setup) == usd("25.00")
    assert processor.get_outstanding_debt_balance(caller_id).available == usd("25.00")


def test_pay_token_checks(processor, caller_id, buyer_id, other_caller):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="5.00")
    with pytest.raises(errors.InvalidTokenType):
        processor.pay(
            caller_id, sender_token_id=setup.funding_token_id, amount=usd("1"), caller_reference=ref()
        )
    with pytest.raises(errors.InvalidTokenId_Sender):
        processor.pay(caller_id, sender_token_id="NOPE", amount=usd("1"), caller_reference=ref())
    with pytest.raises(errors.InvalidTokenId_Sender):
        pay(processor, other_caller, setup, "1.00")
    with pytest.raises(errors.InvalidParams):
        processor.pay(
            caller_id,
            sender_token_id=setup.sender_token_id,
            amount=usd("1"),
            caller_reference=ref(),
            caller_description="x" * 161,
        )
    assert balance(processor, caller_id, setup) == usd("5.00")


def test_cancelled_token_pays_nothing_more_but_replays(processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="5.00")
    first = pay(processor, caller_id, setup, "1.00", reference="song-1")
    processor.cancel_token(caller_id, setup.sender_token_id, "customer asked")
    processor.cancel_token(caller_id, setup.sender_token_id)  # twice is harmless
    with pytest.raises(errors.TokenNotActive_Sender):
        pay(processor, caller_id, setup, "1.00")
    again = pay(processor, caller_id, setup, "1.00", reference="song-1")
    assert again.transaction_id == first.transaction_id and again.replayed
    assert processor.get_token_by_caller(caller_id, token_id=setup.sender_token_id).status == "Inactive"
    assert balance(processor, caller_id, setup) == usd("4.00")


# -- CallerReference -----------------------------------------------------------------------------------


def test_same_request_replays_and_moves_nothing(processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="5.00")
    first = pay(processor, caller_id, setup, "0.99", reference="order-7")
    second = pay(processor, caller_id, setup, "0.99", reference="order-7")
    assert (second.transaction_id, second.status, second.replayed) == (first.transaction_id, "Success", True)
    assert balance(processor, caller_id, setup) == usd("4.01")


def test_same_reference_other_request_is_duplicate(processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="5.00")
    pay(processor, caller_id, setup, "0.99", reference="order-8")
    with pytest.raises(errors.DuplicateRequest):
        pay(processor, caller_id, setup, "1.99", reference="order-8")
    assert balance(processor, caller_id, setup) == usd("4.01")


def test_reference_is_per_action_and_per_caller(processor, caller_id, buyer_id, other_caller):
    setup = open_prepaid(processor, caller_id, buyer_id, limit="50")
    fund(processor, caller_id, setup, "10.00", reference="shared")
    pay(processor, caller_id, setup, "1.00", reference="shared")  # another action: a new request
    other = open_prepaid(processor, other_caller, buyer_id, fund="5.00")
    pay(processor, other_caller, other, "2.00", reference="shared")  # another caller: a new request
    assert balance(processor, caller_id, setup) == usd("9.00")
    assert balance(processor, other_caller, other) == usd("3.00")


def test_references_are_kept_seven_days(engine, processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="5.00")
    first = pay(processor, caller_id, setup, "1.00", reference="weekly")
    later = Processor(engine, clock=lambda: utcnow() + timedelta(days=7, hours=1))
    assert pay(later, caller_id, setup, "1.00", reference="weekly").transaction_id == first.transaction_id


def test_caller_reference_limits(processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="5.00")
    for bad in ("", "   ", "r" * 129):
        with pytest.raises(errors.InvalidParams):
            pay(processor, caller_id, setup, "1.00", reference=bad or " ")
    pay(processor, caller_id, setup, "1.00", reference="r" * 128)


# -- Refund --------------------------------------------------------------------------------------------


def test_partial_and_full_refunds_of_prepaid_pay(processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="10.00")
    original = pay(processor, caller_id, setup, "3.00")
    partial = processor.refund(
        caller_id, transaction_id=original.transaction_id, caller_reference=ref(), amount=usd("1.00")
    )
    assert balance(processor, caller_id, setup) == usd("8.00")
    with pytest.raises(errors.RefundAmountExceeded):
        processor.refund(
            caller_id, transaction_id=original.transaction_id, caller_reference=ref(), amount=usd("2.01")
        )
    rest = processor.refund(caller_id, transaction_id=original.transaction_id, caller_reference=ref())
    assert processor.get_transaction(caller_id, rest.transaction_id).amount == usd("2.00")
    assert balance(processor, caller_id, setup) == usd("10.00")
    with pytest.raises(errors.TransactionFullyRefundedAlready):
        processor.refund(caller_id, transaction_id=original.transaction_id, caller_reference=ref())
    view = processor.get_transaction(caller_id, original.transaction_id)
    assert set(view.related) == {(partial.transaction_id, "Refund"), (rest.transaction_id, "Refund")}
    refund_view = processor.get_transaction(caller_id, partial.transaction_id)
    assert refund_view.related == ((original.transaction_id, "Parent"),) and refund_view.operation == "Refund"


def test_refund_of_postpaid_pay_reduces_debt(processor, caller_id, buyer_id):
    setup = open_postpaid(processor, caller_id, buyer_id)
    first = pay(processor, caller_id, setup, "4.00")
    pay(processor, caller_id, setup, "1.00")
    processor.refund(
        caller_id, transaction_id=first.transaction_id, caller_reference=ref(), amount=usd("1.50")
    )
    assert balance(processor, caller_id, setup) == usd("3.50")


def test_refund_of_settled_debt_is_refused(processor, caller_id, buyer_id):
    setup = open_postpaid(processor, caller_id, buyer_id)
    original = pay(processor, caller_id, setup, "4.00")
    settle(processor, caller_id, setup, "4.00")
    with pytest.raises(errors.RefundAmountExceeded):
        processor.refund(caller_id, transaction_id=original.transaction_id, caller_reference=ref())
    view = processor.get_transaction(caller_id, original.transaction_id)
    assert view.related == ()


def test_refund_refusals(processor, caller_id, buyer_id, other_caller):
    setup = open_prepaid(processor, caller_id, buyer_id, limit="20")
    funding = fund(processor, caller_id, setup, "10.00")
    with pytest.raises(errors.TransactionTypeNotRefundable):
        processor.refund(caller_id, transaction_id=funding.transaction_id, caller_reference=ref())
    with pytest.raises(errors.InvalidTransactionId):
        processor.refund(caller_id, transaction_id="X" * 35, caller_reference=ref())
    purchase = pay(processor, caller_id, setup, "1.00")
    with pytest.raises(errors.InvalidTransactionId):
        processor.refund(other_caller, transaction_id=purchase.transaction_id, caller_reference=ref())
    assert balance(processor, caller_id, setup) == usd("9.00")


# -- SettleDebt and WriteOffDebt -----------------------------------------------------------------------


def test_settle_debt_partial_and_full_with_fee(processor, caller_id, buyer_id):
    setup = open_postpaid(processor, caller_id, buyer_id, credit_limit="100", per_purchase="50")
    pay(processor, caller_id, setup, "50.00")
    pay(processor, caller_id, setup, "40.00")
    result = settle(processor, caller_id, setup, "80.00")
    assert processor.get_transaction(caller_id, result.transaction_id).fees == usd("2.62")  # 2.32 + 0.30
    assert balance(processor, caller_id, setup) == usd("10.00")
    with pytest.raises(errors.SettleAmountGreaterThanDebt):
        settle(processor, caller_id, setup, "10.01")
    settle(processor, caller_id, setup, "10.00")
    assert balance(processor, caller_id, setup).cents == 0


def test_settle_debt_token_checks(processor, caller_id, buyer_id):
    setup = open_postpaid(processor, caller_id, buyer_id)
    other = open_postpaid(processor, caller_id, buyer_id)
    pay(processor, caller_id, setup, "5.00")
    with pytest.raises(errors.IncompatibleTokens):
        processor.settle_debt(
            caller_id,
            sender_token_id=setup.settlement_token_id,
            credit_instrument_id=other.instrument_id,
            amount=usd("1.00"),
            caller_reference=ref(),
        )
    with pytest.raises(errors.InvalidTokenType):
        processor.settle_debt(
            caller_id,
            sender_token_id=setup.sender_token_id,
            credit_instrument_id=setup.instrument_id,
            amount=usd("1.00"),
            caller_reference=ref(),
        )
    assert balance(processor, caller_id, setup) == usd("5.00")


def test_settlement_after_credit_token_cancelled(processor, caller_id, buyer_id):
    setup = open_postpaid(processor, caller_id, buyer_id)
    pay(processor, caller_id, setup, "5.00")
    processor.cancel_token(caller_id, setup.sender_token_id)
    settle(processor, caller_id, setup, "5.00")
    processor.cancel_token(caller_id, setup.settlement_token_id)
    with pytest.raises(errors.TokenNotActive_Sender):
        settle(processor, caller_id, setup, "0.01")


def test_write_off_debt(processor, caller_id, buyer_id, other_caller):
    setup = open_postpaid(processor, caller_id, buyer_id)
    pay(processor, caller_id, setup, "9.00")
    result = processor.write_off_debt(
        caller_id,
        credit_instrument_id=setup.instrument_id,
        amount=usd("4.00"),
        caller_reference=ref(),
        caller_description="disputed song",
    )
    view = processor.get_transaction(caller_id, result.transaction_id)
    assert view.operation == "WriteOffDebt" and view.fees.cents == 0
    assert balance(processor, caller_id, setup) == usd("5.00")
    with pytest.raises(errors.SettleAmountGreaterThanDebt):
        processor.write_off_debt(
            caller_id, credit_instrument_id=setup.instrument_id, amount=usd("5.01"), caller_reference=ref()
        )
    with pytest.raises(errors.InstrumentAccessDenied):
        processor.write_off_debt(
            other_caller, credit_instrument_id=setup.instrument_id, amount=usd("1"), caller_reference=ref()
        )
    prepaid = open_prepaid(processor, caller_id, buyer_id)
    with pytest.raises(errors.InvalidParams):
        processor.write_off_debt(
            caller_id, credit_instrument_id=prepaid.instrument_id, amount=usd("1"), caller_reference=ref()
        )
    with pytest.raises(errors.TransactionTypeNotRefundable):
        processor.refund(caller_id, transaction_id=result.transaction_id, caller_reference=ref())
    assert balance(processor, caller_id, setup) == usd("5.00")


# -- Reads ---------------------------------------------------------------------------------------------


def test_balance_reads_check_access_and_kind(processor, caller_id, buyer_id, other_caller):
    prepaid = open_prepaid(processor, caller_id, buyer_id, fund="3.00")
    postpaid = open_postpaid(processor, caller_id, buyer_id)
    with pytest.raises(errors.InstrumentAccessDenied):
        processor.get_prepaid_balance(other_caller, prepaid.instrument_id)
    with pytest.raises(errors.InvalidParams):
        processor.get_prepaid_balance(caller_id, postpaid.instrument_id)
    with pytest.raises(errors.InvalidParams):
        processor.get_debt_balance(caller_id, prepaid.instrument_id)
    assert processor.get_total_prepaid_liability(other_caller).available.cents == 0
    assert processor.get_debt_balance(caller_id, postpaid.instrument_id).available.cents == 0


def test_get_transaction_of_another_caller(processor, caller_id, buyer_id, other_caller):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="3.00")
    result = pay(processor, caller_id, setup, "1.00")
    with pytest.raises(errors.InvalidTransactionId):
        processor.get_transaction(other_caller, result.transaction_id)
    view = processor.get_transaction(caller_id, result.transaction_id)
    assert view.sender_email == "ada@buyers.example" and view.caller_name == "Tune Shop"
    assert view.caller_balance_after is not None


def test_account_activity_pages_and_filters(processor, caller_id, buyer_id):
    start = utcnow() - timedelta(seconds=1)
    setup = open_prepaid(processor, caller_id, buyer_id, fund="10.00")
    ids = [pay(processor, caller_id, setup, "0.50").transaction_id for _ in range(5)]
    page = processor.get_account_activity(caller_id, start=start, max_batch_size=2, descending=False)
    assert [v.operation for v in page.transactions] == ["FundPrepaid", "Pay"]
    assert page.next_start is not None
    seen = [v.transaction_id for v in page.transactions]
    while page.next_start is not None:
        page = processor.get_account_activity(
            caller_id, start=page.next_start, max_batch_size=2, descending=False
        )
        seen += [v.transaction_id for v in page.transactions if v.transaction_id not in seen]
    assert seen[1:] == ids
    pays = processor.get_account_activity(caller_id, start=start, operation="Pay")
    assert {v.transaction_id for v in pays.transactions} == set(ids)
    assert processor.get_account_activity(caller_id, start=start, roles=("Sender",)).transactions == []
    newest_first = processor.get_account_activity(caller_id, start=start)
    assert newest_first.transactions[0].transaction_id == ids[-1]


def test_account_activity_refusals(processor, caller_id):
    now = utcnow()
    with pytest.raises(errors.InvalidDateRange):
        processor.get_account_activity(caller_id, start=now + timedelta(hours=1))
    with pytest.raises(errors.InvalidDateRange):
        processor.get_account_activity(caller_id, start=now - timedelta(days=1), end=now - timedelta(days=2))
    with pytest.raises(errors.InvalidParams):
        processor.get_account_activity(caller_id, start=now, max_batch_size=0)
    with pytest.raises(errors.InvalidParams):
        processor.get_account_activity(caller_id, start=now, operation="Steal")


def test_tokens(processor, caller_id, buyer_id, other_caller):
    setup = open_prepaid(processor, caller_id, buyer_id)
    tokens = processor.get_tokens(caller_id)
    assert {t.token_id for t in tokens} == {setup.sender_token_id, setup.funding_token_id}
    assert all(t.token_type == "MultiUse" and t.status == "Active" for t in tokens)
    funding = next(t for t in tokens if t.role == "Funding")
    by_ref = processor.get_token_by_caller(caller_id, caller_reference=funding.caller_reference)
    assert by_ref.token_id == setup.funding_token_id
    with pytest.raises(errors.InvalidParams):
        processor.get_token_by_caller(caller_id)
    with pytest.raises(errors.InvalidParams):
        processor.get_token_by_caller(caller_id, token_id="A", caller_reference="B")
    with pytest.raises(errors.InvalidTokenId):
        processor.get_token_by_caller(other_caller, token_id=setup.sender_token_id)
    with pytest.raises(errors.InvalidCallerReference):
        processor.get_token_by_caller(caller_id, caller_reference="never-used")
    with pytest.raises(errors.InvalidTokenId):
        processor.cancel_token(other_caller, setup.sender_token_id)
    processor.cancel_token(caller_id, setup.funding_token_id)
    assert [t.token_id for t in processor.get_tokens(caller_id, status="Inactive")] == [
        setup.funding_token_id
    ]


# -- Pipelines -----------------------------------------------------------------------------------------


def test_setup_replays_and_duplicates(processor, caller_id, buyer_id):
    kwargs = dict(caller_reference_sender="s-1", caller_reference_funding="f-1", funding_limit=usd("25"))
    first = processor.setup_prepaid(caller_id, buyer_id, **kwargs)
    again = processor.setup_prepaid(caller_id, buyer_id, **kwargs)
    assert again.replayed and again.instrument_id == first.instrument_id
    assert again.funding_token_id == first.funding_token_id
    with pytest.raises(errors.DuplicateRequest):
        processor.setup_prepaid(caller_id, buyer_id, **{**kwargs, "funding_limit": usd("30")})
    with pytest.raises(errors.DuplicateRequest):
        processor.setup_postpaid(
            caller_id,
            buyer_id,
            caller_reference_sender="s-1",
            caller_reference_settlement="x-1",
            credit_limit=usd("10"),
            global_amount_limit=usd("5"),
        )


def test_setup_repeated_late_returns_the_first_tokens(engine, caller_id, buyer_id):
    now = utcnow()
    kwargs = dict(
        caller_reference_sender="s-late",
        caller_reference_funding="f-late",
        funding_limit=usd("25"),
        validity_start=now,
        validity_expiry=now + timedelta(hours=1),
    )
    first = Processor(engine, clock=lambda: now).setup_prepaid(caller_id, buyer_id, **kwargs)
    later = Processor(engine, clock=lambda: now + timedelta(hours=2)).setup_prepaid(
        caller_id, buyer_id, **kwargs
    )
    assert later.replayed and later.instrument_id == first.instrument_id


def test_setup_refusals(processor, caller_id, buyer_id):
    base = dict(caller_reference_sender="s-2", caller_reference_funding="f-2", funding_limit=usd("25"))
    for bad in (
        {"caller_reference_funding": "s-2"},
        {"caller_reference_sender": ""},
        {"caller_reference_sender": "é" * (CALLER_REFERENCE_LENGTH + 1)},  # the limit counts characters
        {"payment_method": "GOLD"},
        {"validity_expiry": utcnow() - timedelta(days=1)},
        {"validity_start": utcnow() + timedelta(days=400)},
    ):
        with pytest.raises(errors.InvalidParams):
            processor.setup_prepaid(caller_id, buyer_id, **{**base, **bad})
    with pytest.raises(errors.AmountOutOfRange):
        processor.setup_prepaid(caller_id, buyer_id, **{**base, "funding_limit": usd("0.01") - usd("0.01")})
    assert processor.get_tokens(caller_id) == []


def test_buyers_and_callers(processor):
    assert processor.find_or_create_buyer("Bob@Example.com") == processor.find_or_create_buyer(
        "bob@example.com"
    )
    with pytest.raises(errors.InvalidParams):
        processor.find_or_create_buyer("not-an-address")
    caller = processor.ensure_caller("AKID1", "s1", "Shop", "shop@example.com")
    assert processor.ensure_caller("AKID1", "s2", "Shop", "shop@example.com") == caller
    assert processor.caller_for_key("AKID1").secret_access_key == "s2"
    with pytest.raises(errors.InvalidClientTokenId):
        processor.caller_for_key("AKID-unknown")
