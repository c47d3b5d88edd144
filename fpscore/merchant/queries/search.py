"""The sidebar's one search box, and the read-only record of one money movement it opens.

`find` takes what a customer or a colleague quotes: an email or a name (by its start, any case), an
instrument id (whole, or the start the tables show), a RequestId (with or without its `:0`-style suffix, or
by its start), a CallerReference or a TransactionId (whole). Every lookup is an indexed equality or prefix
range, at most MAX_HITS + 1 rows each; the text reaches SQL only as bound parameters. Prefixes are
ranges of the columns' indexes, which order by code point on both backends (`schema._code_point_ordered`:
COLLATE "C" on PostgreSQL, migration 0008), so `%` and `_` are characters like any other.

What a role may open is decided here: FPS calls (RequestIds) only for roles that read the audit trail;
every other role finds the movement a call carried instead.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, or_, select

from fpscore.db import read_only
from fpscore.merchant import movements
from fpscore.merchant.movements import PAY
from fpscore.merchant.queries.audit_trail import TimelineStep, timeline
from fpscore.merchant.roles import Actor, Forbidden, Permission
from fpscore.merchant.schema import ApiCall, Customer, MerchantInstrument, Order
from fpscore.merchant.tokens import mask
from fpscore.money import Amount

MAX_HITS = 20
MAX_TEXT = 254  # the longest email
MIN_ID_PREFIX = 6  # an instrument id's start (the tables show 10 characters)
MIN_REQUEST_PREFIX = 8  # a RequestId's start (its first group)

_customers = Customer.__table__
_instruments = MerchantInstrument.__table__
_orders = Order.__table__
_api_calls = ApiCall.__table__
_SUFFIX = re.compile(r":\d{1,4}$")  # the processor's RequestIds end in `:0` when the call succeeded


class HitKind(StrEnum):
    INSTRUMENT = "Instrument"
    MOVEMENT = "Movement"
    CALL = "FPS call"


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One thing the text names: an instrument (through its customer or id), a money movement (through
    its CallerReference or TransactionId), or an FPS call (through its RequestId)."""

    kind: HitKind
    matched: str  # what matched: email, name, instrument id, RequestId, CallerReference, TransactionId
    instrument_id: str | None
    customer_email: str | None
    customer_name: str | None
    movement: str | None = None  # Purchase, Funding, Refund, Settlement, WriteOff
    amount: Amount | None = None
    status: str | None = None
    caller_reference: str | None = None
    transaction_id: str | None = None
    request_id: str | None = None
    action: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    text: str  # the text searched for, cleaned
    hits: tuple[SearchHit, ...]
    more: bool  # more than MAX_HITS matched: only the first MAX_HITS are here


@dataclass(frozen=True, slots=True)
class MovementRecord:
    """One money movement as support reads it: what, how much, its state, whose, and its timeline."""

    kind: str
    row_id: int
    amount: Amount
    status: str
    error_code: str | None
    detail: str | None  # product, or the reason
    caller_reference: str
    transaction_id: str | None
    requested_by: str
    created_at: datetime
    completed_at: datetime | None
    instrument_id: str
    instrument_kind: str
    instrument_status: str
    sender_token: str  # masked (tokens.mask): the whole id never leaves fpscore
    customer_email: str
    customer_name: str
    order_id: int | None
    timeline: tuple[TimelineStep, ...]  # of the purchase, for a purchase or a refund


def clean(text: str) -> str:
    """The text as searched: trimmed, without the ellipsis a shortened id is shown with, at most MAX_TEXT
    characters."""
    text = text.strip()[:MAX_TEXT]
    for ellipsis in ("…", "..."):
        text = text.removesuffix(ellipsis)
    return text.strip()


