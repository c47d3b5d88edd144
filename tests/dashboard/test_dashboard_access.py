"""Who gets in and what they see: sessions that last (a reload, a second tab) until sign-out, idle
expiry, a disabled account or a password reset ends them in every tab; forged and stale cookies; the pages
each role gets (a page outside the role cannot even be switched to); the way back to the page asked for
across sign-in; the trusted SSO header and OIDC.

A browser is the cookies it holds (dashapp.page_view); the sign-in page that sets them is tested over HTTP
(tests/e2e/test_session_http.py) and in Chromium (tests/e2e/test_session_browser.py)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import dashdata
import pytest
from dashapp import as_signed_in, holding, new_app, no_exceptions, page_view, session_for, sign_in, texts
from helpers import sign_in_refusals
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from dashboard import auth, nav, session_cookie
from dashboard import sign_in as sign_in_page
from dashboard.session_cookie import COOKIE
from dashboard.text import md
from fpscore.config import Settings
from fpscore.db import utcnow
from fpscore.merchant import staff
from fpscore.merchant.roles import Actor
from fpscore.merchant.schema import AuditEvent, StaffSession
from fpscore.merchant.staff import SignInRefused

EXPECTED_PAGES = {
    "finance": {"instruments", "instrument", "record", "settlements", "fees", "health"},
    "support": {"instruments", "instrument", "record", "write_offs"},
    "analyst": {"instruments", "instrument", "record", "fees"},
    "troubleshooter": {"instruments", "instrument", "record", "audit", "health"},
    "admin": {"instruments", "instrument", "record", "audit", "staff"},
}
TITLES = {spec.url_path: spec.title for spec in nav.PAGES}
OMITTED = object()  # a claim the identity provider left out


def events(book, action: str) -> list[tuple[str, str]]:
    table = AuditEvent.__table__
    with book.engine.connect() as conn:
        rows = conn.execute(select(table.c.actor, table.c.outcome).where(table.c.action == action)).all()
    return [tuple(row) for row in rows]


def sign_in_link(at) -> str:
    """The address the signed-out view's "Sign in" link leads to."""
    (html,) = at.get("html")
    body = html.proto.body
    href = body.split('href="', 1)[1].split('"', 1)[0]
    return href.replace("&amp;", "&")


def next_of(href: str) -> str:
    assert urlsplit(href).path == "/signin"
    return parse_qs(urlsplit(href).query).get("next", [""])[0]


