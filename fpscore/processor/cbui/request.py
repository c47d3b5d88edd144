"""A Co-Branded UI start request: its parameters, the rules they must meet, and the `PipelineRequest` they
make.

Each parameter is a wire catalogue `Param` (`START_PARAMS`), so its presence, length and kind are checked
as the query API checks its own, against the catalogue's limits; amounts come plain (`fundingAmount=25.00`
and one `currencyCode`), not as the query API's `X.Value` groups. On top of that, the rules of a start:

- `returnURL` is an absolute http(s) URL of printable ASCII without user information, fragment, a repeated
  query name or a name the return itself carries (`RETURN_PARAMS`).
- `paymentMethod` is a comma list of CC, ACH, ABT; the first one is what is stored (CC by default).
- A validity period and a signed `startUrlExpiry` are checked against the clock when the start is opened
  (`parse_start(..., now)`); a pipeline under way keeps the period it started with.
- Address, shipping and usage-limit parameters, and anything unknown (boto's `CallerReference`), are
  accepted and ignored; they still count in the signature.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import parse_qsl, urlsplit

from fpscore.errors import FpsError, InvalidParams
from fpscore.money import CURRENCY_EXPONENTS, DEFAULT_CURRENCY, Amount
from fpscore.processor.instruments import MAX_VALIDITY_START, PAYMENT_METHODS
from fpscore.wire.catalogue import (
    CALLER_REFERENCE_LENGTH,
    URL_LENGTH,
    Kind,
    Param,
    ParameterError,
    decode_params,
)

PIPELINE_VERSION = "2009-01-09"
PIPELINES = ("SetupPrepaid", "SetupPostpaid")
MAX_START_URL_LIFETIME = timedelta(days=7)  # the furthest ahead a signed startUrlExpiry may be
MAX_PAYMENT_REASON = 2048
VALIDITY_START_SKEW = timedelta(minutes=15)  # as the Processor allows
# What the return URL carries: a merchant's own returnURL query may not use these names.
RETURN_PARAMS = frozenset(
    {
        "status", "errorMessage", "expiry", "callerReference", "tokenID", "warningCode", "warningMessage",
        "fundingTokenID", "prepaidInstrumentID", "prepaidSenderTokenID",
        "creditInstrumentID", "creditSenderTokenID", "settlementTokenID",
        "signature", "signatureVersion", "signatureMethod", "certificateUrl", "callerKey",
    }
)  # fmt: skip


def _reference(name: str) -> Param:
    return Param(name, required=True, max_length=CALLER_REFERENCE_LENGTH)


# The start parameters a pipeline uses (checked where the pipeline needs them); a sealed state carries
# these and nothing else.
START_PARAMS: dict[str, Param] = {
    param.name: param
    for param in (
        Param("callerKey"),  # checked with the signature (`controller`)
        Param("pipelineName", required=True, choices={name: name for name in PIPELINES}),
        Param("returnURL", required=True, kind=Kind.URL, max_length=URL_LENGTH),
        _reference("callerReferenceSender"),
        _reference("callerReferenceFunding"),
        _reference("callerReferenceSettlement"),
        Param("fundingAmount", required=True),
        Param("creditLimit", required=True),
        Param("globalAmountLimit", required=True),
        Param("currencyCode", choices={code: code for code in CURRENCY_EXPONENTS}),
        Param("paymentMethod"),
        Param("paymentReason", max_length=MAX_PAYMENT_REASON),
        Param("validityStart"),
        Param("validityExpiry"),
        Param("startUrlExpiry"),
    )
}
_EPOCH = re.compile(r"[0-9]{1,11}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_URL_TEXT = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: safe in a Location header


class CallerInputError(Exception):
    """A start request FPS would answer with "Caller Input Exception": the inputs at fault, and why."""

    def __init__(self, problems: Mapping[str, str]):
        super().__init__(", ".join(problems))
        self.problems = dict(problems)


@dataclass(frozen=True, slots=True)
class PipelineRequest:
    """A verified start request, parsed: what the buyer is asked to authorize."""

    pipeline: str
    caller_key: str
    return_url: str
    caller_reference_sender: str
    caller_reference_other: str  # callerReferenceFunding (prepaid) or callerReferenceSettlement (postpaid)
    funding_limit: Amount | None  # prepaid: the most the balance may hold
    credit_limit: Amount | None  # postpaid: the most debt outstanding
    global_amount_limit: Amount | None  # postpaid: the largest single purchase
    payment_method: str
    payment_reason: str | None
    validity_start: datetime | None
    validity_expiry: datetime | None
    url_expiry: datetime | None  # startUrlExpiry: when the start URL stops working
    params: dict[str, str]  # the start parameters it was parsed from (those in `START_PARAMS`)

    @property
    def prepaid(self) -> bool:
        return self.pipeline == "SetupPrepaid"

    @property
    def return_origin(self) -> str:
        parts = urlsplit(self.return_url)
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def decode_form(form: str) -> dict[str, str]:
    """Form text as a dict, decoded as the query API decodes it but for values that span lines (a
    paymentReason of HTML); CallerInputError naming the parameter at fault otherwise."""
    try:
        return decode_params(form, line_breaks=True)
    except ParameterError as exc:
        raise CallerInputError({exc.name if exc.name.isprintable() else "request": exc.problem}) from None
    except InvalidParams as exc:
        raise CallerInputError({"request": exc.message}) from None


def _epoch(value: str) -> datetime:
    if not _EPOCH.fullmatch(value):
        raise ValueError(value)
    return datetime.fromtimestamp(int(value), UTC)


def _expiry(value: str) -> datetime:
    """epoch seconds, or a date (YYYY-MM-DD, UTC): valid through the end of that day."""
    if _DATE.fullmatch(value):
        return datetime.combine(date.fromisoformat(value), time(23, 59, 59), UTC)
    return _epoch(value)


def _return_url_problem(url: str) -> str | None:
    """What is wrong with an absolute http(s) `url` as a returnURL, beyond what its `Param` checks."""
    if not _URL_TEXT.fullmatch(url):
        return "must be an absolute http(s) URL of printable ASCII"
    parts = urlsplit(url)
    if "@" in parts.netloc or "#" in url:
        return "must not carry user information or a fragment"
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    if len(names) != len(set(names)):
        return "must not repeat a query parameter"
    if taken := sorted(RETURN_PARAMS.intersection(names)):
        return f"must not carry the parameters FPS returns ({', '.join(taken)})"
    return None


def parse_start(params: Mapping[str, str], now: datetime | None) -> PipelineRequest:
    """The pipeline a start request asks for; CallerInputError naming every input at fault.

    `now` checks the validity period against the clock; None skips that (a pipeline under way keeps the
    period it started with; the Processor judges it again when the buyer confirms).
    """
    problems: dict[str, str] = {}
    given = {name: value for name, value in params.items() if value.strip()}  # blank is absent

    def read(name: str) -> str | None:
        try:
            value = START_PARAMS[name].read(PIPELINE_VERSION, given)
        except InvalidParams as exc:
            problems[name] = exc.message.removeprefix(f"{name} ")
            return None
        assert value is None or isinstance(value, str)
        return value

    def amount(name: str, currency: str) -> Amount | None:
        value = read(name)
        if value is None:
            return None
        try:
            return Amount.parse(value, currency, field=name)
        except FpsError as exc:
            problems[name] = exc.message.removeprefix(f"{name} ").removeprefix(f"{value[:40]!r} ")
            return None

    def moment(name: str, parse: Callable[[str], datetime], expected: str) -> datetime | None:
        value = read(name)
        try:
            return None if value is None else parse(value)
        except (ValueError, OverflowError, OSError):
            problems[name] = f"must be {expected}"
            return None

    pipeline = read("pipelineName")
    if params.get("version", PIPELINE_VERSION) != PIPELINE_VERSION:
        problems["version"] = f"must be {PIPELINE_VERSION}"
    return_url = read("returnURL")
    if return_url is not None and (problem := _return_url_problem(return_url)):
        problems["returnURL"] = problem
    currency = read("currencyCode") or DEFAULT_CURRENCY
    sender = read("callerReferenceSender")
    other_name = "callerReferenceFunding" if pipeline != "SetupPostpaid" else "callerReferenceSettlement"
    other = read(other_name)
    if sender is not None and other is not None and sender == other:
        problems[other_name] = "must differ from callerReferenceSender"
    funding_limit = credit_limit = global_amount_limit = None
    if pipeline == "SetupPrepaid":
        funding_limit = amount("fundingAmount", currency)
    elif pipeline == "SetupPostpaid":
        credit_limit = amount("creditLimit", currency)
        global_amount_limit = amount("globalAmountLimit", currency)

    methods = [method.strip() for method in (read("paymentMethod") or "CC").split(",")]
    if not all(method in PAYMENT_METHODS for method in methods):
        problems["paymentMethod"] = f"must be a comma-separated list of {', '.join(PAYMENT_METHODS)}"
    reason = read("paymentReason")

    epoch = "a time in seconds since the epoch"
    validity_start = moment("validityStart", _epoch, epoch)
    validity_expiry = moment("validityExpiry", _expiry, f"{epoch}, or a date (YYYY-MM-DD)")
    if now is not None:
        if validity_start is not None and not (
            now - VALIDITY_START_SKEW <= validity_start <= now + MAX_VALIDITY_START
        ):
            problems["validityStart"] = "must be between now and one year from now"
        if validity_expiry is not None and validity_expiry <= now:
            problems["validityExpiry"] = "is in the past"
    if validity_start and validity_expiry and validity_start >= validity_expiry:
        problems["validityExpiry"] = "must be after validityStart"
    url_expiry = moment("startUrlExpiry", _epoch, epoch)
    if url_expiry is None and "startUrlExpiry" in params:  # signed, and blank: it expires, but when?
        problems.setdefault("startUrlExpiry", f"must be {epoch}")
    if now is not None and url_expiry is not None:
        if url_expiry <= now:
            problems["startUrlExpiry"] = "has passed: the merchant's link to this authorization has expired"
        elif url_expiry > now + MAX_START_URL_LIFETIME:
            problems["startUrlExpiry"] = f"must be at most {MAX_START_URL_LIFETIME.days} days ahead"

    if problems:
        raise CallerInputError(problems)
    assert pipeline is not None and return_url is not None and sender is not None and other is not None
    return PipelineRequest(
        pipeline=pipeline,
        caller_key=params.get("callerKey", ""),
        return_url=return_url,
        caller_reference_sender=sender,
        caller_reference_other=other,
        funding_limit=funding_limit,
        credit_limit=credit_limit,
        global_amount_limit=global_amount_limit,
        payment_method=methods[0],
        payment_reason=reason,
        validity_start=validity_start,
        validity_expiry=validity_expiry,
        url_expiry=url_expiry,
        params={name: params[name] for name in START_PARAMS if name in params},
    )
