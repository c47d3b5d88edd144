"""The merchant's half of the Co-Branded UI round trip: signed SetupPrepaid / SetupPostpaid start URLs,
and the return: verify the signature, act on the status, store the tokens.

Each round trip is a TokenReference with fresh caller references. The returnURL carries that reference
(`tokenReference=…`), and since the processor signs every parameter it returns, the merchant knows which
round trip came back without trusting anything unsigned. Signatures are checked locally with the
processor's certificate, fetched only from the processor's own host and cached; when the certificate
cannot be fetched, the processor's VerifySignature action decides.

The processor signs with one key for every merchant, so a valid signature alone does not make a return
ours: another merchant can start a round trip of its own with our returnURL. Our processor signs the
caller that started it (`callerKey`) and the round trip (`callerReference`, our callerReferenceSender)
into every return: both must be ours. Amazon FPS and other FPS-compatible processors name neither, so a
return without `callerKey` is believed only as far as the processor confirms it to us, under our own
credentials, with GetTokenByCaller on this round trip's caller references: a success only when the tokens
it names are the ones issued to us for them (another caller's are unknown to us: InvalidCallerReference),
a cancel or a refusal only when no token was issued for the round trip. Such a cancel cannot show who sent
it, so a success the processor confirms later still completes the round trip.

A round trip ends once: a return for one that already ended is refused and changes nothing, unless it is
the very return that ended it (a reload of the page). `SE` (the processor's transient fault, "try again")
ends nothing: the buyer may confirm again, and that return completes the round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from sqlalchemy import Row, insert, select, update

from fpscore.errors import InvalidCallerReference
from fpscore.merchant.connect import Merchant
from fpscore.merchant.flows import new_reference, require
from fpscore.merchant.roles import Actor, Permission
from fpscore.merchant.schema import MerchantInstrument, TokenReference
from fpscore.money import Amount
from fpscore.signing import verify_outbound

_references = TokenReference.__table__
_instruments = MerchantInstrument.__table__
SUCCESS_STATUSES = frozenset({"SA", "SB", "SC"})
RETRY_STATUS = "SE"
START_URL_LIFETIME = timedelta(hours=1)  # the signed startUrlExpiry of our start URLs
# When a round trip still under way has lapsed: a buyer who opened its start URL at the last moment has
# the processor's page session after that to confirm (an hour on ours).
LAPSED_AFTER = START_URL_LIFETIME + timedelta(hours=1)
MAX_RECOVERED = 500  # round trips looked into per run


class ReturnRefused(Exception):
    """A return whose signature does not verify, that names no round trip of ours, or one that already
    ended otherwise: nothing is stored."""


@dataclass(frozen=True, slots=True)
class SetupResult:
    token_reference_id: int
    status: str  # Completed, Abandoned, Failed
    cbui_status: str
    instrument_id: str | None
    error_message: str | None


def _with_query(url: str, extra: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("returnURL must be an absolute http(s) URL")
    query = [*parse_qsl(parts.query, keep_blank_values=True), *extra.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _start(
    merchant: Merchant,
    actor: Actor,
    customer_id: int,
    kind: str,
    return_url: str,
    pipeline: dict[str, str],
    limits: dict[str, int | None],
    order_id: int | None,
) -> str:
    require(merchant, actor, Permission.OPEN_INSTRUMENT, f"customer {customer_id}")
    sender = new_reference("sender")
    second_name = "callerReferenceFunding" if kind == "Prepaid" else "callerReferenceSettlement"
    second = new_reference("funding" if kind == "Prepaid" else "settlement")
    with merchant.engine.begin() as conn:
        conn.execute(
            insert(_references).values(
                customer_id=customer_id, order_id=order_id, kind=kind, caller_reference_sender=sender,
                caller_reference_funding=second if kind == "Prepaid" else None,
                caller_reference_settlement=second if kind == "Postpaid" else None,
                status="Started", created_at=merchant.clock(), **limits,
            )
        )  # fmt: skip
    params = {
        **pipeline,
        "callerReferenceSender": sender,
        second_name: second,
        "returnURL": _with_query(return_url, {"tokenReference": sender}),
        "currencyCode": "USD",
    }
    return merchant.client.pipeline_url(params, lifetime_s=int(START_URL_LIFETIME.total_seconds()))


def start_prepaid(
    merchant: Merchant,
    actor: Actor,
    customer_id: int,
    funding_limit: Amount,
    return_url: str,
    *,
    order_id: int | None = None,
    validity_expiry: datetime | None = None,
    payment_reason: str | None = None,
) -> str:
    """The signed URL that sends the customer to authorize a prepaid instrument of up to `funding_limit`."""
    pipeline = {"pipelineName": "SetupPrepaid", "fundingAmount": str(funding_limit)}
    if validity_expiry is not None:
        pipeline["validityExpiry"] = str(int(validity_expiry.timestamp()))
    if payment_reason:
        pipeline["paymentReason"] = payment_reason
    return _start(merchant, actor, customer_id, "Prepaid", return_url, pipeline,
                  {"funding_limit_cents": funding_limit.cents}, order_id)  # fmt: skip


def start_postpaid(
    merchant: Merchant,
    actor: Actor,
    customer_id: int,
    credit_limit: Amount,
    purchase_limit: Amount,
    return_url: str,
    *,
    order_id: int | None = None,
    validity_expiry: datetime | None = None,
    payment_reason: str | None = None,
) -> str:
    """The signed URL for a credit line: at most `credit_limit` owed, at most `purchase_limit` a purchase."""
    pipeline = {
        "pipelineName": "SetupPostpaid",
        "creditLimit": str(credit_limit),
        "globalAmountLimit": str(purchase_limit),
    }
    if validity_expiry is not None:
        pipeline["validityExpiry"] = str(int(validity_expiry.timestamp()))
    if payment_reason:
        pipeline["paymentReason"] = payment_reason
    limits = {"credit_limit_cents": credit_limit.cents, "purchase_limit_cents": purchase_limit.cents}
    return _start(merchant, actor, customer_id, "Postpaid", return_url, pipeline, limits, order_id)


def verify_signed(
    merchant: Merchant, actor: Actor, method: str, url_endpoint: str, params: Mapping[str, str]
) -> bool:
    """Whether `params`, received by `method` at `url_endpoint` (a return URL, an IPN), carry the
    processor's signature."""
    certificate_url = params.get("certificateUrl", "")
    cert_origin, ours = urlsplit(certificate_url), urlsplit(merchant.client.endpoint)
    if (cert_origin.scheme, cert_origin.netloc) != (ours.scheme, ours.netloc):
        return False  # a certificate from anywhere else proves nothing
    pem = merchant.certificates.get(certificate_url)
    if pem is None:
        try:
            response = merchant.client.session.get(certificate_url, timeout=merchant.client.timeout_s)
            response.raise_for_status()
            pem = merchant.certificates[certificate_url] = response.content
        except requests.RequestException:
            return merchant.client.verify_signature(url_endpoint, urlencode(params), actor=actor.name)
    return verify_outbound(params, method=method, url_endpoint=url_endpoint, certificate_pem=pem)


