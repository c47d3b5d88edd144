"""Who is using the dashboard.

Two modes:
- Sign-in form (default): staff accounts and `staff.sign_in` (scrypt, throttled per account, client
  address and overall; every attempt recorded). The identity lives in this browser session's state; a
  session ends after IDLE_TIMEOUT without a page view, or on sign-out.
- Trusted header (FPS_TRUSTED_USER_HEADER=X-Forwarded-User, say): an SSO proxy in front of the dashboard
  signs people in and sends their user name in that header; the name must be an active staff account.
  Only for deployments where the proxy is the one way in and strips the header from clients.

Either way the account is read again on every run, so disabling it or changing its role takes effect at
the next page view, and a password reset ends the sessions signed in before it. A link opened while
signed out (`/audit?request_id=…`) is remembered with its query parameters before the form shows, and
followed after sign-in.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import streamlit as st

from dashboard import resources
from dashboard.text import md
from fpscore.config import Settings
from fpscore.merchant import staff
from fpscore.merchant.roles import Actor
from fpscore.merchant.staff import SignInRefused, StaffMember

SESSION_KEY = "fps_session"
DESTINATION_KEY = "fps_destination"
NOTICE_KEY = "fps_auth_notice"
MAX_REMEMBERED_PARAMS = 10


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a signed-out visitor was going: a page and its query parameters."""

    url_path: str
    params: dict[str, str]


def idle_timeout() -> timedelta:
    return Settings.from_env().session_idle


def trusted_header() -> str | None:
    return Settings.from_env().trusted_user_header


def request_headers() -> Mapping[str, str]:
    """The headers of the request that opened this session (one place, so tests can stand in for a proxy)."""
    return st.context.headers


def client_address() -> str:
    """The address this session connects from: the socket's peer, or the X-Forwarded-For address of a
    proxy on this machine that the server trusts (uvicorn's forwarded_allow_ips); staff.LOCAL_CLIENT for a
    browser on this machine (and where there is no connection, as under AppTest). Sign-in counts an IPv6
    address by its /64."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else staff.LOCAL_CLIENT


def _notice(text: str) -> None:
    st.session_state[NOTICE_KEY] = text


def _start(member: StaffMember, via: str) -> None:
    st.session_state[SESSION_KEY] = {
        "username": member.username,
        "via": via,
        "signed_in_at": time.time(),
        "last_seen": time.time(),
        "credentials_changed_at": member.credentials_changed_at,  # as when the password was checked
    }


def sign_out(reason: str | None = None) -> None:
    session = st.session_state.pop(SESSION_KEY, None)
    if session is not None:
        resources.merchant().audit.record_event(session["username"], "sign_out", "Done", None, reason)
    st.session_state.pop("fps_member", None)
    if reason:
        _notice(reason)


def current() -> StaffMember | None:
    """The signed-in staff member as the database has them now, or None (then the caller shows the form)."""
    header = trusted_header()
    if header:
        return _from_header(header)
    session = st.session_state.get(SESSION_KEY)
    if session is None:
        return None
    now = time.time()
    if now - session["last_seen"] > idle_timeout().total_seconds():
        sign_out("Your session ended after a long time without activity. Please sign in again.")
        return None
    member = staff.active_staff(resources.merchant().engine, session["username"])
    if member is None:
        sign_out("Your account is disabled. Ask an admin.")
        return None
    if member.credentials_changed_at != session.get("credentials_changed_at"):
        sign_out("Your password was reset by an admin. Please sign in with the new one.")
        return None
    session["last_seen"] = now
    st.session_state["fps_member"] = member
    return member


def _from_header(header: str) -> StaffMember | None:
    username = (request_headers().get(header) or "").strip().lower()[:64]
    if not username:
        _notice(f"Sign-in is by single sign-on, and the request carried no {header} header.")
        return None
    member = staff.active_staff(resources.merchant().engine, username)
    if member is None:
        _notice(f"{md(username)} is not an active staff account here. Ask an admin.")
        return None
    session = st.session_state.get(SESSION_KEY)
    if session is None or session["username"] != member.username:
        _start(member, "header")
        resources.merchant().audit.record_event(
            member.username, "sign_in", "Done", None, f"trusted header {header}"
        )
    st.session_state[SESSION_KEY]["last_seen"] = time.time()
    st.session_state["fps_member"] = member
    return member


def member() -> StaffMember:
    """The staff member of this run (after `current` let them in)."""
    found = st.session_state.get("fps_member")
    if found is None:
        st.error("Not signed in.")
        st.stop()
    return found


def actor() -> Actor:
    return member().actor


def via_header() -> bool:
    session = st.session_state.get(SESSION_KEY)
    return bool(session and session.get("via") == "header")


# -- deep links across sign-in ----------------------------------------------------------------------


def remember_destination(url_path: str, params: Mapping[str, Any]) -> None:
    """Remember where a signed-out visitor was going (kept until they sign in)."""
    kept = {str(k)[:64]: str(v)[:256] for k, v in list(params.items())[:MAX_REMEMBERED_PARAMS]}
    if url_path or kept:
        st.session_state[DESTINATION_KEY] = Destination(url_path, kept)


def take_destination() -> Destination | None:
    return st.session_state.pop(DESTINATION_KEY, None)


# -- the form -------------------------------------------------------------------------------------------


def sign_in_form() -> None:
    header = trusted_header()
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("FPS Back Office")
        notice = st.session_state.pop(NOTICE_KEY, None)
        if header:
            st.error(notice or "Sign-in is by single sign-on.")
            st.caption(
                "This dashboard takes your identity from the company sign-on; there is no password here."
            )
            return
        if notice:
            st.info(notice)
        destination = st.session_state.get(DESTINATION_KEY)
        if destination is not None and destination.url_path:
            st.caption(f"Sign in to continue to **{md(destination.url_path.replace('_', ' '))}**.")
        with st.form("sign_in", border=True):
            username = st.text_input("User name", key="sign_in_username", autocomplete="username")
            password = st.text_input(
                "Password", key="sign_in_password", type="password", autocomplete="current-password"
            )
            submitted = st.form_submit_button("Sign in", type="primary", width="stretch")
        if submitted:
            _attempt(username, password)
        st.caption(f"Sessions end after {_hours(idle_timeout())} without activity.")


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} hours" if hours >= 1 else f"{delta.total_seconds() / 60:g} minutes"


def _attempt(username: str, password: str) -> None:
    """One sign-in attempt (`staff.sign_in` throttles it and records it in the audit trail)."""
    if not username.strip() or not password:
        st.error("Enter your user name and password.")
        return
    try:
        member = staff.sign_in(resources.merchant().engine, username, password, client_address())
    except SignInRefused as refused:
        st.error(str(refused))
        return
    _start(member, "password")
    st.rerun()
