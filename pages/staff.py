"""Staff (admin): the accounts, adding one, and for an account: change its role, disable or enable it,
reset its password. Each change is checked (MANAGE_STAFF) and recorded in fpscore, and confirmed here."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import actions, auth, resources
from dashboard import components as ui
from dashboard.text import md
from fpscore.merchant import staff
from fpscore.merchant.roles import ROLE_PERMISSIONS, ROLES
from fpscore.merchant.staff import StaffAccount

PAGE = "staff"
ROLE_OF_KEY = "staff_role_of"  # the account and role the Role selector was last set from


def records(accounts: list[StaffAccount]) -> list[dict[str, Any]]:
    return [
        {
            "User": a.username,
            "Name": a.display_name,
            "Role": a.role,
            "Status": a.status,
            "Failed sign-ins": a.failed_attempts,
            "Since": ui.naive_utc(a.created_at),
            "Disabled": ui.naive_utc(a.disabled_at),
        }
        for a in accounts
    ]


def add_form() -> None:
    with st.form("staff_add", clear_on_submit=True), ui.guarded():
        cols = st.columns(4)
        username = cols[0].text_input("User name", key="staff_new_username")
        name = cols[1].text_input("Display name", key="staff_new_name")
        role = cols[2].selectbox("Role", ROLES, key="staff_new_role")
        password = cols[3].text_input(
            "First password",
            type="password",
            key="staff_new_password",
            help=f"{staff.MIN_PASSWORD_LENGTH}+ characters",
        )
        if st.form_submit_button("Add", type="primary"):
            staff.create_staff(
                resources.merchant().engine, auth.actor(), username, role, password, name or None
            )
            resources.after_write()
            ui.flash("success", f"{md(username.strip().lower())} added as {md(role)}.")
            st.rerun()


def manage(accounts: list[StaffAccount]) -> None:
    by_name = {a.username: a for a in accounts}
    chosen = st.selectbox(
        "Account",
        list(by_name),
        key="staff_chosen",
        # who only: a browser sends back the chosen option's label, so the role and status, which change
        # here, are said below
        format_func=lambda u: f"{u} · {by_name[u].display_name}",
    )
    account = by_name[chosen]
    st.caption(f"Role {md(account.role)} · {md(account.status)}")
    me = auth.member().username
    cols = st.columns(3, vertical_alignment="bottom")
    if st.session_state.get(ROLE_OF_KEY) != (account.username, account.role):
        # another account chosen, or its role changed: the selector starts from its role
        st.session_state[ROLE_OF_KEY] = (account.username, account.role)
        st.session_state["staff_role"] = account.role
    role = cols[0].selectbox("Role", ROLES, key="staff_role")
    if cols[0].button("Change role", key="staff_change_role", disabled=role == account.role, width="stretch"):
        granted = ", ".join(sorted(p.value.replace("_", " ") for p in ROLE_PERMISSIONS[role]))
        actions.propose(
            actions.Pending(
                "change_role",
                f"Make {md(account.username)} {md(role)}",
                (
                    ("Role", f"{md(account.role)} → **{md(role)}**"),
                    ("May then", granted),
                    ("Takes effect", "at their next page view"),
                ),
                {"username": account.username, "role": role},
                PAGE,
                confirm_label=f"Make {role}",
            )
        )
    disabled = account.disabled_at is not None
    if cols[1].button(
        "Enable" if disabled else "Disable",
        key="staff_toggle",
        disabled=account.username == me and not disabled,
        width="stretch",
        help="You cannot disable yourself" if account.username == me else None,
    ):
        actions.propose(
            actions.Pending(
                "set_disabled",
                f"{'Enable' if disabled else 'Disable'} {md(account.username)}",
                (
                    ("Account", f"{md(account.username)} ({md(account.display_name)}, {md(account.role)})"),
                    (
                        "Effect",
                        "they can sign in again"
                        if disabled
                        else "no sign-in; open sessions end at their next page view",
                    ),
                ),
                {"username": account.username, "disabled": not disabled},
                PAGE,
                confirm_label="Enable" if disabled else "Disable",
            )
        )
    if cols[2].button(
        "Reset password",
        key="staff_reset",
        disabled=account.username == me,
        width="stretch",
        help="Another admin resets yours (a reset ends your session)" if account.username == me else None,
    ):
        actions.propose(
            actions.Pending(
                "reset_password",
                f"Reset {md(account.username)}'s password",
                (
                    ("Account", f"{md(account.username)} ({md(account.display_name)})"),
                    (
                        "Effect",
                        "a new temporary password is made and shown once; any lockout is lifted; "
                        "their open sessions end",
                    ),
                ),
                {"username": account.username},
                PAGE,
                confirm_label="Reset",
            )
        )


st.title("Staff")
ui.show_flash()
with ui.guarded():
    accounts = staff.list_staff(resources.merchant().engine, auth.actor())
    if not accounts:
        ui.empty("No staff accounts yet: add the first below (or with `fpscore staff add`).")
    else:
        ui.table(
            records(accounts),
            {
                "User": st.column_config.TextColumn("User", pinned=True),
                "Since": ui.time_column("Since"),
                "Disabled": ui.time_column("Disabled"),
            },
            key="staff_accounts",
        )
        ui.csv_button(
            "CSV of the accounts", "staff.csv", lambda: ui.to_csv(records(accounts)), key="staff_csv"
        )
        st.subheader("Manage an account")
        manage(accounts)
    st.subheader("Add an account")
    add_form()
