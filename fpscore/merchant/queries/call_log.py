"""The Audit page's record of FPS calls: every attempt of every call, filtered and paged newest first (the
money-moving actions unless reads are asked for too), and the whole record of one request (its attempts,
the movement it carried, the order it paid for, the purchase's timeline), found by its RequestId (with or
without its `:0`-style suffix, or by a start only it has), CallerReference or TransactionId."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, or_, select

from fpscore.db import read_only
from fpscore.merchant import movements
from fpscore.merchant.movements import PAY, REFUND
from fpscore.merchant.queries.audit_trail import TimelineStep, timeline
from fpscore.merchant.queries.paging import MAX_EXPORT_ROWS, Page, bounds, capped_count
from fpscore.merchant.queries.search import MIN_REQUEST_PREFIX, request_id_matches
from fpscore.merchant.schema import ApiCall, Customer, Order
from fpscore.money import Amount
from fpscore.wire import ACTIONS

MAX_ATTEMPTS_SHOWN = 50
MONEY_ACTIONS = frozenset(movements.BY_OPERATION)  # the calls that move money; the others read or cancel

_customers = Customer.__table__
_orders = Order.__table__
_purchases = PAY.table
_api_calls = ApiCall.__table__


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
    every_action: bool = False  # balance and status reads and token calls too (an `action` asked is shown)


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
    timeline: tuple[TimelineStep, ...] = ()  # of the purchase the movement is or refunds

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
    if not (f.every_action or f.action.strip()):
        conditions.append(_api_calls.c.action.in_(sorted(MONEY_ACTIONS)))
    if f.errors_only:
        conditions.append(_api_calls.c.error_code.is_not(None))
    if f.since is not None:
        conditions.append(_api_calls.c.created_at >= f.since)
    if f.until is not None:
        conditions.append(_api_calls.c.created_at < f.until)
    return conditions


def api_calls(engine: Engine, f: ApiCallFilter, page: int = 1, page_size: int = 50) -> Page[ApiCallRow]:
    """FPS call attempts, newest first; identifiers match exactly (they are indexed)."""
    page, page_size, offset = bounds(page, page_size)
    conditions = _api_call_conditions(f)
    newest_first = (_api_calls.c.created_at.desc(), _api_calls.c.id.desc())
    with read_only(engine) as conn:
        rows = conn.execute(
            select(*_CALL_COLUMNS).where(*conditions).order_by(*newest_first).limit(page_size).offset(offset)
        ).all()
        total, capped = capped_count(conn, select(_api_calls.c.id).where(*conditions))
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


def _movement_by_reference(
    conn: Any, caller_reference: str
) -> tuple[MovementSummary | None, int | None, int | None]:
    """The movement carrying `caller_reference`, the order it belongs to and the purchase it is or
    refunds."""
    for kind in movements.KINDS:
        table = kind.table
        row = conn.execute(select(table).where(table.c.caller_reference == caller_reference)).one_or_none()
        if row is None:
            continue
        order_id, purchase_id = None, row.id if kind is PAY else None
        if kind is REFUND:
            purchase_id = row.purchase_id
        if "order_id" in table.c:
            order_id = row.order_id
        elif purchase_id is not None:
            order_id = conn.execute(
                select(_purchases.c.order_id).where(_purchases.c.id == purchase_id)
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
        return summary, order_id, purchase_id
    return None, None, None


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
            request_id = _one_request_id(conn, request_id) or ""
            if not request_id:
                return None
            seed = conn.execute(
                select(_api_calls.c.caller_reference)
                .where(_api_calls.c.request_id == request_id)
                .order_by(_api_calls.c.id)
                .limit(1)
            ).one()
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
        movement, order_id, purchase_id = (
            _movement_by_reference(conn, caller_reference) if caller_reference else (None, None, None)
        )
        steps = timeline(conn, purchase_id) if purchase_id is not None else ()
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
    return CallRecord(attempts, movement, order, steps)


def _one_request_id(conn: Any, text: str) -> str | None:
    """The RequestId `text` names: itself, or the one RequestId it starts once its suffix is taken off;
    None when none or several match."""
    if conn.execute(select(_api_calls.c.id).where(_api_calls.c.request_id == text).limit(1)).first():
        return text
    if len(text) < MIN_REQUEST_PREFIX:
        return None
    found = (
        conn.execute(select(_api_calls.c.request_id).where(request_id_matches(text)).distinct().limit(2))
        .scalars()
        .all()
    )
    return found[0] if len(found) == 1 else None


def _params(text: str) -> dict[str, str]:
    try:
        loaded = json.loads(text)
    except ValueError:
        return {"(unreadable)": text[:1000]}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def action_names() -> list[str]:
    """The FPS actions a call can be, for a filter's choices (the catalogue: no scan of api_calls)."""
    return sorted(ACTIONS)
