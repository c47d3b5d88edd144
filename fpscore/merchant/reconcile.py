"""Reconciliation: the merchant's records against the processor's account activity and balances.

Each processor transaction is matched to the record of the same operation and CallerReference (a record
whose answer was lost has no TransactionId, but its reference is the one the processor keeps), and every
fact that differs is listed once: an answer the merchant never recorded, a transaction one side has and
the other lacks, amounts, statuses or fees that disagree, a request the processor never saw, and a book
balance that differs from the live one (unless a lost answer, which `fix` records, explains it). An empty
list means the two sides agree.

`fix` applies what the processor's activity proves and nothing else: the TransactionId and status of a
record whose answer was lost (or that was recorded as refused when the processor had made it), and the
final status of one recorded as Requested or Pending. Requests the
processor never saw are recovery's (`fpscore recover` resends them); other differences need a person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Table, and_, func, literal, or_, select, union_all, update

from fpscore.db import read_only
from fpscore.merchant.client import ActivityItem
from fpscore.merchant.connect import Merchant
from fpscore.merchant.flows import record_status, require
from fpscore.merchant.movements import BY_OPERATION, KINDS
from fpscore.merchant.roles import Actor, Permission
from fpscore.merchant.schema import MerchantInstrument
from fpscore.money import Amount

MAX_PAGES = 10_000
PAGE_SIZE = 200  # transactions per GetAccountActivity page
MAX_BALANCE_CHECKS = 2_000
STOPPED = "stopped at a limit"  # a Difference saying what was not compared
IN_FLIGHT = ("Requested", "Pending")
_instruments = MerchantInstrument.__table__


@dataclass(frozen=True, slots=True)
class Repair:
    """What the processor proves about one record: its TransactionId and final status."""

    operation: str
    row_id: int
    transaction_id: str
    status: str


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str
    subject: str  # a TransactionId, a CallerReference or an instrument id
    merchant: str
    processor: str
    repair: Repair | None = None  # set when `fix` can mend it from the processor's records


@dataclass(frozen=True, slots=True)
class _Recorded:
    operation: str
    row_id: int
    caller_reference: str
    transaction_id: str | None
    status: str
    amount_cents: int
    fee_cents: int | None
    instrument_id: str


def _recorded(merchant: Merchant, since: datetime) -> list[_Recorded]:
    selects = []
    for kind in KINDS:
        table = kind.table
        fee = table.c[kind.fee] if kind.fee else literal(None)  # compared where the merchant pays one
        selects.append(
            select(
                literal(kind.operation).label("operation"), table.c.id, table.c.caller_reference,
                table.c.transaction_id, table.c.status, table.c.amount_cents, fee.label("fee_cents"),
                table.c.instrument_id,
            ).where(table.c.created_at >= since)
        )  # fmt: skip
    with read_only(merchant.engine) as conn:
        return [_Recorded(*row) for row in conn.execute(union_all(*selects))]


def _activity(
    merchant: Merchant, actor: Actor, since: datetime
) -> tuple[dict[str, ActivityItem], datetime | None]:
    """The processor's transactions from `since`, and where reading stopped at MAX_PAGES (None: all)."""
    items: dict[str, ActivityItem] = {}
    start: datetime | None = since
    for _ in range(MAX_PAGES):
        if start is None:
            break
        page = merchant.client.get_account_activity(start=start, max_batch_size=PAGE_SIZE, actor=actor.name)
        items.update((item.transaction_id, item) for item in page.items)
        start = page.next_start
    return items, start


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
    processor, unread_from = _activity(merchant, actor, since)
    by_reference = {(item.operation, item.caller_reference): item for item in processor.values()}
    differences: list[Difference] = []
    matched: set[str] = set()
    explained: set[str] = set()  # instruments whose book balance waits for a repair
    for row in recorded:
        if row.transaction_id:
            item = processor.get(row.transaction_id)
        else:
            item = by_reference.get((row.operation, row.caller_reference))
        if item is not None:
            matched.add(item.transaction_id)
        found = _compare(row, item)
        if any(difference.repair for difference in found):
            explained.add(row.instrument_id)
        differences += found
    for transaction_id, item in processor.items():
        if transaction_id not in matched:
            differences.append(Difference("unknown to the merchant", transaction_id, "no record",
                                          f"{item.operation} {item.amount} {item.status}"))  # fmt: skip
    if unread_from is not None:
        differences.append(Difference(STOPPED, "account activity", f"{len(processor)} transactions read",
                                      f"not read from {unread_from.isoformat()} on (MAX_PAGES)"))  # fmt: skip
    step("comparing balances")
    differences += _balances(merchant, actor, explained, totals=not explained)
    return differences


