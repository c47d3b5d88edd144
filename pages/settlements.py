"""Settlements (finance): the postpaid instruments due under the settlement policy, each with why it is
due; those selected in the table (or all) settled with progress and a result per instrument (customer,
amount, fee, links); and the history of every settlement."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import actions, resources
from dashboard import components as ui
from fpscore.merchant import queries
from fpscore.merchant.queries import MovementFilter, MovementRow
from fpscore.merchant.settlement import DueInstrument
from fpscore.money import Amount

PAGE = "settlements"
DUE_TABLE = "settlements_due"  # its selection picks what "Settle selected" settles
HISTORY_PAGE_KEY = "settlements_history_page"
STATUSES = ["All", "Success", "Pending", "Failure", "Requested"]
LISTED = 1_000  # due instruments listed at once, largest debt first (settling them takes a while already)


def due_records(due: list[DueInstrument]) -> list[dict[str, Any]]:
    return [
        {
            "Customer": item.customer_email,
            "Debt": ui.money(item.debt),
            "Credit limit": ui.money(item.credit_limit),
            "Credit used %": item.debt.cents * 100 // item.credit_limit.cents
            if item.credit_limit.cents
            else None,
            "Why due": item.why,
            "Debt since": ui.naive_utc(item.debt_since),
            "Instrument": ui.link("instrument", instrument=item.instrument_id),
        }
        for item in due
    ]


def history_records(rows: tuple[MovementRow, ...] | list[MovementRow]) -> list[dict[str, Any]]:
    return [
        {
            "When": ui.naive_utc(row.created_at),
            "Instrument": ui.link("instrument", instrument=row.instrument_id),
            "Customer": row.customer_email,
            "Amount": ui.money(row.amount),
            "Fee": ui.money(row.fee),
            "Status": row.status if not row.error_code else f"{row.status} ({row.error_code})",
            "By": row.requested_by,
            "TransactionId": ui.link("record", transaction_id=row.transaction_id)
            if row.transaction_id
            else None,
            "CallerReference": row.caller_reference,
        }
        for row in rows
    ]


def export_records(rows: list[MovementRow]) -> list[dict[str, Any]]:
    return [
        {
            "created_at": row.created_at,
            "completed_at": row.completed_at,
            "instrument_id": row.instrument_id,
            "customer_email": row.customer_email,
            "amount": row.amount,
            "fee": row.fee,
            "status": row.status,
            "error_code": row.error_code,
            "requested_by": row.requested_by,
            "transaction_id": row.transaction_id,
            "caller_reference": row.caller_reference,
        }
        for row in rows
    ]


def propose(chosen: list[DueInstrument]) -> None:
    schedule = resources.merchant().fee_schedule
    total = sum((item.debt for item in chosen), Amount.zero())
    fees = sum((schedule.fee(item.debt) for item in chosen), Amount.zero())
    customers = ui.count(len(chosen), "customer")
    actions.propose(
        actions.Pending(
            "settle_many",
            f"Settle {ui.count(len(chosen), 'instrument')}",
            (
                ("Charge", f"**{customers}**, one charge each, **{ui.usd(total)}** in all (book)"),
                ("How much each", "the whole debt as the processor reports it at that moment"),
                ("Processor fees", f"about {ui.usd(fees)} in all, by the fee schedule"),
                ("If one fails", "the others go on; each gets its own result"),
            ),
            {
                "instrument_ids": [item.instrument_id for item in chosen],
                "customers": {item.instrument_id: item.customer_email for item in chosen},
            },
            PAGE,
            rows=tuple(
                {
                    "Customer": item.customer_email,
                    "Debt": ui.usd(item.debt),
                    "Fee, about": ui.usd(schedule.fee(item.debt)),
                    "Why due": item.why,
                }
                for item in chosen
            ),
            confirm_label=f"Settle {ui.count(len(chosen), 'instrument')}",
            resets={DUE_TABLE: {"selection": {"rows": [], "columns": []}}},
        )
    )


def due_tab() -> None:
    policy = resources.policy()
    st.caption(f"Due: {policy}. Largest debt first; select rows in the table to settle them.")
    due, totals = resources.due(LISTED)
    if not due:
        ui.empty(
            "Nothing is due under the policy. Instruments become due as their debt grows or ages; "
            "a single instrument can be settled early from its page."
        )
        return
    schedule = resources.merchant().fee_schedule
    listed = len(due) < totals.instruments
    left, middle, right = st.columns(3)
    left.metric("Due instruments", f"{totals.instruments:,}")
    middle.metric(
        "Debt due (book)", " + ".join(ui.usd(d) if d.currency == "USD" else str(d) for d in totals.debt)
    )
    right.metric(
        "Fees on the listed, about" if listed else "Fees, about",
        ui.usd(sum((schedule.fee(item.debt) for item in due), Amount.zero())),
    )
    if listed:
        st.info(
            f"Listing the {len(due):,} largest debts of the {totals.instruments:,} due. Settle them and the "
            "next ones are listed; `fpscore settle --due` settles every one, in batches.",
            icon=":material/filter_list:",
        )
    event = ui.table(
        due_records(due),
        {
            "Customer": st.column_config.TextColumn("Customer", pinned=True),
            "Debt": ui.money_column("Debt"),
            "Credit limit": ui.money_column("Credit limit"),
            "Credit used %": st.column_config.ProgressColumn(
                "Credit used", min_value=0, max_value=100, format="%d%%"
            ),
            "Why due": st.column_config.TextColumn("Why due", help=f"The policy: {policy}"),
            "Debt since": ui.time_column("Debt since"),
            "Instrument": ui.link_column("Instrument"),
        },
        key=DUE_TABLE,
        select="multi-row",
    )
    chosen = [due[i] for i in event.selection.rows if i < len(due)]
    left, right = st.columns(2)
    selected = f"Settle selected ({len(chosen)})" if chosen else "Settle selected: select rows above"
    if left.button(selected, key="settle_selected", type="primary", disabled=not chosen, width="stretch"):
        propose(chosen)
    everything = f"Settle the {len(due):,} listed" if listed else f"Settle all {len(due):,} due"
    if right.button(everything, key="settle_all", width="stretch"):
        propose(due)
    due_csv = [
        {
            "instrument_id": item.instrument_id,
            "customer_email": item.customer_email,
            "debt": item.debt,
            "credit_limit": item.credit_limit,
            "why_due": item.why,
            "debt_since": item.debt_since,
        }
        for item in due
    ]
    ui.csv_button(
        "CSV of what is due", "settlements-due.csv", lambda: ui.to_csv(due_csv), key="settlements_due_csv"
    )


def history_tab() -> None:
    engine = resources.merchant().engine
    cols = st.columns([2, 1, 1, 1.5])
    search = cols[0].text_input(
        "Customer or instrument", key="settlements_search", on_change=ui.reset_page, args=(HISTORY_PAGE_KEY,)
    )
    people = ["Anyone", *resources.read(queries.staff_names, "settlements")]
    by = cols[1].selectbox(
        "By", people, key="settlements_by", on_change=ui.reset_page, args=(HISTORY_PAGE_KEY,)
    )
    status = cols[2].selectbox(
        "Status", STATUSES, key="settlements_status", on_change=ui.reset_page, args=(HISTORY_PAGE_KEY,)
    )
    with cols[3]:
        since, until = ui.date_range("Between (UTC days)", "settlements_days", HISTORY_PAGE_KEY)
    wanted = MovementFilter(
        kind="settlements",
        search=search,
        requested_by="" if by == "Anyone" else by,
        status=None if status == "All" else status,
        since=since,
        until=until,
    )
    result = resources.read(queries.movements, wanted, page=ui.page_number(HISTORY_PAGE_KEY), page_size=50)
    if not result.page.rows:
        ui.empty(
            "No settlement matches. Settlements appear here once finance or the nightly job settles debt."
        )
        return
    st.metric("Settled successfully (this filter)", ui.usd(result.succeeded_total))
    ui.table(
        history_records(result.page.rows),
        {
            "When": ui.time_column("When"),
            "Instrument": ui.link_column("Instrument"),
            "Amount": ui.money_column("Amount"),
            "Fee": ui.money_column("Fee"),
            "TransactionId": ui.link_column(
                "TransactionId", shown=r"transaction_id=([^&]{1,12})", help="Opens its record", pinned=False
            ),
            "CallerReference": None,  # on the record and in the CSV
        },
        key="settlements_history",
    )
    ui.pager(result.page, HISTORY_PAGE_KEY)
    ui.csv_button(
        f"CSV of this filter (newest {queries.MAX_EXPORT_ROWS:,})",
        "settlements.csv",
        lambda: ui.to_csv(export_records(queries.movements_export(engine, wanted))),
        key="settlements_csv",
    )


st.title("Settlements")
ui.show_flash()
due_tab_, history_tab_ = st.tabs(["Due now", "History"])
with due_tab_:
    due_tab()
with history_tab_:
    history_tab()
