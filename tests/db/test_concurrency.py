"""Concurrency: no double spend, no lost update, one transaction per CallerReference, no deadlock.

Threads share the fixture's pooled engine (SQLite: a file database in WAL mode; PostgreSQL: a per-test
schema). The multi-process tests run on PostgreSQL only: each spawned process builds its own engine to
the test's schema.
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from helpers import open_postpaid, open_prepaid, ref, usd
from sqlalchemy import Engine, func, select

from fpscore.db import make_engine, read_only
from fpscore.errors import (
    DuplicateRequest,
    InsufficientBalance,
    PrepaidFundingLimitExceeded,
    RefundAmountExceeded,
    SettleAmountGreaterThanDebt,
    TokenNotActive_Sender,
    TransactionFullyRefundedAlready,
)
from fpscore.money import Amount
from fpscore.processor import Processor, TransactionResult
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import Caller, LedgerAccount, Transaction

T = TypeVar("T")
_transactions = Transaction.__table__
_accounts = LedgerAccount.__table__
_callers = Caller.__table__

TIMEOUT = 60.0  # seconds any one concurrent scenario may take before we call it a deadlock
PRICE = usd("0.99")
POSTGRES_ONLY = pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])


def run_threads(count: int, work: Callable[[int], T], timeout: float = TIMEOUT) -> list[T]:
    """Run `work(0..count-1)` in `count` threads released together by a barrier; re-raise the first
    error; fail when any thread is still running after `timeout` (a deadlock or a lost wake-up)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def main(index: int) -> None:
        try:
            barrier.wait(timeout)
            results[index] = work(index)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=main, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    assert stuck == 0, f"{stuck} of {count} threads still running after {timeout:.0f}s"
    if errors:
        raise errors[0]
    return results


def pay_until_refused(processor: Processor, caller_id: int, token_id: str, prefix: str) -> list[str]:
    """Pay 0.99 with fresh CallerReferences until InsufficientBalance; the TransactionIds paid."""
    paid: list[str] = []
    while True:
        try:
            result = processor.pay(
                caller_id, sender_token_id=token_id, amount=PRICE, caller_reference=f"{prefix}-{len(paid)}"
            )
        except InsufficientBalance:
            return paid
        assert (result.status, result.replayed) == ("Success", False)
        paid.append(result.transaction_id)


def count_transactions(engine: Engine, **where: object) -> int:
    with read_only(engine) as conn:
        query = select(func.count()).select_from(_transactions)
        for column, value in where.items():
            query = query.where(_transactions.c[column] == value)
        return conn.execute(query).scalar_one()


# -- many threads spending one balance -------------------------------------------------------------


def test_threads_cannot_overspend_a_prepaid_balance(processor, engine, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, limit="25.00", fund="25.00")
    run = uuid.uuid4().hex[:8]
    paid = run_threads(
        16, lambda i: pay_until_refused(processor, caller_id, setup.sender_token_id, f"{run}-{i}")
    )
    ids = [t for thread in paid for t in thread]
    assert len(ids) == len(set(ids)) == 25
    assert processor.get_prepaid_balance(caller_id, setup.instrument_id).available == usd("0.25")
    assert count_transactions(engine, instrument_id=setup.instrument_id, operation="Pay") == 25
    assert check_ledger(engine) == []


def test_threads_cannot_pass_a_credit_limit(processor, engine, caller_id, buyer_id):
    setup = open_postpaid(processor, caller_id, buyer_id, credit_limit="25.00", per_purchase="10.00")
    run = uuid.uuid4().hex[:8]
    paid = run_threads(
        16, lambda i: pay_until_refused(processor, caller_id, setup.sender_token_id, f"{run}-{i}")
    )
    ids = [t for thread in paid for t in thread]
    assert len(ids) == len(set(ids)) == 25
    assert processor.get_debt_balance(caller_id, setup.instrument_id).available == usd("24.75")
    assert processor.get_outstanding_debt_balance(caller_id).available == usd("24.75")
    assert count_transactions(engine, instrument_id=setup.instrument_id, operation="Pay") == 25
    assert check_ledger(engine) == []


