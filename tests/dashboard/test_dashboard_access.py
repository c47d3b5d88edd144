"""Who gets in and what they see: the sign-in form and its refusals, idle expiry, sign-out, the trusted
SSO header, the pages each role gets (a page outside the role cannot even be switched to), and deep links
that survive sign-in."""

from __future__ import annotations

import time

import dashdata
import pytest
from dashapp import as_signed_in, new_app, no_exceptions, sign_in_with_form, texts
from helpers import sign_in_refusals
from sqlalchemy import select

from dashboard import auth, nav
from dashboard.text import md
from fpscore.merchant import staff
from fpscore.merchant.roles import Actor
from fpscore.merchant.schema import AuditEvent

EXPECTED_PAGES = {
    "finance": {"instruments", "instrument", "settlements", "fees", "health"},
    "support": {"instruments", "instrument", "write_offs"},
    "analyst": {"instruments", "instrument", "fees"},
    "troubleshooter": {"instruments", "instrument", "audit", "health"},
    "admin": {"instruments", "instrument", "audit", "staff"},
}
TITLES = {spec.url_path: spec.title for spec in nav.PAGES}


def events(book, action: str) -> list[tuple[str, str]]:
    table = AuditEvent.__table__
    with book.engine.connect() as conn:
        rows = conn.execute(select(table.c.actor, table.c.outcome).where(table.c.action == action)).all()
    return [tuple(row) for row in rows]


def refusal_details(book) -> list[str]:
    return sign_in_refusals(book.engine)


def test_signed_out_visitors_see_only_the_form(seeded):
    at = new_app().run()
    no_exceptions(at)
    assert texts(at.title) == ["FPS Back Office"]
    assert at.text_input(key="sign_in_username") is not None
    assert not at.metric and not at.dataframe
    assert "fps_sign_out" not in [b.key for b in at.button]


@pytest.mark.parametrize("role", sorted(EXPECTED_PAGES))
def test_each_role_gets_its_pages_and_no_others(seeded, role):
    at = as_signed_in(dashdata.STAFF[role])
    no_exceptions(at)
    assert texts(at.title) == [nav.BY_PATH[nav.landing_page(role)].title]  # the book, or the role's own page
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


def test_sign_in_with_the_form_records_it(seeded, book):
    at = sign_in_with_form(new_app().run(), "fiona")
    no_exceptions(at)
    assert texts(at.title) == ["Instruments"]
    assert "**Fiona**  \n:gray[finance]" in texts(at.markdown)
    assert ("fiona", "Done") in events(book, "sign_in")


def test_a_wrong_password_is_refused_with_the_message(seeded, book):
    at = sign_in_with_form(new_app().run(), "fiona", "not the password")
    assert texts(at.error) == [staff.REFUSED]
    assert texts(at.title) == ["FPS Back Office"]
    assert ("fiona", "Refused") in events(book, "sign_in")
    assert refusal_details(book) == ["wrong password from local"]  # a browser on this machine


def test_unknown_locked_and_disabled_get_the_wrong_password_answer(seeded, book):
    at = sign_in_with_form(new_app().run(), "nobody", "not the password")
    assert texts(at.error) == [staff.REFUSED]
    for _ in range(staff.LIMITS.per_account_and_client):
        sign_in_with_form(at, "sam", "not the password")
    at = sign_in_with_form(new_app().run(), "sam")
    assert texts(at.error) == [staff.REFUSED]
    assert texts(at.title) == ["FPS Back Office"]
    assert refusal_details(book)[0] == "unknown user from local"
    assert refusal_details(book)[-1] == "too many failed sign-ins (account and client) from local"


