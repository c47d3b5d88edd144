"""The merchant's audit trail: `api_calls` (one row per attempt of every FPS call) and `audit_events`
(what staff did or were refused). Each row is committed on its own, whatever becomes of the flow."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Engine, insert

from fpscore.db import utcnow
from fpscore.merchant.schema import ApiCall, AuditEvent

_api_calls = ApiCall.__table__
_events = AuditEvent.__table__
# Never recorded: who signed and how. The rest of a request is what a troubleshooter needs.
UNRECORDED_PARAMS = frozenset(
    {"AWSAccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "signature"}
)
MAX_BODY_CHARS = 64_000


@dataclass(frozen=True, slots=True)
class Attempt:
    action: str
    caller_reference: str | None
    request_id: str | None
    transaction_id: str | None
    instrument_id: str | None
    attempt: int
    http_status: int | None
    fps_status: str | None
    error_code: str | None
    error_message: str | None
    latency_ms: int
    request_params: Mapping[str, str]
    response_body: str | None
    actor: str
    created_at: datetime


def recordable(params: Mapping[str, str]) -> dict[str, str]:
    """`params` without credentials or signature."""
    return {name: value for name, value in params.items() if name not in UNRECORDED_PARAMS}


class AuditLog:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.clock = clock  # stamps the audit events (an attempt carries its own time)

    def record_attempt(self, attempt: Attempt) -> None:
        row = asdict(attempt)
        row["request_params"] = json.dumps(recordable(attempt.request_params), sort_keys=True)
        if attempt.response_body is not None:
            row["response_body"] = attempt.response_body[:MAX_BODY_CHARS]
        with self.engine.begin() as conn:
            conn.execute(insert(_api_calls).values(**row))

    def record_event(
        self, actor: str, action: str, outcome: str, subject: str | None = None, detail: str | None = None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(_events).values(
                    actor=actor,
                    action=action,
                    outcome=outcome,
                    subject=subject,
                    detail=detail,
                    created_at=self.clock(),
                )
            )
