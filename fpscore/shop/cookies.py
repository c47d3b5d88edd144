"""The storefront's signed cookies: the customer's session and the forms' CSRF token.

Both are HMAC-SHA256 under the storefront's key, KEY_FILE in the data folder (`fpscore.cookie_signing`;
deleting it signs every customer out). The session cookie names the customer and when they signed in (in
microseconds since the epoch); it is HttpOnly, SameSite=Lax, Secure over HTTPS, and refused after
SESSION_LIFETIME, and by the shop when issued at or before its customer last signed out. The CSRF cookie
holds a random nonce (HttpOnly, SameSite=Lax, so another site's POST does not carry it); every form
carries the nonce's signature, which another site cannot know. A form that moves money also carries a
submission key (`submission`): random, signed for its action and its customer, so posting it again is
recognised as the same request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fpscore import cookie_signing
from fpscore.db import utcnow

SESSION_COOKIE = "shop_session"
CSRF_COOKIE = "shop_csrf"
KEY_FILE = "shop-session.key"
SESSION_LIFETIME = timedelta(days=7)
MAX_COOKIE_CHARS = 256
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Session:
    """Whom a session cookie names, and when it was issued."""

    customer_id: int
    issued: datetime


def load_key(data_dir: Path) -> bytes:
    """The storefront's key, made on first use."""
    return cookie_signing.load_key(data_dir, KEY_FILE)


class Signer:
    def __init__(self, key: bytes):
        self._key = key

    def signature(self, purpose: str, value: str) -> str:
        return cookie_signing.signature(self._key, purpose, value)

    def _signed(self, purpose: str, value: str, candidate: str) -> bool:
        return cookie_signing.signed(self._key, purpose, value, candidate)

    def session(self, customer_id: int, issued: datetime) -> str:
        """The session cookie's value for `customer_id`, signed in at `issued`."""
        value = f"{customer_id}.{(issued - _EPOCH) // _MICROSECOND}"
        return f"{value}.{self.signature('session', value)}"

    def session_of(self, cookie: str | None) -> Session | None:
        """The session a cookie holds, or None when it is not ours or too old (one issued in whole seconds,
        as before microseconds, reads as issued in 1970: too old)."""
        if not cookie or len(cookie) > MAX_COOKIE_CHARS or not cookie.isascii():
            return None
        value, _, mac = cookie.rpartition(".")
        customer, _, issued = value.partition(".")
        if not (customer.isdigit() and issued.isdigit()) or not self._signed("session", value, mac):
            return None
        session = Session(int(customer), _EPOCH + int(issued) * _MICROSECOND)
        return session if utcnow() - session.issued <= SESSION_LIFETIME else None

    def submission(self, action: str, customer_id: int) -> str:
        """A new one-time key for a form of `action` shown to `customer_id`."""
        key = secrets.token_hex(16)
        return f"{key}.{self.signature('submission', f'{action}.{customer_id}.{key}')}"

    def submitted(self, action: str, customer_id: int, value: str) -> str | None:
        """The random key of a form's submission key when it was made for this action and customer."""
        key, _, mac = value.partition(".")
        if len(key) != 32 or not key.isalnum() or not mac.isascii():
            return None
        return key if self._signed("submission", f"{action}.{customer_id}.{key}", mac) else None

    def csrf_token(self, nonce: str) -> str:
        return self.signature("csrf", nonce)

    def csrf_ok(self, nonce: str | None, token: str) -> bool:
        return (
            bool(nonce) and len(nonce or "") <= MAX_COOKIE_CHARS and self._signed("csrf", nonce or "", token)
        )


def new_nonce() -> str:
    return secrets.token_urlsafe(18)
