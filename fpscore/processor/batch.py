"""Group commit: the money-moving actions running at once in one process, committed together.

One durable commit costs one fsync (SQLite `synchronous=FULL`) or one WAL flush (PostgreSQL), so a
processor that commits each action alone can never do more actions per second than the disk does
flushes. Here each action joins a queue; a leader (one of the waiting threads: no thread of its own to
start or stop) takes up to `max_batch` of them, and those that queue while they run (the payers of the
previous batch, answered, come back while this one works), and runs them in one database transaction,
each inside a SAVEPOINT of its own: a refused action (an FpsError) rolls back to its savepoint alone and
answers its own error, the others go on; so does any other error of one action, as long as the database
can roll back to its savepoint. An action that writes nothing before it refuses (the Pay on PostgreSQL,
one function call: `pay_on_server`) runs without one, two round trips fewer; any other error of it rolls
the batch back, answers that action's error and runs the others again. Such actions begin with one
statement (`run_ahead`): those of consecutive ones are sent together (psycopg's pipeline mode: one round
trip for all), and each action then goes on from its row; a batch led by one sends them as they queue, so
that the server works on them while the others arrive (the rows the first ones lock stay locked for that
wait, at most `max_wait_s`). When one of them fails other than by a conflict, which one is not known, so
the batch runs again with each sent alone. The unguarded legs of the batch's
postings (the callers' and fee accounts, see `ledger.post`) move their balances once per batch, after the
last action, so that actions paying one merchant do not queue on its balance row. Then one COMMIT, and
only then is any action of the batch answered. An action meeting a deadlock or a serialization failure in
its savepoint runs again in a later batch; so does the whole batch, refusals too, when the database rolls
the transaction back for one outside the savepoints (the deferred legs, COMMIT): at most MAX_ATTEMPTS
runs per action. A connection kept from the previous batch found lost before the first action finished
(the server restarted or ended it while idle) is replaced and the batch run once more at once. Any other
failure of the transaction (its COMMIT, a lost connection, a statement that leaves it unusable) answers
every action in it with ServiceUnavailable, which FPS clients retry under the same CallerReference: the
action either committed (the retry replays it) or did not (the retry runs it). So does a BaseException
raised in an action, which then goes on up the leader's thread: no action of a batch is left waiting.

A request waits at most `max_wait_s` for others to join its batch (and only when the previous batch
held more than one action: a lone payer never waits), plus the batches ahead of it (at most `max_batch`
actions each). One batch runs at a time per process: on SQLite writers take the database lock in turn
anyway; on PostgreSQL, 8 payers in one process made fewer Pays per second with two batches at once (each
with its own connection) than with one (bench/ledger.py; the Python of the process is one core's work),
and the processes of `fpscore serve` commit their batches in parallel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from fpscore.db import retryable
from fpscore.errors import ConcurrentModification, FpsError, ServiceUnavailable
from fpscore.processor import ledger
from fpscore.processor.driver import PIPELINES, Compiled, execute_driver, pipeline

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BATCH = 64
MAX_WAIT_S = 0.002
MAX_ATTEMPTS = 5  # runs of an action meeting deadlocks or serialization failures (see above)
COMMIT_FAILED_MESSAGE = "The transaction could not be committed; send the request again"
# One action, run inside its savepoint: the batch's connection, and where its deferred legs go (None:
# nowhere, they move at once).
Action = Callable[[Connection, ledger.Later | None], T]
# An action sent ahead (`run_ahead`): its first statement and parameters, given whether its deferred legs
# go to the batch; then the rest of it, given that statement's first row (None: none).
First = Callable[[bool], tuple[Compiled, Mapping[str, Any]]]
Finish = Callable[[Connection, ledger.Later | None, Any], T]
_UNSENT = object()  # the row of an action whose first statement was not sent ahead


class Retry(Exception):
    """Raised by an action whose work must start over in a later batch (nothing of it is kept)."""


class _Fault(Exception):
    """An action without a savepoint failed other than by refusing: what it wrote cannot be told from the
    others' work, so the batch is rolled back; it alone answers its error, the others run again."""

    def __init__(self, work: _Work[object], error: Exception):
        super().__init__(str(error))
        self.work, self.error = work, error


class _Unplaced(Exception):
    """A statement sent ahead failed: which action's it was is not known, so the batch runs again (its
    transaction was rolled back) with each action's statement sent on its own."""


