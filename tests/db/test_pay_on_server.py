"""The Pay on PostgreSQL is one call of the `fps_pay` function, run without a savepoint of its own in its
batch: its refusals write nothing; any other error of it rolls the batch back, answers that error and runs
the others again. Where the function and the in-process path could differ (NULL limits), both backends
are tested to answer alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers import open_postpaid, open_prepaid, ref, usd
from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.exc import DBAPIError
from test_group_commit import TIMEOUT_S, count, holder, pay  # noqa: F401 - holder is a fixture

from fpscore.errors import FpsError, InsufficientBalance
from fpscore.money import Amount
from fpscore.processor import idempotency, pay_on_server
from fpscore.processor.actions import SUCCESS
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import ApiRequest, CallerReferenceRecord, Instrument, LedgerAccount, Transaction

postgres_only = pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])

_transactions = Transaction.__table__
_references = CallerReferenceRecord.__table__
_accounts = LedgerAccount.__table__


def caught(action: Any) -> Any:
    """`action` returning what it raised (any Exception), for `holder`, which catches FpsErrors only."""

    def run() -> Any:
        try:
            return action()
        except Exception as exc:
            return exc

    return run


def balances(conn: Connection) -> list[tuple[int, int]]:
    return [
        tuple(row)
        for row in conn.execute(select(_accounts.c.id, _accounts.c.balance_cents).order_by(_accounts.c.id))
    ]


@postgres_only
def test_the_pay_is_one_statement(processor, caller_id, buyer_id, sent):
    """Counted on the driver's cursors: one statement between BEGIN and COMMIT, sent on its own (a lone
    Pay goes in no pipeline)."""
    token = open_prepaid(processor, caller_id, buyer_id, fund="5.00").sender_token_id
    sent.clear()
    result = processor.pay(caller_id, sender_token_id=token, amount=usd("0.10"), caller_reference=ref("one"))
    assert result.status == "Success"
    assert len(sent) == 1 and "fps_pay(" in sent[0][1] and sent[0][0] == 0


@postgres_only
def test_a_refusal_in_a_batch_leaves_no_claim_and_the_same_reference_pays_later(
    processor,
    caller_id,
    buyer_id,
    holder,  # noqa: F811 - the fixture imported above
):
    rich = open_prepaid(processor, caller_id, buyer_id, fund="5.00").sender_token_id
    poor = open_prepaid(processor, caller_id, buyer_id, fund="1.00")
    reference = ref("later")
    before = count(processor, _transactions)
    results = holder([pay(processor, caller_id, rich, "0.99"),
                      pay(processor, caller_id, poor.sender_token_id, "1.50", reference)])  # fmt: skip
    assert results[0].status == "Success" and isinstance(results[1], InsufficientBalance)
    assert count(processor, _references, caller_reference=reference) == 0
    assert count(processor, _transactions) == before + 2  # the holder's Pay and the first
    processor.fund_prepaid(caller_id, sender_token_id=poor.funding_token_id or "",
                           prepaid_instrument_id=poor.instrument_id, amount=usd("1.00"),
                           caller_reference=ref("fund"))  # fmt: skip
    result = pay(processor, caller_id, poor.sender_token_id, "1.50", reference)()
    assert result.status == "Success" and not result.replayed
    assert check_ledger(processor.engine) == []


@postgres_only
def test_a_refused_pay_that_moves_the_caller_itself_leaves_every_balance(processor, caller_id, buyer_id):
    """Called directly, not deferring the caller's leg (as a lone Pay's function call does): the guard
    fails after the caller's account was locked, and neither account nor the claim is left changed."""
    setup = open_prepaid(processor, caller_id, buyer_id, fund="1.00")
    reference = idempotency.reference(caller_id, "Pay", ref("direct"), {"Amount": "1.50"})
    with processor.engine.connect() as conn, conn.begin():
        before = balances(conn)
        statement, params = pay_on_server.call(reference, "T" * 35, datetime.now(UTC), setup.sender_token_id,
                                               Amount(150), None, None, SUCCESS, defer=False)  # fmt: skip
        row = statement.first(conn, params)
        assert row.outcome == "guard" and row.balance_account_id < row.account_id  # the caller's first
        assert balances(conn) == before
        claims = select(func.count()).select_from(_references)
        assert (
            conn.execute(
                claims.where(_references.c.caller_reference == reference.caller_reference)
            ).scalar_one()
            == 0
        )


