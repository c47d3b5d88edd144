"""Issuing what the SetupPrepaid and SetupPostpaid pipelines create, and cancelling tokens.

SetupPrepaid makes a prepaid instrument (balance zero), its funding token and its prepaid sender token;
SetupPostpaid makes a credit instrument (debt zero), its credit sender token and its settlement token.
Token CallerReferences are unique per caller: repeating a setup with the same references and terms
returns the tokens first issued; other terms under those references are DuplicateRequest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from fpscore.errors import AmountOutOfRange, DuplicateRequest, InvalidParams, InvalidTokenId
from fpscore.money import Amount
from fpscore.processor import ipn, ledger
from fpscore.processor.base import ProcessorBase
from fpscore.processor.idempotency import check_reference
from fpscore.processor.ids import new_token_id
from fpscore.processor.schema import Caller, Instrument, Token

_instruments = Instrument.__table__
_tokens = Token.__table__
_callers = Caller.__table__
PAYMENT_METHODS = ("CC", "ACH", "ABT")
# What a setup's caller does in the setup's own database transaction (the CBUI ends its round trip).
SetupHook = Callable[[Connection, "InstrumentSetup"], None]
MAX_VALIDITY_START = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class InstrumentSetup:
    """The ids a pipeline returns. Prepaid: funding + sender; postpaid: sender (credit) + settlement."""

    instrument_id: str
    kind: str
    sender_token_id: str
    funding_token_id: str | None
    settlement_token_id: str | None
    expires_at: datetime | None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class _Terms:
    kind: str
    buyer_id: int
    currency: str
    funding_limit_cents: int | None
    credit_limit_cents: int | None
    purchase_limit_cents: int | None
    payment_method: str
    valid_from: datetime | None
    expires_at: datetime | None
    payment_reason: str | None


def _check_validity(terms: _Terms, now: datetime) -> None:
    if terms.expires_at is not None and terms.expires_at <= now:
        raise InvalidParams("validityExpiry is in the past")
    if terms.valid_from is not None and not (
        now - timedelta(minutes=15) <= terms.valid_from <= now + MAX_VALIDITY_START
    ):
        raise InvalidParams("validityStart must be between now and one year from now")


class InstrumentsMixin(ProcessorBase):
    def setup_prepaid(
        self,
        caller_id: int,
        buyer_id: int,
        *,
        caller_reference_sender: str,
        caller_reference_funding: str,
        funding_limit: Amount,
        validity_start: datetime | None = None,
        validity_expiry: datetime | None = None,
        payment_method: str = "CC",
        payment_reason: str | None = None,
        then: SetupHook | None = None,
    ) -> InstrumentSetup:
        terms = _Terms(
            "Prepaid", buyer_id, funding_limit.currency, funding_limit.cents, None, None,
            payment_method, validity_start, validity_expiry, payment_reason,
        )  # fmt: skip
        refs = {"PrepaidSender": caller_reference_sender, "Funding": caller_reference_funding}
        return self._setup(caller_id, terms, refs, then)

    def setup_postpaid(
        self,
        caller_id: int,
        buyer_id: int,
        *,
        caller_reference_sender: str,
        caller_reference_settlement: str,
        credit_limit: Amount,
        global_amount_limit: Amount,
        validity_start: datetime | None = None,
        validity_expiry: datetime | None = None,
        payment_method: str = "CC",
        payment_reason: str | None = None,
        then: SetupHook | None = None,
    ) -> InstrumentSetup:
        if credit_limit.currency != global_amount_limit.currency:
            raise InvalidParams("creditLimit and globalAmountLimit must be in one currency")
        terms = _Terms(
            "Credit", buyer_id, credit_limit.currency, None, credit_limit.cents, global_amount_limit.cents,
            payment_method, validity_start, validity_expiry, payment_reason,
        )  # fmt: skip
        refs = {"CreditSender": caller_reference_sender, "Settlement": caller_reference_settlement}
        return self._setup(caller_id, terms, refs, then)

    def _setup(
        self, caller_id: int, terms: _Terms, refs: dict[str, str], then: SetupHook | None
    ) -> InstrumentSetup:
        """Issue the instrument and tokens, or answer those issued for these references; `then` runs in
        the same database transaction with the answer, and what it raises undoes the setup."""
        for role, value in refs.items():
            check_reference(f"callerReference ({role})", value)
        if len(set(refs.values())) != len(refs):
            raise InvalidParams("the two caller references of a pipeline must differ")
        limits = (terms.funding_limit_cents, terms.credit_limit_cents, terms.purchase_limit_cents)
        if any(limit is not None and limit <= 0 for limit in limits):
            raise AmountOutOfRange("the instrument's limits must be greater than zero")
        if terms.payment_method not in PAYMENT_METHODS:
            raise InvalidParams(f"paymentMethod must be one of {', '.join(PAYMENT_METHODS)}")
        if terms.valid_from and terms.expires_at and terms.valid_from >= terms.expires_at:
            raise InvalidParams("validityStart must be before validityExpiry")
        try:
            with self.engine.begin() as conn:
                # A repeat is answered as first issued, however late it comes.
                setup = self._existing_setup(conn, caller_id, terms, refs)
                if setup is None:
                    now = self.clock()
                    _check_validity(terms, now)
                    setup = self._issue(conn, caller_id, terms, refs, now)
                if then is not None:
                    then(conn, setup)
                return setup
        except IntegrityError:
            # A concurrent setup with the same references won the race: answer what it issued.
            with self.engine.begin() as conn:
                existing = self._existing_setup(conn, caller_id, terms, refs)
                if existing is None:
                    raise
                if then is not None:
                    then(conn, existing)
            return existing

    def _issue(
        self, conn: Connection, caller_id: int, terms: _Terms, refs: dict[str, str], now: datetime
    ) -> InstrumentSetup:
        instrument_id = new_token_id()
        account_kind = "prepaid" if terms.kind == "Prepaid" else "receivable"
        account_id = ledger.open_account(
            conn, f"{account_kind}:{instrument_id}", account_kind, terms.currency
        )
        conn.execute(
            insert(_instruments).values(
                id=instrument_id,
                kind=terms.kind,
                caller_id=caller_id,
                buyer_id=terms.buyer_id,
                account_id=account_id,
                currency=terms.currency,
                funding_limit_cents=terms.funding_limit_cents,
                credit_limit_cents=terms.credit_limit_cents,
                purchase_limit_cents=terms.purchase_limit_cents,
                payment_method=terms.payment_method,
                status="Active",
                valid_from=terms.valid_from,
                expires_at=terms.expires_at,
                created_at=now,
            )
        )
        token_ids = {role: new_token_id() for role in refs}
        conn.execute(
            insert(_tokens),
            [
                {
                    "id": token_ids[role],
                    "role": role,
                    "token_type": "MultiUse",
                    "instrument_id": instrument_id,
                    "caller_id": caller_id,
                    "caller_reference": reference,
                    "friendly_name": None,
                    "payment_reason": terms.payment_reason,
                    "status": "Active",
                    "expires_at": terms.expires_at,
                    "created_at": now,
                }
                for role, reference in refs.items()
            ],
        )
        return _setup_result(instrument_id, terms.kind, token_ids, terms.expires_at, replayed=False)

    def _existing_setup(
        self, conn: Connection, caller_id: int, terms: _Terms, refs: dict[str, str]
    ) -> InstrumentSetup | None:
        rows = conn.execute(
            select(_tokens.c.id, _tokens.c.role, _tokens.c.caller_reference, _tokens.c.instrument_id).where(
                _tokens.c.caller_id == caller_id, _tokens.c.caller_reference.in_(list(refs.values()))
            )
        ).all()
        if not rows:
            return None
        instrument_ids = {row.instrument_id for row in rows}
        same_tokens = len(rows) == len(refs) and all(
            refs.get(row.role) == row.caller_reference for row in rows
        )
        if len(instrument_ids) == 1 and same_tokens:
            instrument = conn.execute(
                select(_instruments).where(_instruments.c.id == rows[0].instrument_id)
            ).one()
            stored = _Terms(
                instrument.kind, instrument.buyer_id, instrument.currency, instrument.funding_limit_cents,
                instrument.credit_limit_cents, instrument.purchase_limit_cents, instrument.payment_method,
                instrument.valid_from, instrument.expires_at, terms.payment_reason,
            )  # fmt: skip
            if stored == terms:
                token_ids = {row.role: row.id for row in rows}
                return _setup_result(instrument.id, instrument.kind, token_ids, instrument.expires_at, True)
        raise DuplicateRequest("a token with one of these caller references was issued for different terms")

    def cancel_token(
        self, caller_id: int, token_id: str, reason: str | None = None, ipn_url: str | None = None
    ) -> None:
        """Make a token Inactive: it pays, funds or settles nothing more. Cancelling twice is harmless.

        The caller's notification URL (or `ipn_url`) is told, in the same database transaction.
        """
        reason = (reason or "")[:1024] or None
        with self.engine.begin() as conn:
            now = self.clock()
            cancelled = conn.execute(
                update(_tokens)
                .where(
                    _tokens.c.id == token_id, _tokens.c.caller_id == caller_id, _tokens.c.status == "Active"
                )
                .values(status="Inactive", cancelled_at=now, cancel_reason=reason)
                .returning(_tokens.c.token_type, _tokens.c.caller_reference)
            ).first()
            if cancelled is None:
                exists = conn.execute(
                    select(_tokens.c.id).where(_tokens.c.id == token_id, _tokens.c.caller_id == caller_id)
                ).first()
                if exists is None:
                    raise InvalidTokenId(f"Token {token_id[:64]!r} was not installed by this caller")
                return
            url = (
                ipn_url
                or conn.execute(select(_callers.c.ipn_url).where(_callers.c.id == caller_id)).scalar_one()
            )
            if url:
                ipn.enqueue_token_cancellation(
                    conn, caller_id=caller_id, url=url, token_id=token_id, token_type=cancelled.token_type,
                    caller_reference=cancelled.caller_reference, reason=reason, now=now,
                )  # fmt: skip


def _setup_result(
    instrument_id: str, kind: str, token_ids: dict[str, str], expires_at: datetime | None, replayed: bool
) -> InstrumentSetup:
    sender_role = "PrepaidSender" if kind == "Prepaid" else "CreditSender"
    return InstrumentSetup(
        instrument_id=instrument_id,
        kind=kind,
        sender_token_id=token_ids[sender_role],
        funding_token_id=token_ids.get("Funding"),
        settlement_token_id=token_ids.get("Settlement"),
        expires_at=expires_at,
        replayed=replayed,
    )
