"""Every error code reachable over HTTP: its status, the compact one-line body, and nothing moved."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from fpshttp import (
    CALLER_KEY,
    CALLER_SECRET,
    FpsClient,
    amount,
    expect_error,
    expect_success,
    ledger_state,
)
from helpers import open_prepaid, ref, serve, usd

from fpscore import errors
from fpscore.merchant.client import FpsClient as MerchantClient
from fpscore.processor import InstrumentSetup, Processor
from fpscore.processor.app import make_app
from fpscore.signing import sign_query, utc_timestamp
from fpscore.wire import render_error


@dataclass
class World:
    processor: Processor
    caller_id: int
    buyer_id: int
    prepaid: InstrumentSetup  # balance 20.00, limit 25.00
    postpaid: InstrumentSetup  # no debt, limit 25.00, 10.00 a purchase

    def pay(self, value: str = "1.00", reference: str | None = None) -> str:
        return self.processor.pay(
            self.caller_id,
            sender_token_id=self.prepaid.sender_token_id,
            amount=usd(value),
            caller_reference=reference or ref(),
        ).transaction_id


@pytest.fixture
def world(processor, caller_id, buyer_id, prepaid, postpaid) -> World:
    return World(processor, caller_id, buyer_id, prepaid, postpaid)


def _pay(token: str, value: str, reference: str | None = None) -> dict[str, str]:
    return {
        "SenderTokenId": token,
        "CallerReference": reference or ref(),
        **amount("TransactionAmount", value),
    }


def _fund(w: World, value: str, instrument: str | None = None) -> tuple[str, dict[str, str]]:
    return "FundPrepaid", {
        "SenderTokenId": w.prepaid.funding_token_id,
        "PrepaidInstrumentId": instrument or w.prepaid.instrument_id,
        "CallerReference": ref(),
        **amount("FundingAmount", value),
    }


def _refund(transaction_id: str, value: str | None = None) -> tuple[str, dict[str, str]]:
    refund_amount = amount("RefundAmount", value) if value else {}
    return "Refund", {"TransactionId": transaction_id, "CallerReference": ref(), **refund_amount}


def _duplicate(w: World) -> tuple[str, dict[str, str]]:
    w.pay("1.00", reference="order-1")
    return "Pay", _pay(w.prepaid.sender_token_id, "2.00", reference="order-1")


def _cancelled(w: World) -> tuple[str, dict[str, str]]:
    w.processor.cancel_token(w.caller_id, w.prepaid.sender_token_id)
    return "Pay", _pay(w.prepaid.sender_token_id, "1.00")


def _fully_refunded(w: World) -> tuple[str, dict[str, str]]:
    pay_id = w.pay()
    w.processor.refund(w.caller_id, transaction_id=pay_id, caller_reference=ref())
    return _refund(pay_id)


def _funding_refund(w: World) -> tuple[str, dict[str, str]]:
    funding = w.processor.fund_prepaid(
        w.caller_id,
        sender_token_id=w.prepaid.funding_token_id,
        prepaid_instrument_id=w.prepaid.instrument_id,
        amount=usd("1.00"),
        caller_reference=ref(),
    )
    return _refund(funding.transaction_id)


def _other_callers_instrument(w: World) -> tuple[str, dict[str, str]]:
    other = w.processor.ensure_caller("AKIDOTHER", "other-secret", "Other Shop", "other@shop.example")
    setup = open_prepaid(w.processor, other, w.buyer_id)
    return "GetPrepaidBalance", {"PrepaidInstrumentId": setup.instrument_id}


def _not_yet_valid(w: World) -> tuple[str, dict[str, str]]:
    setup = w.processor.setup_prepaid(
        w.caller_id,
        w.buyer_id,
        caller_reference_sender=ref(),
        caller_reference_funding=ref(),
        funding_limit=usd("10.00"),
        validity_start=w.processor.clock() + timedelta(days=1),
    )
    return "FundPrepaid", {
        "SenderTokenId": setup.funding_token_id,
        "PrepaidInstrumentId": setup.instrument_id,
        "CallerReference": ref(),
        **amount("FundingAmount", "1.00"),
    }


def _activity_backwards(w: World) -> tuple[str, dict[str, str]]:
    now = w.processor.clock()
    return "GetAccountActivity", {
        "StartDate": utc_timestamp(now - timedelta(hours=1)),
        "EndDate": utc_timestamp(now - timedelta(hours=2)),
    }


BUSINESS_ERRORS: dict[str, tuple[str, Callable[[World], tuple[str, dict[str, str]]]]] = {
    "prepaid short": ("InsufficientBalance", lambda w: ("Pay", _pay(w.prepaid.sender_token_id, "20.01"))),
    "above one purchase": ("AmountOutOfRange", lambda w: ("Pay", _pay(w.postpaid.sender_token_id, "10.01"))),
    "zero amount": ("AmountOutOfRange", lambda w: ("Pay", _pay(w.prepaid.sender_token_id, "0.00"))),
    "funding limit": ("PrepaidFundingLimitExceeded", lambda w: _fund(w, "5.01")),
    "funding wrong instrument": ("IncompatibleTokens", lambda w: _fund(w, "1.00", w.postpaid.instrument_id)),
    "settle above debt": (
        "SettleAmountGreaterThanDebt",
        lambda w: (
            "SettleDebt",
            {
                "SenderTokenId": w.postpaid.settlement_token_id,
                "CreditInstrumentId": w.postpaid.instrument_id,
                "CallerReference": ref(),
                **amount("SettlementAmount", "1.00"),
            },
        ),
    ),
    "write off above debt": (
        "SettleAmountGreaterThanDebt",
        lambda w: (
            "WriteOffDebt",
            {
                "CreditInstrumentId": w.postpaid.instrument_id,
                "CallerReference": ref(),
                **amount("AdjustmentAmount", "1.00"),
            },
        ),
    ),
    "duplicate reference": ("DuplicateRequest", _duplicate),
    "unknown token": ("InvalidTokenId_Sender", lambda w: ("Pay", _pay("NOSUCHTOKEN", "1.00"))),
    "funding token pays": ("InvalidTokenType", lambda w: ("Pay", _pay(w.prepaid.funding_token_id, "1.00"))),
    "cancelled token": ("TokenNotActive_Sender", _cancelled),
    "not yet valid": ("InactiveInstrument", _not_yet_valid),
    "unknown transaction": (
        "InvalidTransactionId",
        lambda w: ("GetTransaction", {"TransactionId": "NOSUCH"}),
    ),
    "refund a funding": ("TransactionTypeNotRefundable", _funding_refund),
    "refund too much": ("RefundAmountExceeded", lambda w: _refund(w.pay("1.00"), "1.01")),
    "refund twice": ("TransactionFullyRefundedAlready", _fully_refunded),
    "other caller's instrument": ("InstrumentAccessDenied", _other_callers_instrument),
    "wrong kind of instrument": (
        "InvalidParams",
        lambda w: ("GetPrepaidBalance", {"PrepaidInstrumentId": w.postpaid.instrument_id}),
    ),
    "cancel unknown token": ("InvalidTokenId", lambda w: ("CancelToken", {"TokenId": "NOSUCHTOKEN"})),
    "unknown token reference": (
        "InvalidCallerReference",
        lambda w: ("GetTokenByCaller", {"CallerReference": "never-used"}),
    ),
    "activity backwards": ("InvalidDateRange", _activity_backwards),
}


@pytest.mark.parametrize("case", BUSINESS_ERRORS)
def test_business_error(fps, world, engine, case):
    code, build = BUSINESS_ERRORS[case]
    action, params = build(world)
    before = ledger_state(engine)
    expect_error(fps.call(action, **params), code, 400)
    assert ledger_state(engine) == before


def test_instrument_expired(fps, processor, caller_id, buyer_id, clock, engine):
    setup = processor.setup_prepaid(
        caller_id,
        buyer_id,
        caller_reference_sender=ref(),
        caller_reference_funding=ref(),
        funding_limit=usd("10.00"),
        validity_expiry=clock() + timedelta(days=1),
    )
    clock.advance(timedelta(days=2))  # the client signs its Timestamp with the same clock
    before = ledger_state(engine)
    action, params = _fund(World(processor, caller_id, buyer_id, setup, setup), "1.00")
    expect_error(fps.call(action, **params), "InstrumentExpired", 400)
    assert ledger_state(engine) == before


def _signed_pay(fps, prepaid, **overrides: str) -> dict[str, str]:
    return fps.signed("Pay", {**_pay(prepaid.sender_token_id, "1.00"), **overrides})


def _raw_get(fps, query: str):
    return fps.session.get(f"{fps.base_url}/?{query}", timeout=10)


def test_authentication_errors(fps, prepaid, engine, clock):
    before = ledger_state(engine)
    params = _signed_pay(fps, prepaid)
    unknown_key = fps.signed(
        "Pay", {"AWSAccessKeyId": "AKIDUNKNOWN", **_pay(prepaid.sender_token_id, "1.00")}
    )
    expect_error(fps.send(unknown_key), "InvalidClientTokenId", 403)

    wrong_secret = fps.signed("Pay", _pay(prepaid.sender_token_id, "1.00"), secret="not-the-secret")
    expect_error(fps.send(wrong_secret), "SignatureDoesNotMatch", 403)
    expect_error(fps.send({**params, "TransactionAmount.Value": "1.01"}), "SignatureDoesNotMatch", 403)
    other_host = fps.signed("Pay", _pay(prepaid.sender_token_id, "1.00"), host="fps.example.com")
    expect_error(fps.send(other_host), "SignatureDoesNotMatch", 403)
    expect_error(fps.send({**params, "Signature": "%%%"}), "SignatureDoesNotMatch", 403)

    clock.advance(timedelta(minutes=16))
    message = expect_error(fps.send(params), "RequestExpired", 403)
    assert params["Timestamp"] in message
    clock.now = None
    expires = utc_timestamp(clock() - timedelta(seconds=1))
    stale = fps.signed("Pay", {**_pay(prepaid.sender_token_id, "1.00"), "Expires": expires})
    expect_error(fps.send(stale), "RequestExpired", 403)
    assert ledger_state(engine) == before


def test_public_host_is_accepted_when_configured(processor, caller_id, prepaid):
    url, stop = serve(make_app(processor, public_host="fps.example.com"))
    try:
        client = FpsClient(url, CALLER_KEY, CALLER_SECRET)
        params = client.signed(
            "GetPrepaidBalance", {"PrepaidInstrumentId": prepaid.instrument_id}, host="fps.example.com"
        )
        expect_success(client.send(params), "GetPrepaidBalance", "2010-08-28")
    finally:
        stop()


REQUEST_ERRORS: dict[str, tuple[str, Callable[..., dict[str, str]]]] = {
    "missing required parameter": (
        "InvalidParams",
        lambda fps, w: fps.signed("Pay", {"CallerReference": ref(), **amount("TransactionAmount", "1.00")}),
    ),
    "missing amount": (
        "InvalidParams",
        lambda fps, w: fps.signed(
            "Pay", {"SenderTokenId": w.prepaid.sender_token_id, "CallerReference": ref()}
        ),
    ),
    "malformed amount": (
        "InvalidParams",
        lambda fps, w: _signed_pay(fps, w.prepaid, **{"TransactionAmount.Value": "1.5.0"}),
    ),
    "three decimals": (
        "InvalidParams",
        lambda fps, w: _signed_pay(fps, w.prepaid, **{"TransactionAmount.Value": "1.001"}),
    ),
    "other currency": (
        "InvalidParams",
        lambda fps, w: _signed_pay(fps, w.prepaid, **{"TransactionAmount.CurrencyCode": "EUR"}),
    ),
    "reference too long": (
        "InvalidParams",
        lambda fps, w: _signed_pay(fps, w.prepaid, CallerReference="r" * 129),
    ),
    "description too long": (
        "InvalidParams",
        lambda fps, w: _signed_pay(fps, w.prepaid, CallerDescription="d" * 161),
    ),
    "value over 4 KiB": ("InvalidParams", lambda fps, w: _signed_pay(fps, w.prepaid, Note="n" * 4097)),
    "control character": (
        "InvalidParams",
        lambda fps, w: _signed_pay(fps, w.prepaid, CallerDescription="a\x01b"),
    ),
    "newline": ("InvalidParams", lambda fps, w: _signed_pay(fps, w.prepaid, CallerDescription="a\nb")),
    "too many parameters": (
        "InvalidParams",
        lambda fps, w: _signed_pay(fps, w.prepaid, **{f"Extra{i}": "x" for i in range(95)}),
    ),
    "bad enumeration": ("InvalidParams", lambda fps, w: _signed_pay(fps, w.prepaid, ChargeFeeTo="Sender")),
    "marketplace": ("InvalidParams", lambda fps, w: _signed_pay(fps, w.prepaid, RecipientTokenId="TOKEN")),
    "OverrideIPNURL in 2008": (
        "InvalidParams",
        lambda fps, w: fps.signed(
            "Pay",
            {**_pay(w.prepaid.sender_token_id, "1.00"), "OverrideIPNURL": "https://shop.example/ipn"},
            version="2008-09-17",
        ),
    ),
    "bad OverrideIPNURL": (
        "InvalidParams",
        lambda fps, w: _signed_pay(fps, w.prepaid, OverrideIPNURL="ftp://x"),
    ),
    "bad MaxBatchSize": (
        "InvalidParams",
        lambda fps, w: fps.signed("GetAccountActivity", {"StartDate": "2026-01-01", "MaxBatchSize": "ten"}),
    ),
    "bad StartDate": (
        "InvalidParams",
        lambda fps, w: fps.signed("GetAccountActivity", {"StartDate": "yesterday"}),
    ),
    "unsupported version": (
        "InvalidParams",
        lambda fps, w: fps.signed("GetTotalPrepaidLiability", {}, version="2009-01-09"),
    ),
    "signature version 1": (
        "InvalidParams",
        lambda fps, w: _signed_pay(fps, w.prepaid, SignatureVersion="1"),
    ),
    "unknown signature method": (
        "InvalidParams",
        lambda fps, w: {**_signed_pay(fps, w.prepaid), "SignatureMethod": "HmacMD5"},
    ),
    "unknown action": ("InvalidAction", lambda fps, w: fps.signed("GetTokenUsage", {"TokenId": "T"})),
    "no action": ("InvalidAction", lambda fps, w: {"Version": "2010-08-28"}),
    "no access key": (
        "MissingParameter",
        lambda fps, w: {k: v for k, v in _signed_pay(fps, w.prepaid).items() if k != "AWSAccessKeyId"},
    ),
    "no signature": (
        "MissingParameter",
        lambda fps, w: {k: v for k, v in _signed_pay(fps, w.prepaid).items() if k != "Signature"},
    ),
    "no timestamp": (
        "MissingParameter",
        lambda fps, w: sign_query(
            {
                "Action": "GetTotalPrepaidLiability",
                "Version": "2010-08-28",
                "AWSAccessKeyId": CALLER_KEY,
                "SignatureVersion": "2",
            },
            CALLER_SECRET,
            host="127.0.0.1",
        ),
    ),
    "malformed timestamp": (
        "InvalidParameterValue",
        lambda fps, w: _signed_pay(fps, w.prepaid, Timestamp="27/11/2026"),
    ),
}


@pytest.mark.parametrize("case", REQUEST_ERRORS)
def test_request_error(fps, world, engine, case):
    code, build = REQUEST_ERRORS[case]
    params = build(fps, world)
    before = ledger_state(engine)
    expect_error(fps.send(params), code, 400)
    assert ledger_state(engine) == before


def test_malformed_forms(fps, prepaid, engine):
    before = ledger_state(engine)
    params = _signed_pay(fps, prepaid)
    repeated = urlencode([*params.items(), ("CallerReference", "again")])
    assert "more than once" in expect_error(_raw_get(fps, repeated), "InvalidParams", 400)
    expect_error(_raw_get(fps, urlencode(params) + "&Note=%FF"), "InvalidParams", 400)  # not UTF-8
    as_json = fps.session.post(f"{fps.base_url}/", json=params, timeout=10)
    expect_error(as_json, "InvalidParams", 400)
    assert ledger_state(engine) == before


def test_body_over_64_kib_is_refused_unread(fps):
    connection = http.client.HTTPConnection(fps.base_url.removeprefix("http://"), timeout=10)
    connection.putrequest("POST", "/")
    connection.putheader("Content-Type", "application/x-www-form-urlencoded")
    connection.putheader("Content-Length", str(64 * 1024 + 1))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 400
    assert b"<Code>InvalidParams</Code>" in response.read()
    connection.close()


def test_other_methods_and_paths(fps):
    response = fps.session.put(f"{fps.base_url}/", data="x", timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "GET, POST"
    assert fps.session.get(f"{fps.base_url}/nowhere", timeout=10).status_code == 404
    assert fps.session.get(f"{fps.base_url}/certs/999999/PKICert.pem", timeout=10).status_code == 404


def test_unexpected_failure_is_internal_error(fps, processor, engine, caplog, monkeypatch):
    def fail(caller_id: int) -> None:
        raise RuntimeError("connection to db-7 lost; password=hunter2")

    monkeypatch.setattr(processor, "get_total_prepaid_liability", fail)
    with caplog.at_level(logging.INFO, logger="fpscore.processor.api"):
        response = fps.call("GetTotalPrepaidLiability")
    message = expect_error(response, "InternalError", 503)
    assert message == "We encountered an internal error. Please try again."
    assert b"hunter2" not in response.content and b"Traceback" not in response.content
    failure = next(record for record in caplog.records if record.exc_info)
    assert "hunter2" in str(failure.exc_info[1])  # the traceback stays in the server's log


def test_the_merchant_client_resends_by_itself_exactly_the_errors_marked_retriable():
    """errors.py is the one source: every code marked retriable is resent, up to the client's attempts,
    every other code ends the call at its first answer."""
    answering: list[type[errors.FpsError]] = []
    received: list[str] = []

    def app(environ, start_response):  # the processor's error document for the code under test
        error = answering[0]("refused for the test")
        received.append(error.code)
        status = f"{error.http_status} {http.client.responses[error.http_status]}"
        start_response(status, [("Content-Type", "text/xml")])
        return [render_error(error, "00000000-0000-4000-8000-000000000000")]

    families = (errors.RequestError, errors.BusinessError, errors.AuthError, errors.ServiceError)
    codes = [cls.code for family in families for cls in family.__subclasses__()]
    url, stop = serve(app)
    client = MerchantClient(url, CALLER_KEY, CALLER_SECRET, max_attempts=3, sleep=lambda _s: None)
    try:
        for code in codes:
            answering[:] = [errors.error_class(code)]
            received.clear()
            with pytest.raises(errors.FpsError) as raised:
                client.call("Pay", {"CallerReference": ref()}, actor="test")
            assert raised.value.code == code
            assert received == [code] * (3 if answering[0].retriable else 1), code
    finally:
        stop()
    assert not errors.InsufficientBalance.retriable and not errors.PrepaidFundingLimitExceeded.retriable
    assert {code for code in codes if errors.error_class(code).retriable} == {
        "InternalError", "Throttling", "ConcurrentModification", "ServiceUnavailable"
    }  # fmt: skip
