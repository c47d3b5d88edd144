"""Staff accounts: creation, password hashing with scrypt (a standard slow KDF), and throttled sign-in.

After MAX_FAILED_ATTEMPTS wrong passwords in a row an account is locked for LOCKOUT; a wrong password is
answered as slowly as a right one, and an unknown user as slowly as a known one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select, update

from fpscore.db import read_only, utcnow
from fpscore.merchant.audit import AuditLog
from fpscore.merchant.roles import ROLE_PERMISSIONS, Actor, Forbidden, Permission
from fpscore.merchant.schema import Staff

_staff = Staff.__table__
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_FAILED_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


class SignInRefused(Exception):
    """Wrong user name or password, or a locked or disabled account (the message says which may be told)."""


@dataclass(frozen=True, slots=True)
class StaffMember:
    id: int
    username: str
    display_name: str
    role: str
    credentials_changed_at: datetime | None = None  # a session signed in before this has ended

    @property
    def actor(self) -> Actor:
        return Actor.staff(self.username, self.role)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded[0]}${encoded[1]}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def add_staff(
    engine: Engine, username: str, role: str, password: str, display_name: str | None = None
) -> int:
    """Create a staff account; ValueError for a bad name, role or a short password, or a taken name."""
    username = username.strip().lower()
    if not _USERNAME.fullmatch(username):
        raise ValueError("user names are 2-64 of a-z, 0-9, '.', '_' and '-'")
    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"role must be one of {', '.join(ROLE_PERMISSIONS)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"passwords have at least {MIN_PASSWORD_LENGTH} characters")
    with engine.begin() as conn:
        if conn.execute(select(_staff.c.id).where(_staff.c.username == username)).first():
            raise ValueError(f"user {username!r} exists already")
        return conn.execute(
            insert(_staff)
            .values(
                username=username,
                display_name=display_name or username,
                role=role,
                password_hash=hash_password(password),
                failed_attempts=0,
                created_at=utcnow(),
            )
            .returning(_staff.c.id)
        ).scalar_one()


def sign_in(engine: Engine, username: str, password: str) -> StaffMember:
    """The staff member for these credentials, or SignInRefused (and one more failed attempt counted)."""
    username = username.strip().lower()
    now = utcnow()
    with read_only(engine) as conn:
        row = conn.execute(select(_staff).where(_staff.c.username == username)).one_or_none()
    if row is None:
        check_password(password, _DUMMY_HASH)
        raise SignInRefused("Wrong user name or password.")
    if row.disabled_at is not None:
        raise SignInRefused("This account is disabled.")
    if row.locked_until is not None and row.locked_until > now:
        raise SignInRefused("Too many failed attempts: try again in a few minutes.")
    if not check_password(password, row.password_hash):
        failed = row.failed_attempts + 1
        locked = now + LOCKOUT if failed >= MAX_FAILED_ATTEMPTS else None
        with engine.begin() as conn:
            conn.execute(
                update(_staff)
                .where(_staff.c.id == row.id)
                .values(failed_attempts=_staff.c.failed_attempts + 1, locked_until=locked)
            )
        raise SignInRefused("Wrong user name or password.")
    if row.failed_attempts or row.locked_until:
        with engine.begin() as conn:
            conn.execute(
                update(_staff).where(_staff.c.id == row.id).values(failed_attempts=0, locked_until=None)
            )
    return _member(row)


# -- administration: listing and managing accounts (admins only, checked and recorded here) ---------------

MAX_STAFF_LISTED = 1_000
TEMPORARY_PASSWORD_BYTES = 12


@dataclass(frozen=True, slots=True)
class StaffAccount:
    """A staff account as an admin sees it (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    failed_attempts: int
    locked_until: datetime | None
    disabled_at: datetime | None
    created_at: datetime

    @property
    def status(self) -> str:
        if self.disabled_at is not None:
            return "Disabled"
        if self.locked_until is not None and self.locked_until > utcnow():
            return "Locked"
        return "Active"


def _require_admin(engine: Engine, actor: Actor, action: str, subject: str | None) -> None:
    """Refuse, and record the refusal, unless `actor` may manage staff."""
    if not actor.may(Permission.MANAGE_STAFF):
        error = Forbidden(actor, Permission.MANAGE_STAFF)
        AuditLog(engine).record_event(actor.name, action, "Refused", subject, str(error))
        raise error


def _account(conn: Connection, username: str) -> Row[Any]:
    row = conn.execute(select(_staff).where(_staff.c.username == username.strip().lower()[:64])).one_or_none()
    if row is None:
        raise ValueError(f"no staff account {username[:64]!r}")
    return row


def _active_admins(conn: Connection) -> int:
    return conn.execute(
        select(func.count()).where(_staff.c.role == "admin", _staff.c.disabled_at.is_(None))
    ).scalar_one()


def _member(row: Any) -> StaffMember:
    return StaffMember(row.id, row.username, row.display_name, row.role, row.credentials_changed_at)


def active_staff(engine: Engine, username: str) -> StaffMember | None:
    """The account `username` as it is now, or None when it does not exist or is disabled. The dashboard
    asks on every page view, so a disabled account or a changed role takes effect at once."""
    with read_only(engine) as conn:
        row = conn.execute(
            select(_staff).where(
                _staff.c.username == username.strip().lower()[:64], _staff.c.disabled_at.is_(None)
            )
        ).one_or_none()
    return None if row is None else _member(row)


def list_staff(engine: Engine, actor: Actor, limit: int = MAX_STAFF_LISTED) -> list[StaffAccount]:
    """Every staff account by user name (at most MAX_STAFF_LISTED)."""
    _require_admin(engine, actor, "list_staff", None)
    with read_only(engine) as conn:
        rows = conn.execute(
            select(_staff).order_by(_staff.c.username).limit(max(1, min(limit, MAX_STAFF_LISTED)))
        ).all()
    return [
        StaffAccount(
            r.id,
            r.username,
            r.display_name,
            r.role,
            r.failed_attempts,
            r.locked_until,
            r.disabled_at,
            r.created_at,
        )  # fmt: skip
        for r in rows
    ]


def create_staff(
    engine: Engine, actor: Actor, username: str, role: str, password: str, display_name: str | None = None
) -> int:
    """`add_staff` for an admin: checked and recorded."""
    _require_admin(engine, actor, "add_staff", username[:64])
    staff_id = add_staff(engine, username, role, password, display_name)
    AuditLog(engine).record_event(
        actor.name, "add_staff", "Done", username.strip().lower()[:64], f"role {role}"
    )
    return staff_id


def change_role(engine: Engine, actor: Actor, username: str, role: str) -> None:
    """Give `username` another role; the last active admin keeps theirs."""
    _require_admin(engine, actor, "change_role", username[:64])
    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"role must be one of {', '.join(ROLE_PERMISSIONS)}")
    with engine.begin() as conn:
        row = _account(conn, username)
        if row.role == role:
            return
        if row.role == "admin" and row.disabled_at is None and _active_admins(conn) <= 1:
            raise ValueError("the last active admin keeps the admin role")
        conn.execute(update(_staff).where(_staff.c.id == row.id).values(role=role))
    AuditLog(engine).record_event(actor.name, "change_role", "Done", row.username, f"{row.role} -> {role}")


