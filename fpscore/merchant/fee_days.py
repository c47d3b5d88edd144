"""The daily fee rollup: `fee_days` holds, per UTC day, kind of instrument and currency, the sums the Fees
saved reports need, so that they read a few hundred rows a year instead of every purchase.

Each day is kept in up to SHARDS rows (an instrument's movements always go to the same shard, picked by
its id), so that concurrent purchases on PostgreSQL do not queue for one row's lock; readers sum the
shards, and which shard holds what does not change any sum.

What a day holds (the rules of fpscore.merchant.analytics):

- a successful purchase on the day of its `created_at`: one purchase, its amount, its fee alone;
- a refund that succeeds, on the day of the purchase it refunds: the amount refunded, and the share of the
  purchase's fee alone that it takes back (`fee_alone_kept`);
- a successful movement with a fee (`fpscore.merchant.movements`: FundPrepaid, SettleDebt) on the day of
  its `created_at`: its fee, as fees paid.

The flows keep it: `record_success` runs in the very transaction that marks a movement Success
(`flows.record_status`), so the rollup cannot disagree with the records it sums. `rebuild` recomputes it
from the records (after tools wrote records directly, and `fpscore rebuild-rollup`), and
`differences` compares the two on demand (the Health page, `fpscore reconcile`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    Engine,
    Integer,
    Select,
    Subquery,
    Table,
    case,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement

from fpscore.db import read_only
from fpscore.merchant import movements
from fpscore.merchant.movements import KINDS, PAY, REFUND
from fpscore.merchant.schema import FeeDay, MerchantInstrument
from fpscore.money import Amount

SHARDS = 16
SUMMED = ("purchases", "purchase_cents", "refunded_cents", "fees_alone_cents", "fees_paid_cents")
_fee_days = FeeDay.__table__
_purchases = PAY.table
_refunds = REFUND.table
_instruments = MerchantInstrument.__table__
# The movements whose fee the merchant pays (fundings and settlements): the fees paid.
_FEE_PAYING = tuple(kind for kind in KINDS if kind.fee)


def fee_alone_kept(fee_alone_cents: int, amount_cents: int, refunded_cents: int) -> int:
    """A purchase's fee alone less the share its refunds take back (fee × refunded / amount, half-up);
    `_refund_share` is the same in SQL."""
    if refunded_cents == 0:
        return fee_alone_cents
    return fee_alone_cents - (fee_alone_cents * refunded_cents * 2 + amount_cents) // (amount_cents * 2)


# -- kept by the flows ---------------------------------------------------------------------------------


def record_success(conn: Connection, table: Table, row: Any, kind: str) -> None:
    """Add what the movement `row` of `table`, which has just succeeded, adds to its day."""
    if table is _purchases:
        _add(conn, row.created_at, kind, row.currency, row.instrument_id, purchases=1,
             purchase_cents=row.amount_cents, fees_alone_cents=row.fee_alone_cents)  # fmt: skip
    elif table is _refunds:
        bought = conn.execute(
            select(_purchases.c.created_at, _purchases.c.currency, _purchases.c.amount_cents,
                   _purchases.c.refunded_cents, _purchases.c.fee_alone_cents)
            .where(_purchases.c.id == row.purchase_id)
        ).one()  # fmt: skip
        before = bought.refunded_cents - row.amount_cents  # the purchase already counts this refund
        taken_back = fee_alone_kept(bought.fee_alone_cents, bought.amount_cents, bought.refunded_cents) - (
            fee_alone_kept(bought.fee_alone_cents, bought.amount_cents, before)
        )
        _add(conn, bought.created_at, kind, bought.currency, row.instrument_id,
             refunded_cents=row.amount_cents, fees_alone_cents=taken_back)  # fmt: skip
    elif (fee := movements.of(table).fee) is not None:
        _add(conn, row.created_at, kind, row.currency, row.instrument_id, fees_paid_cents=row._mapping[fee])


def _add(conn: Connection, at: datetime, kind: str, currency: str, instrument_id: str, **deltas: int) -> None:
    """Add `deltas` to the sums of `at`'s UTC day in the instrument's shard, making the row if needed."""
    upsert = (sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert)(_fee_days)
    statement = upsert.values(
        day=at.astimezone(UTC).date(), kind=kind, currency=currency,
        shard=zlib.crc32(instrument_id.encode()) % SHARDS, **{name: deltas.get(name, 0) for name in SUMMED},
    )  # fmt: skip
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "kind", "currency", "shard"],
            set_={name: _fee_days.c[name] + statement.excluded[name] for name in deltas},
        )
    )


# -- from the records ----------------------------------------------------------------------------------


def utc_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC day of a timestamp column, as an SQL date (text 'YYYY-MM-DD' on SQLite)."""
    if dialect == "sqlite":  # timestamps are stored as naive UTC text
        return func.date(column)
    if dialect == "postgresql":
        return cast(func.timezone(literal_column("'UTC'"), column), Date)
    raise ValueError(f"no UTC day for the {dialect} dialect")


def _zero() -> ColumnElement[int]:
    return literal_column("0", BigInteger)