@postgres_only
@pytest.mark.parametrize("fault", ["crash", "refusal"])
def test_an_error_after_a_server_side_pay_fails_it_alone(processor, caller_id, buyer_id, holder, fault):  # noqa: F811
    """After fps_pay wrote, its hook (the query API's record of the request) raises: an error, or even a
    refusal. The batch is rolled back; that Pay answers an error (not the refusal: it is not one) and is
    not committed, the others of the batch run again and pay once."""
    tokens = [open_prepaid(processor, caller_id, buyer_id, fund="5.00").sender_token_id for _ in range(3)]
    credit = open_postpaid(processor, caller_id, buyer_id, credit_limit="5.00").sender_token_id

    def broken(_conn: Connection, _result: object) -> None:
        if fault == "crash":
            raise LookupError("the request could not be recorded")
        raise InsufficientBalance("a refusal after the Pay was written")

    references = [ref("batch") for _ in range(4)]
    actions = [
        pay(processor, caller_id, tokens[0], "0.99", references[0]),
        pay(processor, caller_id, credit, "0.99", references[1]),
        caught(pay(processor, caller_id, tokens[1], "0.99", references[2], hook=broken)),
        pay(processor, caller_id, tokens[2], "0.99", references[3]),
    ]
    before = count(processor, _transactions)
    results = holder(actions)
    failed = results[2]
    assert not isinstance(failed, FpsError), failed
    assert isinstance(failed, LookupError if fault == "crash" else RuntimeError)
    assert [(r.status, r.replayed) for i, r in enumerate(results) if i != 2] == [("Success", False)] * 3
    assert count(processor, _transactions) == before + 1 + 3  # the holder's Pay and the three others
    assert count(processor, _references, caller_reference=references[2]) == 0
    assert count(processor, ApiRequest.__table__) == 0
    assert check_ledger(processor.engine) == []


@postgres_only
def test_a_serialization_failure_after_a_server_side_pay_runs_its_batch_again(
    processor,
    caller_id,
    buyer_id,
    holder,  # noqa: F811 - the fixture imported above
):
    """A real serialization failure (SQLSTATE 40001, raised by the database) in the transaction of a Pay
    with no savepoint: PostgreSQL aborts the whole batch, which runs again, and every Pay is made once."""
    tokens = [open_prepaid(processor, caller_id, buyer_id, fund="5.00").sender_token_id for _ in range(3)]
    failures = ["40001"]

    def fail_once(conn: Connection, _result: object) -> None:
        if failures:
            code = failures.pop()
            conn.exec_driver_sql(f"DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '{code}'; END $$")

    actions = [
        pay(processor, caller_id, tokens[0], "0.99"),
        pay(processor, caller_id, tokens[1], "0.99", hook=fail_once),
        pay(processor, caller_id, tokens[2], "0.99"),
    ]
    before = count(processor, _transactions)
    results = holder(actions)
    assert [(r.status, r.replayed) for r in results] == [("Success", False)] * 3
    assert not failures  # it did fail once
    assert count(processor, _transactions) == before + 1 + 3
    assert check_ledger(processor.engine) == []


@pytest.mark.parametrize(
    ("limit", "credit_limit", "per_purchase", "amounts"),
    [
        ("credit_limit_cents", "5.00", "5.00", ["4.00", "4.00"]),  # a debt of 8.00 above the 5.00 unset
        ("purchase_limit_cents", "10.00", "5.00", ["6.00"]),  # one purchase of 6.00 above the 5.00 unset
    ],
)
def test_a_credit_instrument_without_a_limit_pays_alike_on_both_backends(
    processor, caller_id, buyer_id, limit, credit_limit, per_purchase, amounts
):
    """NULL is no limit, in Python (`ledger.Guard`, `_pay_terms`) and in fps_pay alike."""
    setup = open_postpaid(
        processor, caller_id, buyer_id, credit_limit=credit_limit, per_purchase=per_purchase
    )
    with processor.engine.begin() as conn:
        instruments = Instrument.__table__
        conn.execute(update(instruments).where(instruments.c.id == setup.instrument_id).values({limit: None}))
    for amount in amounts:
        result = processor.pay(caller_id, sender_token_id=setup.sender_token_id, amount=usd(amount),
                               caller_reference=ref("unlimited"))  # fmt: skip
        assert result.status == "Success"
    assert check_ledger(processor.engine) == []


