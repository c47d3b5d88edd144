"""Group commit: actions running at once share a transaction, each in its own savepoint.

A batch is made deterministic by holding the first action inside its transaction (its `in_transaction`
hook waits) until the others queue behind it: they then form the next batch together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from helpers import open_postpaid, open_prepaid, ref, usd
from sqlalchemy import Connection, func, insert, select, text, update

from fpscore.db import is_sqlite
from fpscore.errors import DuplicateRequest, FpsError, InsufficientBalance, ServiceUnavailable
from fpscore.processor import Processor
from fpscore.processor.base import in_transaction
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import ApiRequest, Caller, LedgerAccount, LedgerEntry, Transaction

TIMEOUT_S = 30.0
_transactions = Transaction.__table__
_entries = LedgerEntry.__table__
_accounts = LedgerAccount.__table__


class Interrupt(BaseException):  # noqa: N818 - named as KeyboardInterrupt is
    """A BaseException, as KeyboardInterrupt or SystemExit are: no `except Exception` catches it."""


@pytest.fixture
def holder(
    processor: Processor, caller_id: int, buyer_id: int
) -> Callable[[list[Callable[[], Any]]], list[Any]]:
    """`in_one_batch(actions)`: run a first Pay that holds its batch open until every one of `actions`
    waits for the group commit (queued one after the other), so that they make the next batch together,
    in their order; each one's result or the FpsError (or Interrupt) it raised."""
    token = open_prepaid(processor, caller_id, buyer_id, fund="1.00").sender_token_id

    def in_one_batch(actions: list[Callable[[], Any]]) -> list[Any]:
        results: list[Any] = [None] * len(actions)
        held: list[Any] = []

        def hold(_conn: Connection, _result: object) -> None:
            deadline = time.monotonic() + TIMEOUT_S
            while processor.group_commit.waiting() < len(actions) and time.monotonic() < deadline:
                time.sleep(0.001)

        def run(index: int) -> None:
            try:
                results[index] = actions[index]()
            except (FpsError, Interrupt) as exc:
                results[index] = exc

        first = threading.Thread(
            target=lambda: held.append(pay(processor, caller_id, token, "0.01", hook=hold)())
        )
        first.start()
        while not processor.group_commit.committing():
            time.sleep(0.001)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
        for queued, thread in enumerate(threads, 1):  # one at a time: the batch runs them in this order
            thread.start()
            while processor.group_commit.waiting() < queued and thread.is_alive():
                time.sleep(0.001)
        for thread in [first, *threads]:
            thread.join(TIMEOUT_S)
            assert not thread.is_alive(), "an action never got its answer"
        assert held[0].status == "Success"
        return results

    return in_one_batch


def pay(processor: Processor, caller_id: int, token_id: str, amount: str, reference: str | None = None,
        hook: Callable[[Connection, object], None] | None = None) -> Callable[[], Any]:  # fmt: skip
    """A Pay to run later, with `hook` in its transaction if given."""

    def action() -> Any:
        with in_transaction(hook or (lambda _conn, _result: None)):
            return processor.pay(caller_id, sender_token_id=token_id, amount=usd(amount),
                                 caller_reference=reference or ref("pay"))  # fmt: skip

    return action


def count(processor: Processor, table: Any, **where: object) -> int:
    with processor.engine.connect() as conn:
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        return conn.execute(query).scalar_one()


def test_pays_at_once_share_one_commit(processor, caller_id, buyer_id, holder):
    shop = processor
    tokens = [open_prepaid(shop, caller_id, buyer_id, fund="5.00").sender_token_id for _ in range(6)]
    commits = shop.group_commit.commits
    results = holder([pay(shop, caller_id, token, "0.99") for token in tokens])
    assert [(r.status, r.replayed) for r in results] == [("Success", False)] * 6
    assert shop.group_commit.commits - commits == 2  # the holder's batch, then the six together
    assert check_ledger(shop.engine) == []


