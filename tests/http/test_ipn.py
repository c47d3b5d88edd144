"""IPN: notifications written with the change they report, delivered signed, retried until the merchant
answers 200, and resumed by a new dispatcher after a restart."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
import requests
from helpers import open_prepaid, ref, serve, usd
from sqlalchemy import select

from fpscore import errors
from fpscore.processor.ipn import Backoff, IpnDispatcher
from fpscore.processor.keys import SigningKeys
from fpscore.processor.schema import IpnNotification
from fpscore.signing import verify_outbound

_outbox = IpnNotification.__table__


class Merchant:
    """A merchant's IPN endpoint on a loopback port that fails its first `failures` requests."""

    def __init__(self, failures: int = 0):
        self.failures = failures
        self.received: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.url, self.stop = serve(self.app)
        self.url += "/ipn"

    def app(self, environ, start_response):  # type: ignore[no-untyped-def]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode()
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
                return [b"down"]
            self.received.append(dict(parse_qsl(body, keep_blank_values=True)))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


@pytest.fixture
def merchant():
    endpoint = Merchant()
    yield endpoint
    endpoint.stop()


def dispatcher(processor, base_url, clock):
    backoff = Backoff(first_delay=timedelta(seconds=10), window=timedelta(hours=2))
    return IpnDispatcher(
        processor.engine, SigningKeys(processor.engine), base_url, backoff=backoff, clock=clock
    )


def outbox(engine):
    with engine.connect() as conn:
        return conn.execute(select(_outbox).order_by(_outbox.c.id)).all()


def assert_signed(notification, url):
    pem = requests.get(notification["certificateUrl"], timeout=5).content
    assert verify_outbound(notification, method="POST", url_endpoint=url, certificate_pem=pem)
    tampered = {**notification, "transactionAmount": "USD 0.01"}
    assert not verify_outbound(tampered, method="POST", url_endpoint=url, certificate_pem=pem)


def test_notification_is_written_with_the_transaction_only(processor, caller_id, buyer_id, merchant, engine):
    processor.set_ipn_url(caller_id, merchant.url)
    setup = open_prepaid(processor, caller_id, buyer_id, fund="1.00")
    with pytest.raises(errors.InsufficientBalance):
        processor.pay(
            caller_id, sender_token_id=setup.sender_token_id, amount=usd("2.00"), caller_reference=ref()
        )
    result = processor.pay(
        caller_id, sender_token_id=setup.sender_token_id, amount=usd("0.99"), caller_reference="song-1"
    )
    processor.pay(
        caller_id, sender_token_id=setup.sender_token_id, amount=usd("0.99"), caller_reference="song-1"
    )
    rows = outbox(engine)
    assert [row.notification_type for row in rows] == ["TransactionStatus", "TransactionStatus"]
    params = json.loads(rows[1].params)
    assert params["transactionId"] == result.transaction_id
    assert (params["operation"], params["transactionStatus"], params["transactionAmount"]) == (
        "PAY",
        "SUCCESS",
        "USD 0.99",
    )


def test_delivery_survives_failing_endpoint(processor, caller_id, buyer_id, base_url, clock, engine):
    merchant = Merchant(failures=2)
    try:
        processor.set_ipn_url(caller_id, merchant.url)
        open_prepaid(processor, caller_id, buyer_id, fund="5.00")
        ipn = dispatcher(processor, base_url, clock)
        assert ipn.deliver_due() == 0  # first attempt: HTTP 500
        assert ipn.deliver_due() == 0  # not due yet: backing off
        clock.advance(timedelta(seconds=11))
        assert ipn.deliver_due() == 0  # second attempt: HTTP 500
        clock.advance(timedelta(seconds=11))
        assert ipn.deliver_due() == 0  # backoff doubled: not due yet
        clock.advance(timedelta(seconds=10))
        assert ipn.deliver_due() == 1
        [row] = outbox(engine)
        assert (row.attempts, row.last_http_status) == (3, 200) and row.delivered_at is not None
        [notification] = merchant.received
        assert notification["operation"] == "FUND_PREPAID"
        assert notification["signatureMethod"] == "RSA-SHA1" and notification["signatureVersion"] == "2"
        assert notification["certificateUrl"].startswith(base_url)
        assert_signed(notification, merchant.url)
        clock.advance(timedelta(hours=1))
        assert ipn.deliver_due() == 0 and len(merchant.received) == 1  # delivered once only
    finally:
        merchant.stop()


