"""The FPS query API: decode a request, authenticate it, run it on the Processor, answer FPS XML.

Every request gets a fresh RequestId and exactly one answer: the action's response, the FpsError it
raised, or for anything unexpected InternalError (HTTP 503) with a generic message, its traceback going
to the server log and never to the client. Every answer is recorded in `api_requests` and logged as one
JSON line (RequestId, action, CallerReference, HTTP status, error code, latency); neither ever holds a
Signature or a secret. A money-moving action's record is written in the action's own database
transaction, so a committed transaction always has its RequestId (and the record costs no commit of its
own); any other answer is recorded after it is made.

Authentication (reference §3 and "Decisions"): AWSAccessKeyId names the caller, SignatureVersion must be
2, the signature is checked for the Host header with and without its port and for the configured public
host, with the verb used and with POST, then Timestamp/Expires. VerifySignature may come unsigned (§11).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any
from urllib.parse import urlsplit
from wsgiref.types import WSGIEnvironment

from sqlalchemy import Connection, insert

from fpscore.errors import (
    FpsError,
    InternalError,
    InvalidParams,
    MissingParameter,
    SignatureDoesNotMatch,
)
from fpscore.money import Amount
from fpscore.processor import (
    AccountBalance,
    Balance,
    Processor,
    TokenView,
    TransactionResult,
    TransactionView,
)
from fpscore.processor.base import in_transaction
from fpscore.processor.driver import Compiled
from fpscore.processor.keys import CERTIFICATE_PATH, SigningKeys
from fpscore.processor.parties import CallerAccount
from fpscore.processor.schema import ApiRequest
from fpscore.signing import check_timestamp, verify_outbound, verify_query
from fpscore.wire import Fields, action_and_version, decode_params, render_error, render_success
from fpscore.wire.catalogue import CALLER_REFERENCE_LENGTH, TRANSACTION_ID_LENGTH

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
BODY_TOO_LARGE_MESSAGE = f"A request body may hold at most {MAX_BODY_BYTES} bytes"
INTERNAL_ERROR_MESSAGE = "We encountered an internal error. Please try again."
SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)
_AUTH_PARAMS = ("AWSAccessKeyId", "Signature", "SignatureVersion")
# A caller's key is looked up once per this many seconds per process, not once per request: a revoked key
# is refused, and a replaced secret takes effect, at most this long after (SECURITY.md). Only keys that
# exist are kept, at most MAX_CACHED_CALLERS of them.
CALLER_CACHE_S = 5.0
MAX_CACHED_CALLERS = 10_000
_FORM = "application/x-www-form-urlencoded"
_api_requests = ApiRequest.__table__
_INSERT_RECORD = Compiled(insert(_api_requests))  # in a money-moving action: on the driver's cursor


@dataclass(frozen=True, slots=True)
class Answer:
    """An action's result, and the TransactionId it created if any."""

    result: Fields | None
    transaction_id: str | None = None


def _transaction(result: TransactionResult) -> Answer:
    fields: Fields = [("TransactionId", result.transaction_id), ("TransactionStatus", result.status)]
    return Answer(fields, result.transaction_id)


def _balance(name: str, *amounts: tuple[str, Amount]) -> Answer:
    return Answer([(name, list(amounts))])


def _status(view: TransactionView) -> Fields:
    return [
        ("TransactionId", view.transaction_id),
        ("TransactionStatus", view.status),
        ("CallerReference", view.caller_reference),
        ("StatusCode", view.status_code),
        ("StatusMessage", view.status_message),
    ]


def _transaction_details(view: TransactionView) -> Fields:
    """GetTransaction's `Transaction` (reference §7). The caller is always the recipient."""
    related: Fields = [
        ("RelatedTransaction", [("TransactionId", related_id), ("RelationType", relation)])
        for related_id, relation in view.related
    ]
    history: Fields = [
        ("Date", view.date_completed or view.date_received),
        ("TransactionStatus", view.status),
        ("StatusCode", view.status_code),
        ("Amount", view.amount),
    ]
    return [
        ("TransactionId", view.transaction_id),
        ("CallerReference", view.caller_reference),
        ("CallerDescription", view.caller_description),
        ("SenderDescription", view.sender_description),
        ("DateReceived", view.date_received),
        ("DateCompleted", view.date_completed),
        ("TransactionAmount", view.amount),
        ("FPSFees", view.fees),
        ("FPSFeesPaidBy", "Recipient"),
        ("SenderTokenId", view.sender_token_id),
        ("PrepaidInstrumentId", view.instrument_id if view.instrument_kind == "Prepaid" else None),
        ("CreditInstrumentId", view.instrument_id if view.instrument_kind == "Credit" else None),
        ("FPSOperation", view.operation),
        ("PaymentMethod", view.payment_method),
        ("TransactionStatus", view.status),
        ("StatusCode", view.status_code),
        ("StatusMessage", view.status_message),
        ("SenderName", view.sender_name),
        ("SenderEmail", view.sender_email),
        ("CallerName", view.caller_name),
        ("RecipientName", view.caller_name),
        ("RecipientEmail", view.caller_email),
        *related,
        ("StatusHistory", history),
    ]