def set_disabled(engine: Engine, actor: Actor, username: str, disabled: bool) -> None:
    """Disable (no sign-in, open sessions end at their next page view) or enable an account. Admins cannot
    disable themselves, and the last active admin stays enabled."""
    action = "disable_staff" if disabled else "enable_staff"
    _require_admin(engine, actor, action, username[:64])
    with engine.begin() as conn:
        row = _account(conn, username)
        if disabled:
            if row.username == actor.name:
                raise ValueError("you cannot disable your own account")
            if row.role == "admin" and row.disabled_at is None and _active_admins(conn) <= 1:
                raise ValueError("the last active admin cannot be disabled")
        if (row.disabled_at is not None) == disabled:
            return
        conn.execute(
            update(_staff)
            .where(_staff.c.id == row.id)
            .values(disabled_at=utcnow() if disabled else None, failed_attempts=0, locked_until=None)
        )
    AuditLog(engine).record_event(actor.name, action, "Done", row.username, None)


def reset_password(engine: Engine, actor: Actor, username: str, new_password: str | None = None) -> str:
    """Set a new password (a random temporary one when None) and lift any lockout; returns the password,
    to be handed over once. Sessions signed in with the old password end (`credentials_changed_at`). The
    audit event records that it happened, never the password."""
    _require_admin(engine, actor, "reset_password", username[:64])
    password = new_password if new_password is not None else secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"passwords have at least {MIN_PASSWORD_LENGTH} characters")
    with engine.begin() as conn:
        row = _account(conn, username)
        conn.execute(
            update(_staff)
            .where(_staff.c.id == row.id)
            .values(
                password_hash=hash_password(password),
                failed_attempts=0,
                locked_until=None,
                credentials_changed_at=utcnow(),
            )
        )
    AuditLog(engine).record_event(actor.name, "reset_password", "Done", row.username, None)
    return password
