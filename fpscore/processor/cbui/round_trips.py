"""Co-Branded UI round trips, each named by its caller and callerReferenceSender: when its start URL was
first opened, and its one end, the buyer's first Confirm or Cancel. Kept indefinitely, like CallerReferences,
so that no start URL, form or replay can end a round trip twice.

An ending records who ended it (the buyer, and the browser by a digest of its session nonce) and the return
it was answered with, so that the very same step repeated (the buyer's redirect was lost, or they clicked
twice) gets that return again, while any other step is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256

from sqlalchemy import ColumnElement, Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from fpscore.db import read_only
from fpscore.processor.schema import CbuiRoundTrip

_trips = CbuiRoundTrip.__table__


class RoundTripEnded(Exception):
    """The round trip had already ended: what was being done to end it again must be undone."""


@dataclass(frozen=True, slots=True)
class RoundTrip:
    opened_at: datetime
    outcome: str | None  # None while under way; Confirmed or Cancelled once it has ended


@dataclass(frozen=True, slots=True)
class Ending:
    """A step that ends a round trip: the buyer's decision, who took it where, and the return it gets."""

    outcome: str  # Confirmed or Cancelled
    buyer_id: int | None  # None for a Cancel before signing in
    browser: str  # `browser_digest` of the session nonce of the browser that took the step
    result: dict[str, str]  # the return's status and ids, or its errorMessage


def browser_digest(nonce: str) -> str:
    """What is kept of a browser's session nonce: enough to recognise it, useless to impersonate it."""
    return sha256(nonce.encode()).hexdigest()


def _named(caller_id: int, reference: str) -> tuple[ColumnElement[bool], ...]:
    return (_trips.c.caller_id == caller_id, _trips.c.caller_reference_sender == reference)


def _read(engine: Engine, caller_id: int, reference: str) -> RoundTrip | None:
    with read_only(engine) as conn:
        row = conn.execute(
            select(_trips.c.opened_at, _trips.c.outcome).where(*_named(caller_id, reference))
        ).one_or_none()
    return None if row is None else RoundTrip(row.opened_at, row.outcome)


def round_trip(engine: Engine, caller_id: int, reference: str, now: datetime) -> RoundTrip:
    """The round trip `reference` of `caller_id`, recorded as opened `now` when it is new."""
    trip = _read(engine, caller_id, reference)
    if trip is not None:
        return trip
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(_trips).values(caller_id=caller_id, caller_reference_sender=reference, opened_at=now)
            )
        return RoundTrip(now, None)
    except IntegrityError:  # opened at the same moment by another request
        trip = _read(engine, caller_id, reference)
        if trip is None:
            raise
        return trip


def end(conn: Connection, caller_id: int, reference: str, ending: Ending, now: datetime) -> bool:
    """End the round trip with `ending` in `conn`'s transaction, which holds the round trip until it ends:
    a step racing it waits, then finds it ended. False when it had already ended (nothing changes)."""
    ended = conn.execute(
        update(_trips)
        .where(*_named(caller_id, reference), _trips.c.ended_at.is_(None))
        .values(
            ended_at=now, outcome=ending.outcome, buyer_id=ending.buyer_id, browser=ending.browser,
            result=json.dumps(ending.result, sort_keys=True),
        )
    )  # fmt: skip
    return ended.rowcount == 1


def answered(engine: Engine, caller_id: int, reference: str, ending: Ending) -> dict[str, str] | None:
    """The return the round trip's end was answered with, when `ending` repeats that end (the same
    decision, buyer and browser); None for any other step."""
    with read_only(engine) as conn:
        row = conn.execute(
            select(_trips.c.outcome, _trips.c.buyer_id, _trips.c.browser, _trips.c.result).where(
                *_named(caller_id, reference), _trips.c.ended_at.is_not(None)
            )
        ).one_or_none()
    if row is None or row.result is None:
        return None
    if (row.outcome, row.buyer_id, row.browser) != (ending.outcome, ending.buyer_id, ending.browser):
        return None
    result: dict[str, str] = json.loads(row.result)
    return result
