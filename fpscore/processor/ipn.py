"""Instant Payment Notification: the outbox and its delivery.

`enqueue_*` run inside the database transaction of the change they report (a transaction's status, a
token's cancellation), so a notification exists exactly when its change was committed. `IpnDispatcher`
claims due notifications (a lease, `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers share the
outbox), POSTs them form-encoded and signed like return URLs (RSA, `certificateUrl` on this processor),
and on anything but HTTP 200 retries with exponential backoff for a day, as FPS did. A crashed worker's
lease runs out and another worker resumes; a restart resumes from the database.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import Connection, Engine, insert, select, update

from fpscore.db import read_only, utcnow
from fpscore.money import Amount
from fpscore.processor.keys import SigningKeys, certificate_path
from fpscore.processor.schema import IpnNotification

logger = logging.getLogger(__name__)
_outbox = IpnNotification.__table__

OPERATIONS = {
    "Pay": "PAY",
    "Refund": "REFUND",
    "FundPrepaid": "FUND_PREPAID",
    "SettleDebt": "SETTLE_DEBT",
    "WriteOffDebt": "WRITE_OFF_DEBT",
}


@dataclass(frozen=True, slots=True)
class Backoff:
    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(hours=1)
    window: timedelta = timedelta(days=1)  # after this long undelivered, give up
    lease: timedelta = timedelta(seconds=60)  # a claimed notification is retried after this if unfinished

    def delay(self, attempts: int) -> timedelta:
        return min(self.first_delay * (2 ** min(attempts - 1, 30)), self.max_delay)


def _enqueue(
    conn: Connection,
    caller_id: int,
    url: str,
    kind: str,
    subject_id: str,
    params: Mapping[str, str],
    now: datetime,
) -> None:
    conn.execute(
        insert(_outbox).values(
            caller_id=caller_id,
            url=url,
            notification_type=kind,
            subject_id=subject_id,
            params=json.dumps(dict(params), sort_keys=True),
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def enqueue_transaction(
    conn: Connection,
    *,
    caller_id: int,
    url: str,
    transaction_id: str,
    operation: str,
    status: str,
    status_code: str,
    status_message: str | None,
    amount: Amount,
    caller_reference: str,
    payment_method: str,
    now: datetime,
) -> None:
    """Queue a TransactionStatus notification (the 2010-era fields; status upper-case as FPS sent it)."""
    params = {
        "notificationType": "TransactionStatus",
        "transactionId": transaction_id,
        "transactionDate": str(int(now.timestamp())),
        "transactionStatus": status.upper(),
        "statusCode": status_code,
        "statusMessage": status_message or "",
        "operation": OPERATIONS[operation],
        "transactionAmount": f"{amount.currency} {amount}",
        "callerReference": caller_reference,
        "paymentMethod": payment_method,
    }
    _enqueue(conn, caller_id, url, "TransactionStatus", transaction_id, params, now)


def enqueue_token_cancellation(
    conn: Connection,
    *,
    caller_id: int,
    url: str,
    token_id: str,
    token_type: str,
    caller_reference: str,
    reason: str | None,
    now: datetime,
) -> None:
    params = {
        "notificationType": "TokenCancellation",
        "tokenId": token_id,
        "tokenType": token_type,
        "callerReference": caller_reference,
        "dateCancelled": str(int(now.timestamp())),
        "reasonText": reason or "",
    }
    _enqueue(conn, caller_id, url, "TokenCancellation", token_id, params, now)


class IpnDispatcher:
    """Delivers due notifications. `base_url` is how merchants reach this processor (for certificateUrl)."""

    def __init__(
        self,
        engine: Engine,
        keys: SigningKeys,
        base_url: str,
        *,
        backoff: Backoff = Backoff(),
        timeout_s: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
        session: requests.Session | None = None,
    ):
        self.engine = engine
        self.keys = keys
        self.base_url = base_url.rstrip("/")
        self.backoff = backoff
        self.timeout_s = timeout_s
        self.clock = clock
        self.session = session or requests.Session()

    def deliver_due(self, limit: int = 20) -> int:
        """Try every due notification once (at most `limit`); the number delivered."""
        delivered = 0
        for row in self._claim(limit):
            delivered += self._deliver(row)
        return delivered

    def _claim(self, limit: int) -> list[tuple[int, str, str, int, datetime]]:
        now = self.clock()
        with read_only(self.engine) as conn:  # most rounds find nothing: never take the write lock for that
            if conn.execute(select(_outbox.c.id).where(*self._due(now)).limit(1)).first() is None:
                return []
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(
                    _outbox.c.id, _outbox.c.url, _outbox.c.params, _outbox.c.attempts, _outbox.c.created_at
                )
                .where(*self._due(now))
                .order_by(_outbox.c.next_attempt_at, _outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                conn.execute(
                    update(_outbox)
                    .where(_outbox.c.id.in_([row.id for row in rows]))
                    .values(next_attempt_at=now + self.backoff.lease)
                )
        return [tuple(row) for row in rows]  # type: ignore[misc]

    @staticmethod
    def _due(now: datetime) -> tuple[Any, ...]:
        return (
            _outbox.c.delivered_at.is_(None),
            _outbox.c.gave_up_at.is_(None),
            _outbox.c.next_attempt_at <= now,
        )

    def _deliver(self, row: tuple[int, str, str, int, datetime]) -> int:
        notification_id, url, params_json, attempts, created_at = row
        key_id, key = self.keys.current()
        params = json.loads(params_json)
        params.update(
            signatureVersion="2",
            signatureMethod="RSA-SHA1",
            certificateUrl=f"{self.base_url}{certificate_path(key_id)}",
        )
        params["signature"] = key.sign_outbound(params, method="POST", url_endpoint=url.split("?")[0])
        status: int | None = None
        error: str | None = None
        try:
            response = self.session.post(url, data=params, timeout=self.timeout_s, allow_redirects=False)
            status = response.status_code
            if status != 200:
                error = f"HTTP {status}"
        except requests.RequestException as exc:
            error = f"{exc.__class__.__name__}: {str(exc)[:300]}"
        now = self.clock()
        values: dict[str, object] = {
            "attempts": attempts + 1,
            "last_http_status": status,
            "last_error": error,
        }
        if error is None:
            values["delivered_at"] = now
        elif now - created_at >= self.backoff.window:
            values["gave_up_at"] = now
        else:
            values["next_attempt_at"] = now + self.backoff.delay(attempts + 1)
        with self.engine.begin() as conn:
            conn.execute(update(_outbox).where(_outbox.c.id == notification_id).values(**values))
        logger.info(
            json.dumps({"ipn": notification_id, "attempt": attempts + 1, "status": status, "error": error})
        )
        return 1 if error is None else 0

    def run_forever(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Deliver until `stop` is set; a failure of one round is logged and the next round goes on."""
        while not stop.is_set():
            try:
                self.deliver_due()
            except Exception:
                logger.exception("IPN delivery round failed")
            stop.wait(interval)
