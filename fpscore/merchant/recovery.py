"""Recovery of movements left in flight.

A flow writes its movement row (status Requested) before it calls the processor, and records the answer
after. If the process dies in between, or the processor cannot be reached, the row stays Requested: the
processor may or may not have moved the money. `recover` resends each such movement with its stored
CallerReference and the same parameters (its kind's `request` in `fpscore.merchant.movements` builds it
from the row and its instrument's unchanging token ids), so the processor answers the original
TransactionId if it performed it, or performs it now, exactly once; the answer is recorded as the flow
would have (balances, orders, the fee rollup follow).

Only movements no flow waits on any more are resent (`flows.cut_off`: the flow gave up on the answer,
or more time passed than the client's attempts can take), so recovery never races a live flow that is
about to record its own answer; `everything=True` takes every Requested movement, for when no other
merchant process can be running (after a crash, before anything else starts). A flow that finds an
earlier movement of its kind cut off on its instrument resends it itself before anything new is sent.

Movements the processor answered Pending are finished by its IPN; `follow_up_pending` asks
GetTransactionStatus for them instead, for when notifications cannot reach the merchant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select, text

from fpscore.db import read_only
from fpscore.errors import DuplicateRequest, FpsError
from fpscore.merchant import flows
from fpscore.merchant.connect import Merchant
from fpscore.merchant.movements import KINDS
from fpscore.merchant.roles import Actor, Permission
from fpscore.merchant.schema import IN_FLIGHT_WHERE

BATCH = 500


@dataclass(frozen=True, slots=True)
class InFlight:
    """How many movements of one FPS operation wait: Requested (no answer recorded; `cut_off` of them no
    flow waits on any more, which `recover` resends) or Pending (the processor answered Pending; its IPN
    or GetTransactionStatus will finish it)."""

    operation: str
    requested: int
    cut_off: int
    pending: int


def in_flight(merchant: Merchant) -> list[InFlight]:
    """Movements left in flight, per operation (those with none are left out)."""
    counts = []
    with read_only(merchant.engine) as conn:
        for kind in KINDS:
            table = kind.table
            by_status = {
                status: (count, stale)
                for status, count, stale in conn.execute(
                    select(table.c.status, func.count(), func.count().filter(flows.cut_off(merchant, table)))
                    .where(text(IN_FLIGHT_WHERE))
                    .group_by(table.c.status)
                )
            }
            if by_status:
                requested, stale = by_status.get("Requested", (0, 0))
                counts.append(InFlight(kind.operation, requested, stale, by_status.get("Pending", (0, 0))[0]))
    return counts


@dataclass
class Recovered:
    """What a recovery did: answers recorded per status, and what is still in flight (no answer again)."""

    recorded: dict[str, int] = field(default_factory=dict)  # Success / Pending / Failure -> count
    unanswered: list[str] = field(default_factory=list)  # CallerReferences still without an answer
    # CallerReferences the processor holds for a different request (DuplicateRequest): `reconcile` shows
    # what it holds, and a person decides
    mismatched: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.recorded.values())

    @property
    def answers(self) -> str:
        """The answers recorded, e.g. "2 Failure, 5 Success" ("none")."""
        return ", ".join(f"{count} {status}" for status, count in sorted(self.recorded.items())) or "none"


def recover(
    merchant: Merchant,
    actor: Actor,
    *,
    everything: bool = False,
    progress: Callable[[str, str], None] | None = None,
) -> Recovered:
    """Resend every movement cut off in flight (`everything`: every Requested one), oldest first;
    `progress(reference, outcome)` after each."""
    flows.require(merchant, actor, Permission.RECOVER, "movements in flight")
    report = Recovered()
    for table in (kind.table for kind in KINDS):
        waiting = text(IN_FLIGHT_WHERE) if everything else flows.cut_off(merchant, table)
        for row in _in_order(merchant, table, waiting, table.c.status == "Requested"):
            outcome = _resend(merchant, actor, table, row, report)
            if progress is not None:
                progress(row.caller_reference, outcome)
    return report


def _in_order(merchant: Merchant, table: Table, *conditions: ColumnElement[bool]) -> Iterator[Any]:
    """The rows of `table` meeting `conditions`, oldest first, read BATCH at a time (each batch in a
    short read transaction, so that what is done with a row is not held up by the read)."""
    after = 0
    while True:
        with read_only(merchant.engine) as conn:
            rows = conn.execute(
                select(table).where(*conditions, table.c.id > after).order_by(table.c.id).limit(BATCH)
            ).all()
        if not rows:
            return
        after = rows[-1].id
        yield from rows


def _resend(merchant: Merchant, actor: Actor, table: Table, row: Any, report: Recovered) -> str:
    try:
        status = flows.resend(
            merchant, actor, table, row, flows.instrument(merchant, row.instrument_id)
        ).status
    except FpsError as error:
        if isinstance(error, DuplicateRequest):
            report.mismatched.append(row.caller_reference)
            return "differs from the processor's request under its CallerReference"
        if flows.unanswered(error, resending=True):
            report.unanswered.append(row.caller_reference)
            return f"still in flight: {error.code}"
        status = "Failure"
    report.recorded[status] = report.recorded.get(status, 0) + 1
    return status


def follow_up_pending(merchant: Merchant, actor: Actor) -> int:
    """Ask GetTransactionStatus for every Pending movement; the number whose status changed."""
    flows.require(merchant, actor, Permission.RECOVER, "pending movements")
    changed = 0
    for table in (kind.table for kind in KINDS):
        pending = (text(IN_FLIGHT_WHERE), table.c.status == "Pending", table.c.transaction_id.is_not(None))
        for row in _in_order(merchant, table, *pending):
            status = merchant.client.get_transaction_status(row.transaction_id, actor=actor.name).status
            if status != "Pending":
                with merchant.engine.begin() as conn:
                    flows.record_status(conn, table, row.id, status, merchant.clock())
                changed += 1
    return changed
