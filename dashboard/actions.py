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
from fpscore.errors import FpsError, InvalidParams
from fpscore.merchant import flows, reasons, recovery, staff
from fpscore.merchant.connect import Merchant
from fpscore.merchant.flows import FlowRefused
from fpscore.merchant.queries import RefundablePurchase
from fpscore.merchant.reasons import LABELS, MAX_NOTE, WRITE_OFF_CODES, Reason, ReasonCode
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
    # The proposing form's widgets (key: empty value), emptied once it is done, so Review cannot propose it
    # again. Set at the start of the next run, before the widgets exist: how the browser learns the value.
    resets: dict[str, Any] = field(default_factory=dict)


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
        components.flash("success", text, rows, RESULT_COLUMNS.get(action.kind), action.resets)
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


def reason_fields(
    key: str, codes: tuple[ReasonCode, ...], disputable: tuple[RefundablePurchase, ...] = ()
) -> tuple[str | None, str, int | None]:
    """A write-off's or refund's reason inside its form: a reason code (required), a note ("Other" needs
    one) and, when `disputable` purchases are given, the one disputed (optional). Their widget keys start
    with `key`; the chosen code, the note and the disputed purchase's id."""
    code = st.selectbox(
        "Reason", codes, key=f"{key}_code", index=None, format_func=LABELS.get, placeholder="Choose a reason"
    )
    note = st.text_area(
        "Note (required for “Other”; kept in the audit)", key=f"{key}_note", max_chars=MAX_NOTE, height=68
    )
    disputed = None
    if disputable:
        by_id = {p.purchase_id: p for p in disputable}
        disputed = st.selectbox(
            "Disputed purchase (optional)",
            list(by_id),
            key=f"{key}_disputed",
            index=None,
            format_func=lambda i: purchase_label(by_id[i]),
            placeholder="None: the debt as a whole",
        )
    return code, note, disputed


def emptied(key: str, choice: str = "disputed") -> dict[str, Any]:
    """The empty values of a money form whose widget keys start with `key`: its amount, its reason (code
    and note) and its one choice of a purchase, `choice`: a write-off's "disputed", a refund's "purchase"."""
    fields = {"amount": "", "code": None, "note": "", choice: None}
    return {f"{key}_{field}": value for field, value in fields.items()}


def purchase_label(p: RefundablePurchase) -> str:
    """A purchase in a choice: id, product, price, what is left to refund, when (plain text: widgets'
    options are not markdown)."""
    left = "" if p.remaining == p.amount else f" · {components.usd(p.remaining)} left"
    return (
        f"{p.purchase_id} · {p.product} · {components.usd(p.amount)}{left} · {components.when(p.created_at)}"
    )


def checked_reason(code: str | None, note: str, codes: tuple[ReasonCode, ...]) -> Reason:
    """The reason as fpscore will check it; ValueError says what to correct."""
    try:
        return reasons.reason(code or "", note, codes)
    except InvalidParams as error:
        raise ValueError(error.message) from None


def propose_write_off(
    instrument_id: str,
    customer_email: str,
    typed: str,
    reason: tuple[str | None, str, int | None],
    page: str,
    *,
    disputable: tuple[RefundablePurchase, ...] = (),
    resets: dict[str, Any] | None = None,
) -> None:
    """Check a write-off (its reason: code, note, disputed purchase) against the live debt and propose it;
    ValueError says what to correct."""
    code, note, disputed_id = reason
    why = checked_reason(code, note, WRITE_OFF_CODES)
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
    disputed = next((p for p in disputable if p.purchase_id == disputed_id), None)
    propose(
        Pending(
            "write_off",
            f"Write off {usd(amount)} of {md(customer_email)}'s debt",
            (
                ("Forgive", f"**{usd(amount)}** of debt: nobody is charged"),
                ("Debt now (live)", f"{usd(debt)} at {components.when(asked, seconds=True)}"),
                ("Debt after", usd(debt - amount)),
                ("Reason", md(why.text)),
                ("Disputed purchase", md(purchase_label(disputed)) if disputed else "none"),
                ("Instrument", md(instrument_id)),
            ),
            {
                "instrument_id": instrument_id,
                "amount_cents": amount.cents,
                "currency": amount.currency,
                "code": why.code.value,
                "note": why.note,
                "disputed_purchase_id": disputed.purchase_id if disputed else None,
            },
            page,
            warning="A write-off cannot be undone.",
            confirm_label=f"Write off {usd(amount)}",
            resets=resets or {},
        )
    )


# -- what each action does ------------------------------------------------------------------------------

Result = tuple[str, list[dict[str, Any]]]


