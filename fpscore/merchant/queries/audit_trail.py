"""The audit trail: what staff and jobs did or were refused (the Audit page's staff events, filtered and
paged newest first), and the timeline of one purchase: paid, refunded, and settled or written off (postpaid)
or paid from which fundings (prepaid).

A purchase's timeline takes the instrument's debt (or prepaid balance) as first in, first out: each
settlement and write-off pays off the oldest debt still owed, each funding is spent by the purchases in
their order, and a refund gives back its own purchase's money. So a purchase is settled by the settlement
(or written off by the write-off) that brought the instrument's cumulative repayments past the debt
accrued up to and including it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, func, select, tuple_

from fpscore.db import read_only
from fpscore.merchant.movements import FUND_PREPAID, PAY, REFUND, SETTLE_DEBT, WRITE_OFF_DEBT
from fpscore.merchant.queries.paging import MAX_EXPORT_ROWS, Page, bounds, capped_count
from fpscore.merchant.schema import AuditEvent, MerchantInstrument
from fpscore.money import Amount

MAX_TIMELINE_REPAYMENTS = 5_000  # the settlements, write-offs or fundings walked for one purchase

_events = AuditEvent.__table__
_instruments = MerchantInstrument.__table__
_purchases = PAY.table


@dataclass(frozen=True, slots=True)
class AuditEventFilter:
    actor: str = ""
    action: str = ""
    outcome: str | None = None  # Done, Refused, Failed
    subject: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEventRow:
    event_id: int
    created_at: datetime
    actor: str
    action: str
    outcome: str
    subject: str | None
    detail: str | None


def _event_conditions(f: AuditEventFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.actor.strip():
        conditions.append(_events.c.actor == f.actor.strip().lower()[:64])
    if f.action.strip():
        conditions.append(_events.c.action == f.action.strip()[:48])
    if f.outcome:
        conditions.append(_events.c.outcome == f.outcome)
    if f.subject.strip():
        conditions.append(_events.c.subject == f.subject.strip()[:128])
    if f.since is not None:
        conditions.append(_events.c.created_at >= f.since)
    if f.until is not None:
        conditions.append(_events.c.created_at < f.until)
    return conditions


def _event_row(r: Any) -> AuditEventRow:
    return AuditEventRow(r.id, r.created_at, r.actor, r.action, r.outcome, r.subject, r.detail)


def audit_events(
    engine: Engine, f: AuditEventFilter, page: int = 1, page_size: int = 50
) -> Page[AuditEventRow]:
    """What staff (and jobs) did or were refused, newest first."""
    page, page_size, offset = bounds(page, page_size)
    conditions = _event_conditions(f)
    newest_first = (_events.c.created_at.desc(), _events.c.id.desc())
    with read_only(engine) as conn:
        rows = conn.execute(
            select(_events).where(*conditions).order_by(*newest_first).limit(page_size).offset(offset)
        ).all()
        total, capped = capped_count(conn, select(_events.c.id).where(*conditions))
    return Page(tuple(_event_row(r) for r in rows), total, capped, page, page_size)


def audit_events_export(
    engine: Engine, f: AuditEventFilter, limit: int = MAX_EXPORT_ROWS
) -> list[AuditEventRow]:
    """The events the filter matches, newest first, at most `limit` (at most MAX_EXPORT_ROWS)."""
    newest_first = (_events.c.created_at.desc(), _events.c.id.desc())
    with read_only(engine) as conn:
        rows = conn.execute(
            select(_events)
            .where(*_event_conditions(f))
            .order_by(*newest_first)
            .limit(max(1, min(limit, MAX_EXPORT_ROWS)))
        ).all()
    return [_event_row(r) for r in rows]


@dataclass(frozen=True, slots=True)
class TimelineStep:
    """One step of a purchase's life: Asked, Paid, Failed, Refunded, Funded, Settled, Written off or
    Outstanding (debt still owed)."""

    step: str
    at: datetime | None
    amount: Amount  # how much of this purchase's money the step concerns
    movement: Amount | None  # the whole movement (a settlement pays off many purchases at once)
    caller_reference: str | None
    transaction_id: str | None
    by: str | None
    detail: str | None  # product, or the reason


def _step(name: str, row: Any, share: int, detail: str | None = None) -> TimelineStep:
    return TimelineStep(
        name,
        row.completed_at or row.created_at,
        Amount(share, row.currency),
        Amount(row.amount_cents, row.currency),
        row.caller_reference,
        row.transaction_id,
        row.requested_by,
        detail,
    )


def timeline(conn: Connection, purchase_id: int) -> tuple[TimelineStep, ...]:
    """The steps of purchase `purchase_id` in time order (empty when there is no such purchase)."""
    paid = conn.execute(
        select(_purchases, _instruments.c.kind.label("instrument_kind"))
        .join(_instruments, _instruments.c.id == _purchases.c.instrument_id)
        .where(_purchases.c.id == purchase_id)
    ).one_or_none()
    if paid is None:
        return ()
    name = {"Success": "Paid", "Failure": "Failed"}.get(paid.status, "Asked")
    steps = [_step(name, paid, paid.amount_cents, paid.product)]
    refunds = REFUND.table
    for refund in conn.execute(
        select(refunds)
        .where(refunds.c.purchase_id == purchase_id, refunds.c.status == "Success")
        .order_by(refunds.c.created_at, refunds.c.id)
        .limit(MAX_TIMELINE_REPAYMENTS)
    ):
        steps.append(_step("Refunded", refund, refund.amount_cents, refund.reason))
    owed = paid.amount_cents - paid.refunded_cents
    if paid.status == "Success" and owed > 0:
        steps += _paid_off_by(conn, paid, owed)
    return tuple(sorted(steps, key=lambda s: (s.at is None, s.at)))


def _paid_off_by(conn: Connection, paid: Any, owed: int) -> list[TimelineStep]:
    """The fundings that paid for it (prepaid), or the settlements and write-offs that paid it off and
    what is still owed (postpaid): the FIFO share of each."""
    earlier = conn.execute(
        select(func.coalesce(func.sum(_purchases.c.amount_cents - _purchases.c.refunded_cents), 0)).where(
            _purchases.c.instrument_id == paid.instrument_id,
            _purchases.c.status == "Success",
            tuple_(_purchases.c.created_at, _purchases.c.id) < tuple_(paid.created_at, paid.id),
        )
    ).scalar_one()
    start = int(earlier)  # PostgreSQL sums bigints as numeric
    end = start + owed  # this purchase's money in the instrument's cumulative debt
    prepaid = paid.instrument_kind == "Prepaid"
    paid_off = ((SETTLE_DEBT, "Settled"), (WRITE_OFF_DEBT, "Written off"))
    kinds = ((FUND_PREPAID, "Funded"),) if prepaid else paid_off
    repayments = []
    for kind, label in kinds:
        table = kind.table
        rows = conn.execute(
            select(table)
            .where(table.c.instrument_id == paid.instrument_id, table.c.status == "Success")
            .order_by(table.c.created_at, table.c.id)
            .limit(MAX_TIMELINE_REPAYMENTS)
        ).all()
        repayments += [(row.created_at, row.id, label, row) for row in rows]
    repayments.sort(key=lambda r: (r[0], r[1]))
    steps, total = [], 0
    for _, _, label, row in repayments:
        share = min(end, total + row.amount_cents) - max(start, total)
        if share > 0:
            detail = getattr(row, "reason", None)
            steps.append(_step(label, row, share, detail))
        total += row.amount_cents
        if total >= end:
            break
    covered = sum(step.amount.cents for step in steps)
    if not prepaid and covered < owed:
        steps.append(
            TimelineStep(
                "Outstanding", None, Amount(owed - covered, paid.currency), None, None, None, None, None
            )
        )
    return steps
