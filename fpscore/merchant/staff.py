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
from datetime import timedelta

from sqlalchemy import Engine, insert, select, update

from fpscore.db import read_only, utcnow
from fpscore.merchant.roles import ROLE_PERMISSIONS, Actor
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
    return StaffMember(row.id, row.username, row.display_name, row.role)
