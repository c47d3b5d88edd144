"""Settling postpaid debt under a policy: an instrument is due when its debt reaches a share of its
credit limit, or when its oldest unsettled debt is older than an interval. `settle_due` settles each due
instrument on its own, so one refusal never stops the others, and reports progress as it goes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, tuple_

from fpscore.config import DEFAULT_SETTLE_AFTER_DAYS, DEFAULT_SETTLE_SHARE, Settings
from fpscore.db import read_only
from fpscore.errors import FpsError
from fpscore.merchant.connect import Merchant
from fpscore.merchant.flows import FlowRefused, Outcome, require, settle
from fpscore.merchant.roles import Actor, Permission
from fpscore.merchant.schema import Customer, MerchantInstrument
from fpscore.money import Amount

_instruments = MerchantInstrument.__table__
_customers = Customer.__table__
MAX_DUE = 10_000


@dataclass(frozen=True, slots=True)
class SettlementPolicy:
    """Settle when the debt is at least `share_basis_points` of the credit limit, or older than `max_age`
    (the defaults: those of FPS_SETTLE_SHARE and FPS_SETTLE_AFTER_DAYS)."""

    share_basis_points: int = int(Decimal(DEFAULT_SETTLE_SHARE) * 10_000)
    max_age: timedelta = timedelta(days=int(DEFAULT_SETTLE_AFTER_DAYS))

    @classmethod
    def of(cls, settings: Settings) -> SettlementPolicy:
        """The policy FPS_SETTLE_SHARE and FPS_SETTLE_AFTER_DAYS set."""
        return cls(int(settings.settle_share * 10_000), settings.settle_after)

    def __str__(self) -> str:
        return (
            f"debt at {self.share_basis_points / 100:g}% of the credit limit or more, "
            f"or owed for {_days(self.max_age)} or more"
        )

    def share_reached(self, debt: Amount, credit_limit: Amount) -> bool:
        return debt.cents * 10_000 >= credit_limit.cents * self.share_basis_points

    def aged(self, debt_since: datetime | None, now: datetime) -> bool:
        return debt_since is not None and debt_since <= now - self.max_age

    def why_due(self, debt: Amount, credit_limit: Amount, debt_since: datetime | None, now: datetime) -> str:
        """Why the policy says to settle a debt at `now`, in words: the share of the credit limit it
        reached, how long it has been owed, or both ("" when it is not due)."""
        why = []
        if self.share_reached(debt, credit_limit):
            used = f"{debt.cents * 100 // credit_limit.cents}%" if credit_limit.cents else "all"
            why.append(f"{used} of the credit limit")
        if self.aged(debt_since, now) and debt_since is not None:
            why.append(f"owed {_days(now - debt_since)}")
        return " and ".join(why)


def _days(interval: timedelta) -> str:
    return "1 day" if interval.days == 1 else f"{interval.days} days"


@dataclass(frozen=True, slots=True)
class DueInstrument:
    instrument_id: str
    customer_email: str
    debt: Amount
    credit_limit: Amount
    debt_since: datetime | None
    why: str  # why the policy says to settle it (SettlementPolicy.why_due)


@dataclass(frozen=True, slots=True)
class SettleResult:
    instrument_id: str
    outcome: Outcome | None
    error: str | None  # the FPS code and message, or why the merchant refused


def _due(policy: SettlementPolicy, now: datetime) -> list[Any]:
    """The conditions for a postpaid instrument the policy says to settle at `now` (in SQL what
    `share_reached` and `aged` say of one debt)."""
    return [
        _instruments.c.kind == "Postpaid",
        _instruments.c.balance_cents > 0,
        or_(
            _instruments.c.balance_cents * 10_000
            >= _instruments.c.credit_limit_cents * policy.share_basis_points,
            _instruments.c.debt_since <= now - policy.max_age,
        ),
    ]


def due_instruments(
    merchant: Merchant,
    policy: SettlementPolicy,
    now: datetime | None = None,
    *,
    after: DueInstrument | None = None,
    limit: int = MAX_DUE,
) -> list[DueInstrument]:
    """The postpaid instruments the policy says to settle now, largest debt first (ties by id), at most
    `limit` (up to MAX_DUE) of them; `after`: the ones that come after that one in this order."""
    now = now or merchant.clock()
    conditions = _due(policy, now)
    if after is not None:
        conditions.append(
            tuple_(-_instruments.c.balance_cents, _instruments.c.id)
            > tuple_(-after.debt.cents, after.instrument_id)
        )
    with read_only(merchant.engine) as conn:
        rows = conn.execute(
            select(
                _instruments.c.id,
                _customers.c.email,
                _instruments.c.balance_cents,
                _instruments.c.credit_limit_cents,
                _instruments.c.currency,
                _instruments.c.debt_since,
            )
            .join(_customers, _customers.c.id == _instruments.c.customer_id)
            .where(*conditions)
            .order_by(_instruments.c.balance_cents.desc(), _instruments.c.id)
            .limit(max(1, min(limit, MAX_DUE)))
        ).all()
    due = []
    for row in rows:
        debt, limit = Amount(row.balance_cents, row.currency), Amount(row.credit_limit_cents, row.currency)
        why = policy.why_due(debt, limit, row.debt_since, now)
        due.append(DueInstrument(row.id, row.email, debt, limit, row.debt_since, why))
    return due


@dataclass(frozen=True, slots=True)
class DueTotals:
    """How many instruments are due and what they owe (per currency), however many are listed."""

    instruments: int
    debt: tuple[Amount, ...]


def due_totals(merchant: Merchant, policy: SettlementPolicy, now: datetime | None = None) -> DueTotals:
    with read_only(merchant.engine) as conn:
        rows = conn.execute(
            select(_instruments.c.currency, func.count(), func.sum(_instruments.c.balance_cents))
            .where(*_due(policy, now or merchant.clock()))
            .group_by(_instruments.c.currency)
            .order_by(_instruments.c.currency)
        ).all()
    return DueTotals(sum(row[1] for row in rows), tuple(Amount(int(row[2]), row[0]) for row in rows))


def settle_many(
    merchant: Merchant,
    actor: Actor,
    instrument_ids: list[str],
    progress: Callable[[int, int, SettleResult], None] | None = None,
) -> list[SettleResult]:
    """Settle the whole debt of each instrument; `progress(done, total, result)` after each."""
    require(merchant, actor, Permission.SETTLE, f"{len(instrument_ids)} instruments")
    results = []
    for done, instrument_id in enumerate(instrument_ids, start=1):
        try:
            result = SettleResult(instrument_id, settle(merchant, actor, instrument_id), None)
        except (FpsError, FlowRefused) as exc:
            result = SettleResult(instrument_id, None, str(exc))
        results.append(result)
        if progress is not None:
            progress(done, len(instrument_ids), result)
    return results


def settle_due(
    merchant: Merchant,
    actor: Actor,
    policy: SettlementPolicy,
    progress: Callable[[int, int, SettleResult], None] | None = None,
) -> list[SettleResult]:
    """Settle every instrument due, however many, in batches of MAX_DUE, largest debt first;
    `progress(done, total, result)` after each, `total` as counted at the start. An instrument whose debt
    grows past the batch being settled waits for the next run."""
    require(merchant, actor, Permission.SETTLE, "due instruments")
    now = merchant.clock()
    total = due_totals(merchant, policy, now).instruments
    results: list[SettleResult] = []
    attempted: set[str] = set()  # one attempt each: a debt settled in part can come round again
    last: DueInstrument | None = None

    def report(_done: int, _count: int, result: SettleResult) -> None:
        results.append(result)
        if progress is not None:
            progress(len(results), max(total, len(results)), result)

    while batch := due_instruments(merchant, policy, now, after=last):
        last = batch[-1]  # settled ones leave the list; the next batch starts after the last one asked
        ids = [item.instrument_id for item in batch if item.instrument_id not in attempted]
        attempted.update(ids)
        settle_many(merchant, actor, ids, report)
    return results