class Tags(HTMLParser):
    """The tags of an HTML fragment, each with its attributes' names."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag, attrs) -> None:  # type: ignore[no-untyped-def]
        self.seen.append((tag, [name for name, _ in attrs]))


def signed_out(at) -> bool:
    return texts(at.title) == ["FPS Back Office"] and not at.metric and not at.dataframe


def test_signed_out_visitors_see_only_the_way_in(seeded):
    at = new_app().run()
    no_exceptions(at)
    assert signed_out(at)
    assert sign_in_link(at) == "/signin"
    assert "fps_sign_out" not in [b.key for b in at.button]
    assert not at.info  # nothing to explain: they never signed in here


@pytest.mark.parametrize("role", sorted(EXPECTED_PAGES))
def test_each_role_gets_its_pages_and_no_others(seeded, role):
    at = as_signed_in(dashdata.STAFF[role])
    no_exceptions(at)
    assert at.title and texts(at.title)[0] == nav.BY_PATH[nav.landing_page(role)].title
    for spec in nav.PAGES:
        page = f"../pages/{spec.url_path}.py"
        if spec.url_path in EXPECTED_PAGES[role]:
            at.switch_page(page).run()
            no_exceptions(at)
            assert at.title and texts(at.title)[0], spec.url_path
        else:
            with pytest.raises(ValueError):
                at.switch_page(page)
    assert {spec.url_path for spec in nav.pages_for(role)} == EXPECTED_PAGES[role]


def test_a_reload_and_a_second_tab_stay_signed_in(seeded):
    cookies = sign_in("fiona")
    first = page_view(cookies, "settlements")
    no_exceptions(first)
    assert texts(first.title) == ["Settlements"]
    assert "**Fiona**  \n:gray[finance]" in texts(first.markdown)
    reloaded = page_view(cookies, "settlements")  # a reload is a new Streamlit session, same cookie
    assert texts(reloaded.title) == ["Settlements"]
    tab = page_view(cookies, "instrument", instrument=seeded.due)  # a table link opened in a new tab
    no_exceptions(tab)
    assert texts(tab.title) == ["bob · Postpaid"]
    assert first.run() and texts(first.title) == ["Settlements"]  # the first tab goes on


def test_sign_in_is_recorded_and_a_wrong_password_refused_with_the_message(seeded, book):
    sign_in("fiona")
    assert ("fiona", "Done") in events(book, "sign_in")
    with pytest.raises(SignInRefused) as refused:
        sign_in("fiona", "not the password")
    assert str(refused.value) == staff.REFUSED
    assert ("fiona", "Refused") in events(book, "sign_in")
    assert sign_in_refusals(book.engine) == ["wrong password from local"]


def test_sign_out_ends_the_session_in_every_tab(seeded, book):
    cookies = session_for("theo")
    tab = page_view(cookies, "audit")
    at = page_view(cookies)
    at.button(key="fps_sign_out").click().run()
    assert signed_out(at)
    assert texts(at.info) == ["You signed out."]
    assert ("theo", "Done") in events(book, "sign_out")
    tab.run()  # the other tab, at its next run
    assert signed_out(tab) and texts(tab.info) == ["You signed out."]
    assert next_of(sign_in_link(tab)) == "/audit"
    assert signed_out(page_view(cookies, "audit"))  # a reload, or a new tab
    assert events(book, "sign_out") == [("theo", "Done")]  # recorded once


def test_a_disabled_account_ends_its_sessions_and_is_refused(seeded, book):
    cookies = session_for("sam")
    at = page_view(cookies)
    assert not signed_out(at)
    staff.set_disabled(book.engine, Actor.staff("ada", "admin"), "sam", True)
    at.run()
    assert signed_out(at)
    assert "Your account is disabled. Ask an admin." in texts(at.info)
    assert signed_out(page_view(cookies))
    with pytest.raises(SignInRefused):
        sign_in("sam")
    assert sign_in_refusals(book.engine) == ["disabled account from local"]
    staff.set_disabled(book.engine, Actor.staff("ada", "admin"), "sam", False)
    assert signed_out(page_view(cookies))  # enabling the account again does not revive the session


def test_a_password_reset_ends_the_sessions_signed_in_before_it(seeded, book):
    before = sign_in("sam")
    at = page_view(before)
    assert texts(at.title) == ["Instruments"]
    password = staff.reset_password(book.engine, Actor.staff("ada", "admin"), "sam")
    at.run()
    assert signed_out(at)
    assert "Your password was reset by an admin. Please sign in with the new one." in texts(at.info)
    assert signed_out(page_view(before))
    after = sign_in("sam", password)
    assert texts(page_view(after).title) == ["Instruments"]
    assert texts(page_view(after).title) == ["Instruments"]  # a session begun after the reset goes on


def test_a_session_ends_after_being_idle(seeded, book):
    cookies = session_for("ana")
    at = page_view(cookies)
    assert not signed_out(at)
    long_ago = utcnow() - Settings.from_env().session_idle - timedelta(minutes=1)
    with book.engine.begin() as conn:
        conn.execute(update(StaffSession.__table__).values(last_seen_at=long_ago))
    at.run()
    assert signed_out(at)
    assert texts(at.info) == ["Your session ended after 8 hours without activity. Please sign in again."]
    assert signed_out(page_view(cookies))
    assert ("ana", "Done") in events(book, "sign_out")


def test_a_session_ends_at_its_maximum_age_however_much_it_is_used(seeded, book):
    cookies = session_for("ana")
    at = page_view(cookies)
    assert not signed_out(at)
    max_age = Settings.from_env().session_max_age
    with book.engine.begin() as conn:  # signed in just over the maximum age ago, used a moment ago
        conn.execute(
            update(StaffSession.__table__).values(created_at=utcnow() - max_age - timedelta(minutes=1))
        )
    at.run()
    assert signed_out(at)
    assert texts(at.info) == ["Sessions last 12 hours from sign-in. Please sign in again."]
    assert signed_out(page_view(cookies))
    with book.engine.connect() as conn:
        assert conn.execute(select(StaffSession.__table__.c.end_reason)).scalar_one() == "expired"
    assert ("ana", "Done") in events(book, "sign_out")


def test_a_page_view_keeps_an_active_session_alive(seeded, book):
    cookies = session_for("ana")
    a_while_ago = utcnow() - timedelta(hours=7)
    table = StaffSession.__table__
    with book.engine.begin() as conn:
        conn.execute(update(table).values(last_seen_at=a_while_ago))
    assert not signed_out(page_view(cookies))
    with book.engine.connect() as conn:
        assert conn.execute(select(table.c.last_seen_at)).scalar_one() > a_while_ago + timedelta(hours=6)


def test_a_page_view_reads_without_waiting_for_writers(seeded, book):
    cookies = session_for("fiona")
    assert texts(page_view(cookies, "settlements").title) == ["Settlements"]
    writer = sqlite3.connect(make_url(Settings.from_env().database_url).database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holds the database's write lock
    try:
        at = holding(new_app(), cookies)
        at.switch_page("../pages/settlements.py")
        at.run(timeout=10)  # a page view that took the write lock would wait for it (60 s)
        no_exceptions(at)
        assert texts(at.title) == ["Settlements"]
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_forged_and_stale_cookies_are_refused(seeded, book):
    real = session_for("ada")[COOKIE]
    session_id, _, mac = real.rpartition(".")
    forged = [
        f"{session_id}.{mac[:-2]}AA",  # the right session, a signature the dashboard did not make
        f"{session_id}.",
        session_id,
        "anything",
        "x" * 5000,
    ]
    for value in forged:
        at = page_view({COOKIE: value})
        assert signed_out(at) and not at.info, value
    unknown = session_cookie.sealed("a session id that was never made")
    at = page_view({COOKIE: unknown})
    assert signed_out(at) and texts(at.info) == ["Your session has ended. Please sign in again."]
    with book.engine.connect() as conn:
        hashes = conn.execute(select(StaffSession.__table__.c.id_hash)).scalars().all()
    assert session_id not in hashes and len(hashes) == 1  # the database keeps only its hash


def test_a_role_change_takes_effect_at_the_next_page_view(seeded, book):
    at = as_signed_in("ana", "fees")
    staff.change_role(book.engine, Actor.staff("ada", "admin"), "ana", "support")
    at.run()
    with pytest.raises(ValueError):
        at.switch_page("../pages/fees.py")
    at.switch_page("../pages/write_offs.py").run()
    assert texts(at.title) == ["Write-offs"]


def test_the_way_in_leads_back_to_the_page_and_its_parameters(seeded):
    at = new_app()
    at.switch_page("../pages/audit.py")
    at.query_params["request_id"] = seeded.request_id
    at.run()
    assert signed_out(at)
    assert sign_in_page.destination(next_of(sign_in_link(at))) == ("audit", {"request_id": seeded.request_id})


@pytest.mark.parametrize("role", ["finance", "analyst"])
def test_the_landing_page_keeps_its_address_when_the_session_ends(seeded, role):
    landing = nav.landing_page(role)
    cookies = session_for(dashdata.STAFF[role])
    root = page_view(cookies)  # the root opens the landing page, which has an address of its own
    assert texts(root.title) == [TITLES[landing]]
    tab = page_view(cookies, landing)
    assert texts(tab.title) == [TITLES[landing]]
    root.button(key="fps_sign_out").click().run()
    tab.run()
    assert signed_out(tab)
    assert next_of(sign_in_link(tab)) == f"/{landing}"


def test_a_hostile_parameter_stays_inside_the_sign_in_link(seeded):
    hostile = '"><script>alert(1)</script><a href="https://evil.example'
    at = new_app()
    at.switch_page("../pages/instrument.py")
    at.query_params["instrument"] = hostile
    at.run()
    (html,) = at.get("html")
    tags = Tags()
    tags.feed(html.proto.body)
    assert tags.seen == [("a", ["href", "target", "style"])]
    assert sign_in_page.destination(next_of(sign_in_link(at))) == ("instrument", {"instrument": hostile})


def test_a_page_outside_the_role_asked_for_at_sign_in_is_explained(seeded):
    at = page_view(session_for("ana"), None, **{sign_in_page.UNAVAILABLE_PARAM: "staff"})
    no_exceptions(at)
    assert "The Staff page is not available to your role (analyst)." in texts(at.warning)
    assert sign_in_page.UNAVAILABLE_PARAM not in at.query_params


@pytest.mark.parametrize(
    "value",
    [
        "//evil.example/",
        "https://evil.example/audit",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "audit",
        "/audit/../staff",
        "/signin",
        "/audit#request_id",
        "/%2F%2Fevil.example",
        "/audit\r\nSet-Cookie: x=1",
        "/_stcore/health",
        "/audit?" + "&".join(f"p{i}=1" for i in range(sign_in_page.MAX_NEXT_PARAMS + 1)),
        "/" + "a" * 3000,
    ],
)
def test_hostile_next_values_are_refused(value):
    assert sign_in_page.destination(value) is None


def test_next_values_naming_a_page_are_rebuilt_from_their_parts():
    assert sign_in_page.destination("/") == ("", {})
    assert sign_in_page.destination("/audit?request_id=a%26b%22") == ("audit", {"request_id": 'a&b"'})
    url = sign_in_page.sign_in_url("audit", {"request_id": "x&next=//evil.example"})
    assert next_of(url) == "/audit?request_id=x%26next%3D%2F%2Fevil.example"


class TestTrustedHeader:
    HEADER = "X-Forwarded-User"

    @pytest.fixture(autouse=True)
    def sso(self, seeded, monkeypatch):
        monkeypatch.setenv("FPS_TRUSTED_USER_HEADER", self.HEADER)
        self.headers: dict[str, str] = {}
        monkeypatch.setattr(auth, "request_headers", lambda: self.headers)

    def test_a_staff_member_named_by_the_proxy_is_signed_in(self, seeded, book):
        self.headers[self.HEADER] = "Theo"
        at = new_app()
        at.switch_page("../pages/audit.py")
        at.query_params["request_id"] = seeded.request_id
        at.run()
        no_exceptions(at)
        assert texts(at.title) == ["Audit"]  # the deep link works on the first run: no form in between
        assert "Signed in by single sign-on." in texts(at.caption)
        assert "fps_sign_out" not in [b.key for b in at.button]
        assert events(book, "sign_in") == [("theo", "Done")]

    def test_someone_who_is_not_staff_is_refused(self, seeded):
        self.headers[self.HEADER] = "mallory"
        at = new_app().run()
        assert texts(at.title) == ["FPS Back Office"]
        assert texts(at.error) == ["mallory is not an active staff account here. Ask an admin."]
        assert not at.text_input

    def test_a_user_name_from_the_header_is_shown_as_text(self, seeded):
        self.headers[self.HEADER] = "[Sign in again](https://evil.example)"
        at = new_app().run()
        (error,) = texts(at.error)
        name = md("[sign in again](https://evil.example)")
        assert error == f"{name} is not an active staff account here. Ask an admin."
        assert "](" not in error

    def test_no_header_no_entry(self, seeded):
        at = new_app().run()
        assert texts(at.error) == [
            f"Sign-in is by single sign-on, and the request carried no {self.HEADER} header."
        ]
        assert not at.text_input


class TestIdentityProvider:
    DOMAIN = "tuneshop.example"

    @pytest.fixture(autouse=True)
    def oidc(self, seeded, monkeypatch):
        monkeypatch.setenv("FPS_OIDC_EMAIL_DOMAIN", self.DOMAIN)

    def app_for(self, email: str, verified: object = True):  # type: ignore[no-untyped-def]
        """An app whose provider signed in `email`, its email_verified claim `verified` (OMITTED: none)."""
        at = new_app()
        claims = {"is_logged_in": True, "email": email, "email_verified": verified}
        at.user = {name: value for name, value in claims.items() if value is not OMITTED}
        return at

    def test_a_verified_address_at_the_domain_is_its_staff_account(self, seeded, book):
        at = self.app_for(f"Theo@{self.DOMAIN}")
        at.switch_page("../pages/audit.py")
        at.query_params["request_id"] = seeded.request_id
        at.run()
        no_exceptions(at)
        assert texts(at.title) == ["Audit"]  # the deep link works: the provider's sign-in lasts
        at.run()
        assert events(book, "sign_in") == [("theo", "Done")]  # recorded once per session
        at.button(key="fps_sign_out").click().run()
        assert signed_out(at) and ("theo", "Done") in events(book, "sign_out")

    @pytest.mark.parametrize(
        ("email", "verified"),
        [
            ("theo@evil.example", True),
            (f"theo@{DOMAIN}", False),
            (f"theo@{DOMAIN}", OMITTED),  # a provider that does not say the address is verified
            (f"theo@{DOMAIN}", "true"),  # nor as the claim's type
            (f"mallory@{DOMAIN}", True),
        ],
    )
    def test_other_addresses_are_refused(self, seeded, email, verified):
        at = self.app_for(email, verified).run()
        assert signed_out(at) and "fps_sign_out" not in [b.key for b in at.button]
        assert texts(at.info) and "Ask an admin." in texts(at.info)[0]
        assert [b.label for b in at.button] == ["Sign out of single sign-on"]

    def test_a_longer_name_is_refused_not_cut_to_a_staff_name(self, seeded, book, monkeypatch):
        longest = "t" * 64
        dashdata.add_account(book, longest, "admin", "Longest")
        at = self.app_for(f"{longest}@{self.DOMAIN}").run()
        assert texts(at.title)[0] != "FPS Back Office"  # the longest name signs in
        at = self.app_for(f"{longest}x@{self.DOMAIN}").run()
        assert signed_out(at) and "fps_sign_out" not in [b.key for b in at.button]
        assert texts(at.info) == [f"{longest}x is not an active staff account here. Ask an admin."]
        monkeypatch.delenv("FPS_OIDC_EMAIL_DOMAIN")
        monkeypatch.setenv("FPS_TRUSTED_USER_HEADER", TestTrustedHeader.HEADER)
        monkeypatch.setattr(auth, "request_headers", lambda: {TestTrustedHeader.HEADER: f"{longest}x"})
        at = new_app().run()
        assert texts(at.error) == [f"{longest}x is not an active staff account here. Ask an admin."]

    def test_signed_out_visitors_are_offered_the_provider(self, seeded):
        at = new_app()
        at.user = {"is_logged_in": False}
        at.run()
        assert signed_out(at) and [b.label for b in at.button] == ["Sign in with single sign-on"]
        assert not at.get("html")  # no password page in this mode
