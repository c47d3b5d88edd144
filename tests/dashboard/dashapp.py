"""Driving the dashboard with AppTest: a new app, a signed-in session on a page, the sign-in form, and
reading what a run showed."""

from __future__ import annotations

import time
from pathlib import Path

import dashdata
from markup import plain
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
RUN_TIMEOUT_S = 30


def new_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S)


def as_signed_in(username: str, page: str | None = None, **params: str) -> AppTest:
    """An app whose session is signed in as `username` (the form itself is tested on its own), on `page`."""
    at = new_app()
    at.session_state["fps_session"] = {
        "username": username,
        "via": "password",
        "signed_in_at": time.time(),
        "last_seen": time.time(),
    }
    at.run()
    if page is not None:
        at.switch_page(f"../pages/{page}.py")
        for name, value in params.items():
            at.query_params[name] = value
        at.run()
    return at


def sign_in_with_form(at: AppTest, username: str, password: str = dashdata.PASSWORD) -> AppTest:
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(password)
    return at.button(key="FormSubmitter:sign_in-Sign in").click().run()


def texts(elements: object) -> list[str]:
    """The text of each element of an AppTest element list (values, or messages of exceptions)."""
    return [str(getattr(e, "value", "")) for e in elements]  # type: ignore[attr-defined]


def shown(elements: object) -> list[str]:
    """The text of each element as it reads once rendered (markdown escapes resolved, word joiners gone)."""
    return [plain(text) for text in texts(elements)]


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