def test_merchant_down_then_restart_resumes(processor, caller_id, buyer_id, base_url, clock, engine):
    down = Merchant()
    url = down.url
    down.stop()  # nobody listens on that port any more
    processor.set_ipn_url(caller_id, url)
    open_prepaid(processor, caller_id, buyer_id, fund="5.00")
    assert dispatcher(processor, base_url, clock).deliver_due() == 0
    [row] = outbox(engine)
    assert row.attempts == 1 and "ConnectionError" in row.last_error
    merchant = Merchant()
    try:
        with engine.begin() as conn:  # the merchant is back, at a new address
            conn.execute(_outbox.update().values(url=merchant.url))
        clock.advance(timedelta(minutes=5))
        restarted = dispatcher(processor, base_url, clock)  # a new process: nothing but the database
        assert restarted.deliver_due() == 1
        assert len(merchant.received) == 1
    finally:
        merchant.stop()


def test_gives_up_after_the_window(processor, caller_id, buyer_id, base_url, clock, engine):
    merchant = Merchant(failures=1000)
    try:
        processor.set_ipn_url(caller_id, merchant.url)
        open_prepaid(processor, caller_id, buyer_id, fund="5.00")
        ipn = dispatcher(processor, base_url, clock)
        for _ in range(40):
            ipn.deliver_due()
            clock.advance(timedelta(minutes=30))
        [row] = outbox(engine)
        assert row.gave_up_at is not None and row.delivered_at is None
        assert 2 < row.attempts < 40
    finally:
        merchant.stop()


def test_token_cancellation_and_override_url(
    processor, caller_id, buyer_id, merchant, base_url, clock, engine
):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="5.00")
    assert outbox(engine) == []  # no notification URL registered: nothing queued
    processor.pay(
        caller_id,
        sender_token_id=setup.sender_token_id,
        amount=usd("1.00"),
        caller_reference=ref(),
        ipn_url=merchant.url,
    )
    processor.cancel_token(caller_id, setup.sender_token_id, "lost phone", ipn_url=merchant.url)
    processor.cancel_token(caller_id, setup.sender_token_id, ipn_url=merchant.url)  # no second notice
    assert dispatcher(processor, base_url, clock).deliver_due() == 2
    kinds = [n["notificationType"] for n in merchant.received]
    assert kinds == ["TransactionStatus", "TokenCancellation"]
    cancellation = merchant.received[1]
    assert cancellation["tokenId"] == setup.sender_token_id and cancellation["reasonText"] == "lost phone"
    assert_signed(cancellation, merchant.url)


def test_other_wire_options_tell_requests_apart(processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="5.00")
    kwargs = dict(sender_token_id=setup.sender_token_id, amount=usd("1.00"), caller_reference="opts")
    first = processor.pay(caller_id, **kwargs, options={"ChargeFeeTo": "Recipient"})
    assert processor.pay(caller_id, **kwargs, options={"ChargeFeeTo": "Recipient"}).transaction_id == (
        first.transaction_id
    )
    with pytest.raises(errors.DuplicateRequest):
        processor.pay(caller_id, **kwargs, options={"ChargeFeeTo": "Caller"})
    with pytest.raises(errors.DuplicateRequest):
        processor.pay(
            caller_id, **kwargs, options={"ChargeFeeTo": "Recipient"}, ipn_url="http://127.0.0.1:9/x"
        )
