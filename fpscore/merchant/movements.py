"""The movement registry: every kind of money movement the merchant asks the processor for, one
`MovementKind` each — its table, FPS operation, CallerReference prefix, effect on the merchant's book
balance, fee and detail columns, how its FPS request is built from its row (and its instrument's token
ids, which never change: a resend is the same request), and whether reconciliation compares its fee.

Everything that treats movements alike reads them from here: the flows (`flows.record_status` moves the
book balance by `sign`, `flows._send` sends `request`), recovery, reconciliation, notifications, the
daily fee rollup, the back office's read models and the demo. No other module lists the tables or
repeats the sign rule.

Adding a sixth kind touches this registry (its entry in KINDS), a migration (its table, with
`schema._Movement`'s columns) and the flow that moves it, nothing else;
tests/merchant/test_movements.py fails when the merchant's schema has a movement table this registry
does not name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select

from fpscore.merchant.client import TransactionReply
from fpscore.merchant.connect import Merchant
from fpscore.merchant.schema import Funding, Purchase, Refund, Settlement, WriteOff
from fpscore.money import Amount

# merchant, actor name, the movement's row (or the values it was written with), its instrument's row
Request = Callable[[Merchant, str, Mapping[str, Any], Any], TransactionReply]


@dataclass(frozen=True, slots=True)
class MovementKind:
    """One kind of money movement."""

    name: str  # as the back office shows it
    operation: str  # the FPS action that makes it
    table: Table
    prefix: str  # of its CallerReferences
    # Its sign on the book balance (prepaid: the balance; postpaid: the debt) by kind of instrument. The
    # flows send fundings only for prepaid and settlements and write-offs only for postpaid instruments.
    effect: Mapping[str, int]
    fee: str | None  # the column of the fee the merchant pays for it: reconciled, counted as fees paid
    detail: str | None  # the column saying what it was for: the product, or the reason
    request: Request  # its FPS request, from its row and its instrument: a resend is the same request

    def sign(self, instrument_kind: str) -> int:
        """+1 or -1: how a successful movement of this kind moves an instrument's book balance."""
        return self.effect[instrument_kind]


def _amount(movement: Mapping[str, Any]) -> Amount:
    return Amount(movement["amount_cents"], movement["currency"])


def _pay(merchant: Merchant, actor: str, movement: Mapping[str, Any], found: Any) -> TransactionReply:
    return merchant.client.pay(
        sender_token_id=found.sender_token_id, amount=_amount(movement),
        caller_reference=movement["caller_reference"], actor=actor, instrument_id=found.id,
        description=movement["product"],
    )  # fmt: skip


def _fund(merchant: Merchant, actor: str, movement: Mapping[str, Any], found: Any) -> TransactionReply:
    return merchant.client.fund_prepaid(
        funding_token_id=found.funding_token_id, instrument_id=found.id, amount=_amount(movement),
        caller_reference=movement["caller_reference"], actor=actor,
    )  # fmt: skip


def _settle(merchant: Merchant, actor: str, movement: Mapping[str, Any], found: Any) -> TransactionReply:
    return merchant.client.settle_debt(
        settlement_token_id=found.settlement_token_id, instrument_id=found.id, amount=_amount(movement),
        caller_reference=movement["caller_reference"], actor=actor,
    )  # fmt: skip


def _write_off(merchant: Merchant, actor: str, movement: Mapping[str, Any], found: Any) -> TransactionReply:
    return merchant.client.write_off_debt(
        instrument_id=found.id, amount=_amount(movement), caller_reference=movement["caller_reference"],
        actor=actor, description=movement["reason"],
    )  # fmt: skip


def _refund(merchant: Merchant, actor: str, movement: Mapping[str, Any], found: Any) -> TransactionReply:
    purchases = PAY.table
    with merchant.engine.connect() as conn:
        paid = conn.execute(
            select(purchases.c.transaction_id).where(purchases.c.id == movement["purchase_id"])
        ).scalar_one()
    return merchant.client.refund(
        transaction_id=paid, caller_reference=movement["caller_reference"], actor=actor,
        amount=_amount(movement), instrument_id=found.id, description=movement["reason"][:160],
    )  # fmt: skip


_BOTH_UP, _BOTH_DOWN = {"Prepaid": 1, "Postpaid": 1}, {"Prepaid": -1, "Postpaid": -1}
PAY = MovementKind("Purchase", "Pay", Purchase.__table__, "pay", {"Prepaid": -1, "Postpaid": 1}, None,
                   "product", _pay)  # fmt: skip
FUND_PREPAID = MovementKind("Funding", "FundPrepaid", Funding.__table__, "fund", _BOTH_UP, "fee_cents",
                            None, _fund)  # fmt: skip
SETTLE_DEBT = MovementKind("Settlement", "SettleDebt", Settlement.__table__, "settle", _BOTH_DOWN,
                           "fee_cents", None, _settle)  # fmt: skip
WRITE_OFF_DEBT = MovementKind("WriteOff", "WriteOffDebt", WriteOff.__table__, "writeoff", _BOTH_DOWN,
                              None, "reason", _write_off)  # fmt: skip
REFUND = MovementKind("Refund", "Refund", Refund.__table__, "refund", {"Prepaid": 1, "Postpaid": -1}, None,
                      "reason", _refund)  # fmt: skip

# In the order movements of the same moment are listed in an instrument's history.
KINDS: tuple[MovementKind, ...] = (FUND_PREPAID, PAY, REFUND, SETTLE_DEBT, WRITE_OFF_DEBT)
BY_OPERATION: dict[str, MovementKind] = {kind.operation: kind for kind in KINDS}
_BY_TABLE: dict[str, MovementKind] = {kind.table.name: kind for kind in KINDS}


def of(table: Table) -> MovementKind:
    """The kind whose rows `table` holds."""
    return _BY_TABLE[table.name]