def _refuse(merchant: Merchant, actor: Actor, subject: str | None, why: str) -> ReturnRefused:
    merchant.audit.record_event(actor.name, "cbui_return", "Refused", subject, why)
    return ReturnRefused(why)


def complete(merchant: Merchant, actor: Actor, url_endpoint: str, params: Mapping[str, str]) -> SetupResult:
    """Act on a CBUI return: store the tokens (SA/SB/SC), or the abandonment (A), or the error; a transient
    fault (SE) leaves the round trip under way. The same return again answers what it stored; any other
    return for a round trip that ended is refused. A return naming no caller is first put to the
    processor (FpsError when it cannot be asked)."""
    if not verify_signed(merchant, actor, "GET", url_endpoint, params):
        raise _refuse(merchant, actor, None, "the return's signature does not verify")
    token_reference = params.get("tokenReference", "")
    named_caller = params.get("callerKey")
    if named_caller is not None and named_caller != merchant.client.access_key_id:
        raise _refuse(merchant, actor, token_reference[:128] or None, "the return names another caller")
    with merchant.engine.connect() as conn:
        reference = conn.execute(
            select(_references).where(_references.c.caller_reference_sender == token_reference)
        ).one_or_none()
    # The round trip a return names must be this one; a return naming a caller must name its round trip.
    named_trip = params.get("callerReference", None if named_caller is None else "")
    if reference is None or named_trip not in (None, reference.caller_reference_sender):
        raise _refuse(merchant, actor, None, "the return names no round trip of this merchant")
    status = params.get("status", "")
    if reference.status != "Started" and not _may_overrule(reference, status, named_caller):
        return _ended(merchant, actor, reference, status, params)
    message = params.get("errorMessage") or (
        "The customer left the authorization" if status == "A" else status
    )
    if status == RETRY_STATUS:
        return _retry(merchant, actor, reference, message)
    if named_caller is None and (why := _unconfirmed(merchant, actor, reference, status, params)):
        raise _refuse(merchant, actor, reference.caller_reference_sender, why)
    if status in SUCCESS_STATUSES:
        return _store_tokens(merchant, actor, reference, status, params)
    outcome = "Abandoned" if status == "A" else "Failed"
    with merchant.engine.begin() as conn:
        ended = conn.execute(
            update(_references).where(_references.c.id == reference.id, _references.c.status == "Started")
            .values(status=outcome, cbui_status=status[:4], error_message=message[:1000],
                    completed_at=merchant.clock())
        ).rowcount  # fmt: skip
    if not ended:  # another return for it was stored meanwhile
        return _ended(merchant, actor, reference, status, params)
    merchant.audit.record_event(
        actor.name, "cbui_return", outcome, reference.caller_reference_sender, message
    )
    return SetupResult(reference.id, outcome, status, None, message)


