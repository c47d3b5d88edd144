"""Fees saved by aggregating: SQL aggregates over the merchant's records, then a little Python.

What aggregation saves is measured against a shop that charged every purchase to a card on its own:

- **fees alone**: for each successful purchase, the fee it would have cost charged alone
  (`purchases.fee_alone_cents`, priced when it was bought), less the share of that fee its refunds take
  back. A refunded card charge gets its fee back (the reference's §14 sample: the refund of a 1.00 charge
  returns its 0.10 fee), so a purchase refunded in full would have cost nothing alone and one refunded in
  part keeps the part of the fee for what was kept, pro rata, rounded half-up to the cent. Refunds onto a
  prepaid balance or off a debt return no fee in the aggregated world: that difference is real and shows
  as a smaller saving.
- **fees paid**: the fees of the aggregated charges that succeeded, FundPrepaid (`fundings.fee_cents`) and
  SettleDebt (`settlements.fee_cents`). Requested, Pending and failed charges cost nothing yet.
- **saved** = fees alone − fees paid.

Everything is counted when it happened (cash basis): a purchase in the period of its `created_at` (its
refunds with it, so a later refund changes a past period), a funding or settlement in its own period. A
period with a 25.00 top-up and few songs can therefore show a negative saving that later periods earn back;
`cumulative_saved_cents` shows the running total.

Windows are whole UTC days, [start, end): `DayRange`, and the presets the Fees saved page offers
(`RANGE_PRESETS`, `DEFAULT_RANGE`, the range `fpscore demo` reports on too). A period that the range cuts,
or that holds today (still running), covers only part of its days (`coverage`).

The reports by period and by kind sum the daily rollup (`fee_days`, kept by the flows), a few hundred
rows a year; the ranking of instruments, the what-if replay and its `recorded` counterpart read the
records themselves. All sums are exact integers of cents (PostgreSQL returns NUMERIC for sums of BIGINT;
they become `int`). Rates are integer basis points rounded half-up. Every query is grouped in the database and
bounded (MAX_PERIODS, MAX_INSTRUMENT_ROWS); `replay` streams its rows in chunks. Results are plain frozen
dataclasses, ready for a data frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Date, DateTime, Engine, cast, desc, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from fpscore.db import read_only
from fpscore.fees import DEFAULT_FEE_SCHEDULE, FeeSchedule
from fpscore.merchant import fee_days, movements
from fpscore.merchant.fee_days import sums
from fpscore.merchant.schema import Customer, FeeDay, MerchantInstrument, Purchase
from fpscore.merchant.settlement import SettlementPolicy
from fpscore.money import Amount

Period = Literal["day", "week", "month"]
PERIODS: tuple[str, ...] = ("day", "week", "month")
MAX_PERIODS = 3_700  # ten years of days
MAX_INSTRUMENT_ROWS = 1_000
REPLAY_CHUNK_ROWS = 2_000
MAX_PACK_SIZES = 20

_purchases = Purchase.__table__
_fee_days = FeeDay.__table__
_instruments = MerchantInstrument.__table__
_customers = Customer.__table__


# -- result rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeeRow:
    """Fees in one period (`period_start` is the first day: the day, the ISO week's Monday, the 1st)."""

    period_start: date
    purchases: int
    purchase_cents: int  # what the successful purchases were for, before refunds
    refunded_cents: int
    fees_alone_cents: int
    fees_paid_cents: int
    saved_cents: int
    effective_rate_bps: int | None  # fees paid per purchase money kept; None without any
    cumulative_saved_cents: int  # saved from the first period returned up to this one


@dataclass(frozen=True, slots=True)
class KindRow:
    """Fees of one kind of instrument, Prepaid or Postpaid."""

    kind: str
    instruments: int
    purchases: int
    purchase_cents: int
    refunded_cents: int
    fees_alone_cents: int
    fees_paid_cents: int
    saved_cents: int
    effective_rate_bps: int | None


@dataclass(frozen=True, slots=True)
class InstrumentRow:
    instrument_id: str
    kind: str
    customer_email: str
    purchases: int
    purchase_cents: int
    refunded_cents: int
    fees_alone_cents: int
    fees_paid_cents: int
    saved_cents: int
    effective_rate_bps: int | None


@dataclass(frozen=True, slots=True)
class WhatIfResult:
    """The recorded purchases replayed under one funding and settlement policy (`replay`), or what they
    cost as recorded (`recorded`: no pack size nor policy)."""

    pack_cents: int | None  # prepaid instruments are funded in packs of this size
    share_basis_points: int | None  # postpaid debt is settled at this share of the credit limit...
    max_age_days: int | None  # ...or when it is this old
    purchases: int
    purchase_cents: int  # money kept: purchases less their refunds
    fees_alone_cents: int
    fees_with_policy_cents: int
    saved_cents: int
    prepaid_charges: int  # packs bought
    settlements: int
    effective_rate_bps: int | None


# -- ranges --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayRange:
    """Whole UTC days from `start` up to `end` (exclusive); None: from the first record, or no end."""

    start: date | None
    end: date | None

    @property
    def last(self) -> date | None:
        """The last day the range holds."""
        return None if self.end is None else self.end - timedelta(days=1)


LAST_DAYS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90}
MONTH_TO_DATE = "Month to date"
ALL_TIME = "All time"
RANGE_PRESETS: tuple[str, ...] = (*LAST_DAYS, MONTH_TO_DATE, ALL_TIME)
DEFAULT_RANGE = "Last 90 days"  # what the Fees saved page shows first, and what `fpscore demo` sums