def test_actions_queued_while_a_batch_runs_join_it(processor, caller_id, buyer_id, holder):
    """The last action of a batch queues another Pay from its transaction and waits for it to be queued:
    that Pay runs in the same batch, after it, and commits with it."""
    shop = processor
    tokens = [open_prepaid(shop, caller_id, buyer_id, fund="5.00").sender_token_id for _ in range(3)]
    late: list[Any] = []
    late_thread = threading.Thread(target=lambda: late.append(pay(shop, caller_id, tokens[2], "0.99")()))

    def queue_another(_conn: Connection, _result: object) -> None:
        late_thread.start()
        deadline = time.monotonic() + TIMEOUT_S
        while shop.group_commit.waiting() < 1 and time.monotonic() < deadline:
            time.sleep(0.001)

    commits, actions = shop.group_commit.commits, shop.group_commit.committed_actions
    results = holder(
        [pay(shop, caller_id, tokens[0], "0.99"), pay(shop, caller_id, tokens[1], "0.99", hook=queue_another)]
    )
    late_thread.join(TIMEOUT_S)
    assert [r.status for r in [*results, *late]] == ["Success"] * 3
    # the holder's batch, then one batch of three
    assert (shop.group_commit.commits - commits, shop.group_commit.committed_actions - actions) == (2, 4)
    assert check_ledger(shop.engine) == []


def test_a_refusal_in_a_batch_rolls_back_alone(processor, caller_id, buyer_id, holder):
    shop = processor
    rich = open_prepaid(shop, caller_id, buyer_id, fund="5.00").sender_token_id
    poor_setup = open_prepaid(shop, caller_id, buyer_id, fund="1.00")
    poor = poor_setup.sender_token_id
    credit = open_postpaid(shop, caller_id, buyer_id, credit_limit="2.00").sender_token_id
    taken = ref("taken")
    results = holder([
        pay(shop, caller_id, rich, "0.99"),
        pay(shop, caller_id, poor, "0.99"),
        pay(shop, caller_id, poor, "0.99"),  # below zero after the first: refused, the first stays
        pay(shop, caller_id, credit, "1.50"),
        pay(shop, caller_id, credit, "1.50"),  # above the credit limit after the first
        pay(shop, caller_id, rich, "0.99", taken),
        pay(shop, caller_id, rich, "1.99", taken),  # the same CallerReference for another request
        pay(shop, caller_id, rich, "0.99", taken),  # the same request again: the first's TransactionId
    ])  # fmt: skip
    kinds = [type(r).__name__ if isinstance(r, FpsError) else r.status for r in results]
    assert kinds == ["Success", "Success", "InsufficientBalance", "Success", "InsufficientBalance",
                     "Success", "DuplicateRequest", "Success"]  # fmt: skip
    assert isinstance(results[2], InsufficientBalance) and isinstance(results[6], DuplicateRequest)
    assert results[7].replayed and results[7].transaction_id == results[5].transaction_id
    assert count(shop, _transactions, operation="Pay") == 1 + 4  # the holder's and four new ones
    assert shop.get_prepaid_balance(
        caller_id, prepaid_instrument_id=poor_setup.instrument_id
    ).available == usd("0.01")
    assert check_ledger(shop.engine) == []


def refuse_the_commit(conn: Connection, result: Any) -> None:
    """A real fault at COMMIT: an entry the database accepts now and refuses when the batch commits
    (SQLite: a foreign key checked at commit; PostgreSQL: the deferred trigger on unbalanced entries)."""
    if is_sqlite(conn):
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        transaction_id = "NO-SUCH-TRANSACTION"
    else:
        transaction_id = result.transaction_id
    account_id = conn.execute(select(func.min(_entries.c.account_id))).scalar_one()
    conn.execute(insert(_entries).values(transaction_id=transaction_id, account_id=account_id,
                                         amount_cents=1, balance_after_cents=0))  # fmt: skip


def lose_the_connection(conn: Connection, _result: Any) -> None:
    """A real fault mid-batch: PostgreSQL ends the batch's own server process."""
    conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")


