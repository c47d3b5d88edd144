"""Typed read models for the back office: each function takes the merchant's engine and returns frozen
dataclasses, never rows.

Filtering, sorting, paging and totals happen in SQL. Every query has a hard limit: pages are at most
MAX_PAGE_SIZE rows and start at most MAX_OFFSET rows in, counts stop at MAX_COUNT (the UI says "10,000+"),
exports are at most MAX_EXPORT_ROWS rows. Lists are offset-paged with the row id as the last sort key, so
a page is stable while the data does not change. Running balances come from a window function over the
instrument's movements, so they agree with the book balance the flows keep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Integer,
    Select,
    String,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)

from fpscore.db import read_only
from fpscore.merchant import movements as registry  # `movements` is the Settlements page's read model
from fpscore.merchant.movements import PAY, SETTLE_DEBT, WRITE_OFF_DEBT, MovementKind
from fpscore.merchant.schema import ApiCall, AuditEvent, Customer, MerchantInstrument, Order
from fpscore.money import DEFAULT_CURRENCY, Amount
from fpscore.wire import ACTIONS

MAX_PAGE_SIZE = 200
MAX_OFFSET = 100_000
MAX_COUNT = 10_000
MAX_EXPORT_ROWS = 10_000
MAX_HISTORY_POINTS = 2_000  # the balance chart's most recent points
MAX_REFUNDABLE = 200
MAX_ATTEMPTS_SHOWN = 50

_instruments = MerchantInstrument.__table__
_customers = Customer.__table__
_orders = Order.__table__
_purchases = PAY.table
_api_calls = ApiCall.__table__
_events = AuditEvent.__table__

T = TypeVar("T")


# -- shared ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its rows, the (capped) number of rows that match, and where it is."""

    rows: tuple[T, ...]
    total: int
    total_capped: bool  # more than MAX_COUNT rows match; `total` is MAX_COUNT
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def first_row(self) -> int:
        return (self.page - 1) * self.page_size + 1 if self.rows else 0