def _activity(view: TransactionView) -> Fields:
    """GetAccountActivity's `Transaction` (reference §7)."""
    sender: Fields = [
        ("InstrumentId", view.instrument_id),
        ("Role", "Sender"),
        ("Name", view.sender_name),
        ("Description", view.sender_description),
    ]
    recipient: Fields = [
        ("Role", "Recipient"),
        ("Name", view.caller_name),
        ("Reference", view.caller_reference),
        ("Description", view.caller_description),
        ("FeesPaid", view.fees),
    ]
    original = next((related_id for related_id, relation in view.related if relation == "Parent"), None)
    return [
        ("TransactionId", view.transaction_id),
        ("DateReceived", view.date_received),
        ("DateCompleted", view.date_completed),
        ("TransactionAmount", view.amount),
        ("FPSOperation", view.operation),
        ("TransactionStatus", view.status),
        ("StatusMessage", view.status_message),
        ("StatusCode", view.status_code),
        ("OriginalTransactionId", original),
        ("TransactionPart", sender),
        ("TransactionPart", recipient),
        ("PaymentMethod", view.payment_method),
        ("SenderName", view.sender_name),
        ("CallerName", view.caller_name),
        ("RecipientName", view.caller_name),
        ("FPSFees", view.fees),
        ("Balance", view.caller_balance_after),
        ("SenderTokenId", view.sender_token_id),
    ]


def _token(token: TokenView) -> Fields:
    return [
        ("TokenId", token.token_id),
        ("FriendlyName", token.friendly_name),
        ("TokenStatus", token.status),
        ("DateInstalled", token.date_installed),
        ("CallerReference", token.caller_reference),
        ("TokenType", token.token_type),
        ("PaymentReason", token.payment_reason),
    ]


def _prepaid_balance(balance: Balance) -> Answer:
    return _balance(
        "PrepaidBalance", ("AvailableBalance", balance.available), ("PendingInBalance", balance.pending)
    )


def _prepaid_liability(balance: Balance) -> Answer:
    return _balance(
        "OutstandingPrepaidLiability",
        ("OutstandingBalance", balance.available),
        ("PendingInBalance", balance.pending),
    )


def _debt_balance(balance: Balance) -> Answer:
    # AvailableBalance (the debt) last: boto flattens DebtBalance and keeps the last amount it sees.
    return _balance(
        "DebtBalance", ("PendingOutBalance", balance.pending), ("AvailableBalance", balance.available)
    )


def _outstanding_debt(balance: Balance) -> Answer:
    return _balance(
        "OutstandingDebt", ("OutstandingBalance", balance.available), ("PendingOutBalance", balance.pending)
    )


def _account_balance(balance: AccountBalance) -> Answer:
    """GetAccountBalance's `AccountBalance` (reference §7); what each figure is: `AccountBalance`."""
    available: Fields = [("DisburseBalance", balance.available), ("RefundBalance", balance.available)]
    figures: Fields = [
        ("TotalBalance", balance.total),
        ("PendingInBalance", balance.pending_in),
        ("PendingOutBalance", balance.pending_out),
        ("AvailableBalances", available),
    ]
    return Answer([("AccountBalance", figures)])


def _cancel_token(processor: Processor, caller_id: int, kwargs: dict[str, Any]) -> Answer:
    processor.cancel_token(caller_id, **kwargs)
    return Answer(None)


def _activity_page(processor: Processor, caller_id: int, kwargs: dict[str, Any]) -> Answer:
    page = processor.get_account_activity(caller_id, **kwargs)
    return Answer(
        [
            ("BatchSize", len(page.transactions)),
            *[("Transaction", _activity(view)) for view in page.transactions],
            ("StartTimeForNextTransaction", page.next_start),
        ]
    )


