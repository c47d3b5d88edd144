"""The Instrument page's read model: one instrument, its history of movements with the balance (or debt)
after each, from a window function over the movements the registry names (so it agrees with the book
balance the flows keep), the balance over time, and the purchases that can still be refunded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    String,
    Text,
    case,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)

from fpscore.db import read_only
from fpscore.merchant import movements
from fpscore.merchant.movements import PAY
from fpscore.merchant.queries.paging import MAX_COUNT, MAX_EXPORT_ROWS, Page, bounds, optional_amount
from fpscore.merchant.schema import Customer, MerchantInstrument
from fpscore.money import Amount

MAX_HISTORY_POINTS = 2_000  # the balance chart's most recent points
MAX_REFUNDABLE = 200

_instruments = MerchantInstrument.__table__
_customers = Customer.__table__
_purchases = PAY.table


@dataclass(frozen=True, slots=True)
class InstrumentDetail:
    instrument_id: str
    kind: str
    status: str
    currency: str
    customer_id: int
    customer_email: str
    customer_name: str
    sender_token_id: str
    funding_token_id: str | None
    settlement_token_id: str | None
    funding_limit: Amount | None
    credit_limit: Amount | None
    purchase_limit: Amount | None
    balance: Amount  # the book's balance (prepaid) or debt (postpaid)
    balance_seen_at: datetime | None
    debt_since: datetime | None
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One money movement on an instrument, with the balance (or debt) after it."""

    kind: str  # Funding, Purchase, Refund, Settlement, WriteOff
    row_id: int
    created_at: datetime
    amount: Amount
    effect: Amount  # what it changed: signed, zero unless it succeeded
    balance_after: Amount
    status: str
    error_code: str | None
    caller_reference: str
    transaction_id: str | None
    requested_by: str
    detail: str | None  # product, or the reason
    fee: Amount | None  # the fee charged (funding, settlement)
    order_id: int | None
    purchase_id: int | None  # refunds: the purchase refunded


@dataclass(frozen=True, slots=True)
class RefundablePurchase:
    purchase_id: int
    order_id: int
    product: str
    amount: Amount
    refunded: Amount
    remaining: Amount
    transaction_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BalancePoint:
    at: datetime
    balance: Amount


@dataclass(frozen=True, slots=True)
class InstrumentView:
    detail: InstrumentDetail
    history: Page[HistoryEntry]  # newest first
    series: tuple[BalancePoint, ...]  # oldest first, successful movements only, at most MAX_HISTORY_POINTS
    refundable: tuple[RefundablePurchase, ...]  # newest first, at most MAX_REFUNDABLE


# Movements of the same moment are listed in the registry's order of kinds.
_KIND_RANK = {kind.name: rank for rank, kind in enumerate(movements.KINDS, 1)}


def _movement_selects(instrument_id: str, instrument_kind: str) -> list[Select[Any]]:
    """Each movement table as rows of one shape, `effect_cents` signed by the registry
    (`MovementKind.sign`): what each did to the balance (prepaid) or debt (postpaid)."""
    selects = []
    for kind in movements.KINDS:
        table = kind.table
        signed = table.c.amount_cents * kind.sign(instrument_kind)
        effect = case((table.c.status == "Success", signed), else_=0)
        selects.append(
            select(
                literal(kind.name, String).label("kind"),
                literal(_KIND_RANK[kind.name], Integer).label("kind_rank"),
                table.c.id.label("row_id"),
                table.c.created_at,
                table.c.amount_cents,
                table.c.currency,
                cast(effect, BigInteger).label("effect_cents"),
                table.c.status,
                table.c.error_code,
                table.c.caller_reference,
                table.c.transaction_id,
                table.c.requested_by,
                _column_or_null(table, kind.detail, Text).label("detail"),
                _column_or_null(table, kind.fee, BigInteger).label("fee_cents"),
                _column_or_null(table, "order_id", BigInteger).label("order_id"),
                _column_or_null(table, "purchase_id", BigInteger).label("purchase_id"),
            ).where(table.c.instrument_id == instrument_id)
        )
    return selects


def _column_or_null(table: Any, name: str | None, type_: Any) -> ColumnElement[Any]:
    """`table`'s column `name` as `type_`, or NULL when it has none."""
    return cast(table.c[name] if name is not None and name in table.c else null(), type_)


def instrument_detail(engine: Engine, instrument_id: str) -> InstrumentDetail | None:
    with read_only(engine) as conn:
        row = conn.execute(
            select(_instruments, _customers.c.email, _customers.c.name)
            .join(_customers, _customers.c.id == _instruments.c.customer_id)
            .where(_instruments.c.id == instrument_id[:64])
        ).one_or_none()
    if row is None:
        return None
    c = row.currency
    return InstrumentDetail(
        row.id,
        row.kind,
        row.status,
        c,
        row.customer_id,
        row.email,
        row.name,
        row.sender_token_id,
        row.funding_token_id,
        row.settlement_token_id,
        optional_amount(row.funding_limit_cents, c),
        optional_amount(row.credit_limit_cents, c),
        optional_amount(row.purchase_limit_cents, c),
        Amount(row.balance_cents, c),
        row.balance_seen_at,
        row.debt_since,
        row.expires_at,
        row.created_at,
    )