def test_concurrent_partial_refunds_never_exceed_the_payment(processor, engine, caller_id, buyer_id):
    """16 threads refund 0.10 of one 0.99 Pay, each with its own reference: exactly 9 succeed."""
    setup = open_prepaid(processor, caller_id, buyer_id, limit="25.00", fund="5.00")
    pay = processor.pay(
        caller_id, sender_token_id=setup.sender_token_id, amount=PRICE, caller_reference=ref()
    )

    def refund(index: int) -> bool:
        try:
            processor.refund(
                caller_id, transaction_id=pay.transaction_id, amount=usd("0.10"), caller_reference=ref("rf")
            )
        except RefundAmountExceeded:
            return False
        return True

    assert sum(run_threads(16, refund)) == 9
    assert processor.get_prepaid_balance(caller_id, setup.instrument_id).available == usd("4.91")
    assert count_transactions(engine, parent_id=pay.transaction_id, operation="Refund") == 9
    assert check_ledger(engine) == []


def test_concurrent_settlements_never_exceed_the_debt(processor, engine, caller_id, buyer_id):
    """Debt 24.75; 16 threads settle 1.00 at a time until refused: exactly 24 settlements."""
    setup = open_postpaid(processor, caller_id, buyer_id, credit_limit="25.00", per_purchase="25.00")
    processor.pay(
        caller_id, sender_token_id=setup.sender_token_id, amount=usd("24.75"), caller_reference=ref()
    )

    def settle(index: int) -> int:
        done = 0
        while True:
            try:
                processor.settle_debt(
                    caller_id,
                    sender_token_id=setup.settlement_token_id,
                    credit_instrument_id=setup.instrument_id,
                    amount=usd("1.00"),
                    caller_reference=ref("settle"),
                )
            except SettleAmountGreaterThanDebt:
                return done
            done += 1

    assert sum(run_threads(16, settle)) == 24
    assert processor.get_debt_balance(caller_id, setup.instrument_id).available == usd("0.75")
    assert check_ledger(engine) == []


# -- one CallerReference sent many times at once ----------------------------------------------------


def test_the_same_pay_sent_by_40_threads_at_once_pays_once(processor, engine, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, limit="25.00", fund="25.00")
    reference = f"same-{uuid.uuid4().hex}"
    results = run_threads(
        40,
        lambda i: processor.pay(
            caller_id, sender_token_id=setup.sender_token_id, amount=PRICE, caller_reference=reference
        ),
    )
    assert {r.transaction_id for r in results} == {results[0].transaction_id}
    assert {r.status for r in results} == {"Success"}
    assert sum(not r.replayed for r in results) == 1
    assert count_transactions(engine, caller_reference=reference) == 1
    assert processor.get_prepaid_balance(caller_id, setup.instrument_id).available == usd("24.01")
    assert check_ledger(engine) == []


def test_the_same_full_refund_sent_by_40_threads_at_once_refunds_once(processor, engine, caller_id, buyer_id):
    setup = open_postpaid(processor, caller_id, buyer_id)
    pay = processor.pay(
        caller_id, sender_token_id=setup.sender_token_id, amount=PRICE, caller_reference=ref()
    )
    reference = f"same-{uuid.uuid4().hex}"
    results = run_threads(
        40,
        lambda i: processor.refund(caller_id, transaction_id=pay.transaction_id, caller_reference=reference),
    )
    assert {r.transaction_id for r in results} == {results[0].transaction_id}
    assert sum(not r.replayed for r in results) == 1
    assert count_transactions(engine, parent_id=pay.transaction_id) == 1
    assert processor.get_debt_balance(caller_id, setup.instrument_id).available == Amount(0)
    assert check_ledger(engine) == []


def test_one_reference_with_two_different_requests_at_once(processor, engine, caller_id, buyer_id):
    """20 threads send one CallerReference, half with 0.99 and half with 1.00: one Pay happens; the
    threads that sent it get its TransactionId, the others DuplicateRequest."""
    setup = open_prepaid(processor, caller_id, buyer_id, limit="25.00", fund="25.00")
    reference = f"same-{uuid.uuid4().hex}"

    def send(index: int) -> tuple[str, str | None]:
        amount = usd("0.99") if index % 2 else usd("1.00")
        try:
            result = processor.pay(
                caller_id, sender_token_id=setup.sender_token_id, amount=amount, caller_reference=reference
            )
        except DuplicateRequest:
            return str(amount), None
        return str(amount), result.transaction_id

    answers = run_threads(20, send)
    winners = {amount for amount, transaction_id in answers if transaction_id is not None}
    assert len(winners) == 1
    (winner,) = winners
    assert all((amount == winner) == (transaction_id is not None) for amount, transaction_id in answers)
    assert len({transaction_id for _, transaction_id in answers if transaction_id}) == 1
    assert count_transactions(engine, caller_reference=reference) == 1
    assert processor.get_prepaid_balance(caller_id, setup.instrument_id).available == usd("25.00") - usd(
        winner
    )
    assert check_ledger(engine) == []


