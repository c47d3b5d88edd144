"""Instrument (`?instrument=ID`): the customer, limits and masked tokens; the live balance or debt as the
processor tells it, with the time asked; every funding, purchase, refund, settlement and write-off with the
balance after each, and a chart of it; and the actions the signed-in role may take (settle, write off,
refund a purchase, cancel the token), each confirmed in a dialog that shows exactly what will move."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import actions, auth, resources
from dashboard import components as ui
from dashboard.text import md
from fpscore.merchant import queries
from fpscore.merchant.queries import HistoryEntry, InstrumentDetail, InstrumentView
from fpscore.merchant.reasons import MAX_NOTE, REFUND_CODES, WRITE_OFF_CODES
from fpscore.merchant.roles import Permission

HISTORY_PAGE_KEY = "instrument_history_page"
PAGE = "instrument"
WRITE_OFF_FORM = "write_off"  # its widgets' keys start with this
REFUND_FORM = "refund"


def history_records(
    entries: tuple[HistoryEntry, ...] | list[HistoryEntry], audit: bool
) -> list[dict[str, Any]]:
    records = []
    for entry in entries:
        detail = entry.detail or ""
        if entry.kind == "Refund" and entry.purchase_id:
            detail = f"purchase {entry.purchase_id}: {detail}"
        if entry.fee is not None:
            detail = f"fee {ui.usd(entry.fee)}"
        record: dict[str, Any] = {
            "When": ui.naive_utc(entry.created_at),
            "What": entry.kind,
            "Amount": ui.money(entry.amount),
            "Change": ui.money(entry.effect),
            "After": ui.money(entry.balance_after),
            "Status": entry.status if not entry.error_code else f"{entry.status} ({entry.error_code})",
            "Detail": detail,
            "Order": entry.order_id,
            "By": entry.requested_by,
            "TransactionId": ui.link("record", transaction_id=entry.transaction_id)
            if entry.transaction_id
            else None,
        }
        if audit:
            record["Audit"] = ui.link("audit", caller_reference=entry.caller_reference)
        records.append(record)
    return records


def export_records(entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    return [
        {
            "created_at": e.created_at,
            "kind": e.kind,
            "amount": e.amount,
            "change": e.effect,
            "balance_after": e.balance_after,
            "status": e.status,
            "error_code": e.error_code,
            "detail": e.detail,
            "fee": e.fee,
            "order_id": e.order_id,
            "purchase_id": e.purchase_id,
            "requested_by": e.requested_by,
            "caller_reference": e.caller_reference,
            "transaction_id": e.transaction_id,
        }
        for e in entries
    ]


def choose_instrument() -> None:
    with st.form("instrument_open"):
        typed = st.text_input("Instrument id", key="instrument_typed", placeholder="e.g. 2R3QW3ORX3QS…")
        if st.form_submit_button("Open", type="primary") and typed.strip():
            st.query_params["instrument"] = typed.strip()
            st.rerun()
    ui.empty("Open an instrument from the Instruments page, or paste its id above.")


def header(detail: InstrumentDetail) -> None:
    postpaid = detail.kind == "Postpaid"
    status = ":green-badge[Active]" if detail.status == "Active" else ":red-badge[Cancelled]"
    st.title(f"{md(detail.customer_name)} · {md(detail.kind)}")
    st.markdown(
        f"{status} :gray-badge[{md(detail.customer_email)}] :gray-badge[opened {ui.when(detail.created_at)}]"
    )
    live = ui.live_balance(detail.instrument_id)
    cols = st.columns([1.3, 1, 1, 1])
    with cols[0]:
        label = "Debt (live)" if postpaid else "Balance (live)"
        if live is not None:
            amount, asked = live
            drift = amount - detail.balance
            st.metric(
                label,
                ui.usd(amount),
                delta=None if drift.cents == 0 else f"{ui.usd(drift)} vs book",
                delta_color="off",
                delta_arrow="off",
                help="As the processor answers GetDebtBalance / GetPrepaidBalance",
            )
            st.caption(f"Asked the processor at {ui.when(asked, seconds=True)}")
        else:
            st.metric(label, "unavailable")
        if st.button("Ask again", icon=":material/refresh:", key="instrument_refresh"):
            ui.live_balance(detail.instrument_id, refresh=True)
            st.rerun()
    cols[1].metric("Book", ui.usd(detail.balance), help="What the merchant's records add up to")
    if postpaid:
        used = (
            f"{detail.balance.cents * 100 // detail.credit_limit.cents}% used"
            if detail.credit_limit and detail.credit_limit.cents
            else None
        )
        cols[2].metric(
            "Credit limit", ui.usd(detail.credit_limit), delta=used, delta_color="off", delta_arrow="off"
        )
        cols[3].metric("Per purchase", ui.usd(detail.purchase_limit))
    else:
        cols[2].metric("Funding limit", ui.usd(detail.funding_limit))
        cols[3].metric("Currency", detail.currency)
    with st.expander("Identifiers and tokens"):
        second = detail.settlement_token_id if postpaid else detail.funding_token_id
        st.markdown(
            f"- **Instrument:** {md(detail.instrument_id)}\n"
            f"- **Sender token:** {md(ui.mask(detail.sender_token_id))} · "
            f"**{'Settlement' if postpaid else 'Funding'} token:** {md(ui.mask(second))}\n"
            f"- **Expires:** {ui.when(detail.expires_at)} · **Debt since:** {ui.when(detail.debt_since)}\n"
            f"- **Customer:** {md(detail.customer_name)} ({detail.customer_id})"
        )


def chart(view: InstrumentView) -> None:
    if not view.series:
        return
    label = "Debt" if view.detail.kind == "Postpaid" else "Balance"
    frame = pd.DataFrame(
        {
            "When": [ui.naive_utc(p.at) for p in view.series],
            label: [float(p.balance.to_decimal()) for p in view.series],
        }
    )
    line = (
        alt.Chart(frame)
        .mark_area(interpolate="step-after", line=True, point=True, opacity=0.15)
        .encode(
            x=alt.X(
                "When:T",
                title=None,
                axis=alt.Axis(format="%Y-%m-%d %H:%M", tickCount=6, labelOverlap="greedy"),
            ),
            y=alt.Y(f"{label}:Q", title=f"{label} ($)"),
            tooltip=[
                alt.Tooltip("When:T", format="%Y-%m-%d %H:%M:%S"),
                alt.Tooltip(f"{label}:Q", format="$,.2f"),
            ],
        )
        .properties(height=220)
    )
    st.altair_chart(line, width="stretch")


def propose_settle(detail: InstrumentDetail, typed: str) -> None:
    live = ui.live_balance(detail.instrument_id, refresh=True)
    if live is None:
        return
    debt, asked = live
    amount = ui.parse_amount(typed, "Amount") or debt
    if debt.cents <= 0:
        st.info("There is no debt to settle.")
        return
    if amount.cents <= 0 or amount > debt:
        raise ValueError(f"settle between $0.01 and the debt, {ui.usd(debt)}")
    fee = resources.merchant().fee_schedule.fee(amount)
    actions.propose(
        actions.Pending(
            "settle",
            f"Settle {ui.usd(amount)} of {md(detail.customer_email)}'s debt",
            (
                (
                    "Charge the customer",
                    f"**{ui.usd(amount)}** with settlement token {md(ui.mask(detail.settlement_token_id))}",
                ),
                ("Debt now (live)", f"{ui.usd(debt)} at {ui.when(asked, seconds=True)}"),
                ("Debt after", ui.usd(debt - amount)),
                ("Processor fee", f"{ui.usd(fee)}, on this one aggregated charge"),
                ("Instrument", md(detail.instrument_id)),
            ),
            {
                "instrument_id": detail.instrument_id,
                "amount_cents": amount.cents,
                "currency": amount.currency,
            },
            PAGE,
            confirm_label=f"Settle {ui.usd(amount)}",
            resets={"settle_amount": ""},
        )
    )


def propose_refund(
    view: InstrumentView, purchase_id: int | None, typed: str, reason: tuple[str | None, str, int | None]
) -> None:
    if purchase_id is None:
        raise ValueError("choose the purchase to refund")
    code, note, _ = reason
    why = actions.checked_reason(code, note, REFUND_CODES)
    bought = next(p for p in view.refundable if p.purchase_id == purchase_id)
    amount = ui.parse_amount(typed, "Amount") or bought.remaining
    if amount.cents <= 0 or amount > bought.remaining:
        raise ValueError(f"refund between $0.01 and what remains of the purchase, {ui.usd(bought.remaining)}")
    detail = view.detail
    prepaid = detail.kind == "Prepaid"
    after = detail.balance + amount if prepaid else detail.balance - amount
    actions.propose(
        actions.Pending(
            "refund",
            f"Refund {ui.usd(amount)} of “{md(bought.product)}”",
            (
                ("Return", f"**{ui.usd(amount)}** {'to the prepaid balance' if prepaid else 'off the debt'}"),
                ("Purchase", f"{bought.purchase_id} (order {bought.order_id}), paid {ui.usd(bought.amount)}"),
                ("Refunded before", ui.usd(bought.refunded)),
                (f"{'Balance' if prepaid else 'Debt'} (book)", f"{ui.usd(detail.balance)} → {ui.usd(after)}"),
                ("Reason", md(why.text)),
            ),
            {
                "instrument_id": detail.instrument_id,
                "purchase_id": bought.purchase_id,
                "product": bought.product,
                "balance_label": "balance" if prepaid else "debt",
                "amount_cents": amount.cents,
                "currency": amount.currency,
                "code": why.code.value,
                "note": why.note,
            },
            PAGE,
            confirm_label=f"Refund {ui.usd(amount)}",
            resets=actions.emptied(REFUND_FORM, "purchase"),
        )
    )


def propose_cancel(detail: InstrumentDetail, reason: str) -> None:
    if not reason.strip():
        raise ValueError("say why: a reason is required")
    left = (
        f"the debt of {ui.usd(detail.balance)} (book) still has to be settled or written off"
        if detail.kind == "Postpaid"
        else f"the balance of {ui.usd(detail.balance)} (book) stays the customer's"
    )
    actions.propose(
        actions.Pending(
            "cancel_token",
            f"Cancel {md(detail.customer_email)}'s {md(detail.kind.lower())} instrument",
            (
                ("Cancel", f"sender token {md(ui.mask(detail.sender_token_id))}: no further purchases"),
                ("Money", f"nothing moves; {left}"),
                ("Reason", md(reason)),
            ),
            {"instrument_id": detail.instrument_id, "reason": reason.strip()},
            PAGE,
            warning="A cancelled token cannot be used again; the customer must set up a new instrument.",
            confirm_label="Cancel the token",
        )
    )


def settle_form(view: InstrumentView) -> None:
    with st.form("instrument_settle"):
        typed = st.text_input("Amount ($)", key="settle_amount", placeholder="blank: the whole debt")
        if st.form_submit_button("Review settlement", type="primary"):
            propose_settle(view.detail, typed)


def write_off_form(view: InstrumentView) -> None:
    with st.form("instrument_write_off"):
        typed = st.text_input("Amount ($)", key=f"{WRITE_OFF_FORM}_amount")
        reason = actions.reason_fields(WRITE_OFF_FORM, WRITE_OFF_CODES, view.refundable)
        if st.form_submit_button("Review write-off", type="primary"):
            actions.propose_write_off(
                view.detail.instrument_id,
                view.detail.customer_email,
                typed,
                reason,
                PAGE,
                disputable=view.refundable,
                resets=actions.emptied(WRITE_OFF_FORM),
            )


def refund_form(view: InstrumentView) -> None:
    if not view.refundable:
        st.caption("No completed purchase with anything left to refund.")
        return
    choices = {p.purchase_id: p for p in view.refundable}
    with st.form("instrument_refund"):
        purchase_id = st.selectbox(
            "Purchase",
            list(choices),
            key=f"{REFUND_FORM}_purchase",
            index=None,
            format_func=lambda i: actions.purchase_label(choices[i]),
            placeholder="Choose the purchase to refund (the one disputed)",
        )
        typed = st.text_input(
            "Amount ($)", key=f"{REFUND_FORM}_amount", placeholder="blank: all that remains"
        )
        reason = actions.reason_fields(REFUND_FORM, REFUND_CODES)
        if st.form_submit_button("Review refund", type="primary"):
            propose_refund(view, purchase_id, typed, reason)


def cancel_form(view: InstrumentView) -> None:
    with st.form("instrument_cancel"):
        reason = st.text_area("Reason (required)", key="cancel_reason", max_chars=MAX_NOTE)
        if st.form_submit_button("Review cancellation"):
            propose_cancel(view.detail, reason)


def action_forms(view: InstrumentView) -> None:
    """The actions this role may take on this instrument (fpscore checks the role again on confirm)."""
    detail = view.detail
    actor = auth.actor()
    postpaid = detail.kind == "Postpaid"
    forms = {}
    if actor.may(Permission.SETTLE) and postpaid:
        forms["Settle"] = settle_form
    if actor.may(Permission.WRITE_OFF) and postpaid:
        forms["Write off"] = write_off_form
    if actor.may(Permission.REFUND):
        forms["Refund a purchase"] = refund_form
    if actor.may(Permission.CANCEL_TOKEN) and detail.status == "Active":
        forms["Cancel token"] = cancel_form
    if not forms:
        st.caption(f"Your role ({md(actor.role)}) can look here but not act.")
        return
    for form, tab in zip(forms.values(), st.tabs(list(forms)), strict=True):
        with tab, ui.guarded():
            form(view)


wanted = st.query_params.get("instrument", "").strip()
if not wanted:
    st.title("Instrument")
    ui.show_flash()
    choose_instrument()
    st.stop()

view = resources.read(queries.instrument_view, wanted, page=ui.page_number(HISTORY_PAGE_KEY), page_size=25)
if view is None:
    st.title("Instrument")
    ui.show_flash()
    st.warning(
        f"The merchant has no instrument {md(wanted[:64])}. Check the id, or find it on the Instruments page."
    )
    choose_instrument()
    st.stop()

header(view.detail)
ui.show_flash()
action_forms(view)

st.subheader("History")
if not view.history.rows:
    ui.empty("No money has moved on this instrument yet: fundings and purchases appear here as they happen.")
    st.stop()
chart(view)
after = "Debt after" if view.detail.kind == "Postpaid" else "Balance after"
columns = {
    "When": ui.time_column("When"),
    "Amount": ui.money_column("Amount"),
    "Change": ui.money_column("Change", help="What it changed; zero unless it succeeded"),
    "After": ui.money_column(after, help="Running total in time order, computed in SQL"),
    "Order": st.column_config.NumberColumn("Order", format="%d"),
    "TransactionId": ui.link_column(
        "TransactionId", shown=r"transaction_id=([^&]{1,12})", help="Opens its record", pinned=False
    ),
    "Audit": ui.link_column(
        "Audit", shown=r"caller_reference=(\w+)-", help="Every attempt of this request", pinned=False
    ),
}
ui.table(history_records(view.history.rows, ui.has_page("audit")), columns, key="instrument_history")
ui.pager(view.history, HISTORY_PAGE_KEY)
engine = resources.merchant().engine
instrument_id = view.detail.instrument_id
ui.csv_button(
    f"CSV of the history (newest {queries.MAX_EXPORT_ROWS:,})",
    f"instrument-{instrument_id[:12]}.csv",
    lambda: ui.to_csv(export_records(queries.instrument_history(engine, instrument_id))),
    key="instrument_csv",
)
