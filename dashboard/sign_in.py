"""Signing in with a password: a plain HTML page (`/signin`, Jinja2, autoescaped) whose form posts to the
same address. A right password starts a server-side session (fpscore.merchant.sessions) and sets its
signed cookie (dashboard.session_cookie), then the browser is sent on to the page it asked for; the app's
script (dashboard.auth) reads the cookie on every run. The session the browser's cookie named until then
(signing in again, as the same or another account) ends.

Why a route and not a Streamlit form: only an HTTP answer can set an HttpOnly cookie, and a session the
browser holds is what makes reloads and new tabs stay signed in. The script stays the one gate: it resumes
the session on every run, however the page was reached; SignInFirst only spares a visitor without a
session cookie the Streamlit page that would just send them here.

- Throttling is `staff.sign_in`'s, unchanged: per account and client address, account, address, overall.
  The address is the connection's (uvicorn takes X-Forwarded-For from the proxies it trusts); one on this
  machine counts as staff.LOCAL_CLIENT.
- CSRF: the form carries a token, the signature of a nonce kept in a SameSite=Strict cookie, so another
  site can neither post the form with the cookie nor know the token. The browser keeps its nonce until it
  signs in, so sign-in pages open in several tabs all work.
- `next` names one of the dashboard's pages and its query parameters, nothing else (no other host, no
  other path); the redirect is rebuilt from those parts, never passed on as it came. A page outside the
  signed-in role is not followed: they land on the first page with a note.
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dashboard import nav, resources, session_cookie
from dashboard.session_cookie import COOKIE
from fpscore import config
from fpscore.merchant import sessions, staff
from fpscore.merchant.staff import SignInRefused

PATH = "/signin"
CSRF_COOKIE = "fps_sign_in"
MAX_BODY_BYTES = 4096
MAX_NEXT_CHARS = 2048
MAX_NEXT_PARAMS = 10
UNAVAILABLE_PARAM = "unavailable"  # the first page's note: the page asked for is not the role's
EXPIRED = "The sign-in form had expired. Please sign in again."
NONCE_CHARS = 22  # secrets.token_urlsafe(16)
PAGE_PATHS = {"/"} | {f"/{spec.url_path}" for spec in nav.PAGES}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=StrictUndefined,
)


def destination(next_value: str | None) -> tuple[str, dict[str, str]] | None:
    """(page url_path, query parameters) of a `next` value that names one of the dashboard's pages ("" for
    the first page), or None for anything else."""
    if not next_value or len(next_value) > MAX_NEXT_CHARS:
        return None
    parts = urlsplit(next_value)
    if parts.scheme or parts.netloc or parts.fragment or parts.path not in PAGE_PATHS:
        return None
    try:
        params = dict(parse_qsl(parts.query, max_num_fields=MAX_NEXT_PARAMS))
    except ValueError:
        return None
    return parts.path[1:], params


def _url(page: str, params: dict[str, str]) -> str:
    return f"/{page}" + (f"?{urlencode(params)}" if params else "")


def sign_in_url(page: str, params: dict[str, str]) -> str:
    """The sign-in page's address that leads on to `page` with `params` (to the first page when they do
    not make a `next` it follows)."""
    target = destination(_url(page, params))
    return f"{PATH}?{urlencode({'next': _url(*target)})}" if target and target != ("", {}) else PATH


def _where(page: str) -> str:
    spec = nav.BY_PATH.get(page)
    return f"Sign in to go to the {spec.title} page." if spec else "Sign in with your staff account."


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _client(request: Request) -> str:
    """The address sign-in counts the attempt from (staff.LOCAL_CLIENT on this machine)."""
    host = request.client.host if request.client else ""
    try:
        return staff.LOCAL_CLIENT if ipaddress.ip_address(host).is_loopback else host
    except ValueError:
        return host or staff.LOCAL_CLIENT


def _duration(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes / 60:g} hours" if minutes >= 60 else f"{minutes:g} minutes"


def _form(
    request: Request, target: tuple[str, dict[str, str]] | None, error: str | None = None,
    username: str = "", status: int = 200,
) -> HTMLResponse:  # fmt: skip
    """The sign-in page, with the browser's CSRF nonce (a new one if it has none) in its cookie and its
    signature in the form."""
    nonce = request.cookies.get(CSRF_COOKIE, "")
    if len(nonce) != NONCE_CHARS or not nonce.isascii():
        nonce = secrets.token_urlsafe(16)
    page = _templates.get_template("sign_in.html").render(
        where=_where(target[0] if target else ""),
        error=error,
        csrf=session_cookie.signature("csrf", nonce),
        next=_url(*target) if target else "",
        username=username,
        idle=_duration(config.current().session_idle),
        max_age=_duration(config.current().session_max_age),
    )
    response = HTMLResponse(page, status, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        CSRF_COOKIE, nonce, path=PATH, httponly=True, samesite="strict", secure=_https(request)
    )
    return response


async def _fields(request: Request) -> dict[str, str] | None:
    """The posted form's fields (the first value of each), or None when it is too large or malformed."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    try:
        fields = parse_qs(body.decode(), max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}


async def sign_in_page(request: Request) -> Response:
    if config.current().sign_in != "password":
        return RedirectResponse("/", 303)  # single sign-on: the app itself says who is signed in
    target = destination(request.query_params.get("next"))
    if request.method == "GET":
        return _form(request, target)
    fields = await _fields(request)
    if fields is None:
        return _form(request, target, "The form could not be read. Please try again.", status=400)
    target = destination(fields.get("next"))
    username = fields.get("username", "").strip()[:64]
    nonce = request.cookies.get(CSRF_COOKIE, "")
    if not nonce or not session_cookie.signed("csrf", nonce, fields.get("csrf", "")):
        return _form(request, target, EXPIRED, username, 403)
    password = fields.get("password", "")
    if not username or not password:
        return _form(request, target, "Enter your user name and password.", username, 400)
    engine = resources.merchant().engine
    try:
        member, session_id = await run_in_threadpool(
            sessions.sign_in_session, engine, username, password, _client(request),
            session_cookie.opened(request.cookies.get(COOKIE)),
        )  # fmt: skip
    except SignInRefused as refused:
        return _form(request, target, str(refused), username, 403)
    page, params = target or ("", {})
    allowed = {spec.url_path for spec in nav.pages_for(member.role)}
    if page and page not in allowed:
        page, params = "", {UNAVAILABLE_PARAM: page}
    response = RedirectResponse(_url(page, params), 303)
    response.set_cookie(
        COOKIE, session_cookie.sealed(session_id), path="/", httponly=True, samesite="lax",
        secure=_https(request),
    )  # fmt: skip
    response.delete_cookie(CSRF_COOKIE, path=PATH)
    return response


ROUTES = [Route(PATH, sign_in_page, methods=["GET", "POST"])]


class SignInFirst:
    """Sends a request for one of the app's pages that carries no session cookie the dashboard signed to
    the sign-in page, with the page as `next` (password sign-in only; everything else passes as is)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and scope["path"] in PAGE_PATHS
            and config.current().sign_in == "password"
            and session_cookie.opened(Request(scope).cookies.get(COOKIE)) is None
        ):
            query = scope.get("query_string", b"").decode("latin-1")
            target = destination(scope["path"] + (f"?{query}" if query else ""))
            await RedirectResponse(sign_in_url(*target) if target else PATH, 303)(scope, receive, send)
            return
        await self.app(scope, receive, send)
