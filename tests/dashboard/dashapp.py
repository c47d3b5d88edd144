"""Driving the dashboard with AppTest: a new app, a signed-in session on a page, a browser's later page
views (a reload, a new tab), and reading what a run showed.

AppTest carries no cookies (`st.context.cookies` is empty under it), so this module stands in for the
browser's cookies at the one place the app reads them (`auth.request_cookies`): each AppTest holds its
browser's cookies in its session state under COOKIES_KEY. Everything behind that is the real thing: the
session is started in the database and its cookie signed with the dashboard's key, as the sign-in page
does (that page, and the cookie in a real browser, are tested over HTTP and in Chromium, tests/e2e).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dashdata
import streamlit as st
from markup import plain
from streamlit.testing.v1 import AppTest

from dashboard import auth, resources, session_cookie
from dashboard.session_cookie import COOKIE
from fpscore.merchant import sessions, staff

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
RUN_TIMEOUT_S = 30
COOKIES_KEY = "fps_test_cookies"


def _browser_cookies() -> Mapping[str, str]:
    return st.session_state.get(COOKIES_KEY, {})


auth.request_cookies = _browser_cookies  # AppTest's stand-in for st.context.cookies (see above)


def new_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S)


def session_for(username: str) -> dict[str, str]:
    """A browser's cookies after `username` signed in (a new session, as the sign-in page starts one)."""
    engine = resources.merchant().engine
    member = staff.active_staff(engine, username)
    assert member is not None, f"{username} is no active staff account"
    return {COOKIE: session_cookie.sealed(sessions.start(engine, member))}


def sign_in(username: str, password: str = dashdata.PASSWORD) -> dict[str, str]:
    """A browser's cookies after signing in with a password (checked and throttled: SignInRefused)."""
    _, session_id = sessions.sign_in_session(resources.merchant().engine, username, password)
    return {COOKIE: session_cookie.sealed(session_id)}


def holding(at: AppTest, cookies: Mapping[str, str]) -> AppTest:
    """`at` as a page view of a browser that holds `cookies`."""
    at.session_state[COOKIES_KEY] = dict(cookies)
    return at


def page_view(cookies: Mapping[str, str], page: str | None = None, **params: str) -> AppTest:
    """A new page view (a reload, or a new tab) of a browser holding `cookies`, of `page` with `params`."""
    at = holding(new_app(), cookies)
    if page is not None:
        at.switch_page(f"../pages/{page}.py")
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def as_signed_in(username: str, page: str | None = None, **params: str) -> AppTest:
    """An app whose browser is signed in as `username` (the sign-in page itself is tested on its own), on
    `page`."""
    at = holding(new_app(), session_for(username))
    at.run()
    if page is not None:
        at.switch_page(f"../pages/{page}.py")
        for name, value in params.items():
            at.query_params[name] = value
        at.run()
    return at


def texts(elements: object) -> list[str]:
    """The text of each element of an AppTest element list (values, or messages of exceptions)."""
    return [str(getattr(e, "value", "")) for e in elements]  # type: ignore[attr-defined]


def shown(elements: object) -> list[str]:
    """The text of each element as it reads once rendered (markdown escapes resolved, word joiners gone)."""
    return [plain(text) for text in texts(elements)]


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