Handler = Callable[[Processor, int, dict[str, Any]], Answer]
# Every action but VerifySignature, which needs no caller: the Processor call and how its result reads.
HANDLERS: dict[str, Handler] = {
    "FundPrepaid": lambda p, caller, kw: _transaction(p.fund_prepaid(caller, **kw)),
    "Pay": lambda p, caller, kw: _transaction(p.pay(caller, **kw)),
    "Refund": lambda p, caller, kw: _transaction(p.refund(caller, **kw)),
    "SettleDebt": lambda p, caller, kw: _transaction(p.settle_debt(caller, **kw)),
    "WriteOffDebt": lambda p, caller, kw: _transaction(p.write_off_debt(caller, **kw)),
    "GetPrepaidBalance": lambda p, caller, kw: _prepaid_balance(p.get_prepaid_balance(caller, **kw)),
    "GetTotalPrepaidLiability": lambda p, caller, kw: _prepaid_liability(
        p.get_total_prepaid_liability(caller)
    ),
    "GetDebtBalance": lambda p, caller, kw: _debt_balance(p.get_debt_balance(caller, **kw)),
    "GetOutstandingDebtBalance": lambda p, caller, kw: _outstanding_debt(
        p.get_outstanding_debt_balance(caller)
    ),
    "GetAccountBalance": lambda p, caller, kw: _account_balance(p.get_account_balance(caller)),
    "GetTransaction": lambda p, caller, kw: Answer(
        [("Transaction", _transaction_details(p.get_transaction(caller, **kw)))]
    ),
    "GetTransactionStatus": lambda p, caller, kw: Answer(_status(p.get_transaction(caller, **kw))),
    "GetAccountActivity": lambda p, caller, kw: _activity_page(p, caller, kw),
    "GetTokens": lambda p, caller, kw: Answer([("Token", _token(t)) for t in p.get_tokens(caller, **kw)]),
    "GetTokenByCaller": lambda p, caller, kw: Answer(
        [("Token", _token(p.get_token_by_caller(caller, **kw)))]
    ),
    "CancelToken": _cancel_token,
}


def _read_body(environ: WSGIEnvironment) -> bytes:
    too_large = InvalidParams(BODY_TOO_LARGE_MESSAGE)
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length:
        if not length.isdigit():
            raise InvalidParams("Content-Length must be a number")
        if int(length) > MAX_BODY_BYTES:
            raise too_large  # refused unread: the client learns at once
        body: bytes = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):  # chunked: the server ends the stream with the body
        body = stream.read(MAX_BODY_BYTES + 1)
    else:
        body = b""
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    return body


def read_form(environ: WSGIEnvironment) -> str:
    """The request's parameters as form text: the query string of a GET, the form body of a POST."""
    if environ["REQUEST_METHOD"] == "GET":
        raw: bytes = environ.get("QUERY_STRING", "").encode("latin-1")  # WSGI passes bytes as latin-1
    else:
        content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if content_type != _FORM:
            raise InvalidParams(f"A POST body must be {_FORM}")
        raw = _read_body(environ)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParams("Parameters must be UTF-8 text, percent-encoded") from None


_SUMMARY = ("request_id", "action", "caller_reference", "http_status", "error_code", "latency_ms")


def _json_value(value: str | int | None) -> str:
    """A summary value as JSON (text in ASCII, as `json.dumps` writes it)."""
    if value is None:
        return "null"
    return encode_basestring_ascii(value) if isinstance(value, str) else str(int(value))


def log_summary(answer: Mapping[str, Any]) -> None:
    """Log one answer as one JSON line: its RequestId, action, CallerReference, status, error, latency.
    (Written field by field: `json.dumps` sets up an encoder per call, a cost on every request.)"""
    logger.info("{" + ",".join(f'"{name}":{_json_value(answer[name])}' for name in _SUMMARY) + "}")


@dataclass
class _Exchange:
    """What is known of one request while it is handled: enough for its record if it fails."""

    params: dict[str, str] = field(default_factory=dict)
    caller_id: int | None = None
    action: str = ""
    version: str = ""
    body: bytes | None = None  # the answer, when it was recorded in the action's own transaction


def _clip(value: str | None, length: int) -> str | None:
    return value[:length] if value else None