def preset_range(preset: str, today: date) -> DayRange:
    """The days `preset` covers on `today` (a UTC day), today included: the last N days are today and
    the N − 1 days before it; month to date starts on the 1st; all time starts at the first record."""
    end = today + timedelta(days=1)
    if preset in LAST_DAYS:
        return DayRange(end - timedelta(days=LAST_DAYS[preset]), end)
    if preset == MONTH_TO_DATE:
        return DayRange(today.replace(day=1), end)
    if preset == ALL_TIME:
        return DayRange(None, end)
    raise ValueError(f"no range preset {preset!r}; one of {', '.join(RANGE_PRESETS)}")


def period_end(start: date, period: str) -> date:
    """The day after the day, ISO week or month that begins on `start`."""
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}")


@dataclass(frozen=True, slots=True)
class Coverage:
    """The days [start, end) of a period that a range covers, up to today; `running`: it holds today."""

    start: date
    end: date
    running: bool
    whole: bool  # every day of the period, all of them over


def coverage(period_start: date, period: str, days: DayRange, today: date) -> Coverage:
    """How much of the period beginning on `period_start` a row of `fees_by_period(…, days)` sums: a
    period cut by the range's first or last day, or one that holds `today`, is partial."""
    end = period_end(period_start, period)
    first = max(period_start, days.start) if days.start is not None else period_start
    last = min(end, days.end) if days.end is not None else end
    running = period_start <= today < end and first <= today < last
    if running:
        last = today + timedelta(days=1)
    return Coverage(first, last, running, not running and (first, last) == (period_start, end))


# -- SQL helpers ---------------------------------------------------------------------------------------


def period_start(day: Any, period: str, dialect: str) -> ColumnElement[Any]:
    """The first day of the day, ISO week (Monday) or month holding the date column `day`, in SQL.

    The units are literals, not bound parameters, so that PostgreSQL sees the same expression in SELECT
    and GROUP BY.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    if dialect == "sqlite":  # dates are stored as 'YYYY-MM-DD' text
        modifiers = {
            "day": (),
            "week": ("'weekday 0'", "'-6 days'"),  # forward to Sunday (or stay), back to its Monday
            "month": ("'start of month'",),
        }[period]
        return func.date(day, *(literal_column(m) for m in modifiers))
    if dialect == "postgresql":  # truncated as a timestamp without time zone: the session's zone stays out
        return (
            day
            if period == "day"
            else cast(func.date_trunc(literal_column(f"'{period}'"), cast(day, DateTime)), Date)
        )
    raise ValueError(f"no date truncation for the {dialect} dialect")


def _day(value: date | datetime | None) -> date | None:
    """A window bound: a date, or an aware datetime at midnight UTC (the reports count whole UTC days)."""
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None or value.astimezone(UTC).time() != time(0):
        raise ValueError("report windows are whole UTC days: give dates or midnight UTC")
    return value.astimezone(UTC).date()


def _moment(value: date | None) -> datetime | None:
    return None if value is None else datetime(value.year, value.month, value.day, tzinfo=UTC)


def _days(start: date | datetime | None, end: date | datetime | None, currency: str) -> list[Any]:
    """The rollup's rows of [start, end) in `currency`."""
    conditions = [_fee_days.c.currency == currency]
    first, last = _day(start), _day(end)
    if first is not None:
        conditions.append(_fee_days.c.day >= first)
    if last is not None:
        conditions.append(_fee_days.c.day < last)
    return conditions


def rate_bps(part_cents: int, whole_cents: int) -> int | None:
    """`part` per `whole` in basis points, rounded half-up; None when `whole` is not positive."""
    if whole_cents <= 0:
        return None
    return (part_cents * 20_000 + whole_cents) // (whole_cents * 2)


