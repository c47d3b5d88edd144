"""Dangerous actions, confirmed before anything moves.

A page proposes a `Pending` action: what it is and exactly what will move. `app.py` opens the
confirmation dialog after the page has run (the pending action lives in session state, so a rerun or a
test can drive it). Confirm runs the flow as the signed-in staff member, and fpscore checks their role
again; then the read caches are cleared whatever the outcome, and the outcome is left for the next run
to show. Dismissing the dialog forgets the action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from dashboard import auth, components, resources
from dashboard.text import md
from fpscore.errors import FpsError
from fpscore.merchant import flows, recovery, staff
from fpscore.merchant.connect import Merchant
from fpscore.merchant.flows import FlowRefused
from fpscore.merchant.roles import Actor, Forbidden
from fpscore.merchant.settlement import SettleResult, settle_many
from fpscore.money import Amount

PENDING_KEY = "fps_pending"


@dataclass(frozen=True)
class Pending:
    """An action waiting for confirmation. `title`, `moves` and `warning` are markdown: the page that
    proposes escapes every value in them with `md`."""

    kind: str  # a key of EXECUTORS
    title: str
    moves: tuple[tuple[str, str], ...]  # (what, how much / which): exactly what will move
    params: dict[str, Any]
    page: str  # the page that proposed it; leaving the page forgets it
    warning: str | None = None
    rows: tuple[dict[str, Any], ...] = field(default=())  # e.g. one per instrument to settle
    confirm_label: str = "Confirm"


def propose(action: Pending) -> None:
    st.session_state[PENDING_KEY] = action


def pending() -> Pending | None:
    return st.session_state.get(PENDING_KEY)


def cancel() -> None:
    st.session_state.pop(PENDING_KEY, None)


def confirm_pending(current_page: str) -> None:
    """Open the confirmation dialog for the pending action of this page, if there is one."""
    action = pending()
    if action is None:
        return
    if action.page != current_page:
        cancel()
        return
    _dialog(action)


@st.dialog("Please confirm", width="medium", on_dismiss=cancel)
def _dialog(action: Pending) -> None:
    st.markdown(f"#### {action.title}")
    st.markdown("\n".join(f"- **{what}:** {value}" for what, value in action.moves))
    if action.rows:
        st.dataframe(list(action.rows), hide_index=True, width="stretch")
    if action.warning:
        st.warning(action.warning, icon=":material/warning:")
    left, right = st.columns(2)
    confirmed = left.button(action.confirm_label, type="primary", key="fps_confirm", width="stretch")
    if right.button("Cancel", key="fps_cancel", width="stretch"):
        cancel()
        st.rerun()
    if confirmed:
        _execute(action)


def _execute(action: Pending) -> None:
    executor = EXECUTORS[action.kind]
    try:
        text, rows = executor(resources.merchant(), auth.actor(), action.params)
        components.flash("success", text, rows)
    except FlowRefused as error:
        components.flash("warning", components.describe(error))
    except (FpsError, Forbidden, ValueError) as error:
        components.flash("error", components.describe(error))
    finally:
        cancel()
        resources.after_write()
        st.session_state.pop(components.LIVE_KEY, None)  # ask the processor again after any write
    st.rerun()


# -- proposals more than one page makes ----------------------------------------------------------------


def propose_write_off(instrument_id: str, customer_email: str, typed: str, reason: str, page: str) -> None:
    """Check a write-off against the live debt and propose it; ValueError says what to correct."""
    if not reason.strip():
        raise ValueError("say why: a reason is required")
    live = components.live_balance(instrument_id, refresh=True)
    if live is None:
        return
    debt, asked = live
    amount = components.parse_amount(typed, "Amount")
    if debt.cents <= 0:
        raise ValueError("there is no debt to write off")
    if amount is None or amount.cents <= 0 or amount > debt:
        raise ValueError(f"write off between $0.01 and the debt, {components.usd(debt)}")
    usd = components.usd
    propose(
        Pending(
            "write_off",
            f"Write off {usd(amount)} of {md(customer_email)}'s debt",
            (
                ("Forgive", f"**{usd(amount)}** of debt: nobody is charged"),
                ("Debt now (live)", f"{usd(debt)} at {components.when(asked, seconds=True)}"),
                ("Debt after", usd(debt - amount)),
                ("Reason", md(reason)),
                ("Instrument", md(instrument_id)),
            ),
            {
                "instrument_id": instrument_id,
                "amount_cents": amount.cents,
                "currency": amount.currency,
                "reason": reason.strip(),
            },
            page,
            warning="A write-off cannot be undone.",
            confirm_label=f"Write off {usd(amount)}",
        )
    )


# -- what each action does ------------------------------------------------------------------------------

Result = tuple[str, list[dict[str, Any]]]


def _amount(params: dict[str, Any]) -> Amount:
    return Amount(int(params["amount_cents"]), params.get("currency", "USD"))


def _ids(outcome: flows.Outcome) -> str:
    return (
        f"TransactionId {md(outcome.transaction_id)} ({md(outcome.status)}), "
        f"RequestId {md(outcome.request_id)}"
    )


def _settle(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    amount = _amount(params)
    outcome = flows.settle(merchant, actor, params["instrument_id"], amount)
    return f"Settled {components.usd(amount)}. {_ids(outcome)}.", []


def _settle_many(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    ids: list[str] = list(params["instrument_ids"])
    bar = st.progress(0.0, text=f"Settling {len(ids)} instruments…")

    def progress(done: int, total: int, result: SettleResult) -> None:
        bar.progress(done / total, text=f"{done} of {total} done")

    results = settle_many(merchant, actor, ids, progress)
    rows = [
        {
            "Instrument": result.instrument_id,
            "Result": "Settled" if result.outcome else "Not settled",
            "TransactionId": result.outcome.transaction_id if result.outcome else "",
            "Status": result.outcome.status if result.outcome else "",
            "Error": result.error or "",
        }
        for result in results
    ]
    failed = sum(1 for result in results if result.error)
    text = f"Settled {len(results) - failed} of {len(results)} instruments."
    if failed:
        text += f" {failed} not settled: see why below."
    return text, rows


def _recover(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    waiting = max(int(params["waiting"]), 1)
    bar = st.progress(0.0, text="Resending…")
    rows: list[dict[str, Any]] = []

    def progress(reference: str, outcome: str) -> None:
        rows.append({"CallerReference": reference, "Outcome": outcome})
        bar.progress(min(len(rows) / waiting, 1.0), text=f"{len(rows)} of {waiting} resent")

    report = recovery.recover(merchant, actor, progress=progress)
    text = f"Recorded {components.count(report.total, 'answer')} ({report.answers})."
    if report.unanswered:
        text += (
            f" {components.count(len(report.unanswered), 'request')} still got no answer: try again later."
        )
    if report.mismatched:
        text += (f" {components.count(len(report.mismatched), 'request')} differ from what the processor "
                 "holds: run the checks below.")  # fmt: skip
    return text, rows


def _write_off(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    amount = _amount(params)
    outcome = flows.write_off(merchant, actor, params["instrument_id"], amount, params["reason"])
    return f"Wrote off {components.usd(amount)}. {_ids(outcome)}.", []


def _refund(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    amount = _amount(params)
    outcome = flows.refund_purchase(merchant, actor, int(params["purchase_id"]), params["reason"], amount)
    return f"Refunded {components.usd(amount)} of purchase {int(params['purchase_id'])}. {_ids(outcome)}.", []


def _cancel_token(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    request_id = flows.cancel_token(merchant, actor, params["instrument_id"], params["reason"])
    return f"Token cancelled: no further purchases on this instrument. RequestId {md(request_id)}.", []


def _change_role(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    staff.change_role(merchant.engine, actor, params["username"], params["role"])
    return f"{md(params['username'])} is now {md(params['role'])}.", []


def _set_disabled(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    staff.set_disabled(merchant.engine, actor, params["username"], bool(params["disabled"]))
    state = "disabled: their sessions end at their next page view" if params["disabled"] else "enabled"
    return f"{md(params['username'])} is {state}.", []


def _reset_password(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    password = staff.reset_password(merchant.engine, actor, params["username"])
    return (
        f"New temporary password for {md(params['username'])}: `{password}` — "
        "hand it over now; it is not shown again.",
        [],
    )


EXECUTORS: dict[str, Callable[[Merchant, Actor, dict[str, Any]], Result]] = {
    "settle": _settle,
    "settle_many": _settle_many,
    "recover": _recover,
    "write_off": _write_off,
    "refund": _refund,
    "cancel_token": _cancel_token,
    "change_role": _change_role,
    "set_disabled": _set_disabled,
    "reset_password": _reset_password,
}