def _amount(params: dict[str, Any]) -> Amount:
    return Amount(int(params["amount_cents"]), params.get("currency", "USD"))


def _record(outcome: flows.Outcome) -> tuple[str, str] | None:
    """Where the role reads what was asked and answered, as (label, link): the Audit record of the request,
    or (roles without Audit) the read-only record of the movement."""
    if components.has_page("audit"):
        return "Audit record", components.link("audit", request_id=outcome.request_id)
    if components.has_page("record"):
        return "Record", components.link("record", caller_reference=outcome.caller_reference)
    return None


def _links(instrument_id: str, outcome: flows.Outcome) -> str:
    """Markdown links to the instrument's page and to the record of the request."""
    links = [f"[Open the instrument]({components.link('instrument', instrument=instrument_id)})"]
    if record := _record(outcome):
        links.append("[{}]({})".format(*record))
    return " · ".join(links)


def _live(merchant: Merchant, actor: Actor, instrument_id: str) -> str:
    """The balance or debt the processor holds now, for a result; the action is done whatever this says."""
    try:
        return components.usd(flows.refresh_balance(merchant, actor, instrument_id))
    except (FpsError, Forbidden, FlowRefused):
        return "not known (ask again on the instrument's page)"


def _result(done: str, outcome: flows.Outcome, after: str, instrument_id: str) -> str:
    """What happened in words (or that the processor has not finished it), then the links."""
    if outcome.status != "Success":
        done = f"{done}: the processor says {md(outcome.status)}"
    return f"{done} — {after}.\n\n{_links(instrument_id, outcome)}"


def _settle(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    instrument_id = params["instrument_id"]
    outcome = flows.settle(merchant, actor, instrument_id, _amount(params))
    usd = components.usd
    return _result(
        f"Settled {usd(outcome.amount)} (fee {usd(outcome.fee)})",
        outcome,
        f"debt now {_live(merchant, actor, instrument_id)}",
        instrument_id,
    ), []


def _settle_many(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    ids: list[str] = list(params["instrument_ids"])
    customers: dict[str, str] = params["customers"]
    bar = st.progress(0.0, text=f"Settling {components.count(len(ids), 'instrument')}…")

    def progress(done: int, total: int, result: SettleResult) -> None:
        bar.progress(done / total, text=f"{done} of {total} done")

    results = settle_many(merchant, actor, ids, progress)
    settled = [result.outcome for result in results if result.outcome]
    rows = [
        {
            "Customer": customers.get(result.instrument_id, ""),
            "Amount": components.money(result.outcome.amount) if result.outcome else None,
            "Fee": components.money(result.outcome.fee) if result.outcome else None,
            "Result": result.outcome.status if result.outcome else "Not settled",
            "Why not": result.error or "",
            "Instrument": components.link("instrument", instrument=result.instrument_id),
            "Record": record[1] if result.outcome and (record := _record(result.outcome)) else None,
        }
        for result in results
    ]
    total = sum((outcome.amount for outcome in settled), Amount.zero())
    fees = sum((outcome.fee or Amount.zero() for outcome in settled), Amount.zero())
    text = (
        f"Settled {len(settled)} of {components.count(len(results), 'instrument')}: "
        f"{components.usd(total)} charged, {components.usd(fees)} in fees."
    )
    if failed := len(results) - len(settled):
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
    instrument_id = params["instrument_id"]
    outcome = flows.write_off(
        merchant, actor, instrument_id, _amount(params), params["note"], code=params["code"],
        disputed_purchase_id=params["disputed_purchase_id"],
    )  # fmt: skip
    after = f"debt now {_live(merchant, actor, instrument_id)}"
    return _result(f"Wrote off {components.usd(outcome.amount)}", outcome, after, instrument_id), []


def _refund(merchant: Merchant, actor: Actor, params: dict[str, Any]) -> Result:
    instrument_id = params["instrument_id"]
    outcome = flows.refund_purchase(
        merchant, actor, int(params["purchase_id"]), params["note"], _amount(params), code=params["code"]
    )
    done = f"Refunded {components.usd(outcome.amount)} of “{md(params['product'])}”"
    after = f"{params['balance_label']} now {_live(merchant, actor, instrument_id)}"
    return _result(done, outcome, after, instrument_id), []


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


# The column_config of the table under an action's result, by kind.
RESULT_COLUMNS: dict[str, dict[str, Any]] = {
    "settle_many": {
        "Amount": components.money_column("Amount"),
        "Fee": components.money_column("Fee"),
        "Instrument": components.link_column("Instrument"),
        "Record": st.column_config.LinkColumn("Record", display_text="Open"),
    },
}

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
