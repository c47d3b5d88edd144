"""Staff accounts: creation, password hashing with scrypt (a standard slow KDF, at OWASP's cost; a hash
made at a lower cost is made again when its owner signs in), and throttled sign-in.

Sign-in is throttled by fpscore.merchant.throttle (kind 'staff'): failures counted per user name from one
client address, per user name, per address and overall, a slot taken before the password is checked.
Unknown user, wrong password, locked and disabled account get the same answer, after the same scrypt work
(`verify`: against a dummy hash when there is no usable account); the audit trail records the real reason
and the address. The storefront's customers use the same hashing and `verify`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select, update

from fpscore.db import read_only, utcnow
from fpscore.merchant import throttle
from fpscore.merchant.audit import AuditLog
from fpscore.merchant.roles import ROLES, Actor, Permission, require
from fpscore.merchant.schema import SignInFailures, Staff
from fpscore.merchant.throttle import LOCAL_CLIENT, MAX_CLIENT_CHARS, SignInLimits

_staff = Staff.__table__
_failures = SignInFailures.__table__
# OWASP's cost for scrypt (N=2**17, r=8, p=1): 128 MiB and about half a second a hash. A stored hash made
# at a lower cost is made again at this one when its owner next signs in.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
SCRYPT_MAXMEM = 256 * 1024**2  # what one check may take; a stored hash that asks for more never matches
# Password checks and hashes run at once in one process (staff's and customers'): each takes 128 MiB, so a
# burst of sign-ins queues here instead of exhausting the host's memory.
_CHECKS = threading.BoundedSemaphore(4)
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
LIMITS = throttle.KINDS["staff"]
REFUSED = (
    "Wrong user name or password, or too many failed attempts "
    f"(then try again in {throttle.minutes(LIMITS)}, or ask an admin)."
)


class SignInRefused(Exception):
    """Sign-in refused, always with the message REFUSED; `reason` (for the audit trail only) says why."""

    def __init__(self, reason: str):
        super().__init__(REFUSED)
        self.reason = reason


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


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=SCRYPT_MAXMEM)


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$digest` (base64) at the current cost, waiting for a free check slot (_CHECKS)."""
    with _CHECKS:
        return _hash(password)


def _hash(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)
    encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded[0]}${encoded[1]}"