def _after(prefix: str) -> str:
    """The least string greater than every string that starts with `prefix` (code-point order)."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if last == 0xD800:  # surrogates are not characters
            last = 0xE000
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return "\U0010ffff"


def _starts_with(expression: Any, prefix: str) -> ColumnElement[bool]:
    """`expression` starts with `prefix`: an index range, for text ordered by code point."""
    return and_(expression >= prefix, expression < _after(prefix))


def request_id_matches(text: str) -> ColumnElement[bool]:
    """RequestIds that start with `text` once its `:0`-style suffix is taken off (so the whole id, the id
    without its suffix, and the start the tables show all match)."""
    return _starts_with(_api_calls.c.request_id, _SUFFIX.sub("", text.strip().lower()))


_INSTRUMENT_COLUMNS = (_instruments.c.id, _customers.c.email, _customers.c.name)


def _instrument_hits(conn: Connection, matched: str, condition: ColumnElement[bool], order: Any) -> list[Any]:
    rows = conn.execute(
        select(*_INSTRUMENT_COLUMNS)
        .select_from(_instruments.join(_customers, _customers.c.id == _instruments.c.customer_id))
        .where(condition)
        .order_by(order, _instruments.c.id)
        .limit(MAX_HITS + 1)
    ).all()
    return [SearchHit(HitKind.INSTRUMENT, matched, r.id, r.email, r.name) for r in rows]


def _movement_hits(
    conn: Connection, references: Collection[str], transaction_ids: Collection[str]
) -> list[SearchHit]:
    """The movements with one of these CallerReferences or TransactionIds: one query per movement table."""
    hits = []
    for kind in movements.KINDS:
        table = kind.table
        rows = conn.execute(
            select(table, _customers.c.email, _customers.c.name)
            .select_from(
                table.join(_instruments, _instruments.c.id == table.c.instrument_id).join(
                    _customers, _customers.c.id == _instruments.c.customer_id
                )
            )
            .where(or_(table.c.caller_reference.in_(references), table.c.transaction_id.in_(transaction_ids)))
            .limit(MAX_HITS + 1)
        ).all()
        hits += [
            SearchHit(
                HitKind.MOVEMENT,
                "CallerReference" if r.caller_reference in references else "TransactionId",
                r.instrument_id,
                r.email,
                r.name,
                kind.name,
                Amount(r.amount_cents, r.currency),
                r.status,
                r.caller_reference,
                r.transaction_id,
                created_at=r.created_at,
            )
            for r in rows
        ]
    return hits


def _call_hits(conn: Connection, condition: ColumnElement[bool], matched: str) -> list[SearchHit]:
    """FPS calls, one hit per request (its attempts share a CallerReference), newest first."""
    rows = conn.execute(
        select(
            _api_calls.c.request_id,
            _api_calls.c.action,
            _api_calls.c.caller_reference,
            _api_calls.c.transaction_id,
            _api_calls.c.instrument_id,
            _api_calls.c.fps_status,
            _api_calls.c.error_code,
            _api_calls.c.created_at,
        )
        .where(condition)
        .order_by(_api_calls.c.request_id)
        .limit(MAX_HITS + 1)
    ).all()
    return [
        SearchHit(
            HitKind.CALL,
            matched,
            r.instrument_id,
            None,
            None,
            status=r.error_code or r.fps_status,
            caller_reference=r.caller_reference,
            transaction_id=r.transaction_id,
            request_id=r.request_id,
            action=r.action,
            created_at=r.created_at,
        )
        for r in rows
    ]


def _as_movements(conn: Connection, calls: list[SearchHit]) -> list[SearchHit]:
    """For a role without the audit trail: the movement each call carried, or else its instrument (one
    query per movement table and one for the instruments, however many calls)."""
    carried: dict[str | None, list[SearchHit]] = {}
    references = {call.caller_reference for call in calls if call.caller_reference}
    for hit in _movement_hits(conn, references, ()) if references else ():
        carried.setdefault(hit.caller_reference, []).append(replace(hit, matched="RequestId"))
    orphans = {call.instrument_id for call in calls if call.caller_reference not in carried}
    orphans.discard(None)
    instruments = {
        hit.instrument_id: hit
        for hit in (
            _instrument_hits(conn, "RequestId", _instruments.c.id.in_(orphans), _instruments.c.id)
            if orphans
            else ()
        )
    }
    hits: list[SearchHit] = []
    for call in calls:
        if call.caller_reference in carried:
            hits += carried[call.caller_reference]
        elif call.instrument_id in instruments:
            hits.append(instruments[call.instrument_id])
    return hits


def find(engine: Engine, actor: Actor, text: str) -> SearchResult:
    """Everything `text` names that `actor` may open, exact ids first, at most MAX_HITS."""
    if not actor.may(Permission.READ):
        raise Forbidden(actor, Permission.READ)
    text = clean(text)
    if not text:
        return SearchResult("", (), False)
    folded, upper = text.lower(), text.upper()
    request = _SUFFIX.sub("", folded)  # its length: is it long enough to be a RequestId's start?
    found: list[SearchHit] = []
    with read_only(engine) as conn:
        found += _movement_hits(conn, (text,), (upper,))
        if len(request) >= MIN_REQUEST_PREFIX:
            calls = _call_hits(conn, request_id_matches(request), "RequestId")
            found += calls if actor.may(Permission.READ_AUDIT) else _as_movements(conn, calls)
        if actor.may(Permission.READ_AUDIT) and not found:  # calls that carried no movement
            found += _call_hits(
                conn,
                or_(_api_calls.c.caller_reference == text, _api_calls.c.transaction_id == upper),
                "CallerReference or TransactionId",
            )
        if len(text) >= MIN_ID_PREFIX and upper.isalnum():
            found += _instrument_hits(
                conn, "instrument id", _starts_with(_instruments.c.id, upper), _instruments.c.id
            )
        found += _instrument_hits(conn, "email", _starts_with(_customers.c.email, folded), _customers.c.email)
        name = func.lower(_customers.c.name)
        found += _instrument_hits(conn, "name", _starts_with(name, folded), name)
    unique: dict[tuple[Any, ...], SearchHit] = {}
    for hit in found:
        key = (hit.kind, hit.request_id or hit.caller_reference or hit.instrument_id)
        unique.setdefault(key, hit)
    hits = tuple(unique.values())
    return SearchResult(text, hits[:MAX_HITS], len(hits) > MAX_HITS)


def movement_record(
    engine: Engine, actor: Actor, *, caller_reference: str = "", transaction_id: str = ""
) -> MovementRecord | None:
    """The movement with this CallerReference or TransactionId (first given), as support may read it."""
    if not actor.may(Permission.READ):
        raise Forbidden(actor, Permission.READ)
    caller_reference, transaction_id = caller_reference.strip()[:128], transaction_id.strip()[:35].upper()
    if not (caller_reference or transaction_id):
        return None
    with read_only(engine) as conn:
        for kind in movements.KINDS:
            table = kind.table
            condition = (
                table.c.caller_reference == caller_reference
                if caller_reference
                else table.c.transaction_id == transaction_id
            )
            row = conn.execute(
                select(
                    table,
                    _instruments.c.kind.label("instrument_kind"),
                    _instruments.c.status.label("instrument_status"),
                    _instruments.c.sender_token_id,
                    _customers.c.email,
                    _customers.c.name,
                )
                .select_from(
                    table.join(_instruments, _instruments.c.id == table.c.instrument_id).join(
                        _customers, _customers.c.id == _instruments.c.customer_id
                    )
                )
                .where(condition)
                .limit(1)
            ).one_or_none()
            if row is None:
                continue
            purchase_id = row.id if kind is PAY else getattr(row, "purchase_id", None)
            order_id = row.order_id if kind is PAY else None
            if purchase_id is not None and order_id is None:
                order_id = conn.execute(
                    select(PAY.table.c.order_id).where(PAY.table.c.id == purchase_id)
                ).scalar_one_or_none()
            steps = timeline(conn, purchase_id) if purchase_id is not None else ()
            return MovementRecord(
                kind.name,
                row.id,
                Amount(row.amount_cents, row.currency),
                row.status,
                row.error_code,
                row._mapping[kind.detail] if kind.detail else None,
                row.caller_reference,
                row.transaction_id,
                row.requested_by,
                row.created_at,
                row.completed_at,
                row.instrument_id,
                row.instrument_kind,
                row.instrument_status,
                mask(row.sender_token_id),
                row.email,
                row.name,
                order_id,
                steps,
            )
    return None