@pytest.mark.parametrize(
    ("backend", "fault"),
    [
        ("sqlite", refuse_the_commit),
        pytest.param("postgres", refuse_the_commit, marks=pytest.mark.postgres),
        pytest.param("postgres", lose_the_connection, marks=pytest.mark.postgres),
    ],
)
def test_a_failed_batch_answers_every_action_in_it_retryable(processor, caller_id, buyer_id, holder, fault):
    shop = processor
    tokens = [open_prepaid(shop, caller_id, buyer_id, fund="5.00").sender_token_id for _ in range(5)]
    poor = open_prepaid(shop, caller_id, buyer_id, fund="0.50").sender_token_id
    references = [ref("lost") for _ in range(7)]
    actions = [
        pay(shop, caller_id, token, "0.99", reference)
        for token, reference in zip(tokens, references[:5], strict=True)
    ]
    actions.append(pay(shop, caller_id, poor, "0.99", references[5]))  # refused in the batch: retryable
    actions.append(pay(shop, caller_id, tokens[0], "0.99", references[6], hook=fault))
    before = count(shop, _transactions)
    results = holder(actions)
    assert all(isinstance(r, ServiceUnavailable) and r.retriable for r in results), results
    assert count(shop, _transactions) == before + 1  # the holder's Pay; nothing of the batch
    assert count(shop, ApiRequest.__table__) == 0
    assert check_ledger(shop.engine) == []
    # Sent again under the same CallerReferences, they run (the poor one is now refused for what it is).
    again = [actions[i]() for i in (0, 1, 2, 3, 4)]
    assert [r.status for r in again] == ["Success"] * 5
    with pytest.raises(InsufficientBalance):
        actions[5]()
    assert check_ledger(shop.engine) == []


def backend_pid(pids: list[int]) -> Callable[[Connection, Any], None]:
    """A hook noting the server process of the batch's connection in `pids`."""
    return lambda conn, _result: pids.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def wait_for(processor: Processor, pid: int, condition: str) -> None:
    """Wait until the server process `pid` is in pg_stat_activity with `condition` (or gone: 'gone')."""
    query = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        with processor.engine.connect() as conn:  # pg_stat_activity: one snapshot per transaction
            rows = conn.execute(query, {"pid": pid}).all()
        if (condition == "gone" and not rows) or (rows and rows[0][0] == condition):
            return
        time.sleep(0.01)
    raise AssertionError(f"server process {pid} never became {condition}")


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_batch_rolled_back_by_a_deadlock_runs_again_whole(processor, caller_id, buyer_id, holder, caplog):
    """A real deadlock on the batch's deferred legs (the FundPrepaid's fee: the fee account and the
    caller's): another transaction holds the second of them, then asks for the first, which the batch has
    moved. PostgreSQL rolls the batch back; it runs again, and every action is answered as if nothing had
    happened, each one made once."""
    shop = processor
    tokens = [open_prepaid(shop, caller_id, buyer_id, fund="5.00").sender_token_id for _ in range(3)]
    poor = open_prepaid(shop, caller_id, buyer_id, fund="1.00").sender_token_id
    topped = open_prepaid(shop, caller_id, buyer_id)
    with shop.engine.connect() as conn:
        fees = conn.execute(select(_accounts.c.id).where(_accounts.c.code == "fees:USD")).scalar_one()
        merchant = conn.execute(
            select(Caller.__table__.c.balance_account_id).where(Caller.__table__.c.id == caller_id)
        ).scalar_one()
    first, second = sorted((fees, merchant))  # the order in which the batch moves them
    other = shop.engine.connect()
    runs: list[int] = []
    closer: list[threading.Thread] = []
    took_the_row: list[bool] = []

    def touch(account_id: int) -> None:
        other.execute(
            update(_accounts)
            .where(_accounts.c.id == account_id)
            .values(balance_cents=_accounts.c.balance_cents)
        )

    def close_the_cycle(pid: int) -> None:
        wait_for(shop, pid, "Lock")  # the batch moved `first` and waits for `second`
        touch(first)  # waits for the batch: a cycle, which the batch (waiting longer) finds
        took_the_row.append(True)
        other.rollback()

    def fund(reference: str) -> Callable[[], Any]:
        """A FundPrepaid: its fee moves the fee account and the caller's after the batch's actions."""
        return lambda: shop.fund_prepaid(caller_id, sender_token_id=topped.funding_token_id,
                                         prepaid_instrument_id=topped.instrument_id, amount=usd("2.00"),
                                         caller_reference=reference)  # fmt: skip

    def lock_the_second_row(conn: Connection, _result: Any) -> None:
        runs.append(1)
        if len(runs) == 1:
            other.exec_driver_sql("SET deadlock_timeout = '60s'")  # the batch's check finds the cycle
            touch(second)
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            closer.append(threading.Thread(target=close_the_cycle, args=(pid,)))
            closer[0].start()

    taken = ref("taken")
    references = [ref("deadlocked") for _ in range(5)]
    results = holder([
        fund(references[4]),
        pay(shop, caller_id, tokens[0], "0.99", references[0]),
        pay(shop, caller_id, poor, "0.99", references[1]),
        pay(shop, caller_id, poor, "0.99", references[2]),  # refused in both runs
        pay(shop, caller_id, tokens[1], "0.99", taken),
        pay(shop, caller_id, tokens[1], "1.99", taken),
        pay(shop, caller_id, tokens[2], "0.99", references[3], hook=lock_the_second_row),
    ])  # fmt: skip
    closer[0].join(TIMEOUT_S)
    other.close()
    assert took_the_row == [True] and len(runs) == 2  # the batch was the deadlock's victim, and ran again
    assert "deadlock detected" in caplog.text
    kinds = [type(r).__name__ if isinstance(r, FpsError) else (r.status, r.replayed) for r in results]
    assert kinds == [("Success", False), ("Success", False), ("Success", False), "InsufficientBalance",
                     ("Success", False), "DuplicateRequest", ("Success", False)]  # fmt: skip
    for reference in (references[0], references[1], taken, references[3], references[4]):
        assert count(shop, _transactions, caller_reference=reference) == 1
    assert count(shop, _transactions, caller_reference=references[2]) == 0
    assert check_ledger(shop.engine) == []


