"""A Co-Branded UI session between pages: the sealed state its forms carry, and the browser's nonce cookie.

State travels in a hidden form field, sealed with an HMAC (no server-side session, so no clean-up, and any
worker can serve any step). It holds the verified start parameters, the step, the signed-in buyer and when
the pipeline started (it lapses after `SESSION_LIFETIME`). Its key is derived from the processor's RSA
signing key, which every worker already shares through the database.

Each state names a random nonce that must equal the `HttpOnly; SameSite=Lax` cookie the start page sets
(`session_cookie`), so a form posted from another site (which carries no cookie, or not this browser's)
is refused.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from hashlib import sha256
from http.cookies import CookieError, SimpleCookie
from wsgiref.types import WSGIEnvironment

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fpscore.processor.keys import SigningKeys

SESSION_LIFETIME = timedelta(hours=1)
SESSION_COOKIE = "fps_cbui_session"
STEPS = ("sign-in", "confirm")
_STATE_KEY_INFO = b"fpscore cbui state v1"
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class State:
    """What a page's hidden `state` field carries, sealed: the pipeline so far."""

    step: str  # one of STEPS: "sign-in" (the start page's form) or "confirm" (the confirmation page's form)
    nonce: str  # equals the browser's session cookie
    started_at: int  # epoch seconds
    params: dict[str, str]
    buyer_id: int | None = None
    buyer_email: str | None = None


class Sealer:
    """HMAC-SHA256 sealing of `State`s with a key derived from the processor's RSA signing key."""

    def __init__(self, keys: SigningKeys):
        self.keys = keys
        self._key: bytes | None = None

    @property
    def key(self) -> bytes:
        if self._key is None:
            _key_id, signing_key = self.keys.current()
            der = signing_key.private_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_STATE_KEY_INFO)
            self._key = hkdf.derive(der)
        return self._key

    def seal(self, state: State) -> str:
        payload = {
            "s": state.step,
            "n": state.nonce,
            "t": state.started_at,
            "p": state.params,
            "b": state.buyer_id,
            "e": state.buyer_email,
        }
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{body}.{_b64(hmac.new(self.key, body.encode('ascii'), sha256).digest())}"

    def open(self, sealed: str) -> State | None:
        """The state sealed in `sealed`, None when it is not one we sealed."""
        body, _, mac = sealed.partition(".")
        try:
            expected = hmac.new(self.key, body.encode("ascii"), sha256).digest()
            if not hmac.compare_digest(expected, _unb64(mac)):
                return None
            payload = json.loads(_unb64(body))
            return State(
                step=payload["s"],
                nonce=payload["n"],
                started_at=payload["t"],
                params=payload["p"],
                buyer_id=payload["b"],
                buyer_email=payload["e"],
            )
        except (ValueError, KeyError, TypeError, UnicodeError):
            return None


def cookie_nonce(environ: WSGIEnvironment) -> str | None:
    """The session nonce the browser's cookie carries; None when it sends none, or not one of ours."""
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    morsel = cookies.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and _NONCE.fullmatch(morsel.value) else None


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def session_cookie(environ: WSGIEnvironment, nonce: str) -> str:
    """The `Set-Cookie` value that hands `nonce` to the browser for the CBUI's pages only."""
    path = environ.get("SCRIPT_NAME", "") + "/cobranded-ui/"
    secure = "; Secure" if environ.get("wsgi.url_scheme") == "https" else ""
    max_age = int(SESSION_LIFETIME.total_seconds())
    return f"{SESSION_COOKIE}={nonce}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
