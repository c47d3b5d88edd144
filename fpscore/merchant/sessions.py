"""Back-office sessions kept on the server: one per signed-in browser (all its tabs share it), named by a
random session id that only the browser holds; the database keeps its SHA-256, so a copy of the table
signs nobody in.

A session is resumed on every page view (a read; it writes only to note the view, once a minute at most),
and ends (for every tab at once) at sign-out, after the idle time without a page view, at its maximum age
(however much it is used), when its account is disabled, or when its password is reset (the account's
`credentials_changed_at` differs from the one it signed in under). An ended session keeps its row and the
reason, so each tab can say why it was signed out; rows unused for FORGET_AFTER are deleted.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, insert, select, update

from fpscore.db import read_only, utcnow
from fpscore.merchant.audit import AuditLog
from fpscore.merchant.schema import Staff, StaffSession
from fpscore.merchant.staff import LOCAL_CLIENT, MAX_CLIENT_CHARS, StaffMember, sign_in

_sessions = StaffSession.__table__
_staff = Staff.__table__
SESSION_ID_BYTES = 32
TOUCH_EVERY = timedelta(minutes=1)  # a page view writes last_seen_at at most this often
FORGET_AFTER = timedelta(days=8)  # longer than the longest idle time and maximum age (fpscore.config)


@dataclass(frozen=True, slots=True)
class Ended:
    """A session that does not sign anyone in: `reason` is one of schema.SESSION_END_REASONS, or None for
    an id that names no session (never made here, or forgotten)."""

    reason: str | None


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(engine: Engine, member: StaffMember, client: str = LOCAL_CLIENT) -> str:
    """A new session for `member` (whose password was just checked); its id, for the browser alone."""
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(delete(_sessions).where(_sessions.c.last_seen_at < now - FORGET_AFTER))
        conn.execute(
            insert(_sessions).values(
                id_hash=_hash(session_id),
                staff_id=member.id,
                credentials_changed_at=member.credentials_changed_at,
                client=client[:MAX_CLIENT_CHARS],
                created_at=now,
                last_seen_at=now,
            )
        )
    return session_id


def sign_in_session(
    engine: Engine, username: str, password: str, client: str = LOCAL_CLIENT, replacing: str | None = None
) -> tuple[StaffMember, str]:
    """`staff.sign_in` (throttled and recorded; SignInRefused) and, when it lets them in, a new session:
    the member and the session id. `replacing`: the browser's session until now, ended (a sign-out) once
    the new one has started."""
    member = sign_in(engine, username, password, client)
    session_id = start(engine, member, client)
    if replacing is not None:
        end(engine, replacing)
    return member, session_id


def resume(engine: Engine, session_id: str, idle: timedelta, max_age: timedelta) -> StaffMember | Ended:
    """The staff member of session `session_id` as the database has them now, or Ended. A session found
    idle (unused for `idle`), expired (begun `max_age` ago), disabled or reset is ended here, and that
    recorded as its sign-out. A page view only reads, except to note it (at most once per TOUCH_EVERY) or
    to end the session: it never waits for writers."""
    now = utcnow()
    with read_only(engine) as conn:
        row = conn.execute(
            select(_sessions, _staff.c.username, _staff.c.display_name, _staff.c.role, _staff.c.disabled_at,
                   _staff.c.credentials_changed_at.label("changed_now"))
            .join(_staff, _staff.c.id == _sessions.c.staff_id)
            .where(_sessions.c.id_hash == _hash(session_id))
        ).one_or_none()  # fmt: skip
    if row is None:
        return Ended(None)
    if row.ended_at is not None:
        return Ended(row.end_reason)
    if row.disabled_at is not None:
        reason = "disabled"
    elif row.changed_now != row.credentials_changed_at:
        reason = "password_reset"
    elif now - row.created_at > max_age:
        reason = "expired"
    elif now - row.last_seen_at > idle:
        reason = "idle"
    else:
        if now - row.last_seen_at >= TOUCH_EVERY:
            with engine.begin() as conn:
                conn.execute(
                    update(_sessions)
                    .where(_sessions.c.id_hash == row.id_hash, _sessions.c.last_seen_at < now)
                    .values(last_seen_at=now)
                )
        return StaffMember(row.staff_id, row.username, row.display_name, row.role, row.changed_now)
    end(engine, session_id, reason)
    return Ended(reason)


def end(engine: Engine, session_id: str, reason: str = "sign_out") -> None:
    """End session `session_id` for every tab (once; recorded as the sign-out of its account), `reason`
    one of schema.SESSION_END_REASONS."""
    with engine.begin() as conn:
        ended = conn.execute(
            update(_sessions)
            .where(_sessions.c.id_hash == _hash(session_id), _sessions.c.ended_at.is_(None))
            .values(ended_at=utcnow(), end_reason=reason)
            .returning(_sessions.c.staff_id)
        ).one_or_none()
        username = (
            None
            if ended is None
            else conn.execute(select(_staff.c.username).where(_staff.c.id == ended.staff_id)).scalar_one()
        )
    if username is not None:
        AuditLog(engine).record_event(
            username, "sign_out", "Done", None, None if reason == "sign_out" else reason
        )