def _running(detail: InstrumentDetail) -> Any:
    """The instrument's movements with the balance (or debt) after each, as a subquery."""
    moves = union_all(*_movement_selects(detail.instrument_id, detail.kind)).subquery("moves")
    order = (moves.c.created_at, moves.c.kind_rank, moves.c.row_id)
    return select(
        moves, func.sum(moves.c.effect_cents).over(order_by=order).label("balance_after_cents")
    ).subquery("running")


def _newest_first(running: Any) -> tuple[Any, ...]:
    return (running.c.created_at.desc(), running.c.kind_rank.desc(), running.c.row_id.desc())


def _history_entry(r: Any, currency: str) -> HistoryEntry:
    return HistoryEntry(
        r.kind,
        r.row_id,
        r.created_at,
        Amount(r.amount_cents, r.currency),
        Amount(int(r.effect_cents), currency),
        Amount(int(r.balance_after_cents), currency),
        r.status,
        r.error_code,
        r.caller_reference,
        r.transaction_id,
        r.requested_by,
        r.detail,
        optional_amount(r.fee_cents, currency),
        r.order_id,
        r.purchase_id,
    )


def instrument_view(
    engine: Engine, instrument_id: str, page: int = 1, page_size: int = 50
) -> InstrumentView | None:
    """The instrument, one page of its history (newest first) with running balances, the balance over
    time for a chart, and the purchases that can still be refunded; None if the merchant has no such
    instrument."""
    detail = instrument_detail(engine, instrument_id)
    if detail is None:
        return None
    page, page_size, offset = bounds(page, page_size)
    running = _running(detail)
    c = detail.currency
    with read_only(engine) as conn:
        total = conn.execute(select(func.count()).select_from(running)).scalar_one()
        rows = conn.execute(
            select(running).order_by(*_newest_first(running)).limit(page_size).offset(offset)
        ).all()
        points = conn.execute(
            select(running.c.created_at, running.c.balance_after_cents)
            .where(running.c.effect_cents != 0)
            .order_by(*_newest_first(running))
            .limit(MAX_HISTORY_POINTS)
        ).all()
        refundable = _refundable(conn, detail.instrument_id, MAX_REFUNDABLE)
    history = tuple(_history_entry(r, c) for r in rows)
    series = tuple(BalancePoint(at, Amount(int(cents), c)) for at, cents in reversed(points))
    return InstrumentView(
        detail,
        Page(history, min(total, MAX_COUNT), total > MAX_COUNT, page, page_size),
        series,
        refundable,
    )


def _refundable(conn: Connection, instrument_id: str, limit: int) -> tuple[RefundablePurchase, ...]:
    rows = conn.execute(
        select(_purchases)
        .where(
            _purchases.c.instrument_id == instrument_id,
            _purchases.c.status == "Success",
            _purchases.c.transaction_id.is_not(None),
            _purchases.c.refunded_cents < _purchases.c.amount_cents,
        )
        .order_by(_purchases.c.created_at.desc(), _purchases.c.id.desc())
        .limit(max(1, min(limit, MAX_REFUNDABLE)))
    ).all()
    return tuple(
        RefundablePurchase(
            p.id,
            p.order_id,
            p.product,
            Amount(p.amount_cents, p.currency),
            Amount(p.refunded_cents, p.currency),
            Amount(p.amount_cents - p.refunded_cents, p.currency),
            p.transaction_id,
            p.created_at,
        )
        for p in rows
    )


def refundable_purchases(
    engine: Engine, instrument_id: str, limit: int = MAX_REFUNDABLE
) -> tuple[RefundablePurchase, ...]:
    """The instrument's completed purchases with something left to refund, newest first, at most `limit`
    (at most MAX_REFUNDABLE): what a refund gives back, and what a write-off may name as disputed."""
    with read_only(engine) as conn:
        return _refundable(conn, instrument_id, limit)


def instrument_history(
    engine: Engine, instrument_id: str, limit: int = MAX_EXPORT_ROWS
) -> list[HistoryEntry]:
    """The instrument's history newest first, at most `limit` (at most MAX_EXPORT_ROWS) entries."""
    detail = instrument_detail(engine, instrument_id)
    if detail is None:
        return []
    running = _running(detail)
    with read_only(engine) as conn:
        rows = conn.execute(
            select(running).order_by(*_newest_first(running)).limit(max(1, min(limit, MAX_EXPORT_ROWS)))
        ).all()
    return [_history_entry(r, detail.currency) for r in rows]
