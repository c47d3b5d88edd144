"""Who is using the dashboard: the staff member of each run, read again from the database every time, so
that disabling an account or changing its role takes effect at the next page view.

Three ways in (fpscore.config `Settings.sign_in`):
- Password (default): the sign-in page (dashboard.sign_in) starts a server-side session and sets its signed
  cookie; every run resumes the session the cookie names (fpscore.merchant.sessions), so reloads and new
  tabs of the same browser stay signed in. It ends for every tab at sign-out, after FPS_SESSION_IDLE_MINUTES
  without a page view, FPS_SESSION_MAX_AGE_HOURS after sign-in, or when the account is disabled or its
  password reset; each tab then says why and links to the sign-in page with the page it was on as `next`.
- Trusted header (FPS_TRUSTED_USER_HEADER=X-Forwarded-User, say): an SSO proxy in front of the dashboard
  signs people in and sends their user name in that header. Only for deployments where the proxy is the
  one way in and strips the header from clients.
- OIDC (FPS_OIDC_EMAIL_DOMAIN=tuneshop.example, say, and Streamlit's [auth] secrets): `st.login` with the
  identity provider; someone whose email is <user name>@that domain, and marked verified by the provider
  (its `email_verified` claim true: a provider that leaves the claim out signs nobody in), is the staff
  account of that user name. The provider's sign-in lasts as Streamlit's identity cookie does (30 days;
  FPS_SESSION_IDLE_MINUTES and FPS_SESSION_MAX_AGE_HOURS do not apply: the provider's own session policy
  and the account here being active do); sign-out is `st.logout`.
Either of the last two: the name must be an active staff account's, as it is (a longer name is refused,
never cut to one), and the sign-in is recorded once per Streamlit session.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from html import escape

import streamlit as st

from dashboard import resources, session_cookie, sign_in
from dashboard.text import md
from fpscore import config
from fpscore.config import Settings
from fpscore.merchant import sessions, staff
from fpscore.merchant.roles import Actor
from fpscore.merchant.staff import StaffMember

IDENTITY_KEY = "fps_identity"  # header or OIDC: the user name whose sign-in this session recorded
MEMBER_KEY = "fps_member"
NOTICE_KEY = "fps_auth_notice"
SIGN_IN_LINK_STYLE = (
    "display:inline-block;padding:.45rem 1.4rem;border-radius:4px;background:#1d5c96;color:#fff;"
    "text-decoration:none;font-weight:600"
)


def request_cookies() -> Mapping[str, str]:
    """The cookies of the request that opened this session (one place, so AppTest can stand in for them)."""
    return st.context.cookies


def request_headers() -> Mapping[str, str]:
    """The headers of the request that opened this session (one place, so tests can stand in for a proxy)."""
    return st.context.headers


def _notice(text: str) -> None:
    st.session_state[NOTICE_KEY] = text


def _duration(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes / 60:g} hours" if minutes >= 60 else f"{minutes:g} minutes"


def _ended(reason: str | None, settings: Settings) -> str:
    return {
        "sign_out": "You signed out.",
        "idle": f"Your session ended after {_duration(settings.session_idle)} without activity. "
        "Please sign in again.",
        "expired": f"Sessions last {_duration(settings.session_max_age)} from sign-in. Please sign in again.",
        "disabled": "Your account is disabled. Ask an admin.",
        "password_reset": "Your password was reset by an admin. Please sign in with the new one.",
    }.get(reason or "", "Your session has ended. Please sign in again.")


def current() -> StaffMember | None:
    """The signed-in staff member as the database has them now, or None (then the caller shows the way
    in)."""
    settings = config.current()
    st.session_state.pop(MEMBER_KEY, None)
    if settings.sign_in == "header":
        found = _from_header(settings.trusted_user_header or "")
    elif settings.sign_in == "oidc":
        found = _from_identity_provider(settings.oidc_email_domain or "")
    else:
        found = _from_cookie(settings)
    if found is not None:
        st.session_state[MEMBER_KEY] = found
    return found


def _session_id() -> str | None:
    return session_cookie.opened(request_cookies().get(session_cookie.COOKIE))


def _from_cookie(settings: Settings) -> StaffMember | None:
    session_id = _session_id()
    if session_id is None:
        return None
    found = sessions.resume(
        resources.merchant().engine, session_id, settings.session_idle, settings.session_max_age
    )
    if isinstance(found, sessions.Ended):
        _notice(_ended(found.reason, settings))
        return None
    return found


def _from_identity(username: str, via: str) -> StaffMember | None:
    found = staff.active_staff(resources.merchant().engine, username) if staff.is_username(username) else None
    if found is None:
        _notice(f"{md(username)} is not an active staff account here. Ask an admin.")
        return None
    if st.session_state.get(IDENTITY_KEY) != found.username:
        st.session_state[IDENTITY_KEY] = found.username
        resources.merchant().audit.record_event(found.username, "sign_in", "Done", None, via)
    return found


def _from_header(header: str) -> StaffMember | None:
    username = (request_headers().get(header) or "").strip().lower()
    if not username:
        _notice(f"Sign-in is by single sign-on, and the request carried no {header} header.")
        return None
    return _from_identity(username, f"trusted header {header}")


def _from_identity_provider(domain: str) -> StaffMember | None:
    if not st.user.is_logged_in:
        return None
    email = str(st.user.get("email") or "").strip().lower()
    username, _, email_domain = email.rpartition("@")
    if not username or email_domain != domain or st.user.get("email_verified") is not True:
        _notice(f"{md(email or 'This account')} is not a verified address at {md(domain)}. Ask an admin.")
        return None
    return _from_identity(username, "identity provider")


def signs_out_here() -> bool:
    """Whether the dashboard can sign this user out (not behind a single-sign-on proxy)."""
    return config.current().sign_in != "header"


def sign_out() -> None:
    """End this browser's session, in every tab (password), or the identity provider's sign-in (OIDC)."""
    settings = config.current()
    signed_in = st.session_state.pop(MEMBER_KEY, None)
    if settings.sign_in == "password":
        session_id = _session_id()
        if session_id is not None:
            sessions.end(resources.merchant().engine, session_id)
    elif settings.sign_in == "oidc":
        if signed_in is not None:
            resources.merchant().audit.record_event(signed_in.username, "sign_out", "Done", None, None)
        st.session_state.pop(IDENTITY_KEY, None)
        st.logout()


def member() -> StaffMember:
    """The staff member of this run (after `current` let them in)."""
    found = st.session_state.get(MEMBER_KEY)
    if found is None:
        st.error("Not signed in.")
        st.stop()
    return found


def actor() -> Actor:
    return member().actor


# -- the way in -------------------------------------------------------------------------------------------


def sign_in_prompt(page: str, params: Mapping[str, str]) -> None:
    """What a visitor who is not signed in sees on `page` (with `params`): why, and the way in."""
    mode = config.current().sign_in
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("FPS Back Office")
        notice = st.session_state.pop(NOTICE_KEY, None)
        if mode == "header":
            st.error(notice or "Sign-in is by single sign-on.")
            st.caption(
                "This dashboard takes your identity from the company sign-on; there is no password here."
            )
            return
        if notice:
            st.info(notice)
        if mode == "oidc":
            if st.user.is_logged_in:  # signed in with the provider, but not as staff here
                if st.button("Sign out of single sign-on", key="fps_sign_in"):
                    st.logout()
            elif st.button("Sign in with single sign-on", type="primary", key="fps_sign_in"):
                st.login()
            return
        url = sign_in.sign_in_url(page, dict(params))
        st.html(f'<a href="{escape(url)}" target="_self" style="{SIGN_IN_LINK_STYLE}">Sign in</a>')
