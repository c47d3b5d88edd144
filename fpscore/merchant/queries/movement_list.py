"""The Settlements and Write-offs pages' read model: those movements, filtered and paged newest first,
with who asked and why, and who asked for any."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, func, select

from fpscore.db import read_only
from fpscore.merchant.movements import SETTLE_DEBT, WRITE_OFF_DEBT, MovementKind
from fpscore.merchant.queries.paging import (
    MAX_EXPORT_ROWS,
    Page,
    bounds,
    capped_count,
    customer_search,
    optional_amount,
)
from fpscore.merchant.schema import Customer, MerchantInstrument
from fpscore.money import Amount

_instruments = MerchantInstrument.__table__
_customers = Customer.__table__


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
    reason: str | None  # write-offs: why, in words
    reason_code: str | None  # write-offs: fpscore.merchant.reasons.ReasonCode
    disputed_purchase_id: int | None  # write-offs: the purchase disputed, if one was named
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
    if (found := customer_search(f.search, table.c.instrument_id)) is not None:
        conditions.append(found)
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
        optional_amount(r._mapping[kind.fee], r.currency) if kind.fee else None,
        r._mapping[kind.detail] if kind.detail == "reason" else None,
        r._mapping.get("reason_code"),
        r._mapping.get("disputed_purchase_id"),
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
    page, page_size, offset = bounds(page, page_size)
    with read_only(engine) as conn:
        rows = conn.execute(query.limit(page_size).offset(offset)).all()
        total, capped = capped_count(conn, select(table.c.id).select_from(joined).where(*conditions))
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
