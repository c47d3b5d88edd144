"""The query API's actions as both sides see them: versions, namespaces, and each action's parameters.

A request is one flat form (`decode_params`): names are case-sensitive, amounts come as `X.Value` +
`X.CurrencyCode`, lists as `X.1`, `X.2`, .... `ActionSpec.parse` checks an action's parameters and returns
the keyword arguments of the Processor method the action maps onto (`Param.kwarg`). Unknown parameters
are ignored, as FPS ignored them; what would make a request ambiguous, unbounded or unsafe to echo into
XML is InvalidParams: a repeated name, more than `MAX_PARAMS` parameters, a name or value over
`MAX_VALUE_BYTES`, control characters (a `ParameterError`, naming the parameter). An unsupported Version
is InvalidParams too (FPS's error table has no version code, and every FPS client knows InvalidParams).

Wire limits are defined here once and read everywhere else (the processor's checks, the CBUI start
parameters). Every length limit counts characters (Unicode code points, as `len` and PostgreSQL's
varchar count them), checked by `check_length`; only MAX_VALUE_BYTES counts UTF-8 bytes, a bound on any
raw name or value before it is read as a parameter.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from fpscore.errors import InvalidAction, InvalidParams
from fpscore.money import DEFAULT_CURRENCY, Amount

VERSIONS = ("2008-09-17", "2010-08-28")
MAX_PARAMS = 100
MAX_VALUE_BYTES = 4096
# Length limits, in characters.
TOKEN_ID_LENGTH = 64
TRANSACTION_ID_LENGTH = 35
CALLER_REFERENCE_LENGTH = 128
DESCRIPTION_LENGTH = 160
URL_LENGTH = 2048
# C0 and C1 controls (tab and newline included), DEL, surrogates and the XML non-characters.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# The same but for tab, LF and CR: what a value may not hold where `decode_params` allows line breaks.
_UNSAFE_IN_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_INTEGER = re.compile(r"[0-9]{1,9}")


def namespace(version: str) -> str:
    """The XML namespace of responses to a request of `version`."""
    return f"http://fps.amazonaws.com/doc/{version}/"


def check_length(name: str, value: str, limit: int) -> None:
    """InvalidParams unless `value` holds at most `limit` characters."""
    if len(value) > limit:
        raise InvalidParams(f"{name} is longer than {limit} characters")


class ParameterError(InvalidParams):
    """InvalidParams about one parameter of a form: its name (at most 64 characters) and what is wrong."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"Parameter {name[:64]!r} {problem}")
        self.name = name[:64]
        self.problem = problem


def decode_params(form: str, *, line_breaks: bool = False) -> dict[str, str]:
    """An application/x-www-form-urlencoded string (query string or body) as a dict, within the limits.

    `line_breaks`: values may hold tabs and line breaks (text a person wrote, such as a CBUI paymentReason).
    """
    pieces = form.split("&") if form else []
    if len(pieces) > MAX_PARAMS:
        raise InvalidParams(f"A request carries at most {MAX_PARAMS} parameters")
    try:
        halves = (piece.partition("=") for piece in pieces if piece)  # no `=`: a blank value
        pairs = [(_unquote(name), _unquote(value)) for name, _, value in halves]
    except UnicodeDecodeError:
        raise InvalidParams("Parameters must be UTF-8 text, percent-encoded") from None
    params = dict(pairs)
    value_unsafe = _UNSAFE_IN_LINES if line_breaks else _UNSAFE
    # The usual form passes the checks as a whole (a character is at most 4 UTF-8 bytes); any other is
    # checked pair by pair, so that the first problem in the form is the one reported.
    longest = max(map(len, [*params, *params.values()]), default=0)
    if (
        len(params) != len(pairs)
        or longest * 4 > MAX_VALUE_BYTES
        or _UNSAFE.search("".join(params))
        or value_unsafe.search("".join(params.values()))
    ):
        _check_pairs(pairs, value_unsafe)
    return params


