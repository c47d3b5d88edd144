"""The Audit page's staff events: what staff and jobs did or were refused, filtered and paged newest
first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, select

from fpscore.db import read_only
from fpscore.merchant.queries.paging import MAX_EXPORT_ROWS, Page, bounds, capped_count
from fpscore.merchant.schema import AuditEvent

_events = AuditEvent.__table__


@dataclass(frozen=True, slots=True)
class AuditEventFilter:
    actor: str = ""
    action: str = ""
    outcome: str | None = None  # Done, Refused, Failed
    subject: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEventRow:
    event_id: int
    created_at: datetime
    actor: str
    action: str
    outcome: str
    subject: str | None
    detail: str | None


def _event_conditions(f: AuditEventFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.actor.strip():
        conditions.append(_events.c.actor == f.actor.strip().lower()[:64])
    if f.action.strip():
        conditions.append(_events.c.action == f.action.strip()[:48])
    if f.outcome:
        conditions.append(_events.c.outcome == f.outcome)
    if f.subject.strip():
        conditions.append(_events.c.subject == f.subject.strip()[:128])
    if f.since is not None:
        conditions.append(_events.c.created_at >= f.since)
    if f.until is not None:
        conditions.append(_events.c.created_at < f.until)
    return conditions


def _event_row(r: Any) -> AuditEventRow:
    return AuditEventRow(r.id, r.created_at, r.actor, r.action, r.outcome, r.subject, r.detail)


def audit_events(
    engine: Engine, f: AuditEventFilter, page: int = 1, page_size: int = 50
) -> Page[AuditEventRow]:
    """What staff (and jobs) did or were refused, newest first."""
    page, page_size, offset = bounds(page, page_size)
    conditions = _event_conditions(f)
    newest_first = (_events.c.created_at.desc(), _events.c.id.desc())
    with read_only(engine) as conn:
        rows = conn.execute(
            select(_events).where(*conditions).order_by(*newest_first).limit(page_size).offset(offset)
        ).all()
        total, capped = capped_count(conn, select(_events.c.id).where(*conditions))
    return Page(tuple(_event_row(r) for r in rows), total, capped, page, page_size)


def audit_events_export(
    engine: Engine, f: AuditEventFilter, limit: int = MAX_EXPORT_ROWS
) -> list[AuditEventRow]:
    """The events the filter matches, newest first, at most `limit` (at most MAX_EXPORT_ROWS)."""
    newest_first = (_events.c.created_at.desc(), _events.c.id.desc())
    with read_only(engine) as conn:
        rows = conn.execute(
            select(_events)
            .where(*_event_conditions(f))
            .order_by(*newest_first)
            .limit(max(1, min(limit, MAX_EXPORT_ROWS)))
        ).all()
    return [_event_row(r) for r in rows]
