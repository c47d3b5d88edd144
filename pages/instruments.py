"""Instruments: filter by kind, status, customer, balance and credit utilisation; totals of prepaid
liability and outstanding debt over the whole filter; one page of rows, each opening its Instrument page;
the filter as CSV (bounded)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import components as ui
from dashboard import resources
from fpscore.errors import FpsError
from fpscore.merchant import queries
from fpscore.merchant.queries import InstrumentFilter, InstrumentRow

PAGE_KEY = "instruments_page_number"
SORTS = {
    "Newest first": ("created", True),
    "Oldest first": ("created", False),
    "Largest balance or debt": ("balance", True),
    "Smallest balance or debt": ("balance", False),
    "Most credit used": ("utilisation", True),
    "Customer A–Z": ("customer", False),
}


def records(rows: list[InstrumentRow] | tuple[InstrumentRow, ...]) -> list[dict[str, Any]]:
    return [
        {
            "Instrument": ui.link("instrument", instrument=row.instrument_id),
            "Customer": row.customer_email,
            "Kind": row.kind,
            "Status": row.status,
            "Balance or debt": ui.money(row.balance),
            "Limit": ui.money(row.limit),
            "Credit used %": None if row.utilisation_bps is None else row.utilisation_bps // 100,
            "Debt since": ui.naive_utc(row.debt_since),
            "Opened": ui.naive_utc(row.created_at),
        }
        for row in rows
    ]


def export_records(rows: list[InstrumentRow]) -> list[dict[str, Any]]:
    return [
        {
            "instrument_id": row.instrument_id,
            "customer_email": row.customer_email,
            "customer_name": row.customer_name,
            "kind": row.kind,
            "status": row.status,
            "balance_or_debt": row.balance,
            "limit": row.limit,
            "credit_used_basis_points": row.utilisation_bps,
            "debt_since": row.debt_since,
            "balance_seen_at": row.balance_seen_at,
            "created_at": row.created_at,
        }
        for row in rows
    ]


COLUMNS = {
    "Instrument": ui.link_column(
        "Instrument", help="Opens the instrument in a new tab; select a row to open it here"
    ),
    "Customer": st.column_config.TextColumn("Customer", pinned=True),
    "Balance or debt": ui.money_column(
        "Balance / debt", help="Prepaid: the balance; postpaid: the debt (book)"
    ),
    "Limit": ui.money_column("Limit", help="Prepaid: funding limit; postpaid: credit limit"),
    "Credit used %": st.column_config.ProgressColumn(
        "Credit used", min_value=0, max_value=100, format="%d%%", width=90
    ),
    "Debt since": ui.time_column("Debt since"),
    "Opened": ui.time_column("Opened"),
}


def restart() -> None:
    ui.reset_page(PAGE_KEY)


st.title("Instruments")
ui.show_flash()

with st.container(border=True):
    top = st.columns([1, 1, 2, 1.4])
    kind = top[0].selectbox("Kind", ["All", "Prepaid", "Postpaid"], key="instruments_kind", on_change=restart)
    status = top[1].selectbox(
        "Status", ["All", "Active", "Cancelled"], key="instruments_status", on_change=restart
    )
    search = top[2].text_input(
        "Customer or instrument",
        key="instruments_search",
        placeholder="email, name or instrument id",
        on_change=restart,
    )
    sort = top[3].selectbox("Sort", list(SORTS), key="instruments_sort", on_change=restart)
    bottom = st.columns([1, 1, 2, 1.4])
    low_text = bottom[0].text_input("Balance or debt from ($)", key="instruments_low", on_change=restart)
    high_text = bottom[1].text_input("to ($)", key="instruments_high", on_change=restart)
    used = bottom[2].slider(
        "Credit used (postpaid), %", 0, 100, (0, 100), step=5, key="instruments_used", on_change=restart
    )
    page_size = bottom[3].selectbox("Rows per page", [25, 50, 100, 200], index=1, key="instruments_size")

try:
    low = ui.parse_amount(low_text, "Balance from")
    high = ui.parse_amount(high_text, "Balance to")
except FpsError as error:
    ui.show_error(error)
    st.stop()

used_from, used_to = used
key, descending = SORTS[sort]
wanted = InstrumentFilter(
    kind=None if kind == "All" else kind,
    status=None if status == "All" else status,
    search=search,
    balance_min_cents=None if low is None else low.cents,
    balance_max_cents=None if high is None else high.cents,
    utilisation_min_pct=used_from if used_from > 0 else None,
    utilisation_max_pct=used_to if used_to < 100 else None,
    sort=key,
    descending=descending,
)
result = resources.read(queries.instruments, wanted, page=ui.page_number(PAGE_KEY), page_size=page_size)

left, middle, right = st.columns(3)
left.metric("Instruments", f"{result.totals.count:,}")
middle.metric(
    "Prepaid liability", ui.usd(result.totals.prepaid_liability), help="Sum of prepaid balances (book)"
)
right.metric("Outstanding debt", ui.usd(result.totals.outstanding_debt), help="Sum of postpaid debts (book)")

rows = result.page.rows
if not rows:
    if wanted == InstrumentFilter(sort=key, descending=descending):
        ui.empty(
            "No instruments yet. They appear when customers finish the Co-Branded UI at checkout "
            "(`fpscore demo` makes demo data)."
        )
    else:
        ui.empty("No instrument matches these filters. Widen them, or clear the search.")
    st.stop()

event = ui.table(records(rows), COLUMNS, key="instruments_table", select="single-row")
picked = ui.selected_row(event)
if picked is not None:
    ui.open_page("instrument", instrument=rows[picked].instrument_id)
ui.pager(result.page, PAGE_KEY)
st.caption(
    "Balances are the merchant's book, as of the last movement it recorded; an instrument's page asks the "
    "processor for the live one."
)
engine = resources.merchant().engine
ui.csv_button(
    f"CSV of this filter (first {queries.MAX_EXPORT_ROWS:,} rows)",
    "instruments.csv",
    lambda: ui.to_csv(export_records(queries.instruments_export(engine, wanted))),
    key="instruments_csv",
)
