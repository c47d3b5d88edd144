"""An unbalanced posting is refused twice over: by `ledger.post` before anything is written, and on
PostgreSQL by the deferred constraint trigger at commit, for entries written around `ledger.post`."""

from __future__ import annotations

import pytest
from helpers import open_prepaid
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import DBAPIError

from fpscore.processor import ledger
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import LedgerAccount, LedgerEntry, Transaction

_accounts, _entries = LedgerAccount.__table__, LedgerEntry.__table__


def books(engine: Engine) -> tuple[object, ...]:
    """Every account's balance and every entry: what a refused posting must leave as it was."""
    with engine.connect() as conn:
        balances = conn.execute(
            select(_accounts.c.id, _accounts.c.balance_cents).order_by(_accounts.c.id)
        ).all()
        entries = conn.execute(select(func.count()).select_from(_entries)).scalar_one()
    return tuple(balances), entries


def funded(processor, caller_id, buyer_id) -> tuple[str, dict[str, tuple[int, str]]]:  # type: ignore[no-untyped-def]
    """A transaction that moved money, and the accounts by kind: (id, kind)."""
    open_prepaid(processor, caller_id, buyer_id, fund="20.00")
    with processor.engine.connect() as conn:
        transaction_id = conn.execute(select(Transaction.__table__.c.id)).scalars().first()
        accounts = {
            row.kind: (row.id, row.kind) for row in conn.execute(select(_accounts.c.id, _accounts.c.kind))
        }
    return transaction_id, accounts


def test_ledger_post_refuses_an_unbalanced_posting_and_moves_nothing(processor, caller_id, buyer_id):
    transaction_id, accounts = funded(processor, caller_id, buyer_id)
    before = books(processor.engine)
    funding, prepaid = accounts["funding"], accounts["prepaid"]
    for legs, refusal in (
        ([ledger.debit(*funding, 100), ledger.credit(*prepaid, 99)], "unbalanced posting"),
        ([ledger.debit(*funding, 100)], "unbalanced posting"),
        ([ledger.debit(*funding, 100), ledger.credit(*prepaid, 100), ledger.debit(*prepaid, 0)], "zero leg"),
    ):
        with pytest.raises(AssertionError, match=refusal), processor.engine.begin() as conn:
            ledger.post(conn, transaction_id, legs, {})
    assert books(processor.engine) == before
    assert check_ledger(processor.engine) == []


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_postgresql_refuses_to_commit_unbalanced_entries(processor, caller_id, buyer_id):
    transaction_id, accounts = funded(processor, caller_id, buyer_id)
    before = books(processor.engine)
    funding, prepaid = accounts["funding"][0], accounts["prepaid"][0]

    def entry(account_id: int, cents: int) -> dict[str, object]:
        return {"transaction_id": transaction_id, "account_id": account_id, "amount_cents": cents,
                "balance_after_cents": 0}  # fmt: skip

    for unbalanced in ([entry(funding, 100)], [entry(funding, 100), entry(prepaid, -99)]):
        with pytest.raises(DBAPIError, match="do not sum to zero"), processor.engine.begin() as conn:
            conn.execute(insert(_entries), unbalanced)
        assert books(processor.engine) == before
    with processor.engine.begin() as conn:  # the trigger refuses only what does not balance
        conn.execute(insert(_entries), [entry(funding, 100), entry(prepaid, -100)])
    assert books(processor.engine)[1] == before[1] + 2