@dataclass(frozen=True, slots=True)
class _Totals:
    purchases: int
    purchase_cents: int
    refunded_cents: int
    fees_alone_cents: int
    fees_paid_cents: int

    @classmethod
    def of(cls, row: Any) -> _Totals:
        return cls(*(int(row._mapping[field.name]) for field in fields(cls)))

    @property
    def saved_cents(self) -> int:
        return self.fees_alone_cents - self.fees_paid_cents

    @property
    def effective_rate_bps(self) -> int | None:
        return rate_bps(self.fees_paid_cents, self.purchase_cents - self.refunded_cents)


# -- reports -------------------------------------------------------------------------------------------


def fees_by_period(
    engine: Engine,
    period: Period = "day",
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    *,
    currency: str = "USD",
) -> list[FeeRow]:
    """Fees alone, fees paid and saved per day, ISO week or month of [start, end), oldest first.

    At most MAX_PERIODS periods, the latest ones; the cumulative saving runs from the first returned.
    Periods with nothing in them are absent.
    """
    key = period_start(_fee_days.c.day, period, engine.dialect.name).label("period_start")
    query = (
        select(key, *sums(_fee_days))
        .where(*_days(start, end, currency))
        .group_by(key)
        .order_by(desc(key))
        .limit(MAX_PERIODS)
    )
    with read_only(engine) as conn:
        rows = conn.execute(query).all()
    result, cumulative = [], 0
    for row in reversed(rows):
        totals = _Totals.of(row)
        cumulative += totals.saved_cents
        result.append(
            FeeRow(
                fee_days.as_date(row.period_start), totals.purchases, totals.purchase_cents,
                totals.refunded_cents, totals.fees_alone_cents, totals.fees_paid_cents, totals.saved_cents,
                totals.effective_rate_bps, cumulative,
            )
        )  # fmt: skip
    return result


def fees_by_kind(
    engine: Engine,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    *,
    currency: str = "USD",
) -> list[KindRow]:
    """Fees of prepaid and of postpaid instruments in [start, end) (kinds with nothing are absent), with
    the number of instruments of the kind opened before `end`."""
    query = (
        select(_fee_days.c.kind, *sums(_fee_days))
        .where(*_days(start, end, currency))
        .group_by(_fee_days.c.kind)
        .order_by(_fee_days.c.kind)
    )
    opened = select(_instruments.c.kind, func.count()).where(_instruments.c.currency == currency)
    if (last := _moment(_day(end))) is not None:
        opened = opened.where(_instruments.c.created_at < last)
    with read_only(engine) as conn:
        rows = conn.execute(query).all()
        instruments = dict(conn.execute(opened.group_by(_instruments.c.kind)).all())
    result = []
    for row in rows:
        totals = _Totals.of(row)
        result.append(
            KindRow(
                row.kind, int(instruments.get(row.kind, 0)), totals.purchases, totals.purchase_cents,
                totals.refunded_cents, totals.fees_alone_cents, totals.fees_paid_cents, totals.saved_cents,
                totals.effective_rate_bps,
            )
        )  # fmt: skip
    return result


def fee_totals(
    engine: Engine,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    *,
    currency: str = "USD",
) -> KindRow:
    """Both kinds together, as one row of kind "All"."""
    rows = fees_by_kind(engine, start, end, currency=currency)
    fields = ("instruments", "purchases", "purchase_cents", "refunded_cents", "fees_alone_cents",
              "fees_paid_cents")  # fmt: skip
    sums = {name: sum(getattr(row, name) for row in rows) for name in fields}
    return KindRow(
        "All", **sums, saved_cents=sums["fees_alone_cents"] - sums["fees_paid_cents"],
        effective_rate_bps=rate_bps(sums["fees_paid_cents"], sums["purchase_cents"] - sums["refunded_cents"]),
    )  # fmt: skip


