"""The processor's shared machinery: its engine, fee schedule and clock, its group commit, and the
CallerReference-guarded frame every money-moving action runs in."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from fpscore.db import utcnow
from fpscore.errors import FpsError
from fpscore.fees import DEFAULT_FEE_SCHEDULE, FeeSchedule
from fpscore.processor import idempotency, ledger
from fpscore.processor.batch import GroupCommit, Retry
from fpscore.processor.driver import Compiled
from fpscore.processor.ids import new_transaction_id
from fpscore.processor.schema import Transaction

_transactions = Transaction.__table__


@dataclass(frozen=True, slots=True)
class TransactionResult:
    """What a transactional action answers: the TransactionId and its status as it now stands."""

    transaction_id: str
    status: str
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class OnServer:
    """An action in one statement on the database server, which claims its CallerReference itself:
    `call(ref, transaction_id, now, deferred)` gives the statement and its parameters (`deferred`: its
    unguarded legs go to the batch), `finish(conn, ref, transaction_id, now, later, row)` the result from
    the statement's row."""

    call: Callable[[idempotency.Reference, str, datetime, bool], tuple[Compiled, Mapping[str, Any]]]
    finish: Callable[
        [Connection, idempotency.Reference, str, datetime, ledger.Later | None, Any], TransactionResult
    ]


_in_transaction: ContextVar[Callable[[Connection, TransactionResult], None] | None] = ContextVar(
    "fps_in_transaction", default=None
)


@contextmanager
def in_transaction(hook: Callable[[Connection, TransactionResult], None]) -> Iterator[None]:
    """Within this block (this thread or task only), `hook(conn, result)` runs inside the database
    transaction of every money-moving action, after it: the query API records the request there, so that
    a committed transaction always has its RequestId. An error in the hook rolls the action back."""
    token = _in_transaction.set(hook)
    try:
        yield
    finally:
        _in_transaction.reset(token)


class ProcessorBase:
    def __init__(
        self,
        engine: Engine,
        fee_schedule: FeeSchedule = DEFAULT_FEE_SCHEDULE,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.engine = engine
        self.fee_schedule = fee_schedule
        self.clock = clock
        self._fees_account_ids: dict[str, int] = {}
        self.group_commit = GroupCommit(engine)

    def _transact(
        self,
        caller_id: int,
        action: str,
        caller_reference: str,
        request: Mapping[str, object],
        execute: Callable[[Connection, str, datetime, ledger.Later | None], str],
        on_server: OnServer | None = None,
    ) -> TransactionResult:
        """Run `execute(conn, transaction_id, now, later)` once per CallerReference, in a batch of the
        group commit (its unguarded legs go to `later`, see `ledger.post`). On PostgreSQL `on_server`,
        when given, runs instead: it claims the reference itself, in the same statement as the action, and
        that statement is sent with those of the batch's other such actions (`GroupCommit.run_ahead`).

        A repeat of the same request answers the original TransactionId and its current status. The hook
        set by `in_transaction`, if any, runs last in the same transaction (and savepoint, where the action
        has one).
        """
        ref = idempotency.reference(caller_id, action, caller_reference, request)
        hook = _in_transaction.get()  # read here: the batch may run on another thread
        if on_server is not None and self.engine.dialect.name == "postgresql":
            chosen: list[Any] = []  # this run's TransactionId and time, chosen with its statement

            def first(deferred: bool) -> tuple[Compiled, Mapping[str, Any]]:
                chosen[:] = [new_transaction_id(), self.clock()]
                return on_server.call(ref, chosen[0], chosen[1], deferred)

            def finish(conn: Connection, later: ledger.Later | None, row: Any) -> TransactionResult:
                result = on_server.finish(conn, ref, chosen[0], chosen[1], later, row)
                if hook is not None:
                    try:
                        hook(conn, result)
                    except FpsError as exc:
                        # Without a savepoint a refusal must come before any write (`GroupCommit.run`).
                        raise RuntimeError(f"{exc.code} after the {action} was written") from exc
                return result

            # Its refusals write nothing: no savepoint needed around it, and it is sent with the others.
            return self.group_commit.run_ahead(first, finish)

        def attempt(conn: Connection, later: ledger.Later | None) -> TransactionResult:
            transaction_id, now = new_transaction_id(), self.clock()
            if idempotency.claim(conn, ref, transaction_id, now):
                result = TransactionResult(transaction_id, execute(conn, transaction_id, now, later))
            else:
                try:
                    existing = idempotency.replay(conn, ref)
                except idempotency.ReferenceTaken:
                    raise Retry from None
                result = TransactionResult(existing, self._status(conn, existing), replayed=True)
            if hook is not None:
                hook(conn, result)
            return result

        return self.group_commit.run(attempt)

    @staticmethod
    def _status(conn: Connection, transaction_id: str) -> str:
        return conn.execute(
            select(_transactions.c.status).where(_transactions.c.id == transaction_id)
        ).scalar_one()

    def _fees_account(self, conn: Connection, currency: str) -> int:
        """The processor's fee income account for `currency` (created by the migrations)."""
        account_id = self._fees_account_ids.get(currency)
        if account_id is None:
            account_id = ledger.account_id_by_code(conn, f"fees:{currency}")
            if account_id is None:
                raise AssertionError(f"no fee account for {currency}; run the migrations")
            self._fees_account_ids[currency] = account_id
        return account_id