def _bounds(page: int, page_size: int) -> tuple[int, int, int]:
    """(page, page_size, offset) clamped to the hard limits."""
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    page = max(1, min(int(page), MAX_OFFSET // page_size + 1))
    return page, page_size, (page - 1) * page_size


def _count(conn: Any, query: Select[Any]) -> tuple[int, bool]:
    """How many rows `query` has, counting at most MAX_COUNT + 1 of them."""
    limited = query.limit(MAX_COUNT + 1).subquery()
    found = conn.execute(select(func.count()).select_from(limited)).scalar_one()
    return min(found, MAX_COUNT), found > MAX_COUNT


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with the user's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _amount(cents: int | None, currency: str | None = None) -> Amount | None:
    return None if cents is None else Amount(int(cents), currency or DEFAULT_CURRENCY)


# -- instruments ---------------------------------------------------------------------------------------

KINDS = ("Prepaid", "Postpaid")
STATUSES = ("Active", "Cancelled")
INSTRUMENT_SORTS = ("created", "balance", "utilisation", "customer", "instrument")

# Debt as basis points of the credit limit (postpaid only); integer arithmetic on both backends.
_utilisation_bps = case(
    (
        and_(_instruments.c.kind == "Postpaid", _instruments.c.credit_limit_cents > 0),
        (_instruments.c.balance_cents * 10_000) / _instruments.c.credit_limit_cents,
    ),
    else_=null(),
)


@dataclass(frozen=True, slots=True)
class InstrumentFilter:
    kind: str | None = None  # Prepaid, Postpaid or None for both
    status: str | None = None  # Active, Cancelled or None
    search: str = ""  # part of the customer's email or name, or of the instrument id
    balance_min_cents: int | None = None  # prepaid balance or debt, inclusive
    balance_max_cents: int | None = None
    utilisation_min_pct: int | None = None  # postpaid debt as a share of the credit limit, inclusive
    utilisation_max_pct: int | None = None
    sort: str = "created"  # one of INSTRUMENT_SORTS
    descending: bool = True


@dataclass(frozen=True, slots=True)
class InstrumentRow:
    instrument_id: str
    kind: str
    status: str
    customer_id: int
    customer_email: str
    customer_name: str
    balance: Amount  # the book's prepaid balance, or debt for postpaid
    limit: Amount | None  # funding limit (prepaid) or credit limit (postpaid)
    utilisation_bps: int | None  # postpaid: debt / credit limit in basis points
    balance_seen_at: datetime | None  # when the processor last told us the live balance
    debt_since: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InstrumentTotals:
    """For everything the filter matches (not just the page)."""

    count: int
    prepaid_liability: Amount
    outstanding_debt: Amount


@dataclass(frozen=True, slots=True)
class InstrumentList:
    page: Page[InstrumentRow]
    totals: InstrumentTotals


def _instrument_conditions(f: InstrumentFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.kind:
        if f.kind not in KINDS:
            raise ValueError(f"kind is one of {KINDS}")
        conditions.append(_instruments.c.kind == f.kind)
    if f.status:
        if f.status not in STATUSES:
            raise ValueError(f"status is one of {STATUSES}")
        conditions.append(_instruments.c.status == f.status)
    search = f.search.strip()[:254]
    if search:
        pattern = _like(search.lower())
        conditions.append(
            or_(
                func.lower(_customers.c.email).like(pattern, escape="\\"),
                func.lower(_customers.c.name).like(pattern, escape="\\"),
                _instruments.c.id.like(_like(search), escape="\\"),
            )
        )
    if f.balance_min_cents is not None:
        conditions.append(_instruments.c.balance_cents >= f.balance_min_cents)
    if f.balance_max_cents is not None:
        conditions.append(_instruments.c.balance_cents <= f.balance_max_cents)
    utilisation = f.utilisation_min_pct is not None or f.utilisation_max_pct is not None
    if utilisation:  # only postpaid instruments have a credit line to use
        conditions.append(and_(_instruments.c.kind == "Postpaid", _instruments.c.credit_limit_cents > 0))
    if f.utilisation_min_pct is not None:
        conditions.append(
            _instruments.c.balance_cents * 100 >= _instruments.c.credit_limit_cents * f.utilisation_min_pct
        )
    if f.utilisation_max_pct is not None:
        conditions.append(
            _instruments.c.balance_cents * 100 <= _instruments.c.credit_limit_cents * f.utilisation_max_pct
        )
    return conditions


def _instrument_select(f: InstrumentFilter) -> Select[Any]:
    if f.sort not in INSTRUMENT_SORTS:
        raise ValueError(f"sort is one of {INSTRUMENT_SORTS}")
    key = {
        "created": _instruments.c.created_at,
        "balance": _instruments.c.balance_cents,
        "utilisation": func.coalesce(_utilisation_bps, -1),
        "customer": _customers.c.email,
        "instrument": _instruments.c.id,
    }[f.sort]
    order = (key.desc(), _instruments.c.id.desc()) if f.descending else (key.asc(), _instruments.c.id.asc())
    limit = case(
        (_instruments.c.kind == "Prepaid", _instruments.c.funding_limit_cents),
        else_=_instruments.c.credit_limit_cents,
    )
    return (
        select(
            _instruments.c.id,
            _instruments.c.kind,
            _instruments.c.status,
            _instruments.c.customer_id,
            _customers.c.email,
            _customers.c.name,
            _instruments.c.balance_cents,
            _instruments.c.currency,
            limit.label("limit_cents"),
            _utilisation_bps.label("utilisation_bps"),
            _instruments.c.balance_seen_at,
            _instruments.c.debt_since,
            _instruments.c.created_at,
        )
        .join(_customers, _customers.c.id == _instruments.c.customer_id)
        .where(*_instrument_conditions(f))
        .order_by(*order)
    )


def _instrument_row(row: Any) -> InstrumentRow:
    return InstrumentRow(
        row.id,
        row.kind,
        row.status,
        row.customer_id,
        row.email,
        row.name,
        Amount(row.balance_cents, row.currency),
        _amount(row.limit_cents, row.currency),
        None if row.utilisation_bps is None else int(row.utilisation_bps),
        row.balance_seen_at,
        row.debt_since,
        row.created_at,
    )


def instruments(engine: Engine, f: InstrumentFilter, page: int = 1, page_size: int = 50) -> InstrumentList:
    """One page of the instruments the filter matches, and the totals over all of them."""
    page, page_size, offset = _bounds(page, page_size)
    query = _instrument_select(f)
    with read_only(engine) as conn:
        rows = conn.execute(query.limit(page_size).offset(offset)).all()
        totals = conn.execute(
            select(
                func.count(),
                func.coalesce(
                    func.sum(case((_instruments.c.kind == "Prepaid", _instruments.c.balance_cents), else_=0)),
                    0,
                ),
                func.coalesce(
                    func.sum(
                        case((_instruments.c.kind == "Postpaid", _instruments.c.balance_cents), else_=0)
                    ),
                    0,
                ),
            )
            .select_from(_instruments.join(_customers, _customers.c.id == _instruments.c.customer_id))
            .where(*_instrument_conditions(f))
        ).one()
    count = int(totals[0])
    return InstrumentList(
        Page(
            tuple(_instrument_row(r) for r in rows), min(count, MAX_COUNT), count > MAX_COUNT, page, page_size
        ),
        InstrumentTotals(count, Amount(int(totals[1])), Amount(int(totals[2]))),
    )


def instruments_export(
    engine: Engine, f: InstrumentFilter, limit: int = MAX_EXPORT_ROWS
) -> list[InstrumentRow]:
    """Every instrument the filter matches, in its order, at most `limit` (at most MAX_EXPORT_ROWS)."""
    limit = max(1, min(limit, MAX_EXPORT_ROWS))
    with read_only(engine) as conn:
        return [_instrument_row(r) for r in conn.execute(_instrument_select(f).limit(limit))]


# -- one instrument ------------------------------------------------------------------------------------


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


# Movements of the same moment are listed in the order of their kinds' names.
_KIND_RANK = {name: rank for rank, name in enumerate(sorted(kind.name for kind in registry.KINDS), 1)}


def _movement_selects(instrument_id: str, instrument_kind: str) -> list[Select[Any]]:
    """Each movement table as rows of one shape, `effect_cents` signed by the registry
    (`MovementKind.sign`): what each did to the balance (prepaid) or debt (postpaid)."""
    selects = []
    for kind in registry.KINDS:
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
        _amount(row.funding_limit_cents, c),
        _amount(row.credit_limit_cents, c),
        _amount(row.purchase_limit_cents, c),
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
        _amount(r.fee_cents, currency),
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
    page, page_size, offset = _bounds(page, page_size)
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
        refundable = conn.execute(
            select(_purchases)
            .where(
                _purchases.c.instrument_id == detail.instrument_id,
                _purchases.c.status == "Success",
                _purchases.c.transaction_id.is_not(None),
                _purchases.c.refunded_cents < _purchases.c.amount_cents,
            )
            .order_by(_purchases.c.created_at.desc(), _purchases.c.id.desc())
            .limit(MAX_REFUNDABLE)
        ).all()
    history = tuple(_history_entry(r, c) for r in rows)
    series = tuple(BalancePoint(at, Amount(int(cents), c)) for at, cents in reversed(points))
    purchases = tuple(
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
        for p in refundable
    )
    return InstrumentView(
        detail,
        Page(history, min(total, MAX_COUNT), total > MAX_COUNT, page, page_size),
        series,
        purchases,
    )


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


# -- settlements and write-offs ------------------------------------------------------------------------

# The kinds the Settlements and Write-offs pages list, by table name.
MOVEMENT_KINDS = {kind.table.name: kind for kind in (SETTLE_DEBT, WRITE_OFF_DEBT)}


@dataclass(frozen=True, slots=True)
class MovementFilter:
    kind: str = "settlements"  # settlements or write_offs
    search: str = ""  # part of the customer's email or name, or of the instrument id
    requested_by: str = ""  # exact staff user name or job
    status: str | None = None  # Requested, Pending, Success, Failure
    since: datetime | None = None
    until: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class MovementRow:
    row_id: int
    instrument_id: str
    customer_email: str
    amount: Amount
    fee: Amount | None  # settlements: the fee charged
    reason: str | None  # write-offs: why
    status: str
    error_code: str | None
    caller_reference: str
    transaction_id: str | None
    requested_by: str
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class MovementList:
    page: Page[MovementRow]
    succeeded_total: Amount  # the sum of the successful movements the filter matches


def _movement_conditions(table: Any, f: MovementFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    search = f.search.strip()[:254]
    if search:
        pattern = _like(search.lower())
        conditions.append(
            or_(
                func.lower(_customers.c.email).like(pattern, escape="\\"),
                func.lower(_customers.c.name).like(pattern, escape="\\"),
                table.c.instrument_id.like(_like(search), escape="\\"),
            )
        )
    if f.requested_by.strip():
        conditions.append(table.c.requested_by == f.requested_by.strip().lower()[:64])
    if f.status:
        conditions.append(table.c.status == f.status)
    if f.since is not None:
        conditions.append(table.c.created_at >= f.since)
    if f.until is not None:
        conditions.append(table.c.created_at < f.until)
    return conditions


def _movement_query(f: MovementFilter) -> tuple[MovementKind, Any, list[ColumnElement[bool]], Select[Any]]:
    kind = MOVEMENT_KINDS.get(f.kind)
    if kind is None:
        raise ValueError(f"kind is one of {tuple(MOVEMENT_KINDS)}")
    table = kind.table
    joined = table.join(_instruments, _instruments.c.id == table.c.instrument_id).join(
        _customers, _customers.c.id == _instruments.c.customer_id
    )
    conditions = _movement_conditions(table, f)
    query = (
        select(table, _customers.c.email)
        .select_from(joined)
        .where(*conditions)
        .order_by(table.c.created_at.desc(), table.c.id.desc())
    )
    return kind, joined, conditions, query


def _movement_row(kind: MovementKind, r: Any) -> MovementRow:
    return MovementRow(
        r.id,
        r.instrument_id,
        r.email,
        Amount(r.amount_cents, r.currency),
        _amount(r._mapping[kind.fee], r.currency) if kind.fee else None,
        r._mapping[kind.detail] if kind.detail == "reason" else None,
        r.status,
        r.error_code,
        r.caller_reference,
        r.transaction_id,
        r.requested_by,
        r.created_at,
        r.completed_at,
    )


def movements(engine: Engine, f: MovementFilter, page: int = 1, page_size: int = 50) -> MovementList:
    """Settlements or write-offs, newest first, with who asked and (write-offs) why."""
    kind, joined, conditions, query = _movement_query(f)
    table = kind.table
    page, page_size, offset = _bounds(page, page_size)
    with read_only(engine) as conn:
        rows = conn.execute(query.limit(page_size).offset(offset)).all()
        total, capped = _count(conn, select(table.c.id).select_from(joined).where(*conditions))
        succeeded = conn.execute(
            select(func.coalesce(func.sum(table.c.amount_cents), 0))
            .select_from(joined)
            .where(*conditions, table.c.status == "Success")
        ).scalar_one()
    result = tuple(_movement_row(kind, r) for r in rows)
    return MovementList(Page(result, total, capped, page, page_size), Amount(int(succeeded)))


def movements_export(engine: Engine, f: MovementFilter, limit: int = MAX_EXPORT_ROWS) -> list[MovementRow]:
    """The movements the filter matches, newest first, at most `limit` (at most MAX_EXPORT_ROWS)."""
    kind, _, _, query = _movement_query(f)
    with read_only(engine) as conn:
        rows = conn.execute(query.limit(max(1, min(limit, MAX_EXPORT_ROWS)))).all()
    return [_movement_row(kind, r) for r in rows]


# -- the FPS calls and the staff's audit events ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiCallFilter:
    request_id: str = ""
    caller_reference: str = ""
    transaction_id: str = ""
    instrument_id: str = ""
    action: str = ""  # e.g. Pay, SettleDebt
    actor: str = ""
    errors_only: bool = False
    since: datetime | None = None
    until: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class ApiCallRow:
    call_id: int
    created_at: datetime
    action: str
    attempt: int
    caller_reference: str | None
    request_id: str | None
    transaction_id: str | None
    instrument_id: str | None
    http_status: int | None
    fps_status: str | None
    error_code: str | None
    error_message: str | None
    actor: str
    latency_ms: int


@dataclass(frozen=True, slots=True)
class ApiAttempt:
    call: ApiCallRow
    request_params: dict[str, str]
    response_body: str | None


@dataclass(frozen=True, slots=True)
class OrderSummary:
    order_id: int
    customer_email: str
    total: Amount
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MovementSummary:
    kind: str  # Funding, Purchase, Refund, Settlement, WriteOff
    row_id: int
    instrument_id: str
    amount: Amount
    status: str
    error_code: str | None
    requested_by: str
    created_at: datetime
    completed_at: datetime | None
    detail: str | None  # product or reason


@dataclass(frozen=True, slots=True)
class CallRecord:
    """Everything known about one FPS request: every attempt (retries share the CallerReference), the
    money movement it carried, and the order it paid for."""

    attempts: tuple[ApiAttempt, ...]  # oldest first
    movement: MovementSummary | None
    order: OrderSummary | None

    @property
    def instrument_id(self) -> str | None:
        if self.movement is not None:
            return self.movement.instrument_id
        return next((a.call.instrument_id for a in self.attempts if a.call.instrument_id), None)


_CALL_COLUMNS = (
    _api_calls.c.id,
    _api_calls.c.created_at,
    _api_calls.c.action,
    _api_calls.c.attempt,
    _api_calls.c.caller_reference,
    _api_calls.c.request_id,
    _api_calls.c.transaction_id,
    _api_calls.c.instrument_id,
    _api_calls.c.http_status,
    _api_calls.c.fps_status,
    _api_calls.c.error_code,
    _api_calls.c.error_message,
    _api_calls.c.actor,
    _api_calls.c.latency_ms,
)


def _call_row(r: Any) -> ApiCallRow:
    return ApiCallRow(
        r.id,
        r.created_at,
        r.action,
        r.attempt,
        r.caller_reference,
        r.request_id,
        r.transaction_id,
        r.instrument_id,
        r.http_status,
        r.fps_status,
        r.error_code,
        r.error_message,
        r.actor,
        r.latency_ms,
    )


def _api_call_conditions(f: ApiCallFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for column, value in (
        (_api_calls.c.request_id, f.request_id),
        (_api_calls.c.caller_reference, f.caller_reference),
        (_api_calls.c.transaction_id, f.transaction_id),
        (_api_calls.c.instrument_id, f.instrument_id),
        (_api_calls.c.action, f.action),
        (_api_calls.c.actor, f.actor),
    ):
        if value.strip():
            conditions.append(column == value.strip()[:128])
    if f.errors_only:
        conditions.append(_api_calls.c.error_code.is_not(None))
    if f.since is not None:
        conditions.append(_api_calls.c.created_at >= f.since)
    if f.until is not None:
        conditions.append(_api_calls.c.created_at < f.until)
    return conditions


def api_calls(engine: Engine, f: ApiCallFilter, page: int = 1, page_size: int = 50) -> Page[ApiCallRow]:
    """FPS call attempts, newest first; identifiers match exactly (they are indexed)."""
    page, page_size, offset = _bounds(page, page_size)
    conditions = _api_call_conditions(f)
    newest_first = (_api_calls.c.created_at.desc(), _api_calls.c.id.desc())
    with read_only(engine) as conn:
        rows = conn.execute(
            select(*_CALL_COLUMNS).where(*conditions).order_by(*newest_first).limit(page_size).offset(offset)
        ).all()
        total, capped = _count(conn, select(_api_calls.c.id).where(*conditions))
    return Page(tuple(_call_row(r) for r in rows), total, capped, page, page_size)


def api_calls_export(engine: Engine, f: ApiCallFilter, limit: int = MAX_EXPORT_ROWS) -> list[ApiCallRow]:
    """The attempts the filter matches, newest first, at most `limit` (at most MAX_EXPORT_ROWS)."""
    newest_first = (_api_calls.c.created_at.desc(), _api_calls.c.id.desc())
    with read_only(engine) as conn:
        rows = conn.execute(
            select(*_CALL_COLUMNS)
            .where(*_api_call_conditions(f))
            .order_by(*newest_first)
            .limit(max(1, min(limit, MAX_EXPORT_ROWS)))
        ).all()
    return [_call_row(r) for r in rows]


def _movement_by_reference(conn: Any, caller_reference: str) -> tuple[MovementSummary | None, int | None]:
    """The movement carrying `caller_reference` and the order it belongs to."""
    for kind in registry.KINDS:
        table = kind.table
        row = conn.execute(select(table).where(table.c.caller_reference == caller_reference)).one_or_none()
        if row is None:
            continue
        order_id = None
        if "order_id" in table.c:
            order_id = row.order_id
        elif "purchase_id" in table.c:
            order_id = conn.execute(
                select(_purchases.c.order_id).where(_purchases.c.id == row.purchase_id)
            ).scalar_one_or_none()
        summary = MovementSummary(
            kind.name,
            row.id,
            row.instrument_id,
            Amount(row.amount_cents, row.currency),
            row.status,
            row.error_code,
            row.requested_by,
            row.created_at,
            row.completed_at,
            row._mapping[kind.detail] if kind.detail else None,
        )
        return summary, order_id
    return None, None


def call_record(
    engine: Engine, *, request_id: str = "", caller_reference: str = "", transaction_id: str = ""
) -> CallRecord | None:
    """The record of the request with this RequestId, CallerReference or TransactionId (first given)."""
    request_id, caller_reference, transaction_id = (
        request_id.strip()[:64],
        caller_reference.strip()[:128],
        transaction_id.strip()[:35],
    )
    with read_only(engine) as conn:
        if request_id:
            seed = conn.execute(
                select(_api_calls.c.caller_reference, _api_calls.c.transaction_id)
                .where(_api_calls.c.request_id == request_id)
                .order_by(_api_calls.c.id)
                .limit(1)
            ).one_or_none()
            if seed is None:
                return None
            caller_reference = seed.caller_reference or ""
            condition = (
                _api_calls.c.caller_reference == caller_reference
                if caller_reference
                else _api_calls.c.request_id == request_id
            )
        elif caller_reference:
            condition = _api_calls.c.caller_reference == caller_reference
        elif transaction_id:
            condition = _api_calls.c.transaction_id == transaction_id
            found = conn.execute(
                select(_api_calls.c.caller_reference)
                .where(condition, _api_calls.c.caller_reference.is_not(None))
                .order_by(_api_calls.c.id)
                .limit(1)
            ).scalar_one_or_none()
            if found:  # every attempt of the request that produced this transaction
                caller_reference = found
                condition = or_(condition, _api_calls.c.caller_reference == found)
        else:
            return None
        rows = conn.execute(
            select(*_CALL_COLUMNS, _api_calls.c.request_params, _api_calls.c.response_body)
            .where(condition)
            .order_by(_api_calls.c.created_at, _api_calls.c.id)
            .limit(MAX_ATTEMPTS_SHOWN)
        ).all()
        movement, order_id = (
            _movement_by_reference(conn, caller_reference) if caller_reference else (None, None)
        )
        if not rows and movement is None:
            return None
        order = None
        if order_id is not None:
            o = conn.execute(
                select(_orders, _customers.c.email)
                .join(_customers, _customers.c.id == _orders.c.customer_id)
                .where(_orders.c.id == order_id)
            ).one_or_none()
            if o is not None:
                order = OrderSummary(o.id, o.email, Amount(o.total_cents, o.currency), o.status, o.created_at)
    attempts = tuple(ApiAttempt(_call_row(r), _params(r.request_params), r.response_body) for r in rows)
    return CallRecord(attempts, movement, order)


def _params(text: str) -> dict[str, str]:
    try:
        loaded = json.loads(text)
    except ValueError:
        return {"(unreadable)": text[:1000]}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


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
    page, page_size, offset = _bounds(page, page_size)
    conditions = _event_conditions(f)
    newest_first = (_events.c.created_at.desc(), _events.c.id.desc())
    with read_only(engine) as conn:
        rows = conn.execute(
            select(_events).where(*conditions).order_by(*newest_first).limit(page_size).offset(offset)
        ).all()
        total, capped = _count(conn, select(_events.c.id).where(*conditions))
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


def action_names() -> list[str]:
    """The FPS actions a call can be, for a filter's choices (the catalogue: no scan of api_calls)."""
    return sorted(ACTIONS)


def staff_names(engine: Engine, table: str, limit: int = 200) -> list[str]:
    """Who requested settlements or write-offs, for a filter's choices."""
    kind = MOVEMENT_KINDS.get(table)
    if kind is None:
        raise ValueError(f"table is one of {tuple(MOVEMENT_KINDS)}")
    movement = kind.table
    with read_only(engine) as conn:
        return list(
            conn.execute(
                select(movement.c.requested_by).distinct().order_by(movement.c.requested_by).limit(limit)
            ).scalars()
        )