def fees_by_instrument(
    engine: Engine,
    limit: int = 50,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    *,
    currency: str = "USD",
) -> list[InstrumentRow]:
    """The `limit` instruments (at most MAX_INSTRUMENT_ROWS) that saved the most in [start, end), most
    first; ties by instrument id. Reads every movement of the range: ranked first, then only the ranked
    instruments are looked up."""
    limit = max(1, min(limit, MAX_INSTRUMENT_ROWS))
    facts = fee_days.facts(_moment(_day(start)), _moment(_day(end)), currency)
    saved = (func.sum(facts.c.fees_alone_cents) - func.sum(facts.c.fees_paid_cents)).label("saved_cents")
    ranked = (
        select(facts.c.instrument_id.label("id"), *sums(facts), saved)
        .group_by(facts.c.instrument_id)
        .order_by(desc(saved), facts.c.instrument_id)
        .limit(limit)
        .subquery("ranked")
    )
    query = (
        select(ranked, _instruments.c.kind, _customers.c.email)
        .join(_instruments, _instruments.c.id == ranked.c.id)
        .join(_customers, _customers.c.id == _instruments.c.customer_id)
        .order_by(desc(ranked.c.saved_cents), ranked.c.id)
    )
    with read_only(engine) as conn:
        rows = conn.execute(query).all()
    result = []
    for row in rows:
        totals = _Totals.of(row)
        result.append(
            InstrumentRow(
                row.id, row.kind, row.email, totals.purchases, totals.purchase_cents, totals.refunded_cents,
                totals.fees_alone_cents, totals.fees_paid_cents, totals.saved_cents,
                totals.effective_rate_bps,
            )
        )  # fmt: skip
    return result


def recorded(
    engine: Engine,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    *,
    currency: str = "USD",
) -> WhatIfResult:
    """What [start, end) cost as recorded, in the columns of a `replay` result to compare with (no pack
    size nor policy): the fees of `fee_totals`, the top-ups and settlements that paid them."""
    totals = fee_totals(engine, start, end, currency=currency)
    first, last = _moment(_day(start)), _moment(_day(end))
    with read_only(engine) as conn:
        top_ups, settlements = (
            int(conn.execute(select(func.count()).where(*fee_days.window(table, first, last, currency)))
                .scalar_one())
            for table in (movements.FUND_PREPAID.table, movements.SETTLE_DEBT.table)
        )  # fmt: skip
    return WhatIfResult(
        None, None, None, totals.purchases, totals.purchase_cents - totals.refunded_cents,
        totals.fees_alone_cents, totals.fees_paid_cents, totals.saved_cents, top_ups, settlements,
        totals.effective_rate_bps,
    )  # fmt: skip


# -- what-if replay ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bought:
    instrument_id: str
    kind: str
    credit_limit_cents: int | None
    created_at: datetime
    amount_cents: int
    refunded_cents: int


def _recorded_purchases(
    engine: Engine, start: datetime | None, end: datetime | None, currency: str
) -> Iterator[_Bought]:
    """The successful purchases, instrument by instrument, each in time order, streamed in chunks
    (a server-side cursor on PostgreSQL)."""
    p = _purchases
    query = (
        select(
            p.c.instrument_id, _instruments.c.kind, _instruments.c.credit_limit_cents, p.c.created_at,
            p.c.amount_cents, p.c.refunded_cents,
        )
        .join(_instruments, _instruments.c.id == p.c.instrument_id)
        .where(*fee_days.window(p, start, end, currency))
        .order_by(p.c.instrument_id, p.c.created_at, p.c.id)
    )  # fmt: skip
    with read_only(engine) as conn:
        result = conn.execute(query, execution_options={"yield_per": REPLAY_CHUNK_ROWS})
        for chunk in result.partitions():
            for row in chunk:
                yield _Bought(*row)


