"""CallerReference records: the same request again returns the original result; a different request
with the same reference is DuplicateRequest.

A request is "the same" when its action and every business parameter are equal (the reference's rule:
authentication and version parameters do not count). The record is written first in the action's
database transaction: on PostgreSQL a concurrent retry blocks on the unique key until the first commits
(then replays) or rolls back (then runs); on SQLite writers are serialized by BEGIN IMMEDIATE.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from fpscore.db import utcnow
from fpscore.errors import DuplicateRequest, InvalidParams
from fpscore.processor.schema import CallerReferenceRecord

MAX_CALLER_REFERENCE = 128

_records = CallerReferenceRecord.__table__


class ReferenceTaken(Exception):
    """Another transaction committed the same CallerReference first: roll back and replay."""


@dataclass(frozen=True, slots=True)
class Reference:
    caller_id: int
    action: str
    caller_reference: str
    digest: str


def reference(caller_id: int, action: str, caller_reference: str, request: Mapping[str, object]) -> Reference:
    """Check a CallerReference and fingerprint the request it names."""
    if not caller_reference or not caller_reference.strip():
        raise InvalidParams("CallerReference is required")
    if len(caller_reference) > MAX_CALLER_REFERENCE:
        raise InvalidParams(f"CallerReference is longer than {MAX_CALLER_REFERENCE} characters")
    canonical = json.dumps({k: str(v) for k, v in request.items() if v is not None}, sort_keys=True)
    digest = hashlib.sha256(f"{action}\n{canonical}".encode()).hexdigest()
    return Reference(caller_id, action, caller_reference, digest)


def replay(conn: Connection, ref: Reference) -> str | None:
    """The TransactionId recorded for `ref`, None when the reference is new; DuplicateRequest when the
    reference was used for a different request."""
    row = conn.execute(
        select(_records.c.request_digest, _records.c.transaction_id).where(
            _records.c.caller_id == ref.caller_id,
            _records.c.action == ref.action,
            _records.c.caller_reference == ref.caller_reference,
        )
    ).one_or_none()
    if row is None:
        return None
    if row.request_digest != ref.digest:
        raise DuplicateRequest(
            f"A different {ref.action} request with CallerReference {ref.caller_reference!r} already exists"
        )
    return row.transaction_id


def claim(conn: Connection, ref: Reference, transaction_id: str) -> None:
    """Record `ref` for `transaction_id`; ReferenceTaken when a concurrent request committed it first."""
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    stmt = (
        dialect_insert(_records)
        .values(
            caller_id=ref.caller_id,
            action=ref.action,
            caller_reference=ref.caller_reference,
            request_digest=ref.digest,
            transaction_id=transaction_id,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
        .returning(_records.c.caller_reference)
    )
    if conn.execute(stmt).first() is None:
        raise ReferenceTaken
