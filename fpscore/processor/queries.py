"""The processor's read actions: balances, liability and debt totals, transactions, account activity
and tokens. Every query is bounded; each runs in a short read-only transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select, text

from fpscore.db import read_only
from fpscore.errors import (
    InstrumentAccessDenied,
    InvalidCallerReference,
    InvalidDateRange,
    InvalidParams,
    InvalidTokenId,
    InvalidTransactionId,
)
from fpscore.money import DEFAULT_CURRENCY, Amount
from fpscore.processor.base import ProcessorBase
from fpscore.processor.schema import (
    PENDING_WHERE,
    Buyer,
    Caller,
    Instrument,
    LedgerAccount,
    LedgerEntry,
    Token,
    Transaction,
)
from fpscore.wire.catalogue import OPERATIONS, PAYMENT_METHODS, ROLES, TRANSACTION_STATUSES

_tokens = Token.__table__
_instruments = Instrument.__table__
_callers = Caller.__table__
_buyers = Buyer.__table__
_accounts = LedgerAccount.__table__
_entries = LedgerEntry.__table__
_transactions = Transaction.__table__

MAX_BATCH_SIZE = 200
MAX_TOKENS = 1000


@dataclass(frozen=True, slots=True)
class Balance:
    available: Amount
    pending: Amount


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """GetAccountBalance: the caller's own account at the processor, its ledger account `caller:<email>`
    (what the caller earned, net of fees: Pays less their refunds, less the fees on fundings and
    settlements; below zero while fees exceed earnings).

    - total: that account's balance, as stored and as its entries prove (`invariants.check_ledger`).
    - pending_in, pending_out: what the caller's Pending transactions (received, not finished: their
      entries are posted when they finish) will move on that account. A Pay brings its amount in; a
      Refund takes its amount out, a FundPrepaid or SettleDebt its fee. This processor finishes every
      action in the request that makes it, so nothing is Pending and both are zero.
    - available: total less pending_out, never below zero: what the caller could pay out now, answered as
      both DisburseBalance and RefundBalance. No reserve is held back; no action here disburses, and no
      refund is refused for the caller's balance (each is bounded by its Pay), so these figures inform,
      they limit nothing.
    """

    total: Amount
    pending_in: Amount
    pending_out: Amount
    available: Amount


@dataclass(frozen=True, slots=True)
class TransactionView:
    transaction_id: str
    caller_reference: str
    caller_description: str | None
    sender_description: str | None
    date_received: datetime
    date_completed: datetime | None
    amount: Amount
    fees: Amount
    operation: str
    payment_method: str
    status: str
    status_code: str
    status_message: str | None
    sender_token_id: str | None
    instrument_id: str | None
    instrument_kind: str | None
    sender_name: str | None
    sender_email: str | None
    caller_name: str
    caller_email: str
    related: tuple[tuple[str, str], ...]  # (TransactionId, RelationType)
    caller_balance_after: Amount | None


@dataclass(frozen=True, slots=True)
class ActivityPage:
    transactions: list[TransactionView]
    next_start: datetime | None  # where the next page starts (StartTimeForNextTransaction), if any


@dataclass(frozen=True, slots=True)
class TokenView:
    token_id: str
    friendly_name: str | None
    status: str
    date_installed: datetime
    caller_reference: str
    token_type: str
    role: str
    instrument_id: str
    payment_reason: str | None


_VIEW_COLUMNS = (
    _transactions,
    _instruments.c.kind.label("instrument_kind"),
    _buyers.c.name.label("sender_name"),
    _buyers.c.email.label("sender_email"),
    _callers.c.name.label("caller_name"),
    _callers.c.email.label("caller_email"),
    _callers.c.balance_account_id,
)
_VIEW_QUERY = (
    select(*_VIEW_COLUMNS)
    .join(_callers, _callers.c.id == _transactions.c.caller_id)
    .outerjoin(_instruments, _instruments.c.id == _transactions.c.instrument_id)
    .outerjoin(_buyers, _buyers.c.id == _instruments.c.buyer_id)
)


class QueriesMixin(ProcessorBase):
    def _instrument_balance(self, caller_id: int, instrument_id: str, kind: str, field: str) -> Balance:
        with read_only(self.engine) as conn:
            row = conn.execute(
                select(
                    _instruments.c.kind,
                    _instruments.c.caller_id,
                    _accounts.c.balance_cents,
                    _accounts.c.currency,
                )
                .join(_accounts, _accounts.c.id == _instruments.c.account_id)
                .where(_instruments.c.id == instrument_id)
            ).one_or_none()
        if row is None or row.kind != kind:
            raise InvalidParams(f"{field} {instrument_id[:64]!r} is not a {kind.lower()} instrument")
        if row.caller_id != caller_id:
            raise InstrumentAccessDenied(f"The caller is not the recipient of this {kind.lower()} instrument")
        return Balance(Amount(row.balance_cents, row.currency), Amount.zero(row.currency))

    def get_prepaid_balance(self, caller_id: int, prepaid_instrument_id: str) -> Balance:
        return self._instrument_balance(caller_id, prepaid_instrument_id, "Prepaid", "PrepaidInstrumentId")

    def get_debt_balance(self, caller_id: int, credit_instrument_id: str) -> Balance:
        return self._instrument_balance(caller_id, credit_instrument_id, "Credit", "CreditInstrumentId")

    def _total(self, caller_id: int, kind: str) -> Balance:
        with read_only(self.engine) as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(_accounts.c.balance_cents), 0))
                .select_from(_instruments)
                .join(_accounts, _accounts.c.id == _instruments.c.account_id)
                .where(_instruments.c.caller_id == caller_id, _instruments.c.kind == kind)
            ).scalar_one()
        return Balance(Amount(int(total), DEFAULT_CURRENCY), Amount.zero())

    def get_total_prepaid_liability(self, caller_id: int) -> Balance:
        """The sum of the caller's prepaid balances (OutstandingPrepaidLiability)."""
        return self._total(caller_id, "Prepaid")

    def get_outstanding_debt_balance(self, caller_id: int) -> Balance:
        """The sum of the debts on the caller's credit instruments (OutstandingDebt)."""
        return self._total(caller_id, "Credit")

    def get_account_balance(self, caller_id: int) -> AccountBalance:
        """The caller's own balance (see AccountBalance), in one read-only transaction."""
        with read_only(self.engine) as conn:
            account = conn.execute(
                select(_accounts.c.balance_cents, _accounts.c.currency)
                .join(_callers, _callers.c.balance_account_id == _accounts.c.id)
                .where(_callers.c.id == caller_id)
            ).one()
            pending = conn.execute(
                select(
                    _transactions.c.operation,
                    func.sum(_transactions.c.amount_cents),
                    func.sum(_transactions.c.fee_cents),
                )
                .where(_transactions.c.caller_id == caller_id, text(PENDING_WHERE))
                .group_by(_transactions.c.operation)
            ).all()
        cents_in = cents_out = 0
        for operation, amount_cents, fee_cents in pending:
            if operation == "Pay":
                cents_in += int(amount_cents)
            elif operation == "Refund":
                cents_out += int(amount_cents)
            else:  # FundPrepaid, SettleDebt: the caller pays the fee; WriteOffDebt: its fee is zero
                cents_out += int(fee_cents)
        currency = account.currency
        return AccountBalance(
            total=Amount(account.balance_cents, currency),
            pending_in=Amount(cents_in, currency),
            pending_out=Amount(cents_out, currency),
            available=Amount(max(account.balance_cents - cents_out, 0), currency),
        )

    def get_transaction(self, caller_id: int, transaction_id: str) -> TransactionView:
        with read_only(self.engine) as conn:
            row = conn.execute(_VIEW_QUERY.where(_transactions.c.id == transaction_id)).one_or_none()
            if row is None or row.caller_id != caller_id:
                raise InvalidTransactionId(
                    f"TransactionId {transaction_id[:35]!r} is not a transaction of this caller"
                )
            return _views(conn, [row])[0]

    def get_account_activity(
        self,
        caller_id: int,
        *,
        start: datetime,
        end: datetime | None = None,
        max_batch_size: int = MAX_BATCH_SIZE,
        descending: bool = True,
        operation: str | None = None,
        payment_method: str | None = None,
        roles: tuple[str, ...] = (),
        status: str | None = None,
    ) -> ActivityPage:
        """The caller's transactions from `start` to `end` (both inclusive), a page at a time.

        When more remain, `next_start` is the date of the first one left out: pass it as the next
        request's start (ascending) or end (descending).
        """
        now = self.clock()
        if start > now:
            raise InvalidDateRange("StartDate is in the future")
        if end is not None and end < start:
            raise InvalidDateRange("EndDate is before StartDate")
        if not 1 <= max_batch_size <= MAX_BATCH_SIZE:
            raise InvalidParams(f"MaxBatchSize must be between 1 and {MAX_BATCH_SIZE}")
        for value, allowed, name in (
            (operation, OPERATIONS, "FPSOperation"),
            (payment_method, PAYMENT_METHODS, "PaymentMethod"),
            (status, TRANSACTION_STATUSES, "TransactionStatus"),
        ):
            if value is not None and value not in allowed:
                raise InvalidParams(f"{name} must be one of {', '.join(allowed)}")
        if any(role not in ROLES for role in roles):
            raise InvalidParams(f"Role must be one of {', '.join(ROLES)}")
        if roles and not {"Caller", "Recipient"} & set(roles):
            return ActivityPage([], None)  # the caller is never the sender of its own instruments
        query = _VIEW_QUERY.where(_transactions.c.caller_id == caller_id, _transactions.c.created_at >= start)
        if end is not None:
            query = query.where(_transactions.c.created_at <= end)
        for column, value in (
            (_transactions.c.operation, operation),
            (_transactions.c.payment_method, payment_method),
            (_transactions.c.status, status),
        ):
            if value is not None:
                query = query.where(column == value)
        order = (
            (_transactions.c.created_at.desc(), _transactions.c.id.desc())
            if descending
            else (_transactions.c.created_at.asc(), _transactions.c.id.asc())
        )
        with read_only(self.engine) as conn:
            rows = conn.execute(query.order_by(*order).limit(max_batch_size + 1)).all()
            page = _views(conn, rows[:max_batch_size])
        next_start = rows[max_batch_size].created_at if len(rows) > max_batch_size else None
        return ActivityPage(page, next_start)

    def get_tokens(
        self,
        caller_id: int,
        *,
        status: str | None = None,
        caller_reference: str | None = None,
        friendly_name: str | None = None,
        token_type: str | None = None,
    ) -> list[TokenView]:
        query = select(_tokens).where(_tokens.c.caller_id == caller_id)
        for column, value in (
            (_tokens.c.status, status),
            (_tokens.c.caller_reference, caller_reference),
            (_tokens.c.friendly_name, friendly_name),
            (_tokens.c.token_type, token_type),
        ):
            if value is not None:
                query = query.where(column == value)
        with read_only(self.engine) as conn:
            rows = conn.execute(query.order_by(_tokens.c.created_at, _tokens.c.id).limit(MAX_TOKENS)).all()
        return [_token_view(row) for row in rows]

    def get_token_by_caller(
        self, caller_id: int, *, token_id: str | None = None, caller_reference: str | None = None
    ) -> TokenView:
        if (token_id is None) == (caller_reference is None):
            raise InvalidParams("Give exactly one of TokenId and CallerReference")
        query = select(_tokens).where(_tokens.c.caller_id == caller_id)
        if token_id is not None:
            query = query.where(_tokens.c.id == token_id)
        else:
            query = query.where(_tokens.c.caller_reference == caller_reference)
        with read_only(self.engine) as conn:
            row = conn.execute(query).one_or_none()
        if row is None:
            if token_id is not None:
                raise InvalidTokenId(f"Token {token_id[:64]!r} was not installed by this caller")
            raise InvalidCallerReference(f"No token is associated with CallerReference {caller_reference!r}")
        return _token_view(row)