class _PrepaidReplay:
    """One prepaid instrument funded in packs: whenever the balance cannot cover a purchase, the customer
    buys as many packs as it takes, each one aggregated charge with its own fee."""

    def __init__(self, pack_cents: int, pack_fee_cents: int):
        self.pack_cents, self.pack_fee_cents = pack_cents, pack_fee_cents
        self.balance_cents = 0
        self.charges = 0

    def buy(self, kept_cents: int) -> None:
        short = kept_cents - self.balance_cents
        if short > 0:
            packs = -(-short // self.pack_cents)
            self.charges += packs
            self.balance_cents += packs * self.pack_cents
        self.balance_cents -= kept_cents

    @property
    def fees_cents(self) -> int:
        return self.charges * self.pack_fee_cents


class _PostpaidReplay:
    """One credit line under a settlement policy: the whole debt is settled once it reaches the policy's
    share of the credit limit, or before a purchase comes when it has grown older than the policy's age
    (a daily settlement job would have settled it by then). What is still owed at the end of the replay
    is priced as one more settlement, so that every replayed purchase is paid for once."""

    def __init__(self, policy: SettlementPolicy, credit_limit_cents: int | None, fees: FeeSchedule):
        self.policy, self.credit_limit_cents, self.schedule = policy, credit_limit_cents, fees
        self.debt_cents = 0
        self.debt_since: datetime | None = None
        self.settlements = 0
        self.fees_cents = 0

    def _settle(self) -> None:
        if self.debt_cents > 0:
            self.settlements += 1
            self.fees_cents += self.schedule.fee(Amount(self.debt_cents)).cents
        self.debt_cents, self.debt_since = 0, None

    def buy(self, at: datetime, kept_cents: int) -> None:
        if self.debt_since is not None and at - self.debt_since >= self.policy.max_age:
            self._settle()
        if kept_cents <= 0:
            return
        self.debt_cents += kept_cents
        self.debt_since = self.debt_since or at
        limit = self.credit_limit_cents
        if limit is not None and self.debt_cents * 10_000 >= limit * self.policy.share_basis_points:
            self._settle()

    def finish(self) -> None:
        self._settle()


def replay(
    engine: Engine,
    pack_sizes: Sequence[Amount] = (Amount(1000), Amount(2500), Amount(5000)),
    policy: SettlementPolicy | None = None,
    *,
    fee_schedule: FeeSchedule = DEFAULT_FEE_SCHEDULE,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    currency: str = "USD",
    progress: Callable[[int, int], None] | None = None,
) -> list[WhatIfResult]:
    """What the recorded purchases of [start, end) would have cost in fees under other policies: one
    result per pack size (in the order given), each with the same postpaid settlement `policy`.
    `progress(replayed, total)` every REPLAY_CHUNK_ROWS purchases and at the end (the total from the
    daily fee rollup).

    The replay goes instrument by instrument in time order, in one streamed pass, and prices every
    charge with `fee_schedule.fee`. A purchase counts for what was kept of it (amount − refunded); a
    purchase refunded in full needs no money. Fees alone follow the rule of `fees_by_period`, priced
    with `fee_schedule`. Prepaid instruments start empty (their recorded fundings are ignored), postpaid
    ones without debt.
    """
    policy = policy or SettlementPolicy()
    packs = [amount.cents for amount in pack_sizes]
    if not packs or len(packs) > MAX_PACK_SIZES or min(packs) <= 0:
        raise ValueError(f"give 1 to {MAX_PACK_SIZES} positive pack sizes")
    if any(amount.currency != currency for amount in pack_sizes):
        raise ValueError(f"pack sizes must be in {currency}")
    pack_fees = [fee_schedule.fee(Amount(cents, currency)).cents for cents in packs]
    purchases = purchase_cents = fees_alone = settlements = postpaid_fees = 0
    prepaid_charges = [0] * len(packs)
    prepaid_fees = [0] * len(packs)

    def close(state: list[_PrepaidReplay] | _PostpaidReplay | None) -> None:
        nonlocal settlements, postpaid_fees
        if isinstance(state, _PostpaidReplay):
            state.finish()
            settlements += state.settlements
            postpaid_fees += state.fees_cents
        elif state is not None:
            for index, pack_state in enumerate(state):
                prepaid_charges[index] += pack_state.charges
                prepaid_fees[index] += pack_state.fees_cents

    current: str | None = None
    state: list[_PrepaidReplay] | _PostpaidReplay | None = None
    total = fee_totals(engine, start, end, currency=currency).purchases if progress else 0
    for bought in _recorded_purchases(engine, _moment(_day(start)), _moment(_day(end)), currency):
        if progress is not None and purchases % REPLAY_CHUNK_ROWS == 0:
            progress(purchases, max(total, purchases))
        if bought.instrument_id != current:
            close(state)
            current = bought.instrument_id
            if bought.kind == "Prepaid":
                state = [_PrepaidReplay(cents, fee) for cents, fee in zip(packs, pack_fees, strict=True)]
            else:
                state = _PostpaidReplay(policy, bought.credit_limit_cents, fee_schedule)
        kept = bought.amount_cents - bought.refunded_cents
        alone = fee_days.fee_alone_kept(
            fee_schedule.fee(Amount(bought.amount_cents, currency)).cents,
            bought.amount_cents,
            bought.refunded_cents,
        )
        purchases += 1
        purchase_cents += kept
        fees_alone += alone
        if isinstance(state, _PostpaidReplay):
            state.buy(bought.created_at, kept)
        elif state is not None and kept > 0:
            for pack_state in state:
                pack_state.buy(kept)
    close(state)
    if progress is not None:
        progress(purchases, purchases)

    results = []
    for index, pack_cents in enumerate(packs):
        with_policy = prepaid_fees[index] + postpaid_fees
        results.append(
            WhatIfResult(
                pack_cents, policy.share_basis_points, policy.max_age // timedelta(days=1), purchases,
                purchase_cents, fees_alone, with_policy, fees_alone - with_policy, prepaid_charges[index],
                settlements, rate_bps(with_policy, purchase_cents),
            )
        )  # fmt: skip
    return results