def _refund_share(table: Any) -> ColumnElement[int]:
    """The part of a purchase's fee alone its refunds take back, as `fee_alone_kept` takes it off."""
    share = (table.c.fee_alone_cents * table.c.refunded_cents * 2 + table.c.amount_cents) // (
        table.c.amount_cents * 2
    )
    return case((table.c.refunded_cents == 0, _zero()), else_=share)


def facts(
    start: datetime | None = None, end: datetime | None = None, currency: str | None = None
) -> Subquery:
    """One row per successful purchase and per successful aggregated charge in [start, end) (in
    `currency`, or all), in the same columns, so that one GROUP BY sums them whatever the grouping."""
    p = _purchases
    branches: list[Select[Any]] = [
        select(
            p.c.instrument_id, p.c.created_at, p.c.currency,
            literal_column("1", BigInteger).label("purchases"), p.c.amount_cents.label("purchase_cents"),
            p.c.refunded_cents.label("refunded_cents"),
            (p.c.fee_alone_cents - _refund_share(p)).label("fees_alone_cents"),
            _zero().label("fees_paid_cents"),
        ).where(*window(p, start, end, currency))
    ]  # fmt: skip
    for kind in _FEE_PAYING:
        table = kind.table
        branches.append(
            select(
                table.c.instrument_id, table.c.created_at, table.c.currency, _zero(), _zero(), _zero(),
                _zero(), table.c[kind.fee],
            ).where(*window(table, start, end, currency))
        )  # fmt: skip
    return union_all(*branches).subquery("facts")


def window(table: Any, start: datetime | None, end: datetime | None, currency: str | None) -> list[Any]:
    """The conditions for a movement `table`'s successful rows of [start, end) in `currency` (or all)."""
    conditions = [table.c.status == "Success"]
    if currency is not None:
        conditions.append(table.c.currency == currency)
    if start is not None:
        conditions.append(table.c.created_at >= start)
    if end is not None:
        conditions.append(table.c.created_at < end)
    return conditions


def sums(source: Any) -> list[ColumnElement[Any]]:
    """SUM of each summed column of `source` (0 when there are no rows), labelled with its name."""
    return [func.coalesce(func.sum(source.c[name]), 0).label(name) for name in SUMMED]


def _from_records(dialect: str) -> Select[Any]:
    every = facts()
    day = utc_day(every.c.created_at, dialect).label("day")
    return (
        select(day, _instruments.c.kind, every.c.currency, *sums(every))
        .join(_instruments, _instruments.c.id == every.c.instrument_id)
        .group_by(day, _instruments.c.kind, every.c.currency)
    )


def rebuild(conn: Connection) -> None:
    """Recompute every day from the records, in `conn`'s transaction (after records were written or
    changed directly, as bench/large.py and `fpscore rebuild-rollup` do), each day in shard 0.
    On PostgreSQL the table is locked first, so that a movement recorded meanwhile is counted once: by
    this rebuild if it committed before, by its own flow after."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE fee_days IN EXCLUSIVE MODE"))
    conn.execute(delete(_fee_days))
    derived = _from_records(conn.dialect.name).add_columns(literal_column("0", Integer).label("shard"))
    columns = ["day", "kind", "currency", *SUMMED, "shard"]
    conn.execute(insert(_fee_days).from_select(columns, derived))


@dataclass(frozen=True, slots=True)
class RollupDifference:
    """A day whose rollup does not add up to its records: the sums, in SUMMED order, on each side."""

    day: date
    kind: str
    currency: str
    records: tuple[int, ...]
    rollup: tuple[int, ...]

    @staticmethod
    def describe(sums: tuple[int, ...]) -> str:
        """E.g. "3 purchases of 2.97, 0.00 refunded, fees alone 0.30, fees paid 0.00"."""
        purchases, bought, refunded, alone, paid = (sums[0], *(Amount(c).to_decimal() for c in sums[1:]))
        return f"{purchases} purchases of {bought}, {refunded} refunded, fees alone {alone}, fees paid {paid}"


def differences(engine: Engine) -> list[RollupDifference]:
    """Every day, kind and currency whose rollup differs from what its records add up to (reads them all,
    both sides at one moment, so that a movement recorded meanwhile is not a difference)."""
    with read_only(engine, snapshot=True) as conn:
        derived = conn.execute(_from_records(conn.dialect.name)).all()
        key = (_fee_days.c.day, _fee_days.c.kind, _fee_days.c.currency)
        kept = conn.execute(select(*key, *sums(_fee_days)).group_by(*key)).all()

    def by_key(rows: list[Any]) -> dict[tuple[date, str, str], tuple[int, ...]]:
        return {(as_date(r[0]), r[1], r[2]): tuple(int(value) for value in r[3:]) for r in rows}

    records, rollup = by_key(derived), by_key(kept)
    nothing = (0,) * len(SUMMED)
    return [
        RollupDifference(*key, records.get(key, nothing), rollup.get(key, nothing))
        for key in sorted(records.keys() | rollup.keys())
        if records.get(key, nothing) != rollup.get(key, nothing)
    ]


def as_date(value: Any) -> date:
    """A date column's value as a date (SQLite gives text for computed dates, drivers dates or datetimes)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
