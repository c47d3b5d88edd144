"""Reconciliation: the merchant's records against the processor's account activity and balances.

Every difference is listed: a transaction one side has and the other lacks, amounts, statuses or fees
that disagree, requests that never got an answer, and instruments whose book balance differs from the
processor's live one. An empty list means the two sides agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, literal, select, union_all

from fpscore.db import read_only
from fpscore.merchant.client import ActivityItem
from fpscore.merchant.connect import Merchant
from fpscore.merchant.flows import MOVEMENTS, require
from fpscore.merchant.roles import Actor, Permission
from fpscore.merchant.schema import MerchantInstrument
from fpscore.money import Amount

MAX_PAGES = 10_000
MAX_BALANCE_CHECKS = 2_000
_instruments = MerchantInstrument.__table__


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str
    subject: str  # a TransactionId, a CallerReference or an instrument id
    merchant: str
    processor: str


@dataclass(frozen=True, slots=True)
class _Recorded:
    operation: str
    caller_reference: str
    transaction_id: str | None
    status: str
    amount_cents: int
    fee_cents: int | None


def _recorded(merchant: Merchant, since: datetime) -> list[_Recorded]:
    selects = []
    for operation, table in MOVEMENTS.items():
        fee = table.c.fee_cents if "fee_cents" in table.c else literal(None)
        selects.append(
            select(
                literal(operation).label("operation"), table.c.caller_reference, table.c.transaction_id,
                table.c.status, table.c.amount_cents, fee.label("fee_cents"),
            ).where(table.c.created_at >= since)
        )  # fmt: skip
    with read_only(merchant.engine) as conn:
        return [_Recorded(*row) for row in conn.execute(union_all(*selects))]


def _activity(merchant: Merchant, actor: Actor, since: datetime) -> dict[str, ActivityItem]:
    items: dict[str, ActivityItem] = {}
    start: datetime | None = since
    for _ in range(MAX_PAGES):
        if start is None:
            break
        page = merchant.client.get_account_activity(start=start, actor=actor.name)
        items.update((item.transaction_id, item) for item in page.items)
        start = page.next_start
    return items


def reconcile(
    merchant: Merchant,
    actor: Actor,
    since: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Difference]:
    """Every difference between the two sides for what happened from `since` (default: all time)."""
    require(merchant, actor, Permission.RECONCILE, "reconcile")
    since = since or datetime(2000, 1, 1, tzinfo=UTC)
    step = progress or (lambda _message: None)
    step("reading the merchant's records")
    recorded = _recorded(merchant, since)
    step("reading the processor's account activity")
    processor = _activity(merchant, actor, since)
    differences: list[Difference] = []
    known = set()
    for row in recorded:
        if row.transaction_id is None:
            if row.status == "Requested":
                differences.append(Difference("unanswered request", row.caller_reference,
                                              f"{row.operation} asked, no answer recorded", "-"))  # fmt: skip
            continue
        known.add(row.transaction_id)
        item = processor.get(row.transaction_id)
        if item is None:
            if row.status in ("Success", "Pending"):
                mine = f"{row.operation} {row.status}"
                differences.append(Difference("missing at the processor", row.transaction_id, mine, "none"))
            continue
        mine = f"{row.operation} {Amount(row.amount_cents)} {row.status}"
        theirs = f"{item.operation} {item.amount} {item.status}"
        if (item.operation, item.amount.cents, item.status) != (row.operation, row.amount_cents, row.status):
            differences.append(Difference("transaction differs", row.transaction_id, mine, theirs))
        if row.fee_cents is not None and item.fees.cents != row.fee_cents:
            differences.append(Difference("fee differs", row.transaction_id, str(Amount(row.fee_cents)),
                                          str(item.fees)))  # fmt: skip
    for transaction_id, item in processor.items():
        if transaction_id not in known:
            differences.append(Difference("unknown to the merchant", transaction_id, "no record",
                                          f"{item.operation} {item.amount} {item.status}"))  # fmt: skip
    step("comparing balances")
    differences += _balances(merchant, actor)
    return differences


def _balances(merchant: Merchant, actor: Actor) -> list[Difference]:
    differences = []
    with read_only(merchant.engine) as conn:
        totals = dict(
            conn.execute(
                select(
                    _instruments.c.kind, func.coalesce(func.sum(_instruments.c.balance_cents), 0)
                ).group_by(_instruments.c.kind)
            ).all()
        )
        instruments = conn.execute(
            select(_instruments.c.id, _instruments.c.kind, _instruments.c.balance_cents)
            .order_by(_instruments.c.id)
            .limit(MAX_BALANCE_CHECKS)
        ).all()
    liability = merchant.client.get_total_prepaid_liability(actor=actor.name)
    debt = merchant.client.get_outstanding_debt_balance(actor=actor.name)
    for name, book, live in (
        ("total prepaid liability", totals.get("Prepaid", 0), liability),
        ("total outstanding debt", totals.get("Postpaid", 0), debt),
    ):
        if book != live.cents:
            differences.append(Difference("total differs", name, str(Amount(int(book))), str(live)))
    for row in instruments:
        if row.kind == "Prepaid":
            live = merchant.client.get_prepaid_balance(row.id, actor=actor.name)
        else:
            live = merchant.client.get_debt_balance(row.id, actor=actor.name)
        if live.cents != row.balance_cents:
            differences.append(
                Difference("balance differs", row.id, str(Amount(row.balance_cents)), str(live))
            )
    return differences
