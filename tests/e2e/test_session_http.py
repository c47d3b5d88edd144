"""The sign-in page over real HTTP, against the dashboard as it is served (`streamlit run
dashboard/serve.py`): the way there from a page, the session cookie it sets and its attributes, the CSRF
token, `next` values that lead elsewhere, hostile input escaped, throttling through this path, and a
sign-in ending the browser's earlier session."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import dashdata  # noqa: E402

from dashboard.session_cookie import COOKIE  # noqa: E402
from dashboard.sign_in import CSRF_COOKIE, EXPIRED  # noqa: E402
from fpscore.merchant import staff  # noqa: E402
from fpscore.merchant.schema import AuditEvent, StaffSession  # noqa: E402

pytest.importorskip("streamlit", reason="streamlit is not installed")


def _form(browser: requests.Session, base: str, next_value: str | None = None) -> tuple[str, str]:
    """The sign-in page (as the browser gets it) and its CSRF token."""
    page = browser.get(f"{base}/signin", params={"next": next_value} if next_value else None, timeout=10)
    assert page.status_code == 200
    return page.text, re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def _sign_in(
    browser: requests.Session, base: str, username: str, password: str = dashdata.PASSWORD,
    next_value: str = "", csrf: str | None = None, **headers: str,
) -> requests.Response:  # fmt: skip
    if csrf is None:
        _, csrf = _form(browser, base, next_value)
    fields = {"csrf": csrf, "next": next_value, "username": username, "password": password}
    return browser.post(f"{base}/signin", data=fields, headers=headers, allow_redirects=False, timeout=30)


def _set_cookie(answer: requests.Response, name: str) -> str:
    """The Set-Cookie header of an answer for cookie `name`."""
    return next(c for c in answer.raw.headers.getlist("Set-Cookie") if c.startswith(f"{name}="))


def _events(data_dir: Path, action: str) -> list[tuple[str, str, str | None]]:
    merchant = dashdata.open_merchant(data_dir)
    table = AuditEvent.__table__
    with merchant.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.actor, table.c.outcome, table.c.detail).where(table.c.action == action)
        ).all()
    merchant.close()
    return [tuple(row) for row in rows]


def test_a_page_without_a_session_leads_to_the_sign_in_page_and_back(dashboard):
    browser = requests.Session()
    asked = browser.get(f"{dashboard}/audit?request_id=abc:0", allow_redirects=False, timeout=10)
    assert asked.status_code == 303
    assert asked.headers["location"] == "/signin?next=%2Faudit%3Frequest_id%3Dabc%253A0"
    assert requests.get(f"{dashboard}/_stcore/health", timeout=10).text == "ok"  # not a page: as it was
    page, _ = _form(browser, dashboard, "/audit?request_id=abc:0")
    assert "Sign in to go to the Audit page." in page
    assert browser.cookies.get(CSRF_COOKIE)
    signed_in = _sign_in(browser, dashboard, "theo", next_value="/audit?request_id=abc:0")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/audit?request_id=abc%3A0"
    assert browser.get(f"{dashboard}/audit", allow_redirects=False, timeout=10).status_code == 200
    assert browser.get(f"{dashboard}/signin", timeout=10).status_code == 200  # a new form, if they ask


def test_the_session_cookie_is_signed_http_only_and_same_site(dashboard, data_dir):
    answer = _sign_in(requests.Session(), dashboard, "fiona")
    cookie = _set_cookie(answer, COOKIE)
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite"} <= attributes and "secure" not in attributes
    assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
    session_id = cookie.split(";")[0].split("=", 1)[1].rpartition(".")[0]
    merchant = dashdata.open_merchant(data_dir)
    with merchant.engine.connect() as conn:
        hashes = conn.execute(select(StaffSession.__table__.c.id_hash)).scalars().all()
    merchant.close()
    assert session_id not in hashes  # only its hash is kept

    over_https = _sign_in(requests.Session(), dashboard, "fiona", **{"X-Forwarded-Proto": "https"})
    cookie = _set_cookie(over_https, COOKIE)
    assert "secure" in cookie.lower()


def test_a_forged_cookie_leads_to_the_sign_in_page(dashboard):
    browser = requests.Session()
    answer = _sign_in(browser, dashboard, "ana")
    value = answer.cookies[COOKIE]
    for forged in (value[:-2] + "AA", "anything", value.rpartition(".")[0]):
        asked = requests.get(f"{dashboard}/fees", cookies={COOKIE: forged}, allow_redirects=False, timeout=10)
        assert (asked.status_code, asked.headers.get("location")) == (303, "/signin?next=%2Ffees"), forged
    kept = requests.get(f"{dashboard}/fees", cookies={COOKIE: value}, allow_redirects=False, timeout=10)
    assert kept.status_code == 200


def test_the_form_is_refused_without_its_token(dashboard, data_dir):
    browser = requests.Session()
    _, csrf = _form(browser, dashboard)
    another_site = requests.Session()  # a cross-site post carries no Strict cookie
    refused = _sign_in(another_site, dashboard, "ada", csrf=csrf)
    assert refused.status_code == 403 and "The sign-in form had expired" in refused.text
    assert COOKIE not in refused.cookies
    wrong_token = _sign_in(browser, dashboard, "ada", csrf=csrf[:-2] + "AA")
    assert wrong_token.status_code == 403 and COOKIE not in wrong_token.cookies
    assert ("ada", "Done", "from local") not in _events(data_dir, "sign_in")  # no password was checked


@pytest.mark.parametrize(
    "next_value", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_a_next_that_leads_elsewhere_is_dropped(dashboard, next_value):
    browser = requests.Session()
    page, _ = _form(browser, dashboard, next_value)
    assert 'name="next" value=""' in page and "evil.example" not in page
    answer = _sign_in(browser, dashboard, "theo", next_value=next_value)
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_a_page_outside_the_role_lands_on_the_first_page(dashboard):
    answer = _sign_in(requests.Session(), dashboard, "ana", next_value="/staff")
    assert answer.headers["location"] == "/?unavailable=staff"


def test_hostile_input_is_escaped_on_the_page(dashboard):
    hostile = '"><script>alert(1)</script>'
    browser = requests.Session()
    page, _ = _form(browser, dashboard, f"/instrument?instrument={hostile}")
    assert "<script>" not in page
    assert 'name="next" value="/instrument?instrument=%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E"' in page
    refused = _sign_in(browser, dashboard, hostile, "not the password")
    assert refused.status_code == 403 and staff.REFUSED in refused.text
    assert (
        "<script>" not in refused.text
        and 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in refused.text
    )


def test_throttling_applies_through_the_sign_in_page(dashboard, data_dir):
    browser = requests.Session()
    for _ in range(staff.LIMITS.per_account_and_client):
        assert _sign_in(browser, dashboard, "sam", "not the password").status_code == 403
    locked = _sign_in(browser, dashboard, "sam")  # the right password, from the locked-out address
    assert locked.status_code == 403 and staff.REFUSED in locked.text and COOKIE not in locked.cookies
    refusals = [detail for actor, outcome, detail in _events(data_dir, "sign_in") if actor == "sam"]
    assert refusals[-1] == "too many failed sign-ins (account and client) from local"
    elsewhere = _sign_in(requests.Session(), dashboard, "sam", **{"X-Forwarded-For": "198.51.100.7"})
    assert elsewhere.status_code == 303  # another address (a proxy on this machine forwards it)
    assert ("sam", "Done", "from 198.51.100.7") in _events(data_dir, "sign_in")


def _ended(data_dir: Path, cookie: str) -> tuple[object, str | None]:
    """(ended_at, end_reason) of the session a cookie value names."""
    session_id = cookie.rpartition(".")[0]
    table = StaffSession.__table__
    merchant = dashdata.open_merchant(data_dir)
    with merchant.engine.connect() as conn:
        row = conn.execute(
            select(table.c.ended_at, table.c.end_reason).where(
                table.c.id_hash == hashlib.sha256(session_id.encode()).hexdigest()
            )
        ).one()
    merchant.close()
    return row.ended_at, row.end_reason


def test_signing_in_again_ends_the_browsers_earlier_session(dashboard, data_dir):
    browser = requests.Session()
    first = _sign_in(browser, dashboard, "ada").cookies[COOKIE]
    second = _sign_in(browser, dashboard, "theo").cookies[COOKIE]  # the browser sends `first` along
    assert browser.cookies[COOKIE] == second != first
    ended_at, reason = _ended(data_dir, first)
    assert ended_at is not None and reason == "sign_out"
    assert _ended(data_dir, second) == (None, None)
    assert ("ada", "Done", None) in _events(data_dir, "sign_out")
    other_browser = _sign_in(requests.Session(), dashboard, "theo").cookies[COOKIE]
    assert _ended(data_dir, second) == (None, None)  # another browser's sign-in ends nothing here
    assert _ended(data_dir, other_browser) == (None, None)


def test_sign_in_pages_open_in_two_tabs_both_work(dashboard):
    browser = requests.Session()
    _, first_tab = _form(browser, dashboard)
    _, second_tab = _form(browser, dashboard)  # the browser's nonce stays: both forms carry its token
    wrong = _sign_in(browser, dashboard, "fiona", "not the password", csrf=second_tab)
    assert wrong.status_code == 403 and staff.REFUSED in wrong.text
    assert _sign_in(browser, dashboard, "fiona", csrf=first_tab).status_code == 303
    assert CSRF_COOKIE not in browser.cookies  # signed in: the next sign-in page makes a new nonce
    refused = _sign_in(browser, dashboard, "fiona", csrf=second_tab)
    assert refused.status_code == 403 and EXPIRED in refused.text
