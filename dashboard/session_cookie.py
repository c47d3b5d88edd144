"""The session cookie and the sign-in form's token, signed with a key kept in the data folder.

The cookie (COOKIE) carries a session id (fpscore.merchant.sessions) and its HMAC-SHA256 under the
dashboard's key, so a cookie the dashboard did not make is refused before the database is asked. It is
HttpOnly (no script reads it), SameSite=Lax, Secure over HTTPS, and lasts until the browser closes; the
server ends the session itself. Lax rather than Strict: the page a link opens is the same for everyone and
moves nothing; the app runs over a WebSocket that the page itself opens (same-site, so it carries the
cookie either way, and another site's page cannot open one with it), and with Strict a link to the
dashboard from mail or chat would arrive without the cookie and be sent to the sign-in page.

The key is KEY_FILE in the data folder (`fpscore.cookie_signing`: 32 random bytes, 0600, made on first use);
dashboard processes on several hosts share that file. Deleting it signs everyone out.
"""

from __future__ import annotations

import functools
from pathlib import Path

from fpscore import config, cookie_signing

COOKIE = "fps_session"
KEY_FILE = "dashboard-session.key"
MAX_COOKIE_CHARS = 256


def signature(purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` for `purpose` under the dashboard's key (base64url)."""
    return cookie_signing.signature(_key(config.current().data_dir), purpose, value)


def signed(purpose: str, value: str, candidate: str) -> bool:
    """Whether `candidate` is the signature of `value` for `purpose` (compared in constant time)."""
    return cookie_signing.signed(_key(config.current().data_dir), purpose, value, candidate)


@functools.cache
def _key(data_dir: Path) -> bytes:
    return cookie_signing.load_key(data_dir, KEY_FILE)


def sealed(session_id: str) -> str:
    """The cookie value naming `session_id`."""
    return f"{session_id}.{signature('session', session_id)}"


def opened(value: str | None) -> str | None:
    """The session id a cookie value names, or None when the dashboard did not sign it."""
    if not value or len(value) > MAX_COOKIE_CHARS or not value.isascii():
        return None
    session_id, _, mac = value.rpartition(".")
    return session_id if session_id and signed("session", session_id, mac) else None
