"""Double-entry postings with guarded running balances: where the ledger's invariants live.

A posting is a list of legs (account, signed cents, debit positive) that sums to zero. Each account's
running balance moves by its legs times the account's normal side, in one UPDATE per account whose WHERE
clause carries the guard (a prepaid balance never below zero, a debt never above its limit), so a
concurrent writer can never push a balance past its bound: the guard is re-checked under the row lock.
Accounts are updated in ascending id order, so two postings never wait on each other in a cycle.

Accounts of the kinds no guard ever bounds (DEFERRED_KINDS: a caller's earnings, the fee income, the
buyers' funding sources, bad debt) may move later: `post` given a `Later` keeps their legs there, and
`apply_later` moves each such account once with the sum of them all and writes their entries, the
running balance after each posting in the order they were posted. Group commit does this once per batch
(`fpscore.processor.batch`), so that Pays to one merchant do not queue on the merchant's balance row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import BigInteger, Connection, bindparam, insert, select, text, update

from fpscore.db import utcnow
from fpscore.errors import FpsError
from fpscore.processor.driver import Compiled
from fpscore.processor.schema import LedgerAccount, LedgerEntry

DEBIT, CREDIT = 1, -1
# The side on which each kind of account grows. Debit-normal: what buyers were charged (funding), what
# buyers owe (receivable), losses (bad_debt). Credit-normal: prepaid value held for buyers, what callers
# earned net of fees, the processor's fee income.
NORMAL_SIDE = {
    "funding": DEBIT,
    "receivable": DEBIT,
    "bad_debt": DEBIT,
    "prepaid": CREDIT,
    "caller": CREDIT,
    "fees": CREDIT,
}

# Kinds of account no posting guards: their legs may move after the posting (see `apply_later`).
DEFERRED_KINDS = frozenset({"funding", "bad_debt", "caller", "fees"})

_accounts = LedgerAccount.__table__
_entries = LedgerEntry.__table__


def _guarded_update(with_min: bool, with_max: bool):  # type: ignore[no-untyped-def]
    new_balance = _accounts.c.balance_cents + bindparam("delta")
    stmt = update(_accounts).where(_accounts.c.id == bindparam("account_id"))
    if with_min:
        stmt = stmt.where(new_balance >= bindparam("min_cents"))
    if with_max:
        stmt = stmt.where(new_balance <= bindparam("max_cents"))
    return stmt.values(balance_cents=new_balance).returning(_accounts.c.balance_cents)


# Built once and run on the driver's cursor (they run on every payment): one guarded UPDATE per shape of
# guard, and the entries INSERT.
_UPDATES = {
    (low, high): Compiled(_guarded_update(low, high)) for low in (False, True) for high in (False, True)
}
_INSERT_ENTRIES = Compiled(
    insert(_entries), keys=("transaction_id", "account_id", "amount_cents", "balance_after_cents")
)
# On PostgreSQL, a deferred account moved once and its entries written in one statement (`apply_later`):
# each entry's balance after is the balance before the move plus how far the account had moved by then.
_MOVE_AND_ENTER = Compiled(
    text(
        "WITH moved AS (UPDATE ledger_accounts SET balance_cents = balance_cents + :total"
        " WHERE id = :account_id RETURNING balance_cents - :total AS before)"
        " INSERT INTO ledger_entries (transaction_id, account_id, amount_cents, balance_after_cents)"
        " SELECT e.transaction_id, :account_id, e.amount_cents, moved.before + e.moved"
        " FROM moved, unnest(CAST(:transaction_ids AS text[]), CAST(:amounts AS bigint[]),"
        " CAST(:moved AS bigint[])) WITH ORDINALITY AS e(transaction_id, amount_cents, moved, n)"
        " ORDER BY e.n RETURNING ledger_entries.id"
    ).columns(id=BigInteger)
)


@dataclass(frozen=True, slots=True)
class Leg:
    account_id: int
    kind: str
    amount_cents: int  # signed: debit positive, credit negative


@dataclass(frozen=True, slots=True)
class Guard:
    """Bounds on an account's balance after a posting, and the error raised when they would be passed."""

    error: type[FpsError]
    message: str
    min_cents: int | None = 0
    max_cents: int | None = None


def debit(account_id: int, kind: str, cents: int) -> Leg:
    return Leg(account_id, kind, cents)


def credit(account_id: int, kind: str, cents: int) -> Leg:
    return Leg(account_id, kind, -cents)


def open_account(conn: Connection, code: str, kind: str, currency: str) -> int:
    """Create a ledger account with a zero balance and return its id."""
    if kind not in NORMAL_SIDE:
        raise ValueError(f"unknown account kind {kind!r}")
    return conn.execute(
        insert(_accounts)
        .values(code=code, kind=kind, currency=currency, balance_cents=0, created_at=utcnow())
        .returning(_accounts.c.id)
    ).scalar_one()


def account_id_by_code(conn: Connection, code: str) -> int | None:
    return conn.execute(select(_accounts.c.id).where(_accounts.c.code == code)).scalar_one_or_none()


class Later(list[tuple[str, list[Leg]]]):
    """Postings' legs on DEFERRED_KINDS accounts, by transaction, in posting order, not yet moved."""