def test_a_disabled_account_is_refused_and_its_open_session_ends(seeded, book):
    at = as_signed_in("sam")
    assert texts(at.title) == ["Instruments"]
    staff.set_disabled(book.engine, Actor.staff("ada", "admin"), "sam", True)
    at.run()
    assert texts(at.title) == ["FPS Back Office"]
    assert "Your account is disabled. Ask an admin." in texts(at.info)
    at = sign_in_with_form(new_app().run(), "sam")
    assert texts(at.error) == [staff.REFUSED]
    assert refusal_details(book) == ["disabled account from local"]


def test_a_password_reset_ends_the_sessions_signed_in_before_it(seeded, book):
    before = sign_in_with_form(new_app().run(), "sam")
    assert texts(before.title) == ["Instruments"]
    password = staff.reset_password(book.engine, Actor.staff("ada", "admin"), "sam")
    before.run()
    assert texts(before.title) == ["FPS Back Office"]
    assert "Your password was reset by an admin. Please sign in with the new one." in texts(before.info)
    after = sign_in_with_form(new_app().run(), "sam", password)
    assert texts(after.title) == ["Instruments"]
    after.run()  # a session that began after the reset goes on
    assert texts(after.title) == ["Instruments"]


def test_admins_cannot_reset_their_own_password_from_the_page(seeded):
    at = as_signed_in("ada", "staff")
    at.selectbox(key="staff_chosen").select("ada").run()
    assert at.button(key="staff_reset").disabled


def test_a_session_ends_after_being_idle(seeded):
    at = as_signed_in("ana")
    at.session_state["fps_session"]["last_seen"] = time.time() - auth.idle_timeout().total_seconds() - 60
    at.run()
    assert texts(at.title) == ["FPS Back Office"]
    assert any("without activity" in text for text in texts(at.info))


def test_sign_out(seeded, book):
    at = as_signed_in("theo")
    at.button(key="fps_sign_out").click().run()
    assert texts(at.title) == ["FPS Back Office"]
    assert "fps_session" not in at.session_state
    assert ("theo", "Done") in events(book, "sign_out")


def test_a_role_change_takes_effect_at_the_next_page_view(seeded, book):
    at = as_signed_in("ana", "fees")
    staff.change_role(book.engine, Actor.staff("ada", "admin"), "ana", "support")
    at.run()
    with pytest.raises(ValueError):
        at.switch_page("../pages/fees.py")
    at.switch_page("../pages/write_offs.py").run()
    assert texts(at.title) == ["Write-offs"]


def test_a_request_id_link_opened_signed_out_lands_on_its_record_after_sign_in(seeded):
    at = new_app().run()
    at.switch_page("../pages/audit.py")
    at.query_params["request_id"] = seeded.request_id
    at.run()
    assert texts(at.title) == ["FPS Back Office"]
    assert "Sign in to continue to **audit**." in texts(at.caption)
    at = sign_in_with_form(at, "theo")
    no_exceptions(at)
    assert texts(at.title) == ["Audit"]
    assert at.query_params["request_id"] == seeded.request_id
    assert [m.label for m in at.metric][:2] == ["Attempts", "Outcome"]
    assert "Success" in [m.value for m in at.metric]


def test_an_instrument_link_survives_a_wrong_password_first(seeded):
    at = new_app().run()
    at.switch_page("../pages/instrument.py")
    at.query_params["instrument"] = seeded.due
    at.run()
    at = sign_in_with_form(at, "sam", "wrong password!")
    assert texts(at.error) == [staff.REFUSED]
    at = sign_in_with_form(at, "sam")
    no_exceptions(at)
    assert texts(at.title) == ["bob · Postpaid"]
    assert at.query_params["instrument"] == seeded.due


def test_a_link_to_a_page_outside_the_role_lands_on_the_roles_page_with_a_note(seeded):
    at = new_app().run()
    at.switch_page("../pages/staff.py").run()
    at = sign_in_with_form(at, "ana")
    no_exceptions(at)
    assert texts(at.title) == ["Fees saved"]  # the analyst's landing page
    assert "The Staff page is not available to your role (analyst)." in texts(at.warning)


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