@contextmanager
def failing_pays(engine: Engine, reference: str, sqlstate: str, *, times: int) -> Iterator[None]:
    """fps_pay raises `sqlstate` for the Pay with CallerReference `reference`, its first `times` runs: a
    trigger on its transaction row (a sequence counts the runs: it is not rolled back with them)."""
    with engine.begin() as conn:
        conn.execute(text("CREATE SEQUENCE failing_pays_runs"))
        conn.execute(text(
            "CREATE FUNCTION failing_pays() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.caller_reference = '{reference}' AND nextval('failing_pays_runs') <= {times} THEN "
            f"RAISE EXCEPTION 'the disk is full' USING ERRCODE = '{sqlstate}'; END IF; RETURN NEW; END $$"
        ))  # fmt: skip
        conn.execute(text(
            "CREATE TRIGGER failing_pays BEFORE INSERT ON transactions FOR EACH ROW "
            "EXECUTE FUNCTION failing_pays()"
        ))  # fmt: skip
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER failing_pays ON transactions"))
            conn.execute(text("DROP FUNCTION failing_pays()"))
            conn.execute(text("DROP SEQUENCE failing_pays_runs"))


@pytest.fixture
def sent(processor, caller_id, buyer_id) -> Iterator[list[tuple[int, str]]]:
    """The statements sent on the batches' kept connection meanwhile, each with the number of the
    pipeline it went in (0: none)."""
    token = open_prepaid(processor, caller_id, buyer_id, fund="1.00").sender_token_id
    processor.pay(caller_id, sender_token_id=token, amount=usd("0.01"), caller_reference=ref("warm"))
    conn = processor.group_commit._conn  # noqa: SLF001 - the batch's kept connection
    assert conn is not None
    pgconn = conn.connection.dbapi_connection
    cursor, pipeline = pgconn.cursor, pgconn.pipeline
    statements: list[tuple[int, str]] = []
    pipelines = [0, 0]  # how many were opened, and the one open now (0: none)

    class Counting:  # the driver's cursor, noting each statement sent
        def __init__(self, cursor: Any):
            self.cursor = cursor

        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            statements.append((pipelines[1], str(query)))
            self.cursor.execute(query, *args, **kwargs)
            return self

        def __getattr__(self, name: str) -> Any:
            return getattr(self.cursor, name)

    @contextmanager
    def counting_pipeline() -> Iterator[Any]:
        pipelines[0] += 1
        pipelines[1] = pipelines[0]
        try:
            with pipeline() as opened:
                yield opened
        finally:
            pipelines[1] = 0

    pgconn.cursor = lambda *args, **kwargs: Counting(cursor(*args, **kwargs))
    pgconn.pipeline = counting_pipeline
    try:
        yield statements
    finally:
        del pgconn.cursor, pgconn.pipeline


@postgres_only
def test_the_pays_of_a_batch_are_sent_in_one_pipeline(processor, caller_id, buyer_id, holder, sent):  # noqa: F811
    """Four Pays queued together (one refused): their four calls of fps_pay go in one pipeline, one round
    trip; the lone Pay holding the batch before them is sent on its own (a pipeline of one costs more)."""
    tokens = [open_prepaid(processor, caller_id, buyer_id, fund="1.00").sender_token_id for _ in range(4)]
    sent.clear()
    amounts = ["0.99", "0.50", "1.50", "0.25"]
    results = holder([pay(processor, caller_id, token, amount)
                      for token, amount in zip(tokens, amounts, strict=True)])  # fmt: skip
    assert isinstance(results[2], InsufficientBalance)
    assert [(r.status, r.replayed) for i, r in enumerate(results) if i != 2] == [("Success", False)] * 3
    calls = [pipeline for pipeline, statement in sent if "fps_pay(" in statement]
    assert calls[0] == 0 and len(calls) == 5 and len(set(calls[1:])) == 1 and calls[1] > 0
    assert check_ledger(processor.engine) == []


