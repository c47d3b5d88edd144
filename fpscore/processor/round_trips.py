"""Co-Branded UI round trips, each named by its caller and callerReferenceSender: when its start URL was
first opened, and its one end, the buyer's first Confirm or Cancel. Kept indefinitely, like CallerReferences,
so that no start URL, form or replay can end a round trip twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from fpscore.db import read_only
from fpscore.processor.schema import CbuiRoundTrip

_trips = CbuiRoundTrip.__table__


@dataclass(frozen=True, slots=True)
class RoundTrip:
    opened_at: datetime
    outcome: str | None  # None while under way; Confirmed or Cancelled once it has ended


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


def end(
    engine: Engine, caller_id: int, reference: str, outcome: str, now: datetime, buyer_id: int | None = None
) -> bool:
    """End the round trip with `outcome`; False when it had already ended (then nothing changes)."""
    round_trip(engine, caller_id, reference, now)  # a pipeline under way before round trips were recorded
    with engine.begin() as conn:
        ended = conn.execute(
            update(_trips)
            .where(*_named(caller_id, reference), _trips.c.ended_at.is_(None))
            .values(ended_at=now, outcome=outcome, buyer_id=buyer_id)
        )
        return ended.rowcount == 1