def test_cancel_token_is_not_starved_by_pays_and_stops_them(processor, engine, caller_id, buyer_id):
    """8 threads pay 0.01 in a loop on one token while it is cancelled: CancelToken returns promptly
    (it must not wait until the payers stop), no Pay sent after it returned succeeds, none commits
    after it, and every payer ends with TokenNotActive_Sender."""
    setup = open_prepaid(processor, caller_id, buyer_id, limit="10.00", fund="10.00")
    cancelled = threading.Event()
    late: list[str] = []  # Pays sent after the cancellation returned that succeeded anyway
    at_cancel: list[tuple[float, int, int]] = []  # (seconds CancelToken took, Pays before it, Pays after)

    def pays_so_far() -> int:
        return count_transactions(engine, instrument_id=setup.instrument_id, operation="Pay")

    def spend(index: int) -> str:
        while True:
            sent_after_cancel = cancelled.is_set()
            try:
                result = processor.pay(
                    caller_id,
                    sender_token_id=setup.sender_token_id,
                    amount=usd("0.01"),
                    caller_reference=ref(),
                )
            except TokenNotActive_Sender:
                return "stopped by the cancellation"
            except InsufficientBalance:
                return "ran dry: the cancellation never got through"
            if sent_after_cancel:
                late.append(result.transaction_id)

    def cancel() -> None:
        deadline = time.monotonic() + TIMEOUT
        while pays_so_far() < 16 and time.monotonic() < deadline:
            time.sleep(0.01)
        before, started = pays_so_far(), time.monotonic()
        processor.cancel_token(caller_id, setup.sender_token_id, "stop")
        cancelled.set()
        at_cancel.append((time.monotonic() - started, before, pays_so_far()))

    canceller = threading.Thread(target=cancel, daemon=True)
    canceller.start()
    outcomes = run_threads(8, spend)
    canceller.join(TIMEOUT)
    assert at_cancel, "CancelToken did not return"
    seconds, paid_before_cancel, paid_at_cancel = at_cancel[0]
    paid = pays_so_far()
    assert outcomes == ["stopped by the cancellation"] * 8, (
        f"CancelToken took {seconds:.1f}s while {paid_at_cancel - paid_before_cancel} more Pays went "
        f"through: {Counter(outcomes)}"
    )
    assert seconds < 5, f"CancelToken waited {seconds:.1f}s behind concurrent Pays"
    assert late == []
    assert paid == paid_at_cancel >= 16
    assert processor.get_prepaid_balance(caller_id, setup.instrument_id).available.cents == 1000 - paid
    assert check_ledger(engine) == []


# -- several processes, each with its own engine (PostgreSQL) --------------------------------------

PROCESSES = 4
THREADS_PER_PROCESS = 4


@dataclass(frozen=True)
class Job:
    url: str
    schema: str
    caller_id: int
    token_id: str
    mode: str  # "spend": pay until refused; "same": every thread sends one Pay under `reference`
    reference: str


def _process_main(job: Job, index: int, barrier: Any, results: Any) -> None:
    """Entry point of a spawned process: its own engine and Processor, THREADS_PER_PROCESS threads."""
    try:
        engine = make_engine(
            job.url,
            connect_args={"options": f"-csearch_path={job.schema}"},
            pool_size=THREADS_PER_PROCESS,
            max_overflow=0,
        )
        processor = Processor(engine)

        def work(thread: int) -> Any:
            barrier.wait(TIMEOUT)  # every thread of every process starts together
            if job.mode == "spend":
                return pay_until_refused(
                    processor, job.caller_id, job.token_id, f"{job.reference}-{index}-{thread}"
                )
            result = processor.pay(
                job.caller_id, sender_token_id=job.token_id, amount=PRICE, caller_reference=job.reference
            )
            return [(result.transaction_id, result.replayed)]

        outcome = run_threads(THREADS_PER_PROCESS, work)
        engine.dispose()
        results.put((index, [item for items in outcome for item in items], None))
    except BaseException:  # sent back to the test
        results.put((index, [], traceback.format_exc()))


