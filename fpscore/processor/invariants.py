"""The ledger's invariants, checked with SQL aggregates over the whole processor database.

Used by the tests after every scenario and by the back office's health page. Each problem found is a
sentence naming what is wrong; an empty list means the books balance.
"""

from __future__ import annotations

from sqlalchemy import Engine, case, func, select

from fpscore.db import read_only
from fpscore.processor.ledger import NORMAL_SIDE
from fpscore.processor.schema import Instrument, LedgerAccount, LedgerEntry, Transaction

_accounts = LedgerAccount.__table__
_entries = LedgerEntry.__table__
_instruments = Instrument.__table__
_transactions = Transaction.__table__
MAX_PROBLEMS = 100


def check_ledger(engine: Engine) -> list[str]:
    """Every invariant of the ledger; at most MAX_PROBLEMS problems are listed."""
    problems: list[str] = []
    side = case(
        *((_accounts.c.kind == kind, sign) for kind, sign in NORMAL_SIDE.items()),
        else_=0,
    )
    with read_only(engine) as conn:
        for transaction_id, total in conn.execute(
            select(_entries.c.transaction_id, func.sum(_entries.c.amount_cents))
            .group_by(_entries.c.transaction_id)
            .having(func.sum(_entries.c.amount_cents) != 0)
            .limit(MAX_PROBLEMS)
        ):
            problems.append(f"transaction {transaction_id} entries sum to {total}, not zero")
        for transaction_id, operation in conn.execute(
            select(_transactions.c.id, _transactions.c.operation)
            .outerjoin(_entries, _entries.c.transaction_id == _transactions.c.id)
            .where(_transactions.c.status == "Success", _entries.c.id.is_(None))
            .limit(MAX_PROBLEMS)
        ):
            problems.append(f"{operation} transaction {transaction_id} succeeded but has no entries")
        entry_sums = (
            select(_entries.c.account_id, func.sum(_entries.c.amount_cents).label("total"))
            .group_by(_entries.c.account_id)
            .subquery()
        )
        for code, stored, proven in conn.execute(
            select(
                _accounts.c.code,
                _accounts.c.balance_cents,
                side * func.coalesce(entry_sums.c.total, 0),
            )
            .outerjoin(entry_sums, entry_sums.c.account_id == _accounts.c.id)
            .where(_accounts.c.balance_cents != side * func.coalesce(entry_sums.c.total, 0))
            .limit(MAX_PROBLEMS)
        ):
            problems.append(f"account {code} stores {stored} but its entries prove {proven}")
        for code, balance in conn.execute(
            select(_accounts.c.code, _accounts.c.balance_cents)
            .where(_accounts.c.kind.in_(("prepaid", "receivable")), _accounts.c.balance_cents < 0)
            .limit(MAX_PROBLEMS)
        ):
            problems.append(f"account {code} is negative: {balance}")
        for instrument_id, debt, limit in conn.execute(
            select(_instruments.c.id, _accounts.c.balance_cents, _instruments.c.credit_limit_cents)
            .join(_accounts, _accounts.c.id == _instruments.c.account_id)
            .where(
                _instruments.c.kind == "Credit", _accounts.c.balance_cents > _instruments.c.credit_limit_cents
            )
            .limit(MAX_PROBLEMS)
        ):
            problems.append(f"credit instrument {instrument_id} owes {debt}, above its limit {limit}")
        refunds = (
            select(_transactions.c.parent_id, func.sum(_transactions.c.amount_cents).label("total"))
            .where(_transactions.c.operation == "Refund", _transactions.c.status == "Success")
            .group_by(_transactions.c.parent_id)
            .subquery()
        )
        for transaction_id, recorded, refunded in conn.execute(
            select(_transactions.c.id, _transactions.c.refunded_cents, func.coalesce(refunds.c.total, 0))
            .outerjoin(refunds, refunds.c.parent_id == _transactions.c.id)
            .where(_transactions.c.refunded_cents != func.coalesce(refunds.c.total, 0))
            .limit(MAX_PROBLEMS)
        ):
            problems.append(
                f"transaction {transaction_id} records {recorded} refunded, its refunds sum {refunded}"
            )
    return problems[:MAX_PROBLEMS]
