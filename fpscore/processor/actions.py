"""The money-moving FPS actions: FundPrepaid, Pay, Refund, SettleDebt, WriteOffDebt.

Each runs under its CallerReference in a savepoint of a group-committed batch (see
`base.ProcessorBase._transact` and `batch`): checks first, then the transaction row and its balanced
ledger posting. Every refusal is an FpsError and rolls the action's savepoint back, so a refused request
moves nothing.

Postings (debit +, credit -; see `ledger.NORMAL_SIDE`):
  FundPrepaid X, fee f:  Dr funding(buyer) X, Cr prepaid(instrument) X; Dr caller f, Cr fees f
  Pay X, prepaid:        Dr prepaid X, Cr caller X
  Pay X, credit:         Dr receivable X, Cr caller X
  Refund X of a Pay:     the Pay's legs reversed
  SettleDebt X, fee f:   Dr funding(buyer) X, Cr receivable X; Dr caller f, Cr fees f
  WriteOffDebt X:        Dr bad_debt(caller) X, Cr receivable X
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update

from fpscore.errors import (
    AmountOutOfRange,
    FpsError,
    InactiveInstrument,
    IncompatibleTokens,
    InstrumentAccessDenied,
    InstrumentExpired,
    InsufficientBalance,
    InvalidParams,
    InvalidTokenId_Sender,
    InvalidTokenType,
    InvalidTransactionId,
    InvalidTransactionState,
    PrepaidFundingLimitExceeded,
    RefundAmountExceeded,
    SettleAmountGreaterThanDebt,
    TokenNotActive_Sender,
    TransactionFullyRefundedAlready,
    TransactionTypeNotRefundable,
)
from fpscore.money import Amount
from fpscore.processor import idempotency, ipn, ledger, pay_on_server
from fpscore.processor.base import OnServer, ProcessorBase, TransactionResult
from fpscore.processor.batch import Retry
from fpscore.processor.driver import Compiled
from fpscore.processor.idempotency import Reference
from fpscore.processor.ledger import Guard, credit, debit
from fpscore.processor.schema import Buyer, Caller, Instrument, Token, Transaction
from fpscore.wire.catalogue import DESCRIPTION_LENGTH, check_length

_tokens = Token.__table__
_instruments = Instrument.__table__
_callers = Caller.__table__
_buyers = Buyer.__table__
_transactions = Transaction.__table__
SUCCESS = ("Success", "Success", "The transaction was successful and the payment instrument was charged.")
_PAY_ROLES = ("PrepaidSender", "CreditSender")


def _request(
    options: Mapping[str, str] | None = None,
    ipn_url: str | None = None,
    caller_description: str | None = None,
    sender_description: str | None = None,
    **fields: object,
) -> dict[str, object]:
    """The request as the DuplicateRequest rule compares it, descriptions checked: every business
    parameter, including wire options that move nothing here (ChargeFeeTo, OverrideIPNURL, ...)."""
    for name, value in (("CallerDescription", caller_description), ("SenderDescription", sender_description)):
        if value is not None:
            check_length(name, value, DESCRIPTION_LENGTH)
    amount = fields.get("Amount")
    return {
        **{f"option:{name}": value for name, value in (options or {}).items()},
        "OverrideIPNURL": ipn_url,
        "CallerDescription": caller_description,
        "SenderDescription": sender_description,
        "Currency": amount.currency if isinstance(amount, Amount) else None,
        **fields,
    }


def _check_currency(amount: Amount, currency: str, field: str) -> None:
    if amount.cents <= 0:  # Amount.parse refuses these already; this guards callers that build Amounts
        raise AmountOutOfRange(f"{field} must be greater than zero")
    if amount.currency != currency:
        raise InvalidParams(
            f"{field}.CurrencyCode {amount.currency} differs from the instrument's {currency}"
        )


_TOKEN_QUERY = (
    select(
        _tokens.c.id.label("token_id"),
        _tokens.c.role,
        _tokens.c.status.label("token_status"),
        _tokens.c.caller_id,
        _instruments.c.id.label("instrument_id"),
        _instruments.c.kind,
        _instruments.c.status.label("instrument_status"),
        _instruments.c.account_id,
        _instruments.c.currency,
        _instruments.c.funding_limit_cents,
        _instruments.c.credit_limit_cents,
        _instruments.c.purchase_limit_cents,
        _instruments.c.payment_method,
        _instruments.c.valid_from,
        _instruments.c.expires_at,
        _callers.c.balance_account_id,
        _callers.c.bad_debt_account_id,
        _callers.c.ipn_url.label("caller_ipn_url"),
        _buyers.c.funding_account_id,
    )
    .join(_instruments, _instruments.c.id == _tokens.c.instrument_id)
    .join(_callers, _callers.c.id == _instruments.c.caller_id)
    .join(_buyers, _buyers.c.id == _instruments.c.buyer_id)
)


# Built once and run on the driver's cursor (they run on every payment; see `driver`).
# FOR NO KEY UPDATE, not FOR SHARE: share locks let a stream of Pays hold a CancelToken off forever, while
# these queue in order, so a cancellation gets its turn (Pays on one instrument queue on its balance anyway).
_LOCKED_TOKEN = Compiled(
    _TOKEN_QUERY.where(_tokens.c.id == bindparam("token_id")).with_for_update(key_share=True, of=_tokens)
)
_INSERT_TRANSACTION = Compiled(insert(_transactions))
_TRANSACTION_DEFAULTS = {column.name: None for column in _transactions.c} | {
    "fee_cents": 0,
    "refunded_cents": 0,
}


def _pay_legs(row: Any, account_kind: str, amount: Amount) -> list[ledger.Leg]:
    """A Pay's posting: the instrument's account (of `account_kind`) pays the caller."""
    return [
        debit(row.account_id, account_kind, amount.cents),
        credit(row.balance_account_id, "caller", amount.cents),
    ]


class ActionsMixin(ProcessorBase):
    # -- lookups -------------------------------------------------------------------------------------

    def _sender_token(self, conn: Connection, caller_id: int, token_id: str, roles: tuple[str, ...]) -> Any:
        """The token with its instrument, locked against a concurrent CancelToken until we commit."""
        row = _LOCKED_TOKEN.first(conn, {"token_id": token_id})
        self._check_sender(row, caller_id, token_id, roles)
        return row

    @staticmethod
    def _check_sender(row: Any, caller_id: int, token_id: str, roles: tuple[str, ...]) -> None:
        """Raise unless `row` (None: no such token) is an active token of `roles` of this caller."""
        if row is None or row.caller_id != caller_id:
            raise InvalidTokenId_Sender(
                f"SenderTokenId {token_id[:64]!r} is not a token installed for this caller"
            )
        if row.role not in roles:
            raise InvalidTokenType(f"SenderTokenId is a {row.role} token; {' or '.join(roles)} expected")
        if row.token_status != "Active":
            raise TokenNotActive_Sender("The sender token has been cancelled")

    @staticmethod
    def _usable_instrument(row: Any, now: datetime) -> None:
        if row.instrument_status != "Active":
            raise InactiveInstrument("The instrument is not active")
        if row.valid_from is not None and now < row.valid_from:
            raise InactiveInstrument("The instrument's validity has not started yet")
        if row.expires_at is not None and now >= row.expires_at:
            raise InstrumentExpired("The instrument has expired")

    def _credit_instrument(self, conn: Connection, caller_id: int, instrument_id: str) -> Row[Any]:
        row = conn.execute(
            select(
                _instruments.c.id.label("instrument_id"),
                _instruments.c.kind,
                _instruments.c.caller_id,
                _instruments.c.account_id,
                _instruments.c.currency,
                _callers.c.bad_debt_account_id,
                _callers.c.ipn_url.label("caller_ipn_url"),
            )
            .join(_callers, _callers.c.id == _instruments.c.caller_id)
            .where(_instruments.c.id == instrument_id)
        ).one_or_none()
        if row is None or row.kind != "Credit":
            raise InvalidParams(f"CreditInstrumentId {instrument_id[:64]!r} is not a credit instrument")
        if row.caller_id != caller_id:
            raise InstrumentAccessDenied("The caller is not the recipient of this credit instrument")
        return row

    # -- writes --------------------------------------------------------------------------------------

    def _record(
        self,
        conn: Connection,
        transaction_id: str,
        caller_id: int,
        operation: str,
        amount: Amount,
        caller_reference: str,
        now: datetime,
        notify_url: str | None,
        **fields: Any,
    ) -> None:
        """Insert the transaction row and, when the caller listens, its notification (same transaction)."""
        status, code, message = SUCCESS
        row = {
            **_TRANSACTION_DEFAULTS,
            "id": transaction_id,
            "caller_id": caller_id,
            "operation": operation,
            "status": status,
            "status_code": code,
            "status_message": message,
            "amount_cents": amount.cents,
            "currency": amount.currency,
            "caller_reference": caller_reference,
            "created_at": now,
            "completed_at": now,
            **fields,
        }
        _INSERT_TRANSACTION.rows(conn, row)
        if notify_url:
            self._notify(
                conn, transaction_id, caller_id, operation, amount, caller_reference, now, notify_url,
                fields["payment_method"],
            )  # fmt: skip

    @staticmethod
    def _notify(
        conn: Connection,
        transaction_id: str,
        caller_id: int,
        operation: str,
        amount: Amount,
        caller_reference: str,
        now: datetime,
        url: str,
        payment_method: str,
    ) -> None:
        """Queue the notification of a transaction that succeeded (same database transaction)."""
        status, code, message = SUCCESS
        ipn.enqueue_transaction(
            conn, caller_id=caller_id, url=url, transaction_id=transaction_id, operation=operation,
            status=status, status_code=code, status_message=message, amount=amount,
            caller_reference=caller_reference, payment_method=payment_method, now=now,
        )  # fmt: skip

    def _charge_buyer(
        self,
        conn: Connection,
        transaction_id: str,
        caller_id: int,
        operation: str,
        row: Row[Any],
        amount: Amount,
        caller_reference: str,
        now: datetime,
        ipn_url: str | None,
        caller_description: str | None,
        sender_description: str | None,
        account_kind: str,
        guard: Guard,
        later: ledger.Later | None,
    ) -> None:
        """The aggregated charge (FundPrepaid, SettleDebt): the buyer's funding source pays `amount` onto
        the instrument's account, and the caller pays the processor's fee on it."""
        fee = self.fee_schedule.fee(amount)
        self._record(
            conn, transaction_id, caller_id, operation, amount, caller_reference, now,
            ipn_url or row.caller_ipn_url,
            fee_cents=fee.cents, caller_description=caller_description,
            sender_description=sender_description, sender_token_id=row.token_id,
            instrument_id=row.instrument_id, payment_method=row.payment_method,
        )  # fmt: skip
        legs = [
            debit(row.funding_account_id, "funding", amount.cents),
            credit(row.account_id, account_kind, amount.cents),
        ]
        if fee.cents:
            legs += [
                debit(row.balance_account_id, "caller", fee.cents),
                credit(self._fees_account(conn, fee.currency), "fees", fee.cents),
            ]
        ledger.post(conn, transaction_id, legs, {row.account_id: guard}, later)

    # -- actions -------------------------------------------------------------------------------------

    def fund_prepaid(
        self,
        caller_id: int,
        *,
        sender_token_id: str,
        prepaid_instrument_id: str,
        amount: Amount,
        caller_reference: str,
        caller_description: str | None = None,
        sender_description: str | None = None,
        options: Mapping[str, str] | None = None,
        ipn_url: str | None = None,
    ) -> TransactionResult:
        """Charge the buyer's funding source and raise the prepaid balance by the full amount."""
        request = _request(
            options=options,
            ipn_url=ipn_url,
            caller_description=caller_description,
            sender_description=sender_description,
            SenderTokenId=sender_token_id,
            PrepaidInstrumentId=prepaid_instrument_id,
            Amount=amount,
        )

        def execute(conn: Connection, transaction_id: str, now: datetime, later: ledger.Later | None) -> str:
            row = self._sender_token(conn, caller_id, sender_token_id, ("Funding",))
            if row.instrument_id != prepaid_instrument_id:
                raise IncompatibleTokens("The funding token does not belong to this prepaid instrument")
            self._usable_instrument(row, now)
            _check_currency(amount, row.currency, "FundingAmount")
            if amount.cents > row.funding_limit_cents:
                raise PrepaidFundingLimitExceeded("The amount is above the instrument's funding limit")
            guard = Guard(
                PrepaidFundingLimitExceeded,
                "Funding would take the prepaid balance above the instrument's funding limit",
                max_cents=row.funding_limit_cents,
            )
            self._charge_buyer(
                conn, transaction_id, caller_id, "FundPrepaid", row, amount, caller_reference, now,
                ipn_url, caller_description, sender_description, "prepaid", guard, later,
            )  # fmt: skip
            return "Success"

        return self._transact(caller_id, "FundPrepaid", caller_reference, request, execute)

    def pay(
        self,
        caller_id: int,
        *,
        sender_token_id: str,
        amount: Amount,
        caller_reference: str,
        caller_description: str | None = None,
        sender_description: str | None = None,
        options: Mapping[str, str] | None = None,
        ipn_url: str | None = None,
    ) -> TransactionResult:
        """Spend from a prepaid balance, or add to a credit instrument's debt. No money moves, no fee."""
        request = _request(
            options=options,
            ipn_url=ipn_url,
            caller_description=caller_description,
            sender_description=sender_description,
            SenderTokenId=sender_token_id,
            Amount=amount,
        )

        def execute(conn: Connection, transaction_id: str, now: datetime, later: ledger.Later | None) -> str:
            row = self._sender_token(conn, caller_id, sender_token_id, _PAY_ROLES)
            account_kind, method, guard = self._pay_terms(row, amount, now)
            self._record(
                conn, transaction_id, caller_id, "Pay", amount, caller_reference, now,
                ipn_url or row.caller_ipn_url,
                caller_description=caller_description, sender_description=sender_description,
                sender_token_id=sender_token_id, instrument_id=row.instrument_id, payment_method=method,
            )  # fmt: skip
            ledger.post(
                conn, transaction_id, _pay_legs(row, account_kind, amount), {row.account_id: guard}, later
            )
            return "Success"

        def call(ref: Reference, transaction_id: str, now: datetime, deferred: bool) -> Any:
            return pay_on_server.call(
                ref, transaction_id, now, sender_token_id, amount, caller_description, sender_description,
                SUCCESS, defer=deferred,
            )  # fmt: skip

        def finish(
            conn: Connection,
            ref: Reference,
            transaction_id: str,
            now: datetime,
            later: ledger.Later | None,
            row: Any,
        ) -> TransactionResult:
            if row.outcome == "replay":
                return TransactionResult(row.existing_id, row.existing_status, replayed=True)
            if row.outcome == "duplicate":
                raise idempotency.duplicate(ref)
            if row.outcome == "retry":
                raise Retry
            if row.outcome in ("refused", "guard"):  # nothing written: raise the in-process path's error
                self._check_sender(row if row.token_id else None, caller_id, sender_token_id, _PAY_ROLES)
                guard = self._pay_terms(row, amount, now)[2]
                if row.outcome == "guard":
                    raise guard.error(guard.message)
                raise AssertionError(f"fps_pay refused a Pay the checks accept: {row}")
            if row.outcome != "paid":
                raise AssertionError(f"fps_pay answered {row.outcome!r}")
            try:  # not an FpsError: the Pay is written, and only failing the batch can undo it
                account_kind, method, _guard = self._pay_terms(row, amount, now)
            except FpsError as exc:
                raise AssertionError(f"fps_pay paid a Pay the checks refuse: {row}") from exc
            ledger.posted_on_server(transaction_id, _pay_legs(row, account_kind, amount), later)
            notify_url = ipn_url or row.caller_ipn_url
            if notify_url:
                self._notify(
                    conn, transaction_id, caller_id, "Pay", amount, caller_reference, now, notify_url, method
                )
            return TransactionResult(transaction_id, SUCCESS[0])

        return self._transact(caller_id, "Pay", caller_reference, request, execute, OnServer(call, finish))

    @staticmethod
    def _pay_terms(row: Any, amount: Amount, now: datetime) -> tuple[str, str, Guard]:
        """Raise unless a Pay of `amount` may be made from the instrument of `row` now; else its account's
        kind, the payment method and the guard on the instrument's balance."""
        ActionsMixin._usable_instrument(row, now)
        _check_currency(amount, row.currency, "TransactionAmount")
        if row.kind == "Prepaid":
            return (
                "prepaid",
                "Prepaid",
                Guard(InsufficientBalance, "The prepaid balance is too low for this payment"),
            )
        if row.purchase_limit_cents is not None and amount.cents > row.purchase_limit_cents:
            raise AmountOutOfRange("The amount is above the instrument's limit for one purchase")
        return (
            "receivable",
            "Debt",
            Guard(
                InsufficientBalance,
                "The payment would take the debt above the instrument's credit limit",
                max_cents=row.credit_limit_cents,
            ),
        )

    def refund(
        self,
        caller_id: int,
        *,
        transaction_id: str,
        caller_reference: str,
        amount: Amount | None = None,
        caller_description: str | None = None,
        options: Mapping[str, str] | None = None,
        ipn_url: str | None = None,
    ) -> TransactionResult:
        """Reverse all (amount None) or part of a Pay: back to the prepaid balance, or off the debt."""
        request = _request(
            options=options,
            ipn_url=ipn_url,
            caller_description=caller_description,
            TransactionId=transaction_id,
            Amount=amount,
        )

        def execute(conn: Connection, refund_id: str, now: datetime, later: ledger.Later | None) -> str:
            original = conn.execute(
                select(
                    _transactions.c.id,
                    _transactions.c.caller_id,
                    _transactions.c.operation,
                    _transactions.c.status,
                    _transactions.c.amount_cents,
                    _transactions.c.refunded_cents,
                    _transactions.c.currency,
                    _transactions.c.sender_token_id,
                    _transactions.c.instrument_id,
                    _transactions.c.payment_method,
                    _instruments.c.kind,
                    _instruments.c.account_id,
                    _callers.c.balance_account_id,
                    _callers.c.ipn_url.label("caller_ipn_url"),
                )
                .join(_instruments, _instruments.c.id == _transactions.c.instrument_id)
                .join(_callers, _callers.c.id == _transactions.c.caller_id)
                .where(_transactions.c.id == transaction_id)
            ).one_or_none()
            if original is None or original.caller_id != caller_id:
                raise InvalidTransactionId(
                    f"TransactionId {transaction_id[:35]!r} is not a transaction of this caller"
                )
            if original.operation != "Pay":
                raise TransactionTypeNotRefundable(f"A {original.operation} transaction cannot be refunded")
            if original.status != "Success":
                raise InvalidTransactionState(f"The original transaction is {original.status}")
            remaining = original.amount_cents - original.refunded_cents
            if remaining == 0:
                raise TransactionFullyRefundedAlready("The transaction has been refunded in full already")
            refund_amount = amount if amount is not None else Amount(remaining, original.currency)
            _check_currency(refund_amount, original.currency, "RefundAmount")
            if refund_amount.cents > remaining:
                raise RefundAmountExceeded(
                    f"At most {Amount(remaining, original.currency)} can still be refunded"
                )
            claimed = conn.execute(
                update(_transactions)
                .where(
                    _transactions.c.id == transaction_id,
                    _transactions.c.refunded_cents + refund_amount.cents <= _transactions.c.amount_cents,
                )
                .values(refunded_cents=_transactions.c.refunded_cents + refund_amount.cents)
                .returning(_transactions.c.id)
            ).first()
            if claimed is None:
                raise RefundAmountExceeded("The refund is larger than what remains refundable")
            self._record(
                conn, refund_id, caller_id, "Refund", refund_amount, caller_reference, now,
                ipn_url or original.caller_ipn_url,
                caller_description=caller_description, sender_token_id=original.sender_token_id,
                instrument_id=original.instrument_id, payment_method=original.payment_method,
                parent_id=original.id,
            )  # fmt: skip
            if original.kind == "Prepaid":
                account_kind = "prepaid"
                guards: dict[int, Guard] = {}
            else:
                account_kind = "receivable"
                guards = {
                    original.account_id: Guard(
                        RefundAmountExceeded, "The debt this payment added has been settled or written off"
                    )
                }
            legs = [
                debit(original.balance_account_id, "caller", refund_amount.cents),
                credit(original.account_id, account_kind, refund_amount.cents),
            ]
            ledger.post(conn, refund_id, legs, guards, later)
            return "Success"

        return self._transact(caller_id, "Refund", caller_reference, request, execute)

    def settle_debt(
        self,
        caller_id: int,
        *,
        sender_token_id: str,
        credit_instrument_id: str,
        amount: Amount,
        caller_reference: str,
        caller_description: str | None = None,
        sender_description: str | None = None,
        options: Mapping[str, str] | None = None,
        ipn_url: str | None = None,
    ) -> TransactionResult:
        """Charge the buyer's funding source for part or all of the debt, in one fee-bearing charge."""
        request = _request(
            options=options,
            ipn_url=ipn_url,
            caller_description=caller_description,
            sender_description=sender_description,
            SenderTokenId=sender_token_id,
            CreditInstrumentId=credit_instrument_id,
            Amount=amount,
        )

        def execute(conn: Connection, transaction_id: str, now: datetime, later: ledger.Later | None) -> str:
            row = self._sender_token(conn, caller_id, sender_token_id, ("Settlement",))
            if row.instrument_id != credit_instrument_id:
                raise IncompatibleTokens("The settlement token does not belong to this credit instrument")
            _check_currency(amount, row.currency, "SettlementAmount")
            guard = Guard(SettleAmountGreaterThanDebt, "The settlement amount is greater than the debt")
            self._charge_buyer(
                conn, transaction_id, caller_id, "SettleDebt", row, amount, caller_reference, now,
                ipn_url, caller_description, sender_description, "receivable", guard, later,
            )  # fmt: skip
            return "Success"

        return self._transact(caller_id, "SettleDebt", caller_reference, request, execute)

    def write_off_debt(
        self,
        caller_id: int,
        *,
        credit_instrument_id: str,
        amount: Amount,
        caller_reference: str,
        caller_description: str | None = None,
    ) -> TransactionResult:
        """Forgive part or all of the debt, recorded as the caller's loss. Cannot be reversed."""
        request = _request(
            caller_description=caller_description,
            CreditInstrumentId=credit_instrument_id,
            Amount=amount,
        )

        def execute(conn: Connection, transaction_id: str, now: datetime, later: ledger.Later | None) -> str:
            row = self._credit_instrument(conn, caller_id, credit_instrument_id)
            _check_currency(amount, row.currency, "AdjustmentAmount")
            self._record(
                conn, transaction_id, caller_id, "WriteOffDebt", amount, caller_reference, now,
                row.caller_ipn_url,
                caller_description=caller_description, instrument_id=row.instrument_id,
                payment_method="Debt",
            )  # fmt: skip
            legs = [
                debit(row.bad_debt_account_id, "bad_debt", amount.cents),
                credit(row.account_id, "receivable", amount.cents),
            ]
            guard = Guard(SettleAmountGreaterThanDebt, "The write-off amount is greater than the debt")
            ledger.post(conn, transaction_id, legs, {row.account_id: guard}, later)
            return "Success"

        return self._transact(caller_id, "WriteOffDebt", caller_reference, request, execute)
