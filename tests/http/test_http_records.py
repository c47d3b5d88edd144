"""Every answer is recorded in api_requests and logged as one JSON line, with no secret or Signature."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fpshttp import (
    BOTH_BACKENDS,
    CALLER_SECRET,
    amount,
    api_requests,
    expect_error,
    expect_success,
    ledger_state,
    refusing_records,
)
from helpers import ref

from fpscore.wire import parse_error, parse_response


def elapsed_ms(response) -> float:
    """How long the client waited for the answer's headers (the server's latency cannot exceed it), with
    a millisecond for the server's rounding."""
    return response.elapsed.total_seconds() * 1000 + 1


def _request_id(response) -> str:
    if response.status_code == 200:
        return parse_response(response.content)[2]
    return parse_error(response.content).request_id


@BOTH_BACKENDS
def test_every_answer_recorded_and_logged_once(fps, engine, prepaid, caplog):
    pay = {"SenderTokenId": prepaid.sender_token_id, **amount("TransactionAmount", "1.00")}
    with caplog.at_level(logging.INFO, logger="fpscore.processor.api"):
        responses = {
            "paid": fps.call("Pay", CallerReference="order-1", **pay),
            "short": fps.call(
                "Pay", CallerReference="order-2", **{**pay, "TransactionAmount.Value": "99.00"}
            ),
            "forged": fps.send(
                fps.signed("Pay", {"CallerReference": "order-3", **pay}, secret="guessed-secret")
            ),
            "unknown": fps.call("Reserve"),
            "garbled": fps.session.get(f"{fps.base_url}/?Action=Pay&Action=Pay", timeout=10),
            "balance": fps.call(
                "GetPrepaidBalance", method="POST", PrepaidInstrumentId=prepaid.instrument_id
            ),
        }
    rows = {row["request_id"]: row for row in api_requests(engine)}
    ids = {name: _request_id(response) for name, response in responses.items()}
    assert set(rows) == set(ids.values())
    for name, response in responses.items():
        row = rows[ids[name]]
        assert row["http_status"] == response.status_code
        assert row["response_body"] == response.text
        assert 0 <= row["latency_ms"] <= elapsed_ms(response)

    paid, short, forged = rows[ids["paid"]], rows[ids["short"]], rows[ids["forged"]]
    assert paid["transaction_id"] == parse_response(responses["paid"].content)[1].findtext("TransactionId")
    assert (paid["action"], paid["caller_reference"], paid["error_code"]) == ("Pay", "order-1", None)
    assert paid["caller_id"] is not None and paid["access_key_id"] == "AKIDCALLER"
    assert (short["error_code"], short["http_status"], short["caller_id"]) == (
        "InsufficientBalance",
        400,
        paid["caller_id"],
    )
    assert (forged["error_code"], forged["caller_id"], forged["caller_reference"]) == (
        "SignatureDoesNotMatch",
        None,
        "order-3",
    )
    assert rows[ids["unknown"]]["action"] == "Reserve"
    assert rows[ids["garbled"]]["action"] is None  # the form itself was refused

    lines = [
        json.loads(record.getMessage()) for record in caplog.records if record.name == "fpscore.processor.api"
    ]
    assert sorted(line["request_id"] for line in lines) == sorted(ids.values())
    assert set(lines[1]) == {
        "request_id",
        "action",
        "caller_reference",
        "http_status",
        "error_code",
        "latency_ms",
    }
    assert lines[1]["error_code"] == "InsufficientBalance" and lines[1]["caller_reference"] == "order-2"

    secrets = [CALLER_SECRET, "guessed-secret", *fps.sent_signatures]
    stored = "\n".join(str(row) for row in rows.values())
    for secret in secrets:
        assert secret not in stored and secret not in caplog.text


def test_request_ids_unique_under_concurrency(fps, engine, caller_id):
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: fps.call("GetOutstandingDebtBalance"), range(24)))
    ids = [_request_id(response) for response in responses]
    assert len(set(ids)) == 24
    assert {row["request_id"] for row in api_requests(engine)} == set(ids)


def test_a_failed_record_still_answers(fps, engine, prepaid, caplog):
    """The answer matters more than its record: a database refusing the insert is logged, not fatal."""
    with refusing_records(engine), caplog.at_level(logging.INFO, logger="fpscore.processor.api"):
        result = fps.ok("GetTokens", CallerReference=ref())
    assert result is not None and api_requests(engine) == []
    assert any("could not be recorded" in record.getMessage() for record in caplog.records)


@BOTH_BACKENDS
def test_a_pay_commits_with_its_record_or_not_at_all(fps, engine, prepaid, caplog):
    """A money-moving action's record is written in its own transaction: when it cannot be written, the
    Pay does not happen (the client is told to retry), and the retry with the same CallerReference pays
    once, with the record naming its TransactionId."""
    pay = {"SenderTokenId": prepaid.sender_token_id, "CallerReference": "order-9",
           **amount("TransactionAmount", "1.00")}  # fmt: skip
    before = ledger_state(engine)

    with refusing_records(engine), caplog.at_level(logging.ERROR, logger="fpscore.processor.api"):
        expect_error(fps.call("Pay", **pay), "InternalError", 503)
    assert ledger_state(engine) == before and api_requests(engine) == []

    transaction_id = expect_success(fps.call("Pay", **pay), "Pay", "2010-08-28").findtext("TransactionId")
    [row] = api_requests(engine)
    assert (row["transaction_id"], row["caller_reference"], row["http_status"]) == (
        transaction_id,
        "order-9",
        200,
    )
    assert ledger_state(engine)[1][0] == before[1][0] + 1


def test_latency_is_the_time_the_request_took(fps, engine, prepaid, caplog):
    """A Pay that waits DELAY_S for SQLite's write lock (held by another connection) is recorded and logged
    as taking at least that long, and no longer than the client waited; a quick call next to it is
    recorded as quick."""
    delay_s = 0.25
    locked = threading.Event()

    def hold_the_write_lock() -> None:
        with engine.begin():  # BEGIN IMMEDIATE
            locked.set()
            time.sleep(2 * delay_s)  # the Pay, sent just after, waits for it at least delay_s

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    locked.wait(10)
    with caplog.at_level(logging.INFO, logger="fpscore.processor.api"):
        slow = fps.call(
            "Pay",
            SenderTokenId=prepaid.sender_token_id,
            CallerReference=ref(),
            **amount("TransactionAmount", "1.00"),
        )
    holder.join()
    quick = fps.call("GetPrepaidBalance", PrepaidInstrumentId=prepaid.instrument_id)
    expect_success(slow, "Pay", "2010-08-28")
    rows = {row["request_id"]: row for row in api_requests(engine)}
    slow_ms, quick_ms = rows[_request_id(slow)]["latency_ms"], rows[_request_id(quick)]["latency_ms"]
    assert delay_s * 1000 <= slow_ms <= elapsed_ms(slow)
    assert 0 <= quick_ms <= elapsed_ms(quick) and quick_ms < delay_s * 1000
    [logged] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "fpscore.processor.api"]
    assert slow_ms <= logged["latency_ms"] <= elapsed_ms(slow)  # logged after the commit, recorded before
