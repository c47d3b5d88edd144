"""Settlements (finance): the postpaid instruments due under the settlement policy, settled selected or all
at once with progress and a result per instrument; and the history of every settlement."""

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
HISTORY_PAGE_KEY = "settlements_history_page"
STATUSES = ["All", "Success", "Pending", "Failure", "Requested"]
LISTED = 1_000  # due instruments listed at once, largest debt first (settling them takes a while already)


def due_records(due: list[DueInstrument]) -> list[dict[str, Any]]:
    return [
        {
            "Instrument": ui.link("instrument", instrument=item.instrument_id),
            "Customer": item.customer_email,
            "Debt": ui.money(item.debt),
            "Credit limit": ui.money(item.credit_limit),
            "Credit used %": item.debt.cents * 100 // item.credit_limit.cents
            if item.credit_limit.cents
            else None,
            "Debt since": ui.naive_utc(item.debt_since),
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
            "TransactionId": row.transaction_id or "",
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
    actions.propose(
        actions.Pending(
            "settle_many",
            f"Settle {len(chosen)} instrument{'s' if len(chosen) != 1 else ''}",
            (
                (
                    "Charge",
                    f"**{len(chosen)}** customers, one charge each, **{ui.usd(total)}** in all (book)",
                ),
                ("How much each", "the whole debt as the processor reports it at that moment"),
                ("Processor fees", f"about {ui.usd(fees)} in all, by the fee schedule"),
                ("If one fails", "the others go on; each gets its own result"),
            ),
            {"instrument_ids": [item.instrument_id for item in chosen]},
            PAGE,
            rows=tuple(
                {
                    "Customer": item.customer_email,
                    "Instrument": ui.short(item.instrument_id, 16),
                    "Debt": str(item.debt),
                }
                for item in chosen
            ),
            confirm_label=f"Settle {len(chosen)}",
        )
    )


def due_tab() -> None:
    policy = resources.policy()
    st.caption(
        f"Due: debt at or over {policy.share_basis_points / 100:g}% of the credit limit, "
        f"or owed for more than {policy.max_age.days} days (FPS_SETTLE_SHARE, FPS_SETTLE_AFTER_DAYS). "
        "Largest debt first."
    )
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
    ui.table(
        due_records(due),
        {
            "Instrument": ui.link_column("Instrument"),
            "Debt": ui.money_column("Debt"),
            "Credit limit": ui.money_column("Credit limit"),
            "Credit used %": st.column_config.ProgressColumn(
                "Credit used", min_value=0, max_value=100, format="%d%%"
            ),
            "Debt since": ui.time_column("Debt since"),
        },
        key="settlements_due",
    )
    due_csv = [
        {
            "instrument_id": item.instrument_id,
            "customer_email": item.customer_email,
            "debt": item.debt,
            "credit_limit": item.credit_limit,
            "debt_since": item.debt_since,
        }
        for item in due
    ]
    ui.csv_button(
        "CSV of what is due", "settlements-due.csv", lambda: ui.to_csv(due_csv), key="settlements_due_csv"
    )
    by_id = {item.instrument_id: item for item in due}
    chosen = st.multiselect(
        "Instruments to settle",
        list(by_id),
        key="settlements_chosen",
        format_func=lambda i: f"{by_id[i].customer_email} · {ui.short(i)} · {ui.usd(by_id[i].debt)}",
        placeholder="choose instruments, or settle all of them",
    )
    left, right = st.columns(2)
    if left.button(
        f"Settle selected ({len(chosen)})", key="settle_selected", disabled=not chosen, width="stretch"
    ):
        propose([by_id[i] for i in chosen if i in by_id])
    everything = f"Settle the {len(due):,} listed" if listed else f"Settle all {len(due)} due"
    if right.button(everything, key="settle_all", type="primary", width="stretch"):
        propose(due)


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
