"""Every action's happy path over real HTTP, signed as boto signs, in both API versions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fpshttp import amount, children, expect_success
from helpers import ref, usd

from fpscore.money import Amount
from fpscore.wire import VERSIONS, parse_amount
from fpscore.wire.xml import wire_datetime

each_version = pytest.mark.parametrize("version", VERSIONS)
TRANSACTION_RESULT = ["TransactionId", "TransactionStatus"]


@each_version
def test_fund_prepaid(fps, processor, caller_id, prepaid, version):
    result = fps.ok(
        "FundPrepaid",
        version=version,
        SenderTokenId=prepaid.funding_token_id,
        PrepaidInstrumentId=prepaid.instrument_id,
        CallerReference=ref(),
        **amount("FundingAmount", "5.00"),
    )
    assert children(result) == TRANSACTION_RESULT
    assert result.findtext("TransactionStatus") == "Success"
    assert len(result.findtext("TransactionId")) == 35
    assert processor.get_prepaid_balance(caller_id, prepaid.instrument_id).available == usd("25.00")


@each_version
def test_pay_from_prepaid_and_on_credit(fps, processor, caller_id, prepaid, postpaid, version):
    for setup in (prepaid, postpaid):
        result = fps.ok(
            "Pay",
            version=version,
            SenderTokenId=setup.sender_token_id,
            CallerReference=ref(),
            CallerDescription="Song: Blue in Green",
            ChargeFeeTo="Recipient",
            **amount("TransactionAmount", "1.50"),
            **({"OverrideIPNURL": "https://shop.example/ipn"} if version == "2010-08-28" else {}),
        )
        assert children(result) == TRANSACTION_RESULT
        assert result.findtext("TransactionStatus") == "Success"
    assert processor.get_prepaid_balance(caller_id, prepaid.instrument_id).available == usd("18.50")
    assert processor.get_debt_balance(caller_id, postpaid.instrument_id).available == usd("1.50")


@each_version
def test_refund_in_part_then_the_rest(fps, processor, caller_id, prepaid, version):
    pay_id = fps.ok(
        "Pay",
        SenderTokenId=prepaid.sender_token_id,
        CallerReference=ref(),
        **amount("TransactionAmount", "3.00"),
    ).findtext("TransactionId")
    partial = fps.ok(
        "Refund",
        version=version,
        TransactionId=pay_id,
        CallerReference=ref(),
        **amount("RefundAmount", "1.00"),
    )
    assert children(partial) == TRANSACTION_RESULT and partial.findtext("TransactionId") != pay_id
    rest = fps.ok("Refund", version=version, TransactionId=pay_id, CallerReference=ref())
    assert rest.findtext("TransactionStatus") == "Success"
    assert processor.get_prepaid_balance(caller_id, prepaid.instrument_id).available == usd("20.00")


@each_version
def test_settle_and_write_off_debt(fps, processor, caller_id, postpaid, version):
    processor.pay(
        caller_id, sender_token_id=postpaid.sender_token_id, amount=usd("9.00"), caller_reference=ref()
    )
    settled = fps.ok(
        "SettleDebt",
        version=version,
        SenderTokenId=postpaid.settlement_token_id,
        CreditInstrumentId=postpaid.instrument_id,
        CallerReference=ref(),
        **amount("SettlementAmount", "5.00"),
    )
    written_off = fps.ok(
        "WriteOffDebt",
        version=version,
        CreditInstrumentId=postpaid.instrument_id,
        CallerReference=ref(),
        **amount("AdjustmentAmount", "1.00"),
    )
    for result in (settled, written_off):
        assert children(result) == TRANSACTION_RESULT
        assert result.findtext("TransactionStatus") == "Success"
    assert processor.get_debt_balance(caller_id, postpaid.instrument_id).available == usd("3.00")


@each_version
def test_balances(fps, processor, caller_id, prepaid, postpaid, version):
    processor.pay(
        caller_id, sender_token_id=postpaid.sender_token_id, amount=usd("4.25"), caller_reference=ref()
    )
    prepaid_balance = fps.ok("GetPrepaidBalance", version=version, PrepaidInstrumentId=prepaid.instrument_id)
    assert children(prepaid_balance) == ["PrepaidBalance"]
    balance = prepaid_balance.find("PrepaidBalance")
    assert children(balance) == ["AvailableBalance", "PendingInBalance"]
    assert children(balance.find("AvailableBalance")) == ["CurrencyCode", "Value"]
    assert balance.findtext("AvailableBalance/Value") == "20.000000"
    assert parse_amount(balance.find("PendingInBalance")) == Amount.zero()

    liability = fps.ok("GetTotalPrepaidLiability", version=version).find("OutstandingPrepaidLiability")
    assert children(liability) == ["OutstandingBalance", "PendingInBalance"]
    assert parse_amount(liability.find("OutstandingBalance")) == usd("20.00")

    debt = fps.ok("GetDebtBalance", version=version, CreditInstrumentId=postpaid.instrument_id).find(
        "DebtBalance"
    )
    assert children(debt) == ["PendingOutBalance", "AvailableBalance"]  # the debt last, for boto
    assert parse_amount(debt.find("AvailableBalance")) == usd("4.25")

    outstanding = fps.ok("GetOutstandingDebtBalance", version=version).find("OutstandingDebt")
    assert children(outstanding) == ["OutstandingBalance", "PendingOutBalance"]
    assert parse_amount(outstanding.find("OutstandingBalance")) == usd("4.25")


@each_version
def test_get_transaction_and_status(fps, processor, caller_id, prepaid, postpaid, version):
    pay = processor.pay(
        caller_id,
        sender_token_id=prepaid.sender_token_id,
        amount=usd("2.00"),
        caller_reference="order-17",
        sender_description="Two songs",
    )
    refund = processor.refund(caller_id, transaction_id=pay.transaction_id, caller_reference=ref())
    transaction = fps.ok("GetTransaction", version=version, TransactionId=pay.transaction_id).find(
        "Transaction"
    )
    assert children(transaction) == [
        "TransactionId", "CallerReference", "SenderDescription", "DateReceived", "DateCompleted",
        "TransactionAmount", "FPSFees", "FPSFeesPaidBy", "SenderTokenId", "PrepaidInstrumentId",
        "FPSOperation", "PaymentMethod", "TransactionStatus", "StatusCode", "StatusMessage", "SenderName",
        "SenderEmail", "CallerName", "RecipientName", "RecipientEmail", "RelatedTransaction", "StatusHistory",
    ]  # fmt: skip
    assert transaction.findtext("PrepaidInstrumentId") == prepaid.instrument_id
    assert transaction.findtext("CallerReference") == "order-17"
    assert parse_amount(transaction.find("TransactionAmount")) == usd("2.00")
    assert parse_amount(transaction.find("FPSFees")) == Amount.zero()
    assert (
        transaction.findtext("FPSOperation") == "Pay" and transaction.findtext("PaymentMethod") == "Prepaid"
    )
    assert transaction.findtext("RelatedTransaction/TransactionId") == refund.transaction_id
    assert transaction.findtext("RelatedTransaction/RelationType") == "Refund"
    assert children(transaction.find("StatusHistory")) == [
        "Date",
        "TransactionStatus",
        "StatusCode",
        "Amount",
    ]
    assert transaction.findtext("DateReceived").endswith("Z")

    credit_pay = processor.pay(
        caller_id, sender_token_id=postpaid.sender_token_id, amount=usd("1.00"), caller_reference=ref()
    )
    credit = fps.ok("GetTransaction", version=version, TransactionId=credit_pay.transaction_id)
    assert credit.findtext("Transaction/CreditInstrumentId") == postpaid.instrument_id
    assert credit.find("Transaction/PrepaidInstrumentId") is None

    status = fps.ok("GetTransactionStatus", version=version, TransactionId=pay.transaction_id)
    assert children(status) == [
        "TransactionId",
        "TransactionStatus",
        "CallerReference",
        "StatusCode",
        "StatusMessage",
    ]
    assert status.findtext("TransactionStatus") == "Success" and status.findtext("StatusCode") == "Success"


@each_version
def test_account_activity_pages(fps, processor, caller_id, prepaid, clock, version):
    start = clock() - timedelta(minutes=1)
    for cents in ("1.00", "2.00"):
        processor.pay(
            caller_id, sender_token_id=prepaid.sender_token_id, amount=usd(cents), caller_reference=ref()
        )
    first = fps.ok(
        "GetAccountActivity",
        version=version,
        StartDate=wire_datetime(start),
        MaxBatchSize="2",
        SortOrderByDate="Ascending",
    )
    assert first.findtext("BatchSize") == "2"
    assert [t.findtext("FPSOperation") for t in first.findall("Transaction")] == ["FundPrepaid", "Pay"]
    next_start = first.findtext("StartTimeForNextTransaction")
    assert next_start is not None
    second = fps.ok("GetAccountActivity", version=version, StartDate=next_start, SortOrderByDate="Ascending")
    assert second.findtext("BatchSize") == "1" and second.find("StartTimeForNextTransaction") is None
    transaction = second.find("Transaction")
    assert parse_amount(transaction.find("TransactionAmount")) == usd("2.00")
    assert [part.findtext("Role") for part in transaction.findall("TransactionPart")] == [
        "Sender",
        "Recipient",
    ]
    assert transaction.findtext("TransactionPart/InstrumentId") == prepaid.instrument_id
    assert parse_amount(transaction.find("Balance")) > Amount.zero()

    only_funding = fps.ok("GetAccountActivity", StartDate=wire_datetime(start), FPSOperation="FundPrepaid")
    assert only_funding.findtext("BatchSize") == "1"
    assert parse_amount(only_funding.find("Transaction/FPSFees")) == usd("0.88")  # 2.9% + 0.30 of 20.00
    as_sender = fps.ok("GetAccountActivity", StartDate=wire_datetime(start), **{"Role.1": "Sender"})
    assert as_sender.findtext("BatchSize") == "0"


@each_version
def test_tokens_and_cancel(fps, processor, caller_id, prepaid, version):
    tokens = fps.ok("GetTokens", version=version, TokenStatus="Active")
    assert children(tokens) == ["Token", "Token"]
    assert children(tokens.find("Token")) == [
        "TokenId", "TokenStatus", "DateInstalled", "CallerReference", "TokenType"
    ]  # fmt: skip
    sender = processor.get_token_by_caller(caller_id, token_id=prepaid.sender_token_id)
    by_reference = fps.ok("GetTokenByCaller", version=version, CallerReference=sender.caller_reference)
    assert by_reference.findtext("Token/TokenId") == prepaid.sender_token_id
    by_id = fps.ok("GetTokenByCaller", version=version, TokenId=prepaid.sender_token_id)
    assert by_id.findtext("Token/CallerReference") == sender.caller_reference

    assert (
        fps.ok("CancelToken", version=version, TokenId=prepaid.sender_token_id, ReasonText="Closed") is None
    )
    assert processor.get_token_by_caller(caller_id, token_id=prepaid.sender_token_id).status == "Inactive"
    inactive = fps.ok("GetTokens", version=version, TokenStatus="Inactive")
    assert [token.findtext("TokenId") for token in inactive.findall("Token")] == [prepaid.sender_token_id]


def test_post_form_encoded_signed_like_php(fps, processor, caller_id, prepaid):
    """The PHP SDKs POST the form and sign verb POST with the host without its port."""
    params = fps.signed(
        "Pay",
        {
            "SenderTokenId": prepaid.sender_token_id,
            "CallerReference": "a b~c+d",
            **amount("TransactionAmount", "0.99"),
        },
        method="POST",
    )
    response = fps.send(params, method="POST")
    result = expect_success(response, "Pay", "2010-08-28")
    assert result.findtext("TransactionStatus") == "Success"
    assert (
        processor.get_transaction(caller_id, result.findtext("TransactionId")).caller_reference == "a b~c+d"
    )


def test_host_with_port_and_verb_post_on_a_get(fps, prepaid):
    """A client that signs `host:port` (PHP's CBUI helper) and verb POST is accepted on a GET too."""
    params = fps.signed(
        "GetPrepaidBalance",
        {"PrepaidInstrumentId": prepaid.instrument_id},
        host=fps.base_url[7:],
        method="POST",
    )
    expect_success(fps.send(params, method="GET"), "GetPrepaidBalance", "2010-08-28")


@pytest.mark.parametrize("backend", ["postgres"])
@pytest.mark.postgres
def test_pay_and_replay_on_postgres(fps, processor, caller_id, prepaid):
    params = {
        "SenderTokenId": prepaid.sender_token_id,
        "CallerReference": "replayed",
        **amount("TransactionAmount", "1.00"),
    }
    first = fps.ok("Pay", **params)
    again = fps.ok("Pay", **params)
    assert again.findtext("TransactionId") == first.findtext("TransactionId")
    assert processor.get_prepaid_balance(caller_id, prepaid.instrument_id).available == usd("19.00")
