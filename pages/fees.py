"""Fees saved (analyst, finance): what aggregating purchases into a few charges saved against charging
each purchase to a card alone, by day, week or month and by kind of instrument; the cumulative saving; the
effective fee rate; and a what-if replay of the recorded purchases under other pack sizes and settlement
policies. The numbers come from fpscore.merchant.analytics (SQL aggregates, exact cents)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import resources
from fpscore.errors import FpsError
from fpscore.merchant import analytics
from fpscore.merchant.settlement import SettlementPolicy
from fpscore.money import Amount

PERIODS = {"Day": "day", "Week": "week", "Month": "month"}
TOP_INSTRUMENTS = 20
WHAT_IF_KEY = "fees_what_if"


def cents(value: int) -> Decimal:
    return Amount(int(value)).to_decimal()


def rate(bps: int | None) -> str:
    return "—" if bps is None else f"{Decimal(bps) / 100:.2f}%"


def rate_value(bps: int | None) -> Decimal | None:
    return None if bps is None else Decimal(bps) / 100


def period_records(rows: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "From": row.period_start,
            "Purchases": row.purchases,
            "Bought": cents(row.purchase_cents),
            "Refunded": cents(row.refunded_cents),
            "Fees alone": cents(row.fees_alone_cents),
            "Fees paid": cents(row.fees_paid_cents),
            "Saved": cents(row.saved_cents),
            "Saved so far": cents(row.cumulative_saved_cents),
            "Rate paid %": rate_value(row.effective_rate_bps),
        }
        for row in rows
    ]


def kind_records(rows: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "Kind": row.kind,
            "Instruments opened": row.instruments,
            "Purchases": row.purchases,
            "Bought": cents(row.purchase_cents),
            "Fees alone": cents(row.fees_alone_cents),
            "Fees paid": cents(row.fees_paid_cents),
            "Saved": cents(row.saved_cents),
            "Rate paid %": rate_value(row.effective_rate_bps),
        }
        for row in rows
    ]


def instrument_records(rows: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "Instrument": ui.link("instrument", instrument=row.instrument_id),
            "Customer": row.customer_email,
            "Kind": row.kind,
            "Purchases": row.purchases,
            "Fees alone": cents(row.fees_alone_cents),
            "Fees paid": cents(row.fees_paid_cents),
            "Saved": cents(row.saved_cents),
            "Rate paid %": rate_value(row.effective_rate_bps),
        }
        for row in rows
    ]


MONEY_COLUMNS = {
    name: ui.money_column(name)
    for name in ("Bought", "Refunded", "Fees alone", "Fees paid", "Saved", "Saved so far", "Fees with policy")
}
MONEY_COLUMNS["Rate paid %"] = st.column_config.NumberColumn("Rate paid", format="%.2f%%")
MONEY_COLUMNS["Instrument"] = ui.link_column("Instrument")
MONEY_COLUMNS["From"] = st.column_config.DateColumn("From", format="YYYY-MM-DD")
MONEY_COLUMNS["Instruments opened"] = st.column_config.NumberColumn(
    "Instruments opened", help="Instruments of this kind opened before the end of the range"
)


def charts(rows: list[Any]) -> None:
    labels = [row.period_start.isoformat() for row in rows]
    frame = pd.DataFrame(
        {
            "From": labels,
            "Saved so far": [float(cents(row.cumulative_saved_cents)) for row in rows],
            "Fees alone": [float(cents(row.fees_alone_cents)) for row in rows],
            "Fees paid": [float(cents(row.fees_paid_cents)) for row in rows],
        }
    )
    axis = alt.X("From:O", title=None, sort=labels, axis=alt.Axis(labelAngle=-40 if len(rows) > 8 else 0))
    left, right = st.columns(2)
    with left:
        st.markdown("**Cumulative savings**")
        st.altair_chart(
            alt.Chart(frame)
            .mark_area(line=True, point=True, opacity=0.2)
            .encode(
                x=axis,
                y=alt.Y("Saved so far:Q", title="$ saved since the first period"),
                tooltip=[alt.Tooltip("From:O"), alt.Tooltip("Saved so far:Q", format="$,.2f")],
            )
            .properties(height=260),
            width="stretch",
        )
    with right:
        st.markdown("**Fees: each purchase charged alone vs paid**")
        long = frame.melt(
            id_vars="From", value_vars=["Fees alone", "Fees paid"], var_name="Fees", value_name="$"
        )
        st.altair_chart(
            alt.Chart(long)
            .mark_bar()
            .encode(
                x=axis,
                xOffset=alt.XOffset("Fees:N", sort=["Fees alone", "Fees paid"]),
                y=alt.Y("$:Q", title="$ in fees"),
                color=alt.Color(
                    "Fees:N", sort=["Fees alone", "Fees paid"], legend=alt.Legend(orient="bottom", title=None)
                ),
                tooltip=["Fees:N", alt.Tooltip("From:O"), alt.Tooltip("$:Q", format="$,.2f")],
            )
            .properties(height=260),
            width="stretch",
        )


def what_if(since: Any, until: Any) -> None:
    st.subheader("What if")
    st.caption(
        "Replays the recorded purchases: prepaid customers top up in packs of the size given whenever their "
        "balance runs short; postpaid debt is settled under the policy given. Fees by the current schedule."
    )
    current = resources.policy()
    with st.form("fees_what_if_form"), ui.guarded():
        cols = st.columns(3)
        packs_text = cols[0].text_input("Prepaid pack sizes ($)", value="10, 25, 50", key="fees_packs")
        share = cols[1].slider(
            "Settle at % of credit limit",
            10,
            100,
            current.share_basis_points // 100,
            step=5,
            key="fees_share",
        )
        days = cols[2].number_input(
            "…or after days",
            min_value=0,
            max_value=365,
            value=current.max_age.days,
            step=1,
            key="fees_after_days",
        )
        if st.form_submit_button("Replay", type="primary"):
            packs = [ui.parse_amount(part, "Pack size") for part in packs_text.split(",") if part.strip()]
            packs = [pack for pack in packs if pack is not None]
            if not packs or any(pack.cents <= 0 for pack in packs):
                raise ValueError("give one or more pack sizes above zero, e.g. 10, 25, 50")
            policy = SettlementPolicy(share_basis_points=int(share) * 100, max_age=timedelta(days=int(days)))
            bar = st.progress(0.0, text="Replaying the purchases…")

            def advance(done: int, total: int) -> None:
                bar.progress(
                    done / total if total else 1.0, text=f"Replayed {done:,} of {total:,} purchases…"
                )

            merchant = resources.merchant()
            st.session_state[WHAT_IF_KEY] = analytics.replay(
                merchant.engine, tuple(packs), policy, fee_schedule=merchant.fee_schedule, start=since,
                end=until, progress=advance,
            )  # fmt: skip
            bar.empty()
    results = st.session_state.get(WHAT_IF_KEY)
    if not results:
        st.caption("Choose pack sizes and a settlement policy, then replay.")
        return
    records = [
        {
            "Pack": cents(r.pack_cents),
            "Settle at %": r.share_basis_points // 100,
            "or after days": r.max_age_days,
            "Top-ups": r.prepaid_charges,
            "Settlements": r.settlements,
            "Fees alone": cents(r.fees_alone_cents),
            "Fees with policy": cents(r.fees_with_policy_cents),
            "Saved": cents(r.saved_cents),
            "Rate paid %": rate_value(r.effective_rate_bps),
        }
        for r in results
    ]
    ui.table(records, {**MONEY_COLUMNS, "Pack": ui.money_column("Pack")}, key="fees_what_if_table")
    ui.csv_button("CSV of the replay", "fees-what-if.csv", lambda: ui.to_csv(records), key="fees_what_if_csv")


st.title("Fees saved")
ui.show_flash()
cols = st.columns([1.5, 2, 2.5], vertical_alignment="bottom")
period_label = cols[0].segmented_control("By", list(PERIODS), default="Week", key="fees_period") or "Week"
with cols[1]:
    # The last 90 days by default: the whole history is one pick away, and costs a scan of every purchase.
    since, until = ui.date_range("Between (UTC days)", "fees_days", last_days=90)

try:
    totals = resources.read(analytics.fee_totals, since, until)
except FpsError as error:
    ui.show_error(error)
    st.stop()
if totals.purchases == 0:
    ui.empty(
        "No completed purchases in this range: savings appear once customers buy "
        "(`fpscore demo` makes 90 days of them)."
    )
    st.stop()

metrics = st.columns(4)
metrics[0].metric(
    "Fees if charged alone",
    ui.usd(Amount(totals.fees_alone_cents)),
    help="Each successful purchase priced as its own card charge, less what refunds would have returned",
)
metrics[1].metric("Fees paid", ui.usd(Amount(totals.fees_paid_cents)), help="On fundings and settlements")
metrics[2].metric("Saved", ui.usd(Amount(totals.saved_cents)))
alone_rate = analytics.rate_bps(totals.fees_alone_cents, totals.purchase_cents - totals.refunded_cents)
metrics[3].metric(
    "Effective fee rate",
    rate(totals.effective_rate_bps),
    delta=f"{rate(alone_rate)} alone" if alone_rate is not None else None,
    delta_color="off",
    delta_arrow="off",
    help="Fees paid per dollar of purchases kept (after refunds)",
)

rows = resources.read(analytics.fees_by_period, PERIODS[period_label], since, until)
charts(rows)
# Only the open tab runs: ranking instruments reads every purchase of the range.
by_period, by_kind, by_instrument = st.tabs(
    ["By period", "By kind", "Top instruments"], key="fees_tab", on_change="rerun"
)
if by_period.open:
    with by_period:
        records = period_records(rows)
        ui.table(list(reversed(records)), MONEY_COLUMNS, key="fees_by_period")
        ui.csv_button(
            "CSV", f"fees-by-{PERIODS[period_label]}.csv", lambda: ui.to_csv(records), key="fees_period_csv"
        )
if by_kind.open:
    with by_kind:
        kinds = kind_records(resources.read(analytics.fees_by_kind, since, until))
        ui.table(kinds, MONEY_COLUMNS, key="fees_by_kind")
        ui.csv_button("CSV", "fees-by-kind.csv", lambda: ui.to_csv(kinds), key="fees_kind_csv")
if by_instrument.open:
    with by_instrument, st.spinner("Ranking the instruments by what they saved…"):
        ranked = resources.read(analytics.fees_by_instrument, TOP_INSTRUMENTS, since, until)
        top = instrument_records(ranked)
        ui.table(top, MONEY_COLUMNS, key="fees_by_instrument")
        ui.csv_button("CSV", "fees-top-instruments.csv", lambda: ui.to_csv(top), key="fees_instrument_csv")
what_if(since, until)
