"""FpsClient: sign (Signature V2), send (one pooled `requests` session, timeouts always set), parse
(hardened XML) into typed results, retry what is transient, and record every attempt.

A retry resends the same action with the same CallerReference and the same parameters (only Timestamp
and Signature change, which the processor does not count), so it can only return the original result:
a Pay whose answer was lost is answered again with its TransactionId, never made twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode, urlsplit
from xml.etree.ElementTree import Element

import requests

from fpscore.db import utcnow
from fpscore.errors import FpsError, ServiceUnavailable
from fpscore.merchant.audit import Attempt, AuditLog
from fpscore.money import Amount
from fpscore.signing import sign_query, utc_timestamp
from fpscore.wire import parse_amount, parse_error, parse_response

API_VERSION = "2010-08-28"
CBUI_VERSION = "2009-01-09"
CBUI_PATH = "cobranded-ui/actions/start"
DEFAULT_TIMEOUT_S = (3.05, 30.0)  # connect, read
MAX_BACKOFF_S = 4.0  # the longest wait between two attempts


@dataclass(frozen=True, slots=True)
class Reply:
    action: str
    result: Element | None
    request_id: str


@dataclass(frozen=True, slots=True)
class TransactionReply:
    transaction_id: str
    status: str
    request_id: str


@dataclass(frozen=True, slots=True)
class TransactionStatusReply:
    transaction_id: str
    status: str
    caller_reference: str
    status_code: str | None
    status_message: str | None
    request_id: str


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """The caller's own balance at the processor (GetAccountBalance): its earnings net of fees, what
    Pending transactions will bring in and take out, and what is available to disburse and to refund."""

    total: Amount
    pending_in: Amount
    pending_out: Amount
    disburse: Amount
    refund: Amount
    request_id: str


@dataclass(frozen=True, slots=True)
class ActivityItem:
    transaction_id: str
    operation: str
    status: str
    amount: Amount
    fees: Amount
    date_received: datetime
    caller_reference: str | None


@dataclass(frozen=True, slots=True)
class ActivityPage:
    items: list[ActivityItem]
    next_start: datetime | None


def _text(element: Element | None, path: str) -> str:
    value = element.findtext(path) if element is not None else None
    if value is None:
        raise ValueError(f"response lacks {path}")
    return value


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _amount_params(group: str, amount: Amount) -> dict[str, str]:
    return {f"{group}.Value": str(amount), f"{group}.CurrencyCode": amount.currency}


class FpsClient:
    """A client of one FPS endpoint with one caller's credentials."""

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        secret_access_key: str,
        *,
        audit: AuditLog | None = None,
        session: requests.Session | None = None,
        timeout_s: tuple[float, float] = DEFAULT_TIMEOUT_S,
        max_attempts: int = 4,
        backoff_s: float = 0.25,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
    ):
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"FPS endpoint {endpoint!r} is not an absolute http(s) URL")
        self.endpoint = endpoint.rstrip("/") + "/"
        self.host = parts.hostname
        self.path = parts.path or "/"
        self.access_key_id = access_key_id
        self._secret = secret_access_key
        self.audit = audit
        self.session = session or requests.Session()
        self.timeout_s = timeout_s
        self.max_attempts = max(1, min(max_attempts, 10))
        self.backoff_s = backoff_s
        self.clock = clock
        self.sleep = sleep
        self.jitter = jitter

    def retry_budget(self) -> timedelta:
        """The longest one call can take, every attempt timing out: after that, no caller still waits for
        its answer."""
        connect_s, read_s = self.timeout_s
        waits_s = sum(self._backoff_s(attempt) for attempt in range(2, self.max_attempts + 1))
        return timedelta(seconds=self.max_attempts * (connect_s + read_s) + waits_s)

    def _backoff_s(self, attempt: int) -> float:
        """The longest wait before `attempt` (2, 3, …): doubling from backoff_s, at most MAX_BACKOFF_S."""
        return min(self.backoff_s * 2 ** (attempt - 2), MAX_BACKOFF_S)

    # -- the one way out ----------------------------------------------------------------------------

    def call(
        self, action: str, params: Mapping[str, str], *, actor: str, instrument_id: str | None = None
    ) -> Reply:
        """Send `action` with `params`; FpsError subclasses for FPS errors, after retrying transient ones."""
        request = {"Action": action, "Version": API_VERSION, **params}
        last_error: FpsError | None = None
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:  # a random share of the wait, so that clients failing together retry apart
                longest_s = self._backoff_s(attempt)
                self.sleep(self.jitter(longest_s / 2, longest_s))
            signed = sign_query(
                {
                    **request,
                    "AWSAccessKeyId": self.access_key_id,
                    "SignatureVersion": "2",
                    "Timestamp": utc_timestamp(self.clock()),
                },
                self._secret,
                method="POST",
                host=self.host,
                path=self.path,
            )
            started = time.monotonic()
            http_status: int | None = None
            body: bytes | None = None
            try:
                response = self.session.post(self.endpoint, data=signed, timeout=self.timeout_s)
                http_status, body = response.status_code, response.content
                reply = self._interpret(action, http_status, body)
            except requests.RequestException as exc:
                last_error = ServiceUnavailable(f"{exc.__class__.__name__} talking to the processor")
            except FpsError as exc:
                last_error = exc
            else:
                self._record(request, attempt, started, actor, instrument_id, http_status, body, reply, None)
                return reply
            self._record(request, attempt, started, actor, instrument_id, http_status, body, None, last_error)
            if not last_error.retriable:  # fpscore.errors says which errors a client resends by itself
                raise last_error
        assert last_error is not None
        raise last_error

    @staticmethod
    def _interpret(action: str, http_status: int, body: bytes) -> Reply:
        try:
            if http_status == 200:
                answered, result, request_id = parse_response(body)
                if answered != action:
                    raise ValueError(f"asked {action}, answered {answered}")
                return Reply(action, result, request_id)
            raise parse_error(body, http_status)
        except ValueError as exc:
            error = ServiceUnavailable(f"HTTP {http_status} without an FPS answer: {exc}")
            error.http_status = http_status
            raise error from None

    def _record(
        self,
        request: Mapping[str, str],
        attempt: int,
        started: float,
        actor: str,
        instrument_id: str | None,
        http_status: int | None,
        body: bytes | None,
        reply: Reply | None,
        error: FpsError | None,
    ) -> None:
        if self.audit is None:
            return
        result = reply.result if reply else None
        self.audit.record_attempt(
            Attempt(
                action=request["Action"],
                caller_reference=request.get("CallerReference"),
                request_id=reply.request_id if reply else (error.request_id if error else None),
                transaction_id=(result.findtext("TransactionId") if result is not None else None)
                or request.get("TransactionId"),
                instrument_id=instrument_id,
                attempt=attempt,
                http_status=http_status,
                fps_status=result.findtext("TransactionStatus") if result is not None else None,
                error_code=error.code if error else None,
                error_message=error.message if error else None,
                latency_ms=int((time.monotonic() - started) * 1000),
                request_params=request,
                response_body=body.decode("utf-8", "replace") if body is not None else None,
                actor=actor,
                created_at=self.clock(),
            )
        )

    def pipeline_url(self, params: Mapping[str, str], *, lifetime_s: int = 3600) -> str:
        """A signed Co-Branded UI start URL on this endpoint (lower-case `signature` keys, verb GET) that the
        processor refuses `lifetime_s` seconds from now (its signed `startUrlExpiry`)."""
        url = self.endpoint + CBUI_PATH
        expiry = str(int(self.clock().timestamp()) + lifetime_s)
        ours = {"callerKey": self.access_key_id, "signatureVersion": "2", "version": CBUI_VERSION}
        signed = sign_query(
            {**params, **ours, "startUrlExpiry": expiry},
            self._secret,
            method="GET",
            host=self.host,
            path=urlsplit(url).path,
            signature_key="signature",
            signature_method_key="signatureMethod",
        )
        return f"{url}?{urlencode(signed, quote_via=quote)}"

    # -- typed actions ------------------------------------------------------------------------------

    def _transaction(
        self, action: str, params: dict[str, str], actor: str, instrument_id: str | None
    ) -> TransactionReply:
        reply = self.call(action, params, actor=actor, instrument_id=instrument_id)
        return TransactionReply(
            _text(reply.result, "TransactionId"), _text(reply.result, "TransactionStatus"), reply.request_id
        )

    def fund_prepaid(
        self,
        *,
        funding_token_id: str,
        instrument_id: str,
        amount: Amount,
        caller_reference: str,
        actor: str,
        description: str | None = None,
    ) -> TransactionReply:
        params = {
            "SenderTokenId": funding_token_id,
            "PrepaidInstrumentId": instrument_id,
            "CallerReference": caller_reference,
            **_amount_params("FundingAmount", amount),
            **({"CallerDescription": description} if description else {}),
        }
        return self._transaction("FundPrepaid", params, actor, instrument_id)

    def pay(
        self,
        *,
        sender_token_id: str,
        amount: Amount,
        caller_reference: str,
        actor: str,
        instrument_id: str | None = None,
        description: str | None = None,
    ) -> TransactionReply:
        params = {
            "SenderTokenId": sender_token_id,
            "CallerReference": caller_reference,
            **_amount_params("TransactionAmount", amount),
            **({"CallerDescription": description} if description else {}),
        }
        return self._transaction("Pay", params, actor, instrument_id)

    def refund(
        self,
        *,
        transaction_id: str,
        caller_reference: str,
        actor: str,
        amount: Amount | None = None,
        instrument_id: str | None = None,
        description: str | None = None,
    ) -> TransactionReply:
        params = {
            "TransactionId": transaction_id,
            "CallerReference": caller_reference,
            **(_amount_params("RefundAmount", amount) if amount is not None else {}),
            **({"CallerDescription": description} if description else {}),
        }
        return self._transaction("Refund", params, actor, instrument_id)

    def settle_debt(
        self,
        *,
        settlement_token_id: str,
        instrument_id: str,
        amount: Amount,
        caller_reference: str,
        actor: str,
    ) -> TransactionReply:
        params = {
            "SenderTokenId": settlement_token_id,
            "CreditInstrumentId": instrument_id,
            "CallerReference": caller_reference,
            **_amount_params("SettlementAmount", amount),
        }
        return self._transaction("SettleDebt", params, actor, instrument_id)

    def write_off_debt(
        self,
        *,
        instrument_id: str,
        amount: Amount,
        caller_reference: str,
        actor: str,
        description: str | None = None,
    ) -> TransactionReply:
        params = {
            "CreditInstrumentId": instrument_id,
            "CallerReference": caller_reference,
            **_amount_params("AdjustmentAmount", amount),
            **({"CallerDescription": description[:160]} if description else {}),
        }
        return self._transaction("WriteOffDebt", params, actor, instrument_id)

    def get_prepaid_balance(self, instrument_id: str, *, actor: str) -> Amount:
        reply = self.call(
            "GetPrepaidBalance",
            {"PrepaidInstrumentId": instrument_id},
            actor=actor,
            instrument_id=instrument_id,
        )
        return parse_amount(reply.result.find("PrepaidBalance/AvailableBalance") if reply.result else None)

    def get_debt_balance(self, instrument_id: str, *, actor: str) -> Amount:
        reply = self.call(
            "GetDebtBalance", {"CreditInstrumentId": instrument_id}, actor=actor, instrument_id=instrument_id
        )
        return parse_amount(reply.result.find("DebtBalance/AvailableBalance") if reply.result else None)

    def get_total_prepaid_liability(self, *, actor: str) -> Amount:
        reply = self.call("GetTotalPrepaidLiability", {}, actor=actor)
        element = (
            reply.result.find("OutstandingPrepaidLiability/OutstandingBalance") if reply.result else None
        )
        return parse_amount(element)

    def get_outstanding_debt_balance(self, *, actor: str) -> Amount:
        reply = self.call("GetOutstandingDebtBalance", {}, actor=actor)
        element = reply.result.find("OutstandingDebt/OutstandingBalance") if reply.result else None
        return parse_amount(element)

    def get_account_balance(self, *, actor: str) -> AccountBalance:
        reply = self.call("GetAccountBalance", {}, actor=actor)
        balance = reply.result.find("AccountBalance") if reply.result is not None else None
        if balance is None:
            raise ValueError("response lacks AccountBalance")
        return AccountBalance(
            total=parse_amount(balance.find("TotalBalance"), signed=True),
            pending_in=parse_amount(balance.find("PendingInBalance")),
            pending_out=parse_amount(balance.find("PendingOutBalance")),
            disburse=parse_amount(balance.find("AvailableBalances/DisburseBalance")),
            refund=parse_amount(balance.find("AvailableBalances/RefundBalance")),
            request_id=reply.request_id,
        )

    def get_transaction_status(self, transaction_id: str, *, actor: str) -> TransactionStatusReply:
        reply = self.call("GetTransactionStatus", {"TransactionId": transaction_id}, actor=actor)
        result = reply.result
        return TransactionStatusReply(
            _text(result, "TransactionId"),
            _text(result, "TransactionStatus"),
            _text(result, "CallerReference"),
            result.findtext("StatusCode") if result is not None else None,
            result.findtext("StatusMessage") if result is not None else None,
            reply.request_id,
        )

    def get_account_activity(
        self, *, start: datetime, end: datetime | None = None, max_batch_size: int = 200, actor: str
    ) -> ActivityPage:
        """One page of the caller's activity, oldest first from `start`."""
        params = {
            "StartDate": start.isoformat(),
            "MaxBatchSize": str(max_batch_size),
            "SortOrderByDate": "Ascending",
            **({"EndDate": end.isoformat()} if end else {}),
        }
        result = self.call("GetAccountActivity", params, actor=actor).result
        items = [
            ActivityItem(
                transaction_id=_text(element, "TransactionId"),
                operation=_text(element, "FPSOperation"),
                status=_text(element, "TransactionStatus"),
                amount=parse_amount(element.find("TransactionAmount")),
                fees=parse_amount(element.find("FPSFees")),
                date_received=_when(_text(element, "DateReceived")),
                caller_reference=element.findtext("TransactionPart/Reference"),
            )
            for element in (result.findall("Transaction") if result is not None else [])
        ]
        next_start = result.findtext("StartTimeForNextTransaction") if result is not None else None
        return ActivityPage(items, _when(next_start) if next_start else None)

    def cancel_token(self, token_id: str, *, actor: str, reason: str | None = None) -> str:
        params = {"TokenId": token_id, **({"ReasonText": reason[:1024]} if reason else {})}
        return self.call("CancelToken", params, actor=actor).request_id

    def verify_signature(self, url_endpoint: str, http_parameters: str, *, actor: str) -> bool:
        params = {"UrlEndPoint": url_endpoint, "HttpParameters": http_parameters}
        reply = self.call("VerifySignature", params, actor=actor)
        return _text(reply.result, "VerificationStatus") == "Success"
