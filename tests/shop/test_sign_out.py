"""Signing out ends every session the customer signed in before it: a copy of the cookie taken before is
refused after it, as is the session of another browser; signing in again works."""

from __future__ import annotations

from conftest import PASSWORD, Browser, heading

from fpscore.shop.cookies import SESSION_COOKIE


def _account_status(url: str, cookie: str) -> tuple[int, str]:
    browser = Browser(url)
    browser.session.cookies.set(SESSION_COOKIE, cookie)
    answer = browser.get("/account", allow_redirects=False)
    return answer.status_code, answer.headers.get("Location", "")


def _sign_in(browser: Browser) -> None:
    browser.get("/signin?next=/account")
    page = browser.post("/signin", {"email": "ada@buyers.example", "password": PASSWORD, "next": "/account"})
    assert heading(page.text) == "Your account", page.text[:300]


def test_a_cookie_copied_before_sign_out_is_refused_after_it(served):
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    copied = browser.session.cookies[SESSION_COOKIE]
    elsewhere = Browser(served.url)
    _sign_in(elsewhere)
    assert _account_status(served.url, copied) == (200, "")
    browser.get("/account")
    signed_out = browser.post("/signout", {})
    assert "You are signed out." in signed_out.text and SESSION_COOKIE not in browser.session.cookies
    status, location = _account_status(served.url, copied)
    assert status == 303 and location.startswith("/signin?")
    assert elsewhere.get("/account", allow_redirects=False).status_code == 303  # signed in before: ended
    _sign_in(browser)  # at once after signing out
    assert browser.get("/account", allow_redirects=False).status_code == 200
    assert _account_status(served.url, copied)[0] == 303


def test_signing_out_without_a_session_changes_nothing(served):
    browser = Browser(served.url)
    browser.sign_up("ada@buyers.example", "Ada")
    stranger = Browser(served.url)
    stranger.get("/signin")  # a page with a form: its CSRF token
    assert "You are signed out." in stranger.post("/signout", {}).text
    assert browser.get("/account", allow_redirects=False).status_code == 200