def _compare(row: _Recorded, item: ActivityItem | None) -> list[Difference]:
    """The differences between one record and the processor's transaction of the same reference."""
    if item is None:
        if row.transaction_id is None:
            if row.status == "Requested":
                mine = f"{row.operation} asked, no answer recorded"
                return [Difference("unanswered request", row.caller_reference, mine, "never received")]
            return []  # refused: nothing moved at the processor
        if row.status in ("Success", "Pending"):
            mine = f"{row.operation} {row.status}"
            return [Difference("missing at the processor", row.transaction_id, mine, "none")]
        return []
    theirs = f"{item.operation} {item.amount} {item.status}"
    mine = f"{row.operation} {Amount(row.amount_cents)} {row.status}"
    same = (item.operation, item.amount.cents) == (row.operation, row.amount_cents)
    repair = Repair(row.operation, row.row_id, item.transaction_id, item.status)
    if row.transaction_id is None:  # matched by CallerReference: the answer never reached the record
        told = f"{item.transaction_id} {theirs}"
        if not same:
            return [Difference("transaction differs", row.caller_reference, mine, told)]
        return [Difference("answer not recorded", row.caller_reference, mine, told, repair)]
    differences = []
    if not same:
        differences.append(Difference("transaction differs", row.transaction_id, mine, theirs))
    elif item.status != row.status:
        final = row.status in IN_FLIGHT and item.status not in IN_FLIGHT
        differences.append(Difference("status differs", row.transaction_id, mine, theirs,
                                      repair if final else None))  # fmt: skip
    if row.fee_cents is not None and item.fees.cents != row.fee_cents:
        differences.append(Difference("fee differs", row.transaction_id, str(Amount(row.fee_cents)),
                                      str(item.fees)))  # fmt: skip
    return differences


def fix(merchant: Merchant, actor: Actor, differences: list[Difference]) -> int:
    """Record what the processor proves for each difference that carries a repair; how many were mended.
    Each is recorded as the flow would have recorded the answer (balances, orders and the fee rollup
    follow), and only over a record still without that answer."""
    require(merchant, actor, Permission.RECONCILE, "reconcile --fix")
    mended = 0
    for difference in differences:
        repair = difference.repair
        if repair is None:
            continue
        table: Table = BY_OPERATION[repair.operation].table
        with merchant.engine.begin() as conn:
            mendable = or_(  # still waiting for the answer, or recorded as refused when it was made
                and_(
                    table.c.status.in_(IN_FLIGHT),
                    table.c.transaction_id.is_(None) | (table.c.transaction_id == repair.transaction_id),
                ),
                and_(table.c.status == "Failure", table.c.transaction_id.is_(None)),
            )
            claimed = conn.execute(
                update(table)
                .where(table.c.id == repair.row_id, mendable)
                .values(transaction_id=repair.transaction_id)
                .returning(table.c.id)
            ).first()  # fmt: skip
            if claimed is None:
                continue
            record_status(conn, table, repair.row_id, repair.status, merchant.clock())
        detail = f"{repair.operation} {repair.transaction_id} {repair.status}"
        merchant.audit.record_event(actor.name, "reconcile_fix", "Done", difference.subject, detail)
        mended += 1
    return mended


def _balances(merchant: Merchant, actor: Actor, explained: set[str], totals: bool) -> list[Difference]:
    """Book balances against live ones, except where a repair is due: an answer not recorded explains
    its instrument's balance (and the totals), and `fix` mends both."""
    differences = []
    with read_only(merchant.engine) as conn:
        sums = dict(
            conn.execute(
                select(
                    _instruments.c.kind, func.coalesce(func.sum(_instruments.c.balance_cents), 0)
                ).group_by(_instruments.c.kind)
            ).all()
        )
        instruments = conn.execute(
            select(_instruments.c.id, _instruments.c.kind, _instruments.c.balance_cents)
            .order_by(_instruments.c.id)
            .limit(MAX_BALANCE_CHECKS + 1)
        ).all()
    if len(instruments) > MAX_BALANCE_CHECKS:
        instruments = instruments[:MAX_BALANCE_CHECKS]
        compared = f"the first {MAX_BALANCE_CHECKS} compared"
        differences.append(Difference(STOPPED, "instrument balances", compared,
                                      f"instruments after {instruments[-1].id} not asked"))  # fmt: skip
    liability = merchant.client.get_total_prepaid_liability(actor=actor.name)
    debt = merchant.client.get_outstanding_debt_balance(actor=actor.name)
    for name, book, live in (
        ("total prepaid liability", sums.get("Prepaid", 0), liability),
        ("total outstanding debt", sums.get("Postpaid", 0), debt),
    ):
        if totals and book != live.cents:
            differences.append(Difference("total differs", name, str(Amount(int(book))), str(live)))
    for row in instruments:
        if row.id in explained:
            continue
        if row.kind == "Prepaid":
            live = merchant.client.get_prepaid_balance(row.id, actor=actor.name)
        else:
            live = merchant.client.get_debt_balance(row.id, actor=actor.name)
        if live.cents != row.balance_cents:
            differences.append(
                Difference("balance differs", row.id, str(Amount(row.balance_cents)), str(live))
            )
    return differences