def _unquote(text: str) -> str:
    """Form text decoded as `urllib.parse.parse_qsl` decodes it (`+` a space, `%XX` UTF-8, strictly), with
    less work per call: a request's form is decoded on every request."""
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text, errors="strict") if "%" in text else text


def _check_pairs(pairs: list[tuple[str, str]], value_unsafe: re.Pattern[str]) -> None:
    """ParameterError for the first repeated, oversized or unsafe name or value of `pairs`."""
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise ParameterError(name, "is given more than once")
        for text, unsafe in ((name, _UNSAFE), (value, value_unsafe)):
            if len(text.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
                raise ParameterError(name, f"is longer than {MAX_VALUE_BYTES} bytes")
            if unsafe.search(text):
                raise ParameterError(name, "contains control characters")
        seen.add(name)


class Kind(enum.Enum):
    TEXT = "text"
    INTEGER = "integer"
    DATE = "date"  # ISO 8601; without an offset it is UTC
    URL = "url"  # absolute http(s)
    AMOUNT = "amount"  # the group `<name>.Value` + `<name>.CurrencyCode` (USD when absent)
    LIST = "list"  # `<name>.1`, `<name>.2`, ... in index order
    UNSUPPORTED = "unsupported"  # marketplace features: refused rather than silently dropped


@dataclass(frozen=True, slots=True)
class Param:
    """One request parameter of an action."""

    name: str
    kwarg: str | None = None  # the Processor keyword it feeds; None: checked, not passed on
    required: bool = False
    kind: Kind = Kind.TEXT
    max_length: int = 128  # characters
    choices: Mapping[str, object] | None = None  # allowed values and what each is passed on as
    since: str = VERSIONS[0]

    def read(self, version: str, params: Mapping[str, str]) -> object:
        """This parameter's value in `params`, checked and converted; None when absent or empty."""
        present = self._present(params)
        if not present:
            if self.required:
                raise InvalidParams(f"{self.name}{'.Value' if self.kind is Kind.AMOUNT else ''} is required")
            return None
        if self.kind is Kind.UNSUPPORTED:
            raise InvalidParams(f"{self.name} is not supported: this processor has no marketplace")
        if version < self.since:
            raise InvalidParams(f"{self.name} is not a parameter of Version {version}")
        if self.kind is Kind.AMOUNT:
            currency = params.get(f"{self.name}.CurrencyCode") or DEFAULT_CURRENCY
            return Amount.parse(present[0][1], currency, field=self.name)
        values = [self._scalar(name, value) for name, value in present]
        return tuple(values) if self.kind is Kind.LIST else values[0]

    def _present(self, params: Mapping[str, str]) -> list[tuple[str, str]]:
        """The (wire name, value) pairs of this parameter that carry a value."""
        if self.kind is Kind.AMOUNT:
            names = [f"{self.name}.Value"]
        elif self.kind is Kind.LIST:
            item = re.compile(re.escape(self.name) + r"\.([1-9][0-9]?)")
            names = sorted((n for n in params if item.fullmatch(n)), key=lambda n: int(n.rpartition(".")[2]))
        elif self.kind is Kind.UNSUPPORTED:
            group = f"{self.name}."
            names = [n for n in params if n == self.name or n.startswith(group)]
        else:
            value = params.get(self.name)
            return [(self.name, value)] if value else []
        return [(name, params[name]) for name in names if params.get(name)]

    def _scalar(self, name: str, value: str) -> object:
        check_length(name, value, self.max_length)
        if self.choices is not None:
            if value not in self.choices:
                raise InvalidParams(f"{name} must be one of {', '.join(self.choices)}")
            return self.choices[value]
        if self.kind is Kind.INTEGER:
            if not _INTEGER.fullmatch(value):
                raise InvalidParams(f"{name} must be a whole number")
            return int(value)
        if self.kind is Kind.DATE:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise InvalidParams(f"{name} {value!r} is not an ISO 8601 date and time") from None
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        if self.kind is Kind.URL:
            try:
                parts = urlsplit(value)
                port_ok = parts.port is None or parts.port > 0  # .port raises on a malformed port
                absolute = parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok
            except ValueError:  # a malformed host or port
                absolute = False
            if not absolute:
                raise InvalidParams(f"{name} must be an absolute http or https URL")
        return value


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """An action, what it does (one line, the README's table of actions shows it) and its parameters;
    `parse` yields the Processor method's keyword arguments."""

    name: str
    summary: str
    params: tuple[Param, ...] = ()

    def parse(self, version: str, params: Mapping[str, str]) -> dict[str, Any]:
        """The Processor keyword arguments; checked parameters that feed no keyword go, as sent, into
        `options`, so that they still tell two requests apart under one CallerReference."""
        kwargs: dict[str, Any] = {}
        options: dict[str, str] = {}
        for param in self.params:
            value = param.read(version, params)
            if value is None:
                continue
            if param.kwarg is not None:
                kwargs[param.kwarg] = value
            else:
                options[param.name] = params[param.name]
        if options:
            kwargs["options"] = options
        return kwargs


def _enum(*values: str) -> dict[str, str]:
    return {value: value for value in values}


OPERATIONS = ("Pay", "Refund", "Settle", "SettleDebt", "WriteOffDebt", "FundPrepaid", "Reserve")
PAYMENT_METHODS = ("ABT", "ACH", "CC", "Debt", "Prepaid")
TRANSACTION_STATUSES = ("Cancelled", "Failure", "Pending", "Reserved", "Success")
ROLES = ("Caller", "Recipient", "Sender")
TOKEN_STATUSES = ("Active", "Inactive")
TOKEN_TYPES = ("SingleUse", "MultiUse", "Recurring", "Unrestricted")


def _token(name: str, kwarg: str | None, required: bool = True) -> Param:
    return Param(name, kwarg, required=required, max_length=TOKEN_ID_LENGTH)


_CALLER_REFERENCE = Param(
    "CallerReference", "caller_reference", required=True, max_length=CALLER_REFERENCE_LENGTH
)
_CALLER_DESCRIPTION = Param("CallerDescription", "caller_description", max_length=DESCRIPTION_LENGTH)
_SENDER_DESCRIPTION = Param("SenderDescription", "sender_description", max_length=DESCRIPTION_LENGTH)
_TRANSACTION_ID = Param("TransactionId", "transaction_id", required=True, max_length=TRANSACTION_ID_LENGTH)
_CREDIT_INSTRUMENT = _token("CreditInstrumentId", "credit_instrument_id")
# Accepted for the clients that send them; aggregated payments have one fee payer (the recipient),
# one soft descriptor and no timeouts.
_CHARGE_OPTIONS = (
    Param("DescriptorPolicy.SoftDescriptorType", choices=_enum("Static", "Dynamic")),
    Param("DescriptorPolicy.CSOwner", choices=_enum("Recipient", "Caller")),
    Param("TransactionTimeoutInMins", kind=Kind.INTEGER),
    Param("ChargeFeeTo", choices=_enum("Caller", "Recipient")),
)
_OVERRIDE_IPN_URL = Param(
    "OverrideIPNURL", "ipn_url", kind=Kind.URL, max_length=URL_LENGTH, since="2010-08-28"
)

ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            "FundPrepaid",
            "Charge the buyer's funding source and raise a prepaid balance by the full amount (fee charged)",
            (
                _token("SenderTokenId", "sender_token_id"),
                _token("PrepaidInstrumentId", "prepaid_instrument_id"),
                Param("FundingAmount", "amount", required=True, kind=Kind.AMOUNT),
                _CALLER_REFERENCE,
                _CALLER_DESCRIPTION,
                _SENDER_DESCRIPTION,
                *_CHARGE_OPTIONS,
                _OVERRIDE_IPN_URL,
            ),
        ),
        ActionSpec(
            "Pay",
            "Spend from a prepaid balance, or add to a credit instrument's debt (no fee)",
            (
                _token("SenderTokenId", "sender_token_id"),
                Param("TransactionAmount", "amount", required=True, kind=Kind.AMOUNT),
                _CALLER_REFERENCE,
                _CALLER_DESCRIPTION,
                _SENDER_DESCRIPTION,
                *_CHARGE_OPTIONS,
                Param("RecipientTokenId", kind=Kind.UNSUPPORTED),
                Param("MarketplaceFixedFee", kind=Kind.UNSUPPORTED),
                Param("MarketplaceVariableFee", kind=Kind.UNSUPPORTED),
                _OVERRIDE_IPN_URL,
            ),
        ),
        ActionSpec(
            "Refund",
            "Reverse all or part of a Pay",
            (
                _TRANSACTION_ID,
                _CALLER_REFERENCE,
                Param("RefundAmount", "amount", kind=Kind.AMOUNT),  # absent: refund what remains
                _CALLER_DESCRIPTION,
                Param(
                    "MarketplaceRefundPolicy",
                    choices=_enum("MarketplaceTxnOnly", "MasterAndMarketplaceTxn", "MasterTxnOnly"),
                ),
                _OVERRIDE_IPN_URL,
            ),
        ),
        ActionSpec(
            "SettleDebt",
            "Charge the buyer's funding source for all or part of a debt (fee charged)",
            (
                _token("SenderTokenId", "sender_token_id"),
                _CREDIT_INSTRUMENT,
                Param("SettlementAmount", "amount", required=True, kind=Kind.AMOUNT),
                _CALLER_REFERENCE,
                _CALLER_DESCRIPTION,
                _SENDER_DESCRIPTION,
                *_CHARGE_OPTIONS,
                _OVERRIDE_IPN_URL,
            ),
        ),
        ActionSpec(
            "WriteOffDebt",
            "Forgive all or part of a debt, as the caller's loss; cannot be reversed",
            (
                _CREDIT_INSTRUMENT,
                Param("AdjustmentAmount", "amount", required=True, kind=Kind.AMOUNT),
                _CALLER_REFERENCE,
                _CALLER_DESCRIPTION,
            ),
        ),
        ActionSpec(
            "GetPrepaidBalance",
            "The balance of one prepaid instrument",
            (_token("PrepaidInstrumentId", "prepaid_instrument_id"),),
        ),
        ActionSpec("GetTotalPrepaidLiability", "The sum of the caller's prepaid balances"),
        ActionSpec("GetDebtBalance", "The debt on one credit instrument", (_CREDIT_INSTRUMENT,)),
        ActionSpec("GetOutstandingDebtBalance", "The sum of the debts on the caller's credit instruments"),
        ActionSpec(
            "GetAccountBalance",
            "The caller's own balance: total, pending in and out, available to disburse and to refund",
        ),
        ActionSpec("GetTransaction", "One transaction in full", (_TRANSACTION_ID,)),
        ActionSpec("GetTransactionStatus", "One transaction's status", (_TRANSACTION_ID,)),
        ActionSpec(
            "GetAccountActivity",
            "The caller's transactions in a date range, a page at a time",
            (
                Param("StartDate", "start", required=True, kind=Kind.DATE, max_length=40),
                Param("EndDate", "end", kind=Kind.DATE, max_length=40),
                Param("MaxBatchSize", "max_batch_size", kind=Kind.INTEGER),
                Param("SortOrderByDate", "descending", choices={"Ascending": False, "Descending": True}),
                Param("FPSOperation", "operation", choices=_enum(*OPERATIONS)),
                Param("PaymentMethod", "payment_method", choices=_enum(*PAYMENT_METHODS)),
                Param("Role", "roles", kind=Kind.LIST, choices=_enum(*ROLES)),
                Param("TransactionStatus", "status", choices=_enum(*TRANSACTION_STATUSES)),
            ),
        ),
        ActionSpec(
            "GetTokens",
            "The tokens installed for the caller",
            (
                Param("TokenStatus", "status", choices=_enum(*TOKEN_STATUSES)),
                Param("TokenType", "token_type", choices=_enum(*TOKEN_TYPES)),
                Param("CallerReference", "caller_reference", max_length=CALLER_REFERENCE_LENGTH),
                Param("TokenFriendlyName", "friendly_name"),
            ),
        ),
        ActionSpec(
            "GetTokenByCaller",
            "One token, by its id or its CallerReference",
            (
                _token("TokenId", "token_id", required=False),
                Param("CallerReference", "caller_reference", max_length=CALLER_REFERENCE_LENGTH),
            ),
        ),
        ActionSpec(
            "CancelToken",
            "Cancel a token: no further use",
            (
                _token("TokenId", "token_id"),
                Param("ReasonText", "reason", max_length=1024),
                _OVERRIDE_IPN_URL,
            ),
        ),
        ActionSpec(
            "VerifySignature",
            "Whether a return URL's or IPN's parameters carry a valid signature (may come unsigned)",
            (
                Param("UrlEndPoint", "url_endpoint", required=True, kind=Kind.URL, max_length=URL_LENGTH),
                Param("HttpParameters", "http_parameters", required=True, max_length=MAX_VALUE_BYTES),
            ),
        ),
    )
}