def post(
    conn: Connection,
    transaction_id: str,
    legs: list[Leg],
    guards: dict[int, Guard],
    later: Later | None = None,
) -> None:
    """Record `legs` for `transaction_id` and move the running balances, or raise a guard's error; the
    legs on DEFERRED_KINDS accounts go to `later` instead, when given.

    Must run inside the caller's database transaction: on error nothing of it may be committed.
    """
    _check_posting(transaction_id, legs)
    if any(leg.kind in DEFERRED_KINDS for leg in legs if leg.account_id in guards):
        raise AssertionError(f"a guard on an account that moves later, in {transaction_id}")
    legs = _defer(transaction_id, legs, later)
    deltas: dict[int, int] = defaultdict(int)
    for leg in legs:
        deltas[leg.account_id] += leg.amount_cents * NORMAL_SIDE[leg.kind]
    balances = {}
    for account_id in sorted(deltas):
        balances[account_id] = _move(conn, account_id, deltas[account_id], guards.get(account_id))
    if legs:
        _INSERT_ENTRIES.many(conn, _entry_rows(transaction_id, legs, balances))


def posted_on_server(transaction_id: str, legs: list[Leg], later: Later | None) -> None:
    """`legs` were posted by a function on the database server (`pay_on_server`), all of them, or all but
    those on DEFERRED_KINDS accounts when `later` is given: those go to `later`, as `post` would."""
    _check_posting(transaction_id, legs)
    _defer(transaction_id, legs, later)


def _defer(transaction_id: str, legs: list[Leg], later: Later | None) -> list[Leg]:
    """The legs to move now: those on DEFERRED_KINDS accounts go to `later` instead, when given."""
    if later is None:
        return legs
    deferred = [leg for leg in legs if leg.kind in DEFERRED_KINDS]
    if deferred:
        later.append((transaction_id, deferred))
    return [leg for leg in legs if leg.kind not in DEFERRED_KINDS]


def apply_later(conn: Connection, later: Later) -> None:
    """Move each account of `later` once by the sum of its legs (in ascending id order, as `post`), and
    write the legs' entries with the running balance after each posting."""
    # Per account, its legs in posting order, each with how far the account has moved by the end of the
    # leg's posting (legs of one account in one posting share the balance after it, as `_entry_rows`).
    legs_of: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    moved: dict[int, int] = defaultdict(int)
    for transaction_id, legs in later:
        for leg in legs:
            moved[leg.account_id] += leg.amount_cents * NORMAL_SIDE[leg.kind]
        for leg in legs:
            legs_of[leg.account_id].append((transaction_id, leg.amount_cents, moved[leg.account_id]))
    rows = []
    for account_id in sorted(legs_of):
        entries, total = legs_of[account_id], moved[account_id]
        if conn.dialect.name == "postgresql":  # one round trip, not two
            written = _MOVE_AND_ENTER.rows(
                conn,
                {
                    "account_id": account_id,
                    "total": total,
                    "transaction_ids": [transaction_id for transaction_id, _, _ in entries],
                    "amounts": [amount for _, amount, _ in entries],
                    "moved": [by for _, _, by in entries],
                },
            )
            if len(written) != len(entries):
                raise AssertionError(f"ledger account {account_id} does not exist")
            continue
        before = _move(conn, account_id, total, None) - total
        rows += [
            {
                "transaction_id": transaction_id,
                "account_id": account_id,
                "amount_cents": amount,
                "balance_after_cents": before + by,
            }
            for transaction_id, amount, by in entries
        ]
    if rows:
        _INSERT_ENTRIES.many(conn, rows)


def _check_posting(transaction_id: str, legs: list[Leg]) -> None:
    if sum(leg.amount_cents for leg in legs) != 0:
        raise AssertionError(f"unbalanced posting for {transaction_id}: {legs}")
    if any(leg.amount_cents == 0 for leg in legs):
        raise AssertionError(f"zero leg in posting for {transaction_id}")


def _entry_rows(transaction_id: str, legs: list[Leg], balances: dict[int, int]) -> list[dict[str, object]]:
    """The entries of one posting: legs of one account share the balance after the posting."""
    return [
        {
            "transaction_id": transaction_id,
            "account_id": leg.account_id,
            "amount_cents": leg.amount_cents,
            "balance_after_cents": balances[leg.account_id],
        }
        for leg in legs
    ]


def _move(conn: Connection, account_id: int, delta: int, guard: Guard | None) -> int:
    low = guard is not None and guard.min_cents is not None
    high = guard is not None and guard.max_cents is not None
    params = {"account_id": account_id, "delta": delta}
    if low:
        params["min_cents"] = guard.min_cents  # type: ignore[union-attr]
    if high:
        params["max_cents"] = guard.max_cents  # type: ignore[union-attr]
    row = _UPDATES[low, high].first(conn, params)
    if row is None:
        if guard is None:
            raise AssertionError(f"ledger account {account_id} does not exist")
        raise guard.error(guard.message)
    return row.balance_cents


def balance_of(conn: Connection, account_id: int) -> int:
    return conn.execute(select(_accounts.c.balance_cents).where(_accounts.c.id == account_id)).scalar_one()