def run_processes(engine: Engine, job: Job) -> list[Any]:
    """Run `job` in PROCESSES spawned processes; every item their threads returned."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES * THREADS_PER_PROCESS)
    results = ctx.Queue()
    processes = [
        ctx.Process(target=_process_main, args=(job, i, barrier, results), daemon=True)
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    items: list[Any] = []
    failures: list[str] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        for _ in processes:
            _, got, failure = results.get(timeout=max(0.1, deadline - time.monotonic()))
            items.extend(got)
            if failure:
                failures.append(failure)
    except queue.Empty:
        pytest.fail(f"the processes did not all answer within {TIMEOUT:.0f}s")
    finally:
        for process in processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(5)
    assert not failures, "\n".join(failures)
    return items


def _job(engine: Engine, caller_id: int, token_id: str, mode: str, reference: str) -> Job:
    with engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
    url = engine.url.render_as_string(hide_password=False)
    return Job(url, schema, caller_id, token_id, mode, reference)


@POSTGRES_ONLY
def test_processes_cannot_overspend_a_prepaid_balance(processor, engine, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, limit="25.00", fund="25.00")
    ids = run_processes(engine, _job(engine, caller_id, setup.sender_token_id, "spend", uuid.uuid4().hex[:8]))
    assert len(ids) == len(set(ids)) == 25
    assert processor.get_prepaid_balance(caller_id, setup.instrument_id).available == usd("0.25")
    assert count_transactions(engine, instrument_id=setup.instrument_id, operation="Pay") == 25
    assert check_ledger(engine) == []


@POSTGRES_ONLY
def test_processes_retrying_one_reference_make_one_transaction(processor, engine, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, limit="25.00", fund="25.00")
    reference = f"same-{uuid.uuid4().hex}"
    answers = run_processes(engine, _job(engine, caller_id, setup.sender_token_id, "same", reference))
    assert len(answers) == PROCESSES * THREADS_PER_PROCESS
    assert len({transaction_id for transaction_id, _ in answers}) == 1
    assert sum(not replayed for _, replayed in answers) == 1
    assert count_transactions(engine, caller_reference=reference) == 1
    assert processor.get_prepaid_balance(caller_id, setup.instrument_id).available == usd("24.01")
    assert check_ledger(engine) == []


# -- mixed operations in every order ---------------------------------------------------------------

EXPECTED_REFUSALS = (
    InsufficientBalance,
    PrepaidFundingLimitExceeded,
    SettleAmountGreaterThanDebt,
    RefundAmountExceeded,
    TransactionFullyRefundedAlready,
)


@dataclass
class Done:
    """A successful operation: how it moved its instrument's balance and its caller's balance."""

    instrument_id: str
    instrument_delta: int
    caller_id: int
    caller_delta: int


def test_mixed_operations_across_instruments_and_callers_do_not_deadlock(
    processor, engine, caller_id, buyer_id
):
    """Pays, refunds, fundings, settlements and write-offs on six instruments of two callers and two
    buyers, from 8 threads in random orders: all finish, and every balance is what the successes add
    up to (no lost update)."""
    other_caller = processor.ensure_caller("AKIDOTHER", "other-secret", "Other Shop", "billing@other.example")
    other_buyer = processor.find_or_create_buyer("bob@buyers.example", "Bob")
    prepaid = [
        (caller_id, open_prepaid(processor, caller_id, buyer_id, limit="60.00", fund="20.00")),
        (caller_id, open_prepaid(processor, caller_id, other_buyer, limit="60.00", fund="20.00")),
        (other_caller, open_prepaid(processor, other_caller, buyer_id, limit="60.00", fund="20.00")),
    ]
    credit = [
        (caller_id, open_postpaid(processor, caller_id, buyer_id, credit_limit="40.00", per_purchase="5.00")),
        (
            caller_id,
            open_postpaid(processor, caller_id, other_buyer, credit_limit="40.00", per_purchase="5.00"),
        ),
        (
            other_caller,
            open_postpaid(processor, other_caller, other_buyer, credit_limit="40.00", per_purchase="5.00"),
        ),
    ]
    start = {setup.instrument_id: 2000 for _, setup in prepaid} | {
        setup.instrument_id: 0 for _, setup in credit
    }
    callers_start = {c: _caller_balance(engine, c) for c in (caller_id, other_caller)}
    pays: list[tuple[int, str, str, bool]] = []  # (caller, instrument, TransactionId, prepaid?)
    lock = threading.Lock()

    def worker(index: int) -> tuple[list[Done], Counter[str]]:
        rng = random.Random(index)
        done: list[Done] = []
        refused: Counter[str] = Counter()
        for _ in range(30):
            op = rng.choice(["pay", "pay", "pay", "refund", "refund", "fund", "settle", "write_off"])
            cents = rng.randint(1, 500)
            try:
                if op == "pay":
                    owner, setup = rng.choice(prepaid + credit)
                    result = processor.pay(
                        owner,
                        sender_token_id=setup.sender_token_id,
                        amount=Amount(cents),
                        caller_reference=ref(),
                    )
                    is_prepaid = setup.funding_token_id is not None
                    with lock:
                        pays.append((owner, setup.instrument_id, result.transaction_id, is_prepaid))
                    done.append(Done(setup.instrument_id, -cents if is_prepaid else cents, owner, cents))
                elif op == "refund":
                    with lock:
                        if not pays:
                            continue
                        owner, instrument_id, transaction_id, is_prepaid = rng.choice(pays)
                    amount = None if rng.random() < 0.3 else Amount(rng.randint(1, 200))
                    result = processor.refund(
                        owner, transaction_id=transaction_id, amount=amount, caller_reference=ref()
                    )
                    refunded = processor.get_transaction(owner, result.transaction_id).amount.cents
                    done.append(Done(instrument_id, refunded if is_prepaid else -refunded, owner, -refunded))
                elif op == "fund":
                    owner, setup = rng.choice(prepaid)
                    result = processor.fund_prepaid(
                        owner,
                        sender_token_id=setup.funding_token_id,
                        prepaid_instrument_id=setup.instrument_id,
                        amount=Amount(cents),
                        caller_reference=ref(),
                    )
                    done.append(Done(setup.instrument_id, cents, owner, -_fee(processor, owner, result)))
                elif op == "settle":
                    owner, setup = rng.choice(credit)
                    result = processor.settle_debt(
                        owner,
                        sender_token_id=setup.settlement_token_id,
                        credit_instrument_id=setup.instrument_id,
                        amount=Amount(cents),
                        caller_reference=ref(),
                    )
                    done.append(Done(setup.instrument_id, -cents, owner, -_fee(processor, owner, result)))
                else:
                    owner, setup = rng.choice(credit)
                    cents = rng.randint(1, 100)
                    processor.write_off_debt(
                        owner,
                        credit_instrument_id=setup.instrument_id,
                        amount=Amount(cents),
                        caller_reference=ref(),
                    )
                    done.append(Done(setup.instrument_id, -cents, owner, 0))
            except EXPECTED_REFUSALS as exc:
                refused[type(exc).__name__] += 1
        return done, refused

    outcomes = run_threads(8, worker)
    assert check_ledger(engine) == []
    expected = dict(start)
    caller_expected = dict(callers_start)
    for done, _ in outcomes:
        for d in done:
            expected[d.instrument_id] += d.instrument_delta
            caller_expected[d.caller_id] += d.caller_delta
    for owner, setup in prepaid:
        assert (
            processor.get_prepaid_balance(owner, setup.instrument_id).available.cents
            == expected[setup.instrument_id]
        )
    for owner, setup in credit:
        assert (
            processor.get_debt_balance(owner, setup.instrument_id).available.cents
            == expected[setup.instrument_id]
        )
    for owner, balance in caller_expected.items():
        assert _caller_balance(engine, owner) == balance
    successes = sum(len(done) for done, _ in outcomes)
    assert successes > 100, f"only {successes} operations succeeded; the scenario tests too little"


def _fee(processor: Processor, caller_id: int, result: TransactionResult) -> int:
    return processor.get_transaction(caller_id, result.transaction_id).fees.cents


def _caller_balance(engine: Engine, caller_id: int) -> int:
    with read_only(engine) as conn:
        return conn.execute(
            select(_accounts.c.balance_cents)
            .join(_callers, _callers.c.balance_account_id == _accounts.c.id)
            .where(_callers.c.id == caller_id)
        ).scalar_one()
