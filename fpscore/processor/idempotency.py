"""CallerReference records: the same request again returns the original result; a different request
with the same reference is DuplicateRequest.

A request is "the same" when its action and every business parameter are equal (the reference's rule:
authentication and version parameters do not count). The record is claimed first in the action's
database transaction (`INSERT ... ON CONFLICT DO NOTHING`): on PostgreSQL a concurrent retry waits on
the unique key until the first commits (then it replays) or rolls back (then it runs); on SQLite writers
are serialized by BEGIN IMMEDIATE. Statements are built once: they run on every payment (the claim on the
driver's cursor, `driver.Compiled`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from fpscore.errors import DuplicateRequest, InvalidParams
from fpscore.processor.driver import Compiled
from fpscore.processor.schema import CallerReferenceRecord
from fpscore.wire.catalogue import CALLER_REFERENCE_LENGTH, check_length

_records = CallerReferenceRecord.__table__
# The fingerprint's JSON, as json.dumps(..., sort_keys=True) writes it (recorded digests depend on it), with
# one encoder for every request rather than one made per call.
_CANONICAL = json.JSONEncoder(sort_keys=True)


class ReferenceTaken(Exception):
    """The CallerReference's record vanished between claim and replay: run the whole action again."""


_KEY = (
    (_records.c.caller_id == bindparam("caller_id"))
    & (_records.c.action == bindparam("action"))
    & (_records.c.caller_reference == bindparam("caller_reference"))
)
_REPLAY = select(_records.c.request_digest, _records.c.transaction_id).where(_KEY)
_CLAIM = {
    name: Compiled(
        dialect.insert(_records)
        .values(
            caller_id=bindparam("caller_id"),
            action=bindparam("action"),
            caller_reference=bindparam("caller_reference"),
            request_digest=bindparam("digest"),
            transaction_id=bindparam("transaction_id"),
            created_at=bindparam("now"),
        )
        .on_conflict_do_nothing()
        .returning(_records.c.caller_reference)
    )
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


@dataclass(frozen=True, slots=True)
class Reference:
    caller_id: int
    action: str
    caller_reference: str
    digest: str


def check_reference(name: str, value: str) -> None:
    """InvalidParams unless `value` is a usable caller reference: not blank, within the wire limit."""
    if not value or not value.strip():
        raise InvalidParams(f"{name} is required")
    check_length(name, value, CALLER_REFERENCE_LENGTH)


def reference(caller_id: int, action: str, caller_reference: str, request: Mapping[str, object]) -> Reference:
    """Check a CallerReference and fingerprint the request it names."""
    check_reference("CallerReference", caller_reference)
    canonical = _CANONICAL.encode({k: str(v) for k, v in request.items() if v is not None})
    digest = hashlib.sha256(f"{action}\n{canonical}".encode()).hexdigest()
    return Reference(caller_id, action, caller_reference, digest)


def replay(conn: Connection, ref: Reference) -> str:
    """The TransactionId recorded for `ref`; DuplicateRequest when it names a different request."""
    row = conn.execute(_REPLAY, _key(ref)).one_or_none()
    if row is None:
        raise ReferenceTaken
    if row.request_digest != ref.digest:
        raise duplicate(ref)
    return row.transaction_id


def duplicate(ref: Reference) -> DuplicateRequest:
    """The error for a request whose CallerReference is recorded for a different request."""
    return DuplicateRequest(
        f"A different {ref.action} request with CallerReference {ref.caller_reference!r} already exists"
    )


def _key(ref: Reference) -> dict[str, object]:
    return {"caller_id": ref.caller_id, "action": ref.action, "caller_reference": ref.caller_reference}


def claim(conn: Connection, ref: Reference, transaction_id: str, now: datetime) -> bool:
    """Record `ref` for `transaction_id`; False when the reference is already recorded (a replay)."""
    params = {**_key(ref), "digest": ref.digest, "transaction_id": transaction_id, "now": now}
    return _CLAIM[conn.dialect.name].first(conn, params) is not None