def _parsed(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """(N, r, p, salt, digest) of a stored hash; ValueError when it is no scrypt hash."""
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt":
        raise ValueError("not an scrypt hash")
    return int(n), int(r), int(p), base64.b64decode(salt), base64.b64decode(digest)


def check_password(password: str, stored: str) -> bool:
    try:
        n, r, p, salt, expected = _parsed(stored)
        actual = _scrypt(password, salt, n, r, p, len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def weaker_than_current(stored: str) -> bool:
    """Whether `stored` was made at a lower cost than hash_password's (then it is made again at sign-in)."""
    n, r, *_ = _parsed(stored)
    return n < SCRYPT_N or r < SCRYPT_R


@functools.cache
def _dummy_hash(n: int) -> str:
    """A hash of nothing anyone knows, at the current cost `n` (one per cost): checked when there is no
    usable account, so that a refusal costs what a wrong password costs."""
    return _hash(secrets.token_urlsafe(16))


def verify(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored` (None: there is no usable account), at one cost either way: a
    missing account checks a dummy hash, and a wrong password on a hash made at a lower cost checks the
    dummy hash too, or the cheaper check would tell it from an unknown account. One of _CHECKS at a time."""
    with _CHECKS:
        right = check_password(password, _dummy_hash(SCRYPT_N) if stored is None else stored)
        if stored is not None and not right and weaker_than_current(stored):
            check_password(password, _dummy_hash(SCRYPT_N))
    return right


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")


def is_username(text: str) -> bool:
    """Whether `text` is a user name as accounts have them (2-64 of a-z, 0-9, '.', '_' and '-')."""
    return _USERNAME.fullmatch(text) is not None


def add_staff(
    engine: Engine, username: str, role: str, password: str, display_name: str | None = None
) -> int:
    """Create a staff account; ValueError for a bad name, role or a short password, or a taken name."""
    username = username.strip().lower()
    if not _USERNAME.fullmatch(username):
        raise ValueError("user names are 2-64 of a-z, 0-9, '.', '_' and '-'")
    _check_role(role)
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
                created_at=utcnow(),
            )
            .returning(_staff.c.id)
        ).scalar_one()


def sign_in(
    engine: Engine, username: str, password: str, client: str = LOCAL_CLIENT, limits: SignInLimits = LIMITS
) -> StaffMember:
    """The staff member for these credentials, tried from `client` (an address), or SignInRefused. Every
    outcome is recorded in the audit trail, with the address."""
    username = username.strip().lower()[:64]
    client = client.strip()[:MAX_CLIENT_CHARS] or LOCAL_CLIENT
    counted = throttle.client_of(client)
    full = throttle.take(engine, "staff", username, counted, limits)
    with read_only(engine) as conn:
        row = conn.execute(select(_staff).where(_staff.c.username == username)).one_or_none()
    usable = row if full is None and row is not None and row.disabled_at is None else None
    right = verify(password, None if usable is None else usable.password_hash)
    audit = AuditLog(engine)
    if usable is not None and right:
        throttle.give_back(engine, "staff", username, counted)
        if weaker_than_current(usable.password_hash):
            _rehash(engine, usable, password)
        audit.record_event(username, "sign_in", "Done", None, f"from {client}")
        return _member(usable)
    if full is not None:
        reason = f"too many failed sign-ins ({full.replace('_', ' and ')})"
    elif row is None:
        reason = "unknown user"
    elif usable is None:
        reason = "disabled account"
    else:
        reason = "wrong password"
    audit.record_event(username, "sign_in", "Refused", None, f"{reason} from {client}")
    raise SignInRefused(reason)


def _rehash(engine: Engine, row: Row[Any], password: str) -> None:
    """Store `password` (just checked against `row`) hashed at the current cost, unless the account's
    password changed meanwhile. Not a change of credentials: sessions stay."""
    stronger = hash_password(password)
    with engine.begin() as conn:
        conn.execute(
            update(_staff)
            .where(_staff.c.id == row.id, _staff.c.password_hash == row.password_hash)
            .values(password_hash=stronger)
        )


def _lift_lockout(conn: Connection, username: str) -> None:
    """Forget the failures counted against `username` (from every address)."""
    throttle.forget_account(conn, "staff", username)


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
    failed_attempts: int  # counted against the account from every address, not yet forgotten
    locked_until: datetime | None  # when the account's failures reach the per-account ceiling
    disabled_at: datetime | None
    created_at: datetime

    @property
    def status(self) -> str:
        if self.disabled_at is not None:
            return "Disabled"
        if self.locked_until is not None and self.locked_until > utcnow():
            return "Locked"
        return "Active"


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
    """Every staff account by user name (at most MAX_STAFF_LISTED), with the failed sign-ins counted against
    it from every address; it is locked for everyone once they reach the per-account ceiling."""
    require(AuditLog(engine), actor, Permission.MANAGE_STAFF, subject=None, action="list_staff")
    now = utcnow()
    counted = throttle.account_failures("staff", _staff.c.username, now)
    with read_only(engine) as conn:
        rows = conn.execute(
            select(_staff, _failures.c.failures, _failures.c.expires_at)
            .outerjoin(_failures, counted)
            .order_by(_staff.c.username)
            .limit(max(1, min(limit, MAX_STAFF_LISTED)))
        ).all()
    return [
        StaffAccount(
            r.id,
            r.username,
            r.display_name,
            r.role,
            r.failures or 0,
            r.expires_at if (r.failures or 0) >= LIMITS.per_account else None,
            r.disabled_at,
            r.created_at,
        )  # fmt: skip
        for r in rows
    ]


def create_staff(
    engine: Engine, actor: Actor, username: str, role: str, password: str, display_name: str | None = None
) -> int:
    """`add_staff` for an admin: checked and recorded."""
    require(AuditLog(engine), actor, Permission.MANAGE_STAFF, subject=username[:64], action="add_staff")
    staff_id = add_staff(engine, username, role, password, display_name)
    AuditLog(engine).record_event(
        actor.name, "add_staff", "Done", username.strip().lower()[:64], f"role {role}"
    )
    return staff_id


def change_role(engine: Engine, actor: Actor, username: str, role: str) -> None:
    """Give `username` another role; the last active admin keeps theirs."""
    require(AuditLog(engine), actor, Permission.MANAGE_STAFF, subject=username[:64], action="change_role")
    _check_role(role)
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
    require(AuditLog(engine), actor, Permission.MANAGE_STAFF, subject=username[:64], action=action)
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
            update(_staff).where(_staff.c.id == row.id).values(disabled_at=utcnow() if disabled else None)
        )
        _lift_lockout(conn, row.username)
    AuditLog(engine).record_event(actor.name, action, "Done", row.username, None)


def reset_password(engine: Engine, actor: Actor, username: str, new_password: str | None = None) -> str:
    """Set a new password (a random temporary one when None) and lift any lockout; returns the password,
    to be handed over once. Sessions signed in with the old password end (`credentials_changed_at`). The
    audit event records that it happened, never the password."""
    require(AuditLog(engine), actor, Permission.MANAGE_STAFF, subject=username[:64], action="reset_password")
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
                credentials_changed_at=utcnow(),
            )
        )
        _lift_lockout(conn, row.username)
    AuditLog(engine).record_event(actor.name, "reset_password", "Done", row.username, None)
    return password
