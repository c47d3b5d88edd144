"""Response documents byte for byte, form decoding (as parse_qsl reads a form, and the first problem of a
form reported), the API's log line."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl

import pytest

from fpscore.errors import InsufficientBalance, InvalidParams
from fpscore.money import Amount
from fpscore.processor.api import log_summary
from fpscore.wire import decode_params, parse_response, render_error, render_success
from fpscore.wire.catalogue import MAX_PARAMS, ParameterError

HOSTILE = "a&b<c>d\"e'f ]]> \x00\x0b\ud800\ufffe é😀\t\n"


def test_success_document_byte_for_byte():
    moment = datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=timezone(timedelta(hours=3)))
    fields = [
        ("TransactionId", "T1"),
        ("Skipped", None),
        ("Nested", [("Text", HOSTILE), ("Count", 17), ("Empty", ""), ("Amount", Amount(12345))]),
        ("Date", moment),
        ("NoChildren", []),
    ]
    assert (
        render_success("Pay", "2010-08-28", fields, "rid:0")
        == (
            b'<?xml version="1.0"?>\n<PayResponse xmlns="http://fps.amazonaws.com/doc/2010-08-28/"><PayResult>'
            b"<TransactionId>T1</TransactionId><Nested><Text>a&amp;b&lt;c&gt;d\"e'f ]]&gt; "
            + ("\ufffd" * 4 + " é😀\t\n").encode()  # what XML cannot carry is masked
            + b"</Text><Count>17</Count><Empty></Empty><Amount>"
            b"<CurrencyCode>USD</CurrencyCode><Value>123.450000</Value></Amount></Nested>"
            b"<Date>2026-01-02T00:04:05.006789Z</Date><NoChildren></NoChildren></PayResult>"
            b"<ResponseMetadata><RequestId>rid:0</RequestId></ResponseMetadata></PayResponse>"
        )
    )
    action, result, request_id = parse_response(render_success("Pay", "2010-08-28", fields, "rid:0"))
    assert (action, request_id, result.findtext("Nested/Count")) == ("Pay", "rid:0", "17")


def test_success_without_result_and_error_document():
    assert render_success("CancelToken", "2008-09-17", None, "r") == (
        b'<?xml version="1.0"?>\n<CancelTokenResponse xmlns="http://fps.amazonaws.com/doc/2008-09-17/">'
        b"<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></CancelTokenResponse>"
    )
    assert render_error(InsufficientBalance("short\n by <1.00> &  more"), "r<") == (
        b'<?xml version="1.0"?>\n<Response><Errors><Error><Code>InsufficientBalance</Code>'
        b"<Message>short by &lt;1.00&gt; &amp; more</Message></Error></Errors><RequestID>r&lt;</RequestID>"
        b"</Response>"
    )


def test_decoding_reads_a_form_as_parse_qsl_does():
    pieces = ["a", "B", "=", "&", "+", "%", "2", "0", "C3", "A9", "%zz", "%C3", "%A9", "é", "%2B", "%3D", "~"]
    draw = random.Random(7)
    for _ in range(20_000):
        form = "".join(draw.choice(pieces) for _ in range(draw.randint(0, 12)))
        try:
            expected = dict(parse_qsl(form, keep_blank_values=True, errors="strict"))
        except UnicodeDecodeError:
            expected = None
        try:
            decoded = decode_params(form)
        except ParameterError:  # a repeated name: parse_qsl keeps both
            continue
        except InvalidParams:
            decoded = None
        assert decoded == expected, form


def test_decoding_counts_every_piece_against_the_limit():
    assert len(decode_params("&".join(f"p{i}=v" for i in range(MAX_PARAMS)))) == MAX_PARAMS
    with pytest.raises(InvalidParams, match="at most"):
        decode_params("a=1" + "&" * MAX_PARAMS)  # empty pieces count, as parse_qsl's max_num_fields does


@pytest.mark.parametrize(
    ("form", "name", "problem"),
    [
        ("a=1&b=%01&a=2", "b", "contains control characters"),  # the first problem, not the repeat
        ("a=1&b=2&a=3&c=%01", "a", "is given more than once"),
        ("a=1&b%0A=2", "b\n", "contains control characters"),
        ("a=" + "x" * 4097 + "&b=%01", "a", "is longer than 4096 bytes"),
    ],
)
def test_decoding_reports_the_first_problem_of_a_form(form, name, problem):
    with pytest.raises(ParameterError) as refused:
        decode_params(form)
    assert (refused.value.name, refused.value.problem) == (name, problem)


def test_decoding_keeps_long_values_within_the_byte_limit_and_line_breaks_where_allowed():
    assert decode_params("a=" + "x" * 4096) == {"a": "x" * 4096}
    assert decode_params("reason=one%0D%0Atwo%09", line_breaks=True) == {"reason": "one\r\ntwo\t"}
    with pytest.raises(ParameterError):
        decode_params("reason=one%0D%0Atwo")
    with pytest.raises(ParameterError):
        decode_params("na%0Ame=x", line_breaks=True)  # names never hold line breaks


def test_log_summary_is_the_json_line_of_json_dumps(caplog):
    answer = {
        "request_id": "r:0",
        "action": "Pay",
        "caller_reference": HOSTILE + "\u2028</script>\\",
        "http_status": 200,
        "error_code": None,
        "latency_ms": 12,
        "received_at": datetime.now(UTC),  # not logged
    }
    with caplog.at_level(logging.INFO, logger="fpscore.processor.api"):
        log_summary(answer)
    [record] = caplog.records
    expected = {name: answer[name] for name in list(answer)[:6]}
    assert record.getMessage() == json.dumps(expected, separators=(",", ":"))
