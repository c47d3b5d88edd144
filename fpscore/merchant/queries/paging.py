"""Paging, counting and matching shared by the read models: every list is offset-paged with hard limits
(pages of at most MAX_PAGE_SIZE rows starting at most MAX_OFFSET rows in, counts that stop at MAX_COUNT,
exports of at most MAX_EXPORT_ROWS rows), its row id the last sort key so that a page is stable while the
data does not change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select

from fpscore.merchant.schema import Customer
from fpscore.money import DEFAULT_CURRENCY, Amount

MAX_PAGE_SIZE = 200
MAX_OFFSET = 100_000
MAX_COUNT = 10_000
MAX_EXPORT_ROWS = 10_000
_customers = Customer.__table__


T = TypeVar("T")


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


def bounds(page: int, page_size: int) -> tuple[int, int, int]:
    """(page, page_size, offset) clamped to the hard limits."""
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    page = max(1, min(int(page), MAX_OFFSET // page_size + 1))
    return page, page_size, (page - 1) * page_size


def capped_count(conn: Any, query: Select[Any]) -> tuple[int, bool]:
    """How many rows `query` has, counting at most MAX_COUNT + 1 of them."""
    limited = query.limit(MAX_COUNT + 1).subquery()
    found = conn.execute(select(func.count()).select_from(limited)).scalar_one()
    return min(found, MAX_COUNT), found > MAX_COUNT


def contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with the user's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def customer_search(search: str, instrument_id: Any) -> ColumnElement[bool] | None:
    """Rows whose customer's email or name (any case), or whose instrument id, holds `search` (at most 254
    characters of it); None when it is blank. The query joins `customers`."""
    search = search.strip()[:254]
    if not search:
        return None
    pattern = contains(search.lower())
    return or_(
        func.lower(_customers.c.email).like(pattern, escape="\\"),
        func.lower(_customers.c.name).like(pattern, escape="\\"),
        instrument_id.like(contains(search), escape="\\"),
    )


def optional_amount(cents: int | None, currency: str | None = None) -> Amount | None:
    return None if cents is None else Amount(int(cents), currency or DEFAULT_CURRENCY)
