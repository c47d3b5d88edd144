"""Write-offs (support): find the customer or instrument, write off part or all of its debt with a reason
code (and a note, and optionally the purchase disputed) after a confirmation against the live debt; and the
history of write-offs with who wrote each off and why."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import actions, resources
from dashboard import components as ui
from fpscore.merchant import queries
from fpscore.merchant.queries import InstrumentFilter, MovementFilter, MovementRow
from fpscore.merchant.reasons import WRITE_OFF_CODES

PAGE = "write_offs"
HISTORY_PAGE_KEY = "write_offs_history_page"
MATCHES_SHOWN = 20
DISPUTABLE_SHOWN = 50  # the instrument's recent purchases offered as the disputed one
FORM = "write_off_page"  # its widgets' keys start with this


def history_records(rows: tuple[MovementRow, ...] | list[MovementRow]) -> list[dict[str, Any]]:
    return [
        {
            "When": ui.naive_utc(row.created_at),
            "Instrument": ui.link("instrument", instrument=row.instrument_id),
            "Customer": row.customer_email,
            "Amount": ui.money(row.amount),
            "Why": row.reason or "",
            "Purchase": row.disputed_purchase_id,
            "By": row.requested_by,
            "Status": row.status if not row.error_code else f"{row.status} ({row.error_code})",
            "TransactionId": ui.link("record", transaction_id=row.transaction_id)
            if row.transaction_id
            else None,
        }
        for row in rows
    ]


def export_records(rows: list[MovementRow]) -> list[dict[str, Any]]:
    return [
        {
            "created_at": row.created_at,
            "instrument_id": row.instrument_id,
            "customer_email": row.customer_email,
            "amount": row.amount,
            "reason": row.reason,
            "reason_code": row.reason_code,
            "disputed_purchase_id": row.disputed_purchase_id,
            "requested_by": row.requested_by,
            "status": row.status,
            "error_code": row.error_code,
            "transaction_id": row.transaction_id,
            "caller_reference": row.caller_reference,
        }
        for row in rows
    ]


def new_tab() -> None:
    preset = st.query_params.get("instrument", "")
    search = st.text_input(
        "Find the customer or instrument",
        key="write_off_search",
        value=preset,
        placeholder="email, name or instrument id",
    )
    if not search.strip():
        ui.empty(
            "Search for the customer whose debt you are writing off: part of their email or name will do."
        )
        return
    wanted = InstrumentFilter(kind="Postpaid", search=search, balance_min_cents=1, sort="balance")
    found = resources.read(queries.instruments, wanted, page=1, page_size=MATCHES_SHOWN).page.rows
    if not found:
        ui.empty(
            "No postpaid instrument with debt matches. Only debt can be written off; a prepaid balance is "
            "returned with a refund from the instrument's page."
        )
        return
    by_id = {row.instrument_id: row for row in found}
    chosen = st.selectbox(
        "Instrument",
        list(by_id),
        key="write_off_instrument",
        # who and which only: a browser keeps showing a chosen option's first label, so the debt, which
        # changes, is said below
        format_func=lambda i: f"{by_id[i].customer_email} · {ui.short(i)}",
    )
    row = by_id[chosen]
    st.caption(
        f"Debt {ui.usd(row.balance)} (book) · "
        f"[Open the instrument]({ui.link('instrument', instrument=row.instrument_id)}) for its full history."
    )
    disputable = resources.read(queries.refundable_purchases, row.instrument_id, DISPUTABLE_SHOWN)
    with st.form("write_off_form"), ui.guarded():
        typed = st.text_input(
            "Amount ($)", key=f"{FORM}_amount", placeholder=f"at most {ui.usd(row.balance)}"
        )
        reason = actions.reason_fields(FORM, WRITE_OFF_CODES, disputable)
        if st.form_submit_button("Review write-off", type="primary"):
            actions.propose_write_off(
                row.instrument_id,
                row.customer_email,
                typed,
                reason,
                PAGE,
                disputable=disputable,
                resets=actions.emptied(FORM),
            )


def history_tab() -> None:
    engine = resources.merchant().engine
    cols = st.columns([2, 1, 1.5])
    search = cols[0].text_input(
        "Customer or instrument", key="write_offs_search", on_change=ui.reset_page, args=(HISTORY_PAGE_KEY,)
    )
    people = ["Anyone", *resources.read(queries.staff_names, "write_offs")]
    by = cols[1].selectbox(
        "By", people, key="write_offs_by", on_change=ui.reset_page, args=(HISTORY_PAGE_KEY,)
    )
    with cols[2]:
        since, until = ui.date_range("Between (UTC days)", "write_offs_days", HISTORY_PAGE_KEY)
    wanted = MovementFilter(
        kind="write_offs", search=search, requested_by="" if by == "Anyone" else by, since=since, until=until
    )
    result = resources.read(queries.movements, wanted, page=ui.page_number(HISTORY_PAGE_KEY), page_size=50)
    if not result.page.rows:
        ui.empty("No write-off matches. Write-offs appear here with who made them and why.")
        return
    st.metric("Written off (this filter)", ui.usd(result.succeeded_total))
    ui.table(
        history_records(result.page.rows),
        {
            "When": ui.time_column("When"),
            "Instrument": ui.link_column("Instrument"),
            "Amount": ui.money_column("Amount"),
            "Why": st.column_config.TextColumn("Why", width="medium"),
            "Purchase": st.column_config.NumberColumn(
                "Purchase", format="%d", help="The purchase disputed, when one was named"
            ),
            "TransactionId": ui.link_column(
                "TransactionId", shown=r"transaction_id=([^&]{1,12})", help="Opens its record", pinned=False
            ),
        },
        key="write_offs_history",
    )
    ui.pager(result.page, HISTORY_PAGE_KEY)
    ui.csv_button(
        f"CSV of this filter (newest {queries.MAX_EXPORT_ROWS:,})",
        "write-offs.csv",
        lambda: ui.to_csv(export_records(queries.movements_export(engine, wanted))),
        key="write_offs_csv",
    )


st.title("Write-offs")
ui.show_flash()
new, history = st.tabs(["Write off debt", "History"])
with new:
    new_tab()
with history:
    history_tab()