# FPS actions this processor refuses with InvalidAction, each with the FPS product it belongs to: the
# aggregated-payments processor answers only ACTIONS.
_RESERVE = "reserve and capture (FPS Basic and Advanced: authorise now, settle or cancel later)"
_SUBSCRIPTIONS = "subscriptions (Amazon Simple Pay, API 2010-08-28)"
_INSTRUCTIONS = "payment instructions (FPS Advanced: tokens written in the GateKeeper language)"
_API_2007 = "the first FPS API, 2007-01-08 (GetTokens lists the instruments' tokens)"
REFUSED_ACTIONS: dict[str, str] = {
    "Reserve": _RESERVE,
    "Settle": _RESERVE,
    "Cancel": _RESERVE,
    "GetSubscriptionDetails": _SUBSCRIPTIONS,
    "GetTransactionsForSubscription": _SUBSCRIPTIONS,
    "CancelSubscriptionAndRefund": _SUBSCRIPTIONS,
    "GetRecipientVerificationStatus": "recipient verification (marketplaces, API 2010-08-28)",
    "InstallPaymentInstruction": _INSTRUCTIONS,
    "GetPaymentInstruction": _INSTRUCTIONS,
    "GetTokenUsage": "usage limits of multi-use and recurring tokens (FPS Advanced)",
    "GetAllPrepaidInstruments": _API_2007,
    "GetAllCreditInstruments": _API_2007,
}


def action_and_version(params: Mapping[str, str]) -> tuple[ActionSpec, str]:
    """The action a request names and its Version: InvalidAction, or InvalidParams for the Version."""
    action = params.get("Action", "")
    if not action:
        raise InvalidAction("Action is required")
    spec = ACTIONS.get(action)
    if spec is None:
        product = REFUSED_ACTIONS.get(action)
        if product is not None:
            raise InvalidAction(f"Action {action} is not offered here: it belongs to {product}")
        raise InvalidAction(f"Action {action[:64]!r} is not valid for this web service")
    version = params.get("Version", "")
    if not version:
        raise InvalidParams("Version is required")
    if version not in VERSIONS:
        raise InvalidParams(f"Version {version[:40]!r} is not supported; use {' or '.join(VERSIONS)}")
    return spec, version