class QueryApi:
    """The query API at `/`: `answer(environ)` gives the HTTP status and the XML body."""

    def __init__(self, processor: Processor, keys: SigningKeys, public_host: str | None = None):
        self.processor = processor
        self.keys = keys
        self.public_host = public_host
        self._callers: dict[str, tuple[CallerAccount, float]] = {}

    def answer(self, environ: WSGIEnvironment) -> tuple[int, bytes]:
        started = time.perf_counter()
        received_at = self.processor.clock()
        request_uuid = str(uuid.uuid4())
        exchange = _Exchange()

        def record(status: int, error_code: str | None, request_id: str, transaction_id: str | None,
                   body: bytes) -> dict[str, Any]:  # fmt: skip
            params = exchange.params
            return {
                "request_id": request_id,
                "action": _clip(params.get("Action"), 64),
                "caller_reference": _clip(params.get("CallerReference"), CALLER_REFERENCE_LENGTH),
                "http_status": status,
                "error_code": error_code,
                "latency_ms": round((time.perf_counter() - started) * 1000),
                "received_at": received_at,
                "caller_id": exchange.caller_id,
                "access_key_id": _clip(params.get("AWSAccessKeyId"), 128),
                "transaction_id": transaction_id or _clip(params.get("TransactionId"), TRANSACTION_ID_LENGTH),
                "response_body": body.decode("utf-8"),
            }

        def in_the_action(conn: Connection, result: TransactionResult) -> None:
            """A money-moving action's answer is recorded inside the action, in its savepoint of its batch's
            transaction (`fpscore.processor.batch`): it commits with the money or not at all, and costs no
            commit of its own. A batch that runs again records it again."""
            body = render_success(exchange.action, exchange.version, _transaction(result).result,
                                  f"{request_uuid}:0")  # fmt: skip
            _INSERT_RECORD.rows(conn, record(200, None, f"{request_uuid}:0", result.transaction_id, body))
            exchange.body = body

        try:
            with in_transaction(in_the_action):
                action, version, answer = self._handle(environ, exchange)
            request_id, status, error_code = f"{request_uuid}:0", 200, None
            recorded = exchange.body is not None  # the handler returned: that transaction committed
            body = exchange.body if recorded else render_success(action, version, answer.result, request_id)
            transaction_id = answer.transaction_id
        except Exception as exc:
            if not isinstance(exc, FpsError):
                logger.exception("RequestId %s failed unexpectedly", request_uuid)
            error = exc if isinstance(exc, FpsError) else InternalError(INTERNAL_ERROR_MESSAGE)
            request_id, status, error_code = request_uuid, error.http_status, error.code
            body, recorded, transaction_id = render_error(error, request_id), False, None
        row = record(status, error_code, request_id, transaction_id, body)
        if not recorded:
            self._record(row)
        log_summary(row)
        return status, body

    def _handle(self, environ: WSGIEnvironment, exchange: _Exchange) -> tuple[str, str, Answer]:
        exchange.params = params = decode_params(read_form(environ))
        spec, version = action_and_version(params)
        exchange.action, exchange.version = spec.name, version
        if spec.name == "VerifySignature":
            if "AWSAccessKeyId" in params or "Signature" in params:
                exchange.caller_id = self._authenticate(environ, params).caller_id
            return spec.name, version, self._verify_signature(spec.parse(version, params))
        caller_id = exchange.caller_id = self._authenticate(environ, params).caller_id
        return spec.name, version, HANDLERS[spec.name](self.processor, caller_id, spec.parse(version, params))

    def _authenticate(self, environ: WSGIEnvironment, params: dict[str, str]) -> CallerAccount:
        for name in _AUTH_PARAMS:
            if not params.get(name):
                raise MissingParameter(f"{name} is required")
        caller = self._caller(params["AWSAccessKeyId"])
        if params["SignatureVersion"] != "2":
            raise InvalidParams(
                f"SignatureVersion {params['SignatureVersion'][:8]!r} is not supported; use 2"
            )
        if not verify_query(
            params,
            caller.secret_access_key,
            method=environ["REQUEST_METHOD"],
            host_header=environ.get("HTTP_HOST") or environ.get("SERVER_NAME", ""),
            path=environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            public_host=self.public_host,
        ):
            raise SignatureDoesNotMatch(SIGNATURE_MISMATCH_MESSAGE)
        check_timestamp(params, self.processor.clock())
        return caller

    def _caller(self, access_key_id: str) -> CallerAccount:
        """The caller of a key, from the cache while it is fresh (see CALLER_CACHE_S)."""
        now = time.monotonic()
        cached = self._callers.get(access_key_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        caller = self.processor.caller_for_key(access_key_id)
        if len(self._callers) >= MAX_CACHED_CALLERS:
            self._callers.clear()
        self._callers[access_key_id] = (caller, now + CALLER_CACHE_S)
        return caller

    def _verify_signature(self, kwargs: dict[str, Any]) -> Answer:
        """Whether HttpParameters carry a valid signature by one of our keys for UrlEndPoint (§11)."""
        received = decode_params(kwargs["http_parameters"])
        certificate_url = received.get("certificateUrl")
        if not certificate_url:
            raise InvalidParams("certificateUrl is missing in 'HttpParameters'.")
        try:
            match = CERTIFICATE_PATH.fullmatch(urlsplit(certificate_url).path)
        except ValueError:
            match = None
        pem = self.keys.certificate_pem(match["key_id"]) if match else None
        valid = pem is not None and any(
            verify_outbound(received, method=verb, url_endpoint=kwargs["url_endpoint"], certificate_pem=pem)
            for verb in ("GET", "POST")
        )
        return Answer([("VerificationStatus", "Success" if valid else "Failure")])

    def _record(self, row: dict[str, Any]) -> None:
        """Store the request's record; a failure to do so is logged, the answer still goes out."""
        try:
            with self.processor.engine.begin() as conn:
                conn.execute(insert(_api_requests).values(**row))
        except Exception:
            logger.exception("RequestId %s could not be recorded", row["request_id"])