def _token_view(row: Row[Any]) -> TokenView:
    return TokenView(
        token_id=row.id,
        friendly_name=row.friendly_name,
        status=row.status,
        date_installed=row.created_at,
        caller_reference=row.caller_reference,
        token_type=row.token_type,
        role=row.role,
        instrument_id=row.instrument_id,
        payment_reason=row.payment_reason,
    )


def _views(conn: Connection, rows: list[Row[Any]]) -> list[TransactionView]:
    """Transaction views for `rows`, with related transactions and the caller's balance after each."""
    ids = [row.id for row in rows]
    related: dict[str, list[tuple[str, str]]] = {i: [] for i in ids}
    for row in rows:
        if row.parent_id is not None:
            related[row.id].append((row.parent_id, "Parent"))
    if ids:
        for child_id, parent_id in conn.execute(
            select(_transactions.c.id, _transactions.c.parent_id)
            .where(_transactions.c.parent_id.in_(ids))
            .order_by(_transactions.c.created_at)
            .limit(len(ids) * MAX_BATCH_SIZE)
        ):
            related[parent_id].append((child_id, "Refund"))
    balances: dict[str, int] = {}
    if ids:
        balances = {
            transaction_id: cents
            for transaction_id, cents in conn.execute(
                select(_entries.c.transaction_id, _entries.c.balance_after_cents)
                .join(_callers, _callers.c.balance_account_id == _entries.c.account_id)
                .where(_entries.c.transaction_id.in_(ids))
            )
        }
    return [
        TransactionView(
            transaction_id=row.id,
            caller_reference=row.caller_reference,
            caller_description=row.caller_description,
            sender_description=row.sender_description,
            date_received=row.created_at,
            date_completed=row.completed_at,
            amount=Amount(row.amount_cents, row.currency),
            fees=Amount(row.fee_cents, row.currency),
            operation=row.operation,
            payment_method=row.payment_method,
            status=row.status,
            status_code=row.status_code,
            status_message=row.status_message,
            sender_token_id=row.sender_token_id,
            instrument_id=row.instrument_id,
            instrument_kind=row.instrument_kind,
            sender_name=row.sender_name,
            sender_email=row.sender_email,
            caller_name=row.caller_name,
            caller_email=row.caller_email,
            related=tuple(related[row.id]),
            caller_balance_after=(Amount(balances[row.id], row.currency) if row.id in balances else None),
        )
        for row in rows
    ]
