"""The Instruments page's read model: instruments filtered, sorted and paged in SQL, with the totals of
what the filter matches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, case, func, null, select

from fpscore.db import read_only
from fpscore.merchant.queries.paging import (
    MAX_COUNT,
    MAX_EXPORT_ROWS,
    Page,
    bounds,
    customer_search,
    optional_amount,
)
from fpscore.merchant.schema import Customer, MerchantInstrument
from fpscore.money import Amount

_instruments = MerchantInstrument.__table__
_customers = Customer.__table__


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
    if (found := customer_search(f.search, _instruments.c.id)) is not None:
        conditions.append(found)
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
        optional_amount(row.limit_cents, row.currency),
        None if row.utilisation_bps is None else int(row.utilisation_bps),
        row.balance_seen_at,
        row.debt_since,
        row.created_at,
    )


def instruments(engine: Engine, f: InstrumentFilter, page: int = 1, page_size: int = 50) -> InstrumentList:
    """One page of the instruments the filter matches, and the totals over all of them."""
    page, page_size, offset = bounds(page, page_size)
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