def terminate(processor: Processor, pid: int) -> None:
    """End the server process `pid` as an administrator (or a restart) would, and wait until it is gone."""
    with processor.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    wait_for(processor, pid, "gone")


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_kept_connection_lost_between_batches_is_replaced(processor, caller_id, buyer_id, holder, caplog):
    shop = processor
    token = open_prepaid(shop, caller_id, buyer_id, fund="9.00").sender_token_id
    pids: list[int] = []
    pay(shop, caller_id, token, "0.10", hook=backend_pid(pids))()
    terminate(shop, pids[-1])
    assert pay(shop, caller_id, token, "0.10", hook=backend_pid(pids))().status == "Success"  # lone
    assert pids[-1] != pids[-2] and "was lost" in caplog.text
    # A batch of three: the lost connection is found at its first SAVEPOINT.
    holder([pay(shop, caller_id, token, "0.10", hook=backend_pid(pids)) for _ in range(3)])
    terminate(shop, pids[-1])
    caplog.clear()
    shop.group_commit.max_wait_s = TIMEOUT_S  # the next batch waits for all three (the last one held three)
    references = [ref("after-loss") for _ in range(3)]
    results: list[Any] = []
    commits = shop.group_commit.commits
    threads = [
        threading.Thread(target=lambda r=r: results.append(pay(shop, caller_id, token, "0.10", r)()))
        for r in references
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
        assert not thread.is_alive()
    assert [r.status for r in results] == ["Success"] * 3
    assert shop.group_commit.commits - commits == 1 and "was lost" in caplog.text
    assert all(count(shop, _transactions, caller_reference=r) == 1 for r in references)
    assert check_ledger(shop.engine) == []


def test_an_interrupt_in_one_action_answers_the_whole_batch(processor, caller_id, buyer_id, holder):
    """A BaseException (KeyboardInterrupt, SystemExit) raised in an action goes on up the thread that
    ran the batch; every action of the batch is answered ServiceUnavailable, none waits for ever."""
    shop = processor
    tokens = [open_prepaid(shop, caller_id, buyer_id, fund="5.00").sender_token_id for _ in range(4)]

    def interrupt(_conn: Connection, _result: Any) -> None:
        raise Interrupt

    references = [ref("interrupted") for _ in range(4)]
    actions = [pay(shop, caller_id, token, "0.99", r) for token, r in zip(tokens, references, strict=True)]
    actions[2] = pay(shop, caller_id, tokens[2], "0.99", references[2], hook=interrupt)
    before = count(shop, _transactions)
    results = holder(actions)
    # The first action's thread led the batch: the interrupt reaches it; the others are answered.
    assert isinstance(results[0], Interrupt)
    assert all(isinstance(r, ServiceUnavailable) and r.retriable for r in results[1:]), results
    assert count(shop, _transactions) == before + 1  # the holder's Pay; nothing of the batch
    assert check_ledger(shop.engine) == []
    again = [actions[i]() for i in (0, 1, 3)]  # the group commit goes on
    assert [r.status for r in again] == ["Success"] * 3
