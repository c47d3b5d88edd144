"""The shared wire module: catalogue coverage, decoding limits, parsing of every document shape."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fpscore.errors import InsufficientBalance, InvalidParams
from fpscore.money import Amount
from fpscore.processor.api import HANDLERS
from fpscore.wire import ACTIONS, decode_params, parse_amount, parse_error, parse_response, render_error


def test_every_action_is_handled():
    assert set(HANDLERS) | {"VerifySignature"} == set(ACTIONS)


def test_decoding_limits():
    assert len(decode_params("&".join(f"p{i}=v" for i in range(100)))) == 100
    with pytest.raises(InvalidParams):
        decode_params("&".join(f"p{i}=v" for i in range(101)))
    assert decode_params("v=" + "%C3%A9" * 2048)["v"] == "é" * 2048  # 4096 bytes
    with pytest.raises(InvalidParams):
        decode_params("v=" + "%C3%A9" * 2048 + "x")
    assert decode_params("a=1+2&b=%7E&c") == {"a": "1 2", "b": "~", "c": ""}


def test_parameter_kinds():
    kwargs = ACTIONS["GetAccountActivity"].parse(
        "2010-08-28",
        {
            "StartDate": "2026-11-01",
            "Role.2": "Recipient",
            "Role.1": "Caller",
            "SortOrderByDate": "Ascending",
        },
    )
    assert kwargs == {
        "start": datetime(2026, 11, 1, tzinfo=UTC),
        "roles": ("Caller", "Recipient"),
        "descending": False,
    }
    pay = ACTIONS["Pay"].parse(
        "2008-09-17", {"SenderTokenId": "T", "CallerReference": "r", "TransactionAmount.Value": "25"}
    )
    assert pay == {"sender_token_id": "T", "caller_reference": "r", "amount": Amount(2500)}


def test_parse_response_in_either_namespace_or_none():
    for namespace in ('xmlns="http://fps.amazonaws.com/doc/2008-09-17/"', ""):
        body = (
            f'<?xml version="1.0"?>\n<GetDebtBalanceResponse {namespace}><GetDebtBalanceResult><DebtBalance>'
            "<AvailableBalance><CurrencyCode>USD</CurrencyCode><Value>2.500000</Value></AvailableBalance>"
            "</DebtBalance></GetDebtBalanceResult><ResponseMetadata><RequestId>r:0</RequestId></ResponseMetadata>"
            "</GetDebtBalanceResponse>"
        ).encode()
        action, result, request_id = parse_response(body)
        assert (action, request_id) == ("GetDebtBalance", "r:0")
        assert parse_amount(result.find("DebtBalance/AvailableBalance")) == Amount(250)


def test_parse_error_shapes():
    live = render_error(InsufficientBalance("short\nby 1.00 & more"), "rid")
    assert live.count(b"\n") == 1 and b"short by 1.00 &amp; more" in live
    error = parse_error(live, 400)
    assert (type(error), error.message, error.request_id, error.http_status) == (
        InsufficientBalance,
        "short by 1.00 & more",
        "rid",
        400,
    )
    mock = (
        b'<ErrorResponse xmlns="http://fps.amazonaws.com/doc/2010-08-28/"><Error><Type>Sender</Type>'
        b"<Code>InvalidParams</Code><Message>m</Message><Detail/></Error><RequestId>r2</RequestId></ErrorResponse>"
    )
    assert (parse_error(mock).code, parse_error(mock).request_id) == ("InvalidParams", "r2")
    assert (
        parse_error(b"<Response><Errors><Error><Code>NewCode</Code></Error></Errors></Response>").code
        == "NewCode"
    )
    with pytest.raises(InsufficientBalance):
        parse_response(live)
    with pytest.raises(ValueError):
        parse_error(b"<PayResponse/>")
    with pytest.raises(ValueError):
        parse_response(b"<Other/>")


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><Response>&b;</Response>',
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response>&x;</Response>',
        b"<!DOCTYPE Response><Response/>",
        b"not xml",
    ],
)
def test_hardened_parsing(body):
    with pytest.raises(ValueError):
        parse_response(body)
