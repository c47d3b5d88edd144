"""The §19 request that boto 2.49 sent, replayed byte for byte against a server with a fixed clock."""

from __future__ import annotations

import http.client
from datetime import UTC, datetime, timedelta

from fpshttp import api_requests, expect_error, expect_success
from helpers import open_prepaid, serve, usd
from sqlalchemy import update

from fpscore.processor.app import make_app
from fpscore.processor.schema import Token

BOTO_PATH = (
    "/?AWSAccessKeyId=AKIDEXAMPLE&Action=Pay&CallerReference=ref1&SenderTokenId=TOK&SignatureMethod=HmacSHA256"
    "&SignatureVersion=2&Timestamp=2026-11-27T20%3A50%3A47Z&TransactionAmount.CurrencyCode=USD"
    "&TransactionAmount.Value=1.50&Version=2010-08-28&Signature=1QuiZ1hOnFAX2LnU23E9pL81j5vybu7AIcfYupam04E%3D"
)


def _boto_get(base_url: str, host_header: str) -> tuple[int, bytes]:
    """The request line and headers boto sent: `Host` without the port, an empty body."""
    connection = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=10)
    connection.putrequest("GET", BOTO_PATH, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", host_header)
    connection.putheader("User-Agent", "Boto/2.49.0 Python/2.7.18 Linux/6.1.0")
    connection.putheader("Content-Length", "0")
    connection.endheaders()
    response = connection.getresponse()
    status, body = response.status, response.read()
    connection.close()
    return status, body


class _Response:
    """Just enough of requests.Response for the shared checks."""

    def __init__(self, status: int, body: bytes):
        self.status_code, self.content = status, body
        self.headers = {"Content-Type": "text/xml; charset=utf-8"}


def test_boto_pay_replayed_literally(processor, engine, buyer_id, clock):
    clock.now = datetime(2026, 11, 27, 20, 51, 2, tzinfo=UTC)
    caller_id = processor.ensure_caller("AKIDEXAMPLE", "secretkey", "Boto Shop", "boto@shop.example")
    setup = open_prepaid(processor, caller_id, buyer_id, fund="5.00")
    with engine.begin() as conn:  # the vector names its sender token TOK
        tokens = Token.__table__
        conn.execute(update(tokens).where(tokens.c.id == setup.sender_token_id).values(id="TOK"))
    base_url, stop = serve(make_app(processor))
    try:
        result = expect_success(_Response(*_boto_get(base_url, "127.0.0.1")), "Pay", "2010-08-28")
        assert result.findtext("TransactionStatus") == "Success"
        assert processor.get_prepaid_balance(caller_id, setup.instrument_id).available == usd("3.50")

        # The same request with the port in Host (as a proxy might pass it) is the same request: replayed.
        again = expect_success(_Response(*_boto_get(base_url, base_url[7:])), "Pay", "2010-08-28")
        assert again.findtext("TransactionId") == result.findtext("TransactionId")
        assert processor.get_prepaid_balance(caller_id, setup.instrument_id).available == usd("3.50")

        expect_error(
            _Response(*_boto_get(base_url, "fps.sandbox.amazonaws.com")), "SignatureDoesNotMatch", 403
        )
        clock.advance(timedelta(minutes=15))
        expect_error(_Response(*_boto_get(base_url, "127.0.0.1")), "RequestExpired", 403)
    finally:
        stop()
    rows = api_requests(engine)
    # A request refused by authentication records the key it claimed, not a caller.
    recorded = sorted((row["error_code"] or "", row["caller_id"] or 0, row["access_key_id"]) for row in rows)
    assert recorded == [
        ("", caller_id, "AKIDEXAMPLE"),
        ("", caller_id, "AKIDEXAMPLE"),
        ("RequestExpired", 0, "AKIDEXAMPLE"),
        ("SignatureDoesNotMatch", 0, "AKIDEXAMPLE"),
    ]
    assert {(row["action"], row["caller_reference"]) for row in rows} == {("Pay", "ref1")}
    assert {row["transaction_id"] for row in rows if row["http_status"] == 200} == {
        result.findtext("TransactionId")
    }
    assert all("1QuiZ1hOnFAX2LnU23E9pL81j5vybu7AIcfYupam04E" not in str(row) for row in rows)