def _may_overrule(ref: Row[Any], status: str, named_caller: str | None) -> bool:
    """Whether a return may complete a round trip that ended in a cancel or a refusal: a success naming no
    caller, once the processor confirms its tokens. A processor that names no caller cannot show who sent
    the cancel (another merchant can, through our returnURL); the tokens it issued us settle it."""
    return named_caller is None and status in SUCCESS_STATUSES and ref.status in ("Abandoned", "Failed")


def _retry(merchant: Merchant, actor: Actor, ref: Row[Any], message: str) -> SetupResult:
    """A transient fault at the processor: the round trip stays under way, with what went wrong."""
    with merchant.engine.begin() as conn:
        conn.execute(
            update(_references).where(_references.c.id == ref.id, _references.c.status == "Started")
            .values(cbui_status=RETRY_STATUS, error_message=message[:1000])
        )  # fmt: skip
    merchant.audit.record_event(actor.name, "cbui_return", "Failed", ref.caller_reference_sender, message)
    return SetupResult(ref.id, "Started", RETRY_STATUS, None, message)


def _issued(merchant: Merchant, actor: Actor, caller_reference: str) -> str | None:
    """The id of the token the processor issued us under `caller_reference` (GetTokenByCaller), or None
    when it issued none (InvalidCallerReference); other errors propagate: the return cannot be judged."""
    params = {"CallerReference": caller_reference}
    try:
        reply = merchant.client.call("GetTokenByCaller", params, actor=actor.name)
    except InvalidCallerReference:
        return None
    return reply.result.findtext("Token/TokenId") if reply.result is not None else None


def _unconfirmed(
    merchant: Merchant, actor: Actor, ref: Row[Any], status: str, params: Mapping[str, str]
) -> str | None:
    """Why the processor, asked under our credentials, does not bear out a return that names no caller;
    None when it does: a success's tokens are the ones issued to us for this round trip's references, a
    cancel or refusal's round trip has no token."""
    expected: dict[str, str | None] = {ref.caller_reference_sender: None}
    if status in SUCCESS_STATUSES:
        ids = _ids(ref.kind, params)
        other = ref.caller_reference_funding or ref.caller_reference_settlement
        expected = {
            ref.caller_reference_sender: ids["sender_token_id"],
            other: ids["funding_token_id"] or ids["settlement_token_id"],
        }
    for caller_reference, token_id in expected.items():
        if _issued(merchant, actor, caller_reference) != token_id:
            return "the processor did not issue us the tokens the return names"
    return None


def _ended(
    merchant: Merchant, actor: Actor, ref: Row[Any], status: str, params: Mapping[str, str]
) -> SetupResult:
    """What was stored for a round trip that already ended, when `params` is the return that ended it."""
    with merchant.engine.connect() as conn:
        ref = conn.execute(select(_references).where(_references.c.id == ref.id)).one()
    instrument_id = _ids(ref.kind, params)["id"] if status in SUCCESS_STATUSES else None
    if (ref.cbui_status, ref.instrument_id) != (status[:4], instrument_id):
        raise _refuse(
            merchant, actor, ref.caller_reference_sender, f"the round trip already ended ({ref.status})"
        )
    return SetupResult(ref.id, ref.status, ref.cbui_status, ref.instrument_id, ref.error_message)