class _StaleConnection(Exception):
    """The connection kept between batches was found lost as a batch began: it runs again on a new one."""


@dataclass(eq=False)
class _Work(Generic[T]):
    action: Callable[..., T]  # an Action, or a Finish when `first` is given
    savepoint: bool  # False: its refusals (FpsError, Retry) have written nothing (see `run`)
    first: First | None = None
    row: Any = _UNSENT
    wake: threading.Event = field(default_factory=threading.Event)
    leading: bool = False
    done: bool = False
    attempts: int = 0
    value: T | None = None
    error: BaseException | None = None


class GroupCommit:
    """Runs actions in shared transactions on `engine` (see the module's docstring)."""

    def __init__(self, engine: Engine, *, max_batch: int = MAX_BATCH, max_wait_s: float = MAX_WAIT_S):
        self.engine = engine
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.commits = 0  # batches committed, and the actions in them: the bench's Pays per commit
        self.committed_actions = 0
        self._lock = threading.Condition()
        self._pending: list[_Work[object]] = []
        self._leader: _Work[object] | None = None  # the action whose thread runs the batches now
        self._running = False
        # Kept from one batch to the next (a checkout, its pre-ping and events cost about a fifth of a
        # lone Pay's CPU); replaced after a failed batch. Only the leader of the moment uses it.
        self._conn: Connection | None = None
        self._last_size = 1
        self._pipelines = engine.dialect.driver in PIPELINES  # statements sent ahead (`run_ahead`)

    def _drop_connection(self) -> None:
        """Give the kept connection back (the pool rolls back what is left of it), for a fresh one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                logger.exception("The connection of a failed batch could not be closed")

    def waiting(self) -> int:
        """How many actions wait for a batch to take them."""
        with self._lock:
            return len(self._pending)

    def committing(self) -> bool:
        """Whether a batch is running now."""
        with self._lock:
            return self._running

    def run(self, action: Action[T], *, savepoint: bool = True) -> T:
        """`action(conn, later)`'s result once its batch has committed, or the error it raised.

        `savepoint=False` runs it without a savepoint of its own (a round trip less on each side of it):
        for an action whose refusals (an FpsError, Retry) are raised before it writes anything. Any other
        error it raises rolls its batch back: it answers that error, the others run again (all of them
        when the database rolled the batch back for a deadlock or a serialization failure)."""
        return self._wait(_Work(action, savepoint))

    def run_ahead(self, first: First, finish: Finish[T]) -> T:
        """As `run(savepoint=False)`, for an action that begins with one statement whose refusals write
        nothing (the Pay on PostgreSQL): `first(deferred)` gives the statement and its parameters
        (`deferred`: the action's deferred legs will go to the batch's `later`), `finish(conn, later,
        row)` the rest, given the statement's first row. The first statements of consecutive such actions
        of a batch are sent together (`driver.pipeline`: one round trip for all on PostgreSQL)."""
        return self._wait(_Work(finish, savepoint=False, first=first))

    def _wait(self, work: _Work[T]) -> T:
        """Queue `work`, run batches while it leads, and answer it once it is done."""
        with self._lock:
            self._pending.append(work)  # type: ignore[arg-type]
            self._lock.notify()
            if self._leader is None:
                self._leader = work  # type: ignore[assignment]
                work.leading = True
        while not work.done:
            if work.leading:
                self._lead(work)
            else:
                work.wake.wait()
                work.wake.clear()
        if work.error is not None:
            raise work.error
        return work.value  # type: ignore[return-value]

    def _lead(self, work: _Work[T]) -> None:
        """Run one batch (it holds `work`, the oldest waiting action), then hand the lead to the oldest
        action still waiting, or give it up."""
        batch: list[_Work[object]] = []
        try:
            with self._lock:
                deadline = time.monotonic() + self.max_wait_s
                wanted = min(self._last_size, self.max_batch)
                # Actions sent ahead start at once: those that queue within the wait are sent as they come.
                oldest = self._pending[0] if self._pending else None
                gather = self._pipelines and wanted > 1 and oldest is not None and oldest.first is not None
                while (
                    not gather and len(self._pending) < wanted and (left := deadline - time.monotonic()) > 0
                ):
                    self._lock.wait(left)
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                self._running = bool(batch)
            if batch:
                self._commit(batch, (wanted, deadline) if gather else None)
                self._last_size = len(batch)  # with the actions that joined it while it ran
        finally:
            with self._lock:
                self._running = False
                work.leading = False
                self._leader = self._pending[0] if self._pending else None
                if self._leader is not None:
                    self._leader.leading = True
                    self._leader.wake.set()

    def _commit(self, batch: list[_Work[object]], gather: tuple[int, float] | None = None) -> None:
        """Run `batch` (gathering, see `_run`) and answer its actions, or put them back in the queue:
        whatever is raised, none of them is left waiting."""
        again: list[_Work[object]] = []
        try:
            again = self._run_or_rerun(batch, gather)
        except _Fault as fault:
            logger.error(
                "An action failed in a batch of %d; the others run again", len(batch), exc_info=fault.error
            )
            fault.work.error, fault.work.done = fault.error, True
            self._answer(batch, [work for work in batch if work is not fault.work], attempted=False)
            return
        except BaseException as exc:
            self._drop_connection()
            if isinstance(exc, DBAPIError) and retryable(exc):
                # Raised outside the actions' savepoints (the deferred legs, COMMIT): the database rolled
                # the whole transaction back, so every action of it runs again, refusals too.
                logger.warning(
                    "A batch of %d actions was rolled back (%s); it runs again", len(batch), exc.orig
                )
                again = batch
            else:
                # Refusals too: they may have read what the batch wrote before them, which is gone.
                logger.exception("A batch of %d actions could not be committed", len(batch))
                for work in batch:
                    work.value, work.error, work.done = None, ServiceUnavailable(COMMIT_FAILED_MESSAGE), True
                if not isinstance(exc, Exception):  # an interrupt, an exit: answer them, then pass it on
                    self._answer(batch, [])
                    raise
        self._answer(batch, again)

    def _run_or_rerun(
        self, batch: list[_Work[object]], gather: tuple[int, float] | None
    ) -> list[_Work[object]]:
        """`_run(batch)`; run again at once on a fresh connection when the kept one was found lost, and with
        each statement sent alone when one sent ahead failed: each at most once."""
        ahead, fresh = True, False
        while True:
            try:
                return self._run(batch, ahead=ahead, gather=gather if ahead else None)
            except _StaleConnection:
                if fresh:
                    raise
                logger.warning("The connection kept from the last batch was lost; running on a fresh one")
                self._drop_connection()
                fresh = True
            except _Unplaced as unplaced:
                logger.warning("A statement sent ahead failed (%s); the batch runs again", unplaced)
                ahead = False

    def _run(
        self, batch: list[_Work[object]], *, ahead: bool = True, gather: tuple[int, float] | None = None
    ) -> list[_Work[object]]:
        """Run `batch` in one transaction and commit it: its refused actions are done with their error,
        its committed ones with their value; the actions to run again in a later batch are returned.
        Raises when the transaction fails, _StaleConnection when the connection kept from the previous
        batch turns out lost before the first action finished (nothing of the batch was kept), _Unplaced
        when a statement sent ahead (`ahead`) failed other than by a lost connection or a retryable
        conflict. `gather`: (wanted, deadline), actions that queue until the batch holds `wanted` or the
        deadline passes join it while the first statements of those present are sent (`_send_ahead`)."""
        # A lone action needs no savepoint (its transaction rolls back instead) and no deferred legs
        # (they would cost a statement more): two or three statements fewer when the load is light.
        alone = len(batch) == 1 and gather is None
        for work in batch:  # as new: what a run that failed left (rows sent ahead, refusals) is gone with it
            work.value, work.error, work.done, work.row = None, None, False, _UNSENT
        kept: list[_Work[object]] = []
        again: list[_Work[object]] = []
        finished = 0
        reused = self._conn is not None
        if self._conn is None:
            self._conn = self.engine.connect()
        conn = self._conn
        try:
            with conn.begin() as transaction:
                later = ledger.Later()
                for index, work in enumerate(batch):
                    staged = None if alone else ledger.Later()
                    savepoint = work.savepoint and not alone
                    if ahead and work.first is not None and work.row is _UNSENT:
                        self._send_ahead(conn, batch, index, deferred=not alone, gather=gather)
                        gather = None
                    if savepoint:
                        execute_driver(conn, "SAVEPOINT fps_action")
                    try:
                        if work.first is None:
                            work.value = work.action(conn, staged)
                        else:
                            row = work.row
                            if row is _UNSENT:
                                statement, params = work.first(not alone)
                                row = statement.first(conn, params)
                            work.value = work.action(conn, staged, row)
                    except Exception as exc:
                        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                            raise  # the transaction went with its connection
                        # Raises when the transaction is unusable: the batch fails.
                        if alone:
                            transaction.rollback()
                        elif savepoint:
                            execute_driver(conn, "ROLLBACK TO SAVEPOINT fps_action")
                        elif isinstance(exc, DBAPIError) and retryable(exc):
                            raise  # the database rolled the whole batch back: it all runs again
                        elif not isinstance(exc, FpsError | Retry):
                            raise _Fault(work, exc) from exc
                        if isinstance(exc, Retry) or (isinstance(exc, DBAPIError) and retryable(exc)):
                            again.append(work)
                        else:  # a refusal (FpsError), or a fault of this action alone
                            work.error, work.done = exc, True
                    else:
                        later.extend(staged or ())
                        kept.append(work)
                    if savepoint:
                        execute_driver(conn, "RELEASE SAVEPOINT fps_action")
                    finished += 1
                    if not alone and work is batch[-1]:  # actions queued meanwhile join (the list grows)
                        batch += self._take(self.max_batch - len(batch))
                if later and transaction.is_active:  # committed as the block ends
                    ledger.apply_later(conn, later)
        except DBAPIError as exc:
            if reused and finished == 0 and exc.connection_invalidated:
                raise _StaleConnection from exc
            raise
        if kept:
            with self._lock:
                self.commits += 1
                self.committed_actions += len(kept)
        for work in kept:
            work.done = True
        return again

    def _send_ahead(
        self,
        conn: Connection,
        batch: list[_Work[object]],
        start: int,
        *,
        deferred: bool,
        gather: tuple[int, float] | None,
    ) -> None:
        """Send the first statements of the actions of `batch` from `start` on that have one, together,
        and note their rows. With `gather` (wanted, deadline), actions that queue until the batch holds
        `wanted` or the deadline passes join it and are sent as they come, so that the server works on
        those sent while the others arrive. Without, one alone is left to run as the action's own (a
        pipeline of one statement costs more CPU than the round trip it saves, the BEGIN's)."""
        if not self._pipelines:
            return
        if gather is None and not (start + 1 < len(batch) and batch[start + 1].first is not None):
            return
        wanted, deadline = gather or (0, 0.0)
        sent: list[tuple[_Work[object], Callable[[], Any]]] = []
        try:
            with pipeline(conn) as send:
                while True:
                    for work in batch[start + len(sent) :]:
                        if work.first is None:  # it runs in its turn, and those after it too
                            wanted = 0
                            break
                        sent.append((work, send(*work.first(deferred))))
                    if not self._join(batch, wanted, deadline):
                        break
        except DBAPIError as exc:
            if exc.connection_invalidated or retryable(exc):
                raise  # as the same error of a statement sent alone
            raise _Unplaced(str(exc.orig)) from exc
        for work, row in sent:
            work.row = row()

    def _join(self, batch: list[_Work[object]], wanted: int, deadline: float) -> bool:
        """While `batch` holds fewer than `wanted` actions, wait until the deadline for actions to queue,
        and move them into it; whether any did."""
        with self._lock:
            while len(batch) < wanted and not self._pending and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            if len(batch) >= wanted or not self._pending:
                return False
            batch += self._take(self.max_batch - len(batch))
            return True

    def _take(self, most: int) -> list[_Work[object]]:
        """Up to `most` of the actions waiting, oldest first, out of the queue."""
        with self._lock:
            taken = self._pending[:most]
            del self._pending[:most]
        return taken

    def _answer(
        self, batch: list[_Work[object]], again: list[_Work[object]], *, attempted: bool = True
    ) -> None:
        """Put `again` back at the head of the queue, or answer ConcurrentModification to those that ran
        MAX_ATTEMPTS times (this run counts when `attempted`); wake every action of `batch` that is done."""
        for work in again:
            work.value, work.error, work.done = None, None, False
            work.attempts += attempted
            if work.attempts >= MAX_ATTEMPTS:
                work.error = ConcurrentModification("The request kept meeting concurrent updates; retry")
                work.done = True
        with self._lock:
            self._pending[:0] = [work for work in again if not work.done]
        for work in batch:
            if work.done:
                work.wake.set()
