"""The session cookie and the sign-in form's token, signed with a key kept in the data folder.

The cookie (COOKIE) carries a session id (fpscore.merchant.sessions) and its HMAC-SHA256 under the
dashboard's key, so a cookie the dashboard did not make is refused before the database is asked. It is
HttpOnly (no script reads it), SameSite=Lax, Secure over HTTPS, and lasts until the browser closes; the
server ends the session itself. Lax rather than Strict: the page a link opens is the same for everyone and
moves nothing; the app runs over a WebSocket that the page itself opens (same-site, so it carries the
cookie either way, and another site's page cannot open one with it), and with Strict a link to the
dashboard from mail or chat would arrive without the cookie and be sent to the sign-in page.

The key is 32 random bytes in KEY_FILE, made on first use (0600, in the 0700 data folder); dashboard
processes on several hosts share that file. Deleting it signs everyone out.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from fpscore import config
from fpscore.config import private_dir

COOKIE = "fps_session"
KEY_FILE = "dashboard-session.key"
KEY_BYTES = 32
MAX_COOKIE_CHARS = 256


@functools.cache
def _key(data_dir: Path) -> bytes:
    path = private_dir(data_dir) / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # made before (or by another process just now)
    else:
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_bytes(KEY_BYTES))
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path} is not a dashboard key ({KEY_BYTES} bytes); delete it to make a new one")
    return key


def signature(purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` for `purpose` under the dashboard's key (base64url)."""
    key = _key(config.current().data_dir)
    digest = hmac.new(key, f"{purpose}\n{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signed(purpose: str, value: str, candidate: str) -> bool:
    """Whether `candidate` is the signature of `value` for `purpose` (compared in constant time)."""
    return hmac.compare_digest(signature(purpose, value).encode(), candidate.encode())


def sealed(session_id: str) -> str:
    """The cookie value naming `session_id`."""
    return f"{session_id}.{signature('session', session_id)}"


def opened(value: str | None) -> str | None:
    """The session id a cookie value names, or None when the dashboard did not sign it."""
    if not value or len(value) > MAX_COOKIE_CHARS or not value.isascii():
        return None
    session_id, _, mac = value.rpartition(".")
    return session_id if session_id and signed("session", session_id, mac) else None