def _expiry(text: str | None) -> datetime | None:
    """`MM/YYYY` as the first moment after that month."""
    if not text:
        return None
    month, year = (int(part) for part in text.split("/"))
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def _ids(kind: str, params: Mapping[str, str]) -> dict[str, str | None]:
    """The instrument and token ids a successful return carries, as the instrument's columns."""
    if kind == "Prepaid":
        return {
            "id": params.get("prepaidInstrumentID"),
            "sender_token_id": params.get("prepaidSenderTokenID"),
            "funding_token_id": params.get("fundingTokenID"),
            "settlement_token_id": None,
        }
    return {
        "id": params.get("creditInstrumentID"),
        "sender_token_id": params.get("creditSenderTokenID"),
        "funding_token_id": None,
        "settlement_token_id": params.get("settlementTokenID"),
    }


def _store_tokens(
    merchant: Merchant, actor: Actor, ref: Row[Any], status: str, params: Mapping[str, str]
) -> SetupResult:
    ids = _ids(ref.kind, params)
    if not all(value for name, value in ids.items() if name in ("id", "sender_token_id")):
        raise _refuse(merchant, actor, ref.caller_reference_sender, "a successful return without its tokens")
    now = merchant.clock()
    with merchant.engine.begin() as conn:
        ended = conn.execute(
            update(_references).where(_references.c.id == ref.id, _references.c.status == ref.status)
            .values(status="Completed", cbui_status=status, instrument_id=ids["id"], error_message=None,
                    completed_at=now)
        ).rowcount  # fmt: skip
        exists = conn.execute(select(_instruments.c.id).where(_instruments.c.id == ids["id"])).first()
        if ended and exists is None:
            conn.execute(
                insert(_instruments).values(
                    **ids, customer_id=ref.customer_id, kind=ref.kind,
                    funding_limit_cents=ref.funding_limit_cents,
                    credit_limit_cents=ref.credit_limit_cents,
                    purchase_limit_cents=ref.purchase_limit_cents,
                    currency="USD", status="Active", expires_at=_expiry(params.get("expiry")),
                    balance_cents=0, created_at=now,
                )
            )  # fmt: skip
    if not ended:  # another return for it was stored meanwhile
        return _ended(merchant, actor, ref, status, params)
    merchant.audit.record_event(actor.name, "cbui_return", "Done", ids["id"], status)
    return SetupResult(ref.id, "Completed", status, ids["id"], None)


@dataclass(frozen=True, slots=True)
class LapsedRoundTrips:
    abandoned: int  # the processor issued nothing for them: now Abandoned
    issued: list[str]  # callerReferenceSenders the processor issued tokens for, whose return was lost


def recover_round_trips(merchant: Merchant, actor: Actor, now: datetime | None = None) -> LapsedRoundTrips:
    """Settle round trips still under way `LAPSED_AFTER` their start (their return never came, §8): ask
    GetTokenByCaller on each one's callerReferenceSender; a round trip the processor issued no token for
    (InvalidCallerReference) is marked Abandoned. One it did issue tokens for stays Started and is listed:
    the wire names no instrument for a token, so its tokens cannot be stored without the return (on our
    processor the buyer confirming again gets it). FpsError when the processor cannot be asked."""
    require(merchant, actor, Permission.RECOVER, "round trips under way")
    cutoff = (now or merchant.clock()) - LAPSED_AFTER
    with merchant.engine.connect() as conn:
        lapsed = conn.execute(
            select(_references)
            .where(_references.c.status == "Started", _references.c.created_at < cutoff)
            .order_by(_references.c.id)
            .limit(MAX_RECOVERED)
        ).all()
    abandoned, issued = 0, []
    for ref in lapsed:
        if _issued(merchant, actor, ref.caller_reference_sender) is not None:
            issued.append(ref.caller_reference_sender)
            continue
        message = "The customer did not complete the authorization"
        with merchant.engine.begin() as conn:
            abandoned += conn.execute(
                update(_references).where(_references.c.id == ref.id, _references.c.status == "Started")
                .values(status="Abandoned", error_message=message, completed_at=merchant.clock())
            ).rowcount  # fmt: skip
        merchant.audit.record_event(
            actor.name, "cbui_recover", "Abandoned", ref.caller_reference_sender, message
        )
    return LapsedRoundTrips(abandoned, issued)