@postgres_only
@pytest.mark.parametrize(("sqlstate", "times"), [("53100", 99), ("40001", 1)])
def test_a_pay_failing_in_a_pipeline(processor, caller_id, buyer_id, holder, sent, sqlstate, times):  # noqa: F811
    """A call of fps_pay sent in a batch's pipeline fails. A fault (53100, disk full): which Pay's it was
    is not known, so the batch runs again with each call sent alone; that Pay answers the error, unpaid,
    the others pay once. A serialization failure (40001, once): the batch runs again, and all pay."""
    tokens = [open_prepaid(processor, caller_id, buyer_id, fund="5.00").sender_token_id for _ in range(3)]
    references = [ref("piped") for _ in tokens]
    before = count(processor, _transactions)
    with failing_pays(processor.engine, references[1], sqlstate, times=times):
        sent.clear()
        results = holder([caught(pay(processor, caller_id, token, "0.99", reference))
                          for token, reference in zip(tokens, references, strict=True)])  # fmt: skip
    calls = [pipeline for pipeline, statement in sent if "fps_pay(" in statement]
    if sqlstate == "53100":
        # The holder's alone; the three in a pipeline; one by one until the fault (the second); the other
        # two in a pipeline.
        assert calls == [0, 1, 1, 1, 0, 0, 2, 2]
        assert isinstance(results[1], DBAPIError) and "the disk is full" in str(results[1])
        assert [(r.status, r.replayed) for i, r in enumerate(results) if i != 1] == [("Success", False)] * 2
        assert count(processor, _references, caller_reference=references[1]) == 0
        assert count(processor, _transactions) == before + 1 + 2
    else:
        assert calls == [0, 1, 1, 1]  # then the batch again, whole, on a new connection
        assert [(r.status, r.replayed) for r in results] == [("Success", False)] * 3
        assert count(processor, _transactions) == before + 1 + 3
    assert check_ledger(processor.engine) == []


@postgres_only
@pytest.mark.parametrize("last", ["Pay", "FundPrepaid"])
def test_a_batch_sends_its_pays_as_they_queue(processor, caller_id, buyer_id, sent, last):
    """After a batch of four, the next batch's first Pay is sent at once, and each Pay that queues within
    the wait is sent in the same pipeline as it comes (each is started only once the one before it was
    sent), until the batch holds four again. An action that is not sent ahead (a FundPrepaid, in a
    savepoint) ends the wait: it runs after them. Either way the batch does not wait out its time."""
    setups = [open_prepaid(processor, caller_id, buyer_id, fund="5.00") for _ in range(4)]
    actions = [pay(processor, caller_id, setup.sender_token_id, "0.99") for setup in setups]
    if last == "FundPrepaid":
        funded = setups[2]
        actions[2:] = [lambda: processor.fund_prepaid(
            caller_id, sender_token_id=funded.funding_token_id or "",
            prepaid_instrument_id=funded.instrument_id, amount=usd("1.00"), caller_reference=ref("fund"),
        )]  # fmt: skip
    group = processor.group_commit
    group.max_wait_s, group._last_size = TIMEOUT_S, 4  # noqa: SLF001 - as after a batch of four
    results: list[Any] = [None] * len(actions)
    commits, sent_before = group.commits, len(sent)

    def calls() -> list[int]:  # the pipeline each fps_pay call went in, in the order sent
        return [pipeline for pipeline, statement in sent[sent_before:] if "fps_pay(" in statement]

    def run(index: int) -> None:
        results[index] = actions[index]()

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for number, thread in enumerate(threads):
        deadline = time.monotonic() + TIMEOUT_S / 4
        while len(calls()) < number and time.monotonic() < deadline:  # the Pays before it were sent
            time.sleep(0.001)
        assert len(calls()) == number, "a Pay was not sent while the batch waited for the next"
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert time.monotonic() - started < TIMEOUT_S / 2
    assert [result.status for result in results] == ["Success"] * len(actions)
    assert group.commits == commits + 1  # one batch
    pays = len(actions) - (last == "FundPrepaid")
    assert len(calls()) == pays and len(set(calls())) == 1 and calls()[0] > 0
    if last == "FundPrepaid":  # its savepoint comes after the Pays' calls
        statements = [statement for _pipeline, statement in sent[sent_before:]]
        assert statements.index("SAVEPOINT fps_action") > max(
            i for i, statement in enumerate(statements) if "fps_pay(" in statement
        )
    assert check_ledger(processor.engine) == []
