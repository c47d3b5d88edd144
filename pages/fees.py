"""Fees saved (analyst, finance): what aggregating purchases into a few charges saved against charging
each purchase to a card alone, by day, week or month and by kind of instrument; the cumulative saving; the
effective fee rate; and a what-if replay of the recorded purchases under other pack sizes and settlement
policies, beside what they cost as recorded. The numbers come from fpscore.merchant.analytics (SQL
aggregates, exact cents), and so do the range presets (the default one is what `fpscore demo` sums)."""

from __future__ import annotations

import re
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import resources
from dashboard.text import md
from fpscore.errors import FpsError
from fpscore.merchant import analytics
from fpscore.merchant.analytics import DayRange, FeeRow, WhatIfResult
from fpscore.merchant.settlement import SettlementPolicy
from fpscore.money import Amount

PERIODS = {"Day": "day", "Week": "week", "Month": "month"}
CUSTOM = "Custom"
TOP_INSTRUMENTS = 20
WHAT_IF_KEY = "fees_what_if"
AS_RECORDED = "As recorded"
PACKS_EXAMPLE = "10, 25, 50"
NEGATIVE_NOTE = "a charge's fee; its purchases saved more"


def cents(value: int) -> Decimal:
    return Amount(int(value)).to_decimal()


def rate(bps: int | None) -> str:
    return "—" if bps is None else f"{Decimal(bps) / 100:.2f}%"


def rate_value(bps: int | None) -> Decimal | None:
    return None if bps is None else Decimal(bps) / 100


def days_text(days: DayRange) -> str:
    """E.g. "2025-01-01 to 2025-03-31" or "from the first record to 2025-03-31"."""
    first = days.start.isoformat() if days.start else "the first record"
    return f"{first} to {days.last.isoformat()}" if days.last else f"from {first} on"


# -- the range -----------------------------------------------------------------------------------------------


def pick_range(today: date) -> tuple[str, DayRange]:
    """The range chosen: a preset (the default one first) or custom days, with its name."""
    choice = (
        st.segmented_control(
            "Range", [*analytics.RANGE_PRESETS, CUSTOM], default=analytics.DEFAULT_RANGE, key="fees_range"
        )
        or analytics.DEFAULT_RANGE
    )
    if choice != CUSTOM:
        return choice, analytics.preset_range(choice, today)
    default = analytics.preset_range(analytics.DEFAULT_RANGE, today)
    picked = st.date_input(
        "Days (UTC)",
        value=(default.start, default.last),
        max_value=today,
        key="fees_custom",
        format="YYYY-MM-DD",
    )
    days = [day for day in (picked if isinstance(picked, tuple | list) else [picked]) if day is not None]
    if not days:  # cleared: the default range until days are picked
        return analytics.DEFAULT_RANGE, default
    return CUSTOM, DayRange(days[0], days[-1] + timedelta(days=1))


# -- periods -------------------------------------------------------------------------------------------------


def notes(row: FeeRow, cover: analytics.Coverage) -> str:
    """What a reader should know about a period's row: partial, or a negative saving, in words."""
    said = []
    if cover.running:
        said.append(f"partial: {cover.start.isoformat()} to today, still running")
    elif not cover.whole:
        last = cover.end - timedelta(days=1)
        said.append(f"partial: only {cover.start}" + ("" if last == cover.start else f" to {last}"))
    if row.saved_cents < 0:
        said.append(f"negative: {NEGATIVE_NOTE}")
    text = "; ".join(said)
    return text[:1].upper() + text[1:]


def period_records(rows: list[FeeRow], covers: list[analytics.Coverage]) -> list[dict[str, Any]]:
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
            "Note": notes(row, cover),
        }
        for row, cover in zip(rows, covers, strict=True)
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


COLUMNS = {
    name: ui.money_column(name)
    for name in ("Bought", "Refunded", "Fees alone", "Fees paid", "Saved", "Saved so far", "Pack")
}
COLUMNS["Rate paid %"] = st.column_config.NumberColumn("Rate paid", format="%.2f%%")
COLUMNS["Instrument"] = ui.link_column("Instrument")
COLUMNS["From"] = st.column_config.DateColumn("From", format="YYYY-MM-DD")
COLUMNS["Note"] = st.column_config.TextColumn("Note", width=300)
COLUMNS["Instruments opened"] = st.column_config.NumberColumn(
    "Instruments opened", help="Instruments of this kind opened before the end of the range"
)
WHOLE, PARTIAL = "Whole period", "Partial period"


def charts(rows: list[FeeRow], covers: list[analytics.Coverage]) -> None:
    labels = [row.period_start.isoformat() for row in rows]
    frame = pd.DataFrame(
        {
            "From": labels,
            "Period": [WHOLE if cover.whole else PARTIAL for cover in covers],
            "Saved": [float(cents(row.saved_cents)) for row in rows],
            "Saved so far": [float(cents(row.cumulative_saved_cents)) for row in rows],
            "Fees alone": [float(cents(row.fees_alone_cents)) for row in rows],
            "Fees paid": [float(cents(row.fees_paid_cents)) for row in rows],
        }
    )
    axis = alt.X("From:O", title=None, sort=labels, axis=alt.Axis(labelAngle=-40 if len(rows) > 8 else 0))
    left, right = st.columns(2)
    with left:
        st.markdown("**Cumulative savings**")
        base = alt.Chart(frame).encode(
            x=axis, y=alt.Y("Saved so far:Q", title="$ saved since the first period")
        )
        st.altair_chart(
            (
                base.mark_area(line=True, opacity=0.2)
                + base.mark_point(size=70, filled=True).encode(
                    shape=alt.Shape(
                        "Period:N",
                        scale=alt.Scale(domain=[WHOLE, PARTIAL], range=["circle", "triangle-down"]),
                        legend=alt.Legend(orient="bottom", title=None),
                    ),
                    color=alt.Color(
                        "Period:N",
                        scale=alt.Scale(domain=[WHOLE, PARTIAL], range=["#1f77b4", "#ff7f0e"]),
                        legend=None,
                    ),
                    tooltip=[
                        alt.Tooltip("From:O"),
                        "Period:N",
                        alt.Tooltip("Saved:Q", format="$,.2f"),
                        alt.Tooltip("Saved so far:Q", format="$,.2f"),
                    ],
                )
            ).properties(height=260),
            width="stretch",
        )
    with right:
        st.markdown("**Fees: each purchase charged alone vs paid**")
        long = frame.melt(
            id_vars=["From", "Period"],
            value_vars=["Fees alone", "Fees paid"],
            var_name="Fees",
            value_name="$",
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
                opacity=alt.Opacity(
                    "Period:N",
                    scale=alt.Scale(domain=[WHOLE, PARTIAL], range=[1.0, 0.4]),
                    legend=alt.Legend(orient="bottom", title=None),
                ),
                tooltip=["Fees:N", alt.Tooltip("From:O"), "Period:N", alt.Tooltip("$:Q", format="$,.2f")],
            )
            .properties(height=260),
            width="stretch",
        )


def explain(rows: list[FeeRow], covers: list[analytics.Coverage]) -> None:
    """Say what partial periods and negative savings mean, when there are any."""
    if not all(cover.whole for cover in covers):
        st.caption(
            ":material/contrast: **Partial periods** (triangles, lighter bars, a note in the table): the "
            "first or last period cut by the range, or the one holding today, which is still running. They "
            "hold fewer days than the others."
        )
    if any(row.saved_cents < 0 for row in rows):
        st.caption(
            ":material/info: **Negative savings**: a period with a settlement (or a top-up) pays one card "
            "fee on the aggregated charge, so what it saved is negative; the purchases that charge pays for "
            "saved more, each on the day it was bought. The cumulative line is what aggregating saved."
        )


# -- what if -------------------------------------------------------------------------------------------------


def pack_sizes(text: str) -> list[Amount]:
    """The pack sizes typed ("10, 25, 50"); ValueError saying in words what is wrong with them."""
    parts = [part for part in re.split(r"[,;\s]+", text.strip()) if part]
    guide = f"Give pack sizes in dollars, separated by commas, e.g. {PACKS_EXAMPLE}."
    if not parts:
        raise ValueError(f"No pack sizes given. {guide}")
    if len(parts) > analytics.MAX_PACK_SIZES:
        raise ValueError(
            f"{len(parts)} pack sizes given; at most {analytics.MAX_PACK_SIZES} can be replayed."
        )
    packs = []
    for part in parts:
        try:
            pack = Amount.parse(part.lstrip("$"), field="Pack size", allow_zero=True)
        except FpsError as error:
            raise ValueError(f"{error.message}. {guide}") from None
        if pack.cents <= 0:
            raise ValueError(f"A pack of {ui.usd(pack)} buys nothing. {guide}")
        packs.append(pack)
    return packs


def scenario(result: WhatIfResult) -> str:
    return AS_RECORDED if result.pack_cents is None else f"Packs of {ui.usd(Amount(result.pack_cents))}"


def what_if_records(results: list[WhatIfResult]) -> list[dict[str, Any]]:
    return [
        {
            "Scenario": scenario(r),
            "Top-ups": r.prepaid_charges,
            "Settlements": r.settlements,
            "Fees alone": cents(r.fees_alone_cents),
            "Fees paid": cents(r.fees_with_policy_cents),
            "Saved": cents(r.saved_cents),
            "Rate paid %": rate_value(r.effective_rate_bps),
        }
        for r in results
    ]


def what_if_chart(records: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(
        {
            "Scenario": [record["Scenario"] for record in records],
            "Fees paid": [float(record["Fees paid"]) for record in records],
            "Saved": [float(record["Saved"]) for record in records],
            "Fees alone": [float(record["Fees alone"]) for record in records],
        }
    )
    order = list(frame["Scenario"])
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("Scenario:N", sort=order, title=None),
            x=alt.X("Fees paid:Q", title="$ in fees paid"),
            color=alt.condition(
                alt.datum.Scenario == AS_RECORDED, alt.value("#7f7f7f"), alt.value("#1f77b4")
            ),
            tooltip=[
                "Scenario:N",
                alt.Tooltip("Fees paid:Q", format="$,.2f"),
                alt.Tooltip("Fees alone:Q", format="$,.2f"),
                alt.Tooltip("Saved:Q", format="$,.2f"),
            ],
        )
    )
    labels = bars.mark_text(align="left", dx=4).encode(
        text=alt.Text("Saved:Q", format="$,.2f"), color=alt.value("#444")
    )
    alone = (
        alt.Chart(frame.head(1))
        .mark_rule(strokeDash=[4, 3], color="#d62728")
        .encode(x="Fees alone:Q", tooltip=[alt.Tooltip("Fees alone:Q", format="$,.2f")])
    )
    st.markdown("**Fees paid per scenario** (grey: as recorded; label: saved; dashed: every purchase alone)")
    st.altair_chart((bars + labels + alone).properties(height=40 + 34 * len(order)), width="stretch")


def what_if(days: DayRange) -> None:
    st.subheader("What if")
    st.caption(
        "Replays the recorded purchases of the range: prepaid customers top up in packs of the size given "
        "whenever their balance runs short; postpaid debt is settled under the policy given. Fees by the "
        f"current schedule, beside the range **{md(AS_RECORDED.lower())}**."
    )
    current = resources.policy()
    cols = st.columns([2, 2, 1.2, 1], vertical_alignment="bottom")
    packs_text = cols[0].text_input("Prepaid pack sizes ($)", value=PACKS_EXAMPLE, key="fees_packs")
    share = cols[1].slider(
        "Settle at % of credit limit", 10, 100, current.share_basis_points // 100, step=5, key="fees_share"
    )
    after_days = cols[2].number_input(
        "…or after days",
        min_value=0,
        max_value=365,
        value=current.max_age.days,
        step=1,
        key="fees_after_days",
    )
    inputs = (days, packs_text, int(share), int(after_days))
    kept = st.session_state.get(WHAT_IF_KEY)
    if kept is not None and kept["inputs"] != inputs:  # a result for other inputs would mislead
        st.session_state.pop(WHAT_IF_KEY)
        kept = None
    if cols[3].button("Replay", type="primary", key="fees_replay"):
        with ui.guarded():
            packs = pack_sizes(packs_text)
            policy = SettlementPolicy(
                share_basis_points=int(share) * 100, max_age=timedelta(days=int(after_days))
            )
            bar = st.progress(0.0, text="Replaying the purchases…")

            def advance(done: int, total: int) -> None:
                bar.progress(
                    done / total if total else 1.0, text=f"Replayed {done:,} of {total:,} purchases…"
                )

            merchant = resources.merchant()
            replayed = analytics.replay(
                merchant.engine, tuple(packs), policy, fee_schedule=merchant.fee_schedule, start=days.start,
                end=days.end, progress=advance,
            )  # fmt: skip
            bar.empty()
            actual = resources.read(analytics.recorded, days.start, days.end)
            kept = {"inputs": inputs, "results": [actual, *replayed]}
            st.session_state[WHAT_IF_KEY] = kept
    if kept is None:
        st.caption(
            "Choose pack sizes and a settlement policy, then replay to compare with the range as recorded."
        )
        return
    records = what_if_records(kept["results"])
    what_if_chart(records)
    ui.table(records, COLUMNS, key="fees_what_if_table")
    ui.csv_button("CSV of the replay", "fees-what-if.csv", lambda: ui.to_csv(records), key="fees_what_if_csv")


# -- the page ------------------------------------------------------------------------------------------------


st.title("Fees saved")
ui.show_flash()
today = resources.merchant().clock().astimezone(UTC).date()
cols = st.columns([1.1, 3], vertical_alignment="bottom")
period_label = cols[0].segmented_control("By", list(PERIODS), default="Week", key="fees_period") or "Week"
period = PERIODS[period_label]
with cols[1]:
    range_name, days = pick_range(today)
holds_today = (days.start is None or days.start <= today) and (days.end is None or today < days.end)
st.caption(
    f"**{md(range_name)}**: {md(days_text(days))} (UTC days){', today still running' if holds_today else ''}."
)

try:
    totals = resources.read(analytics.fee_totals, days.start, days.end)
except FpsError as error:
    ui.show_error(error)
    st.stop()
if totals.purchases == 0:
    ui.empty(
        "No completed purchases in this range: savings appear once customers buy "
        "(`fpscore demo` makes 90 days of them). Try **All time**."
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

rows = resources.read(analytics.fees_by_period, period, days.start, days.end)
covers = [analytics.coverage(row.period_start, period, days, today) for row in rows]
charts(rows, covers)
explain(rows, covers)
# Only the open tab runs: ranking instruments reads every purchase of the range.
by_period, by_kind, by_instrument = st.tabs(
    ["By period", "By kind", "Top instruments"], key="fees_tab", on_change="rerun"
)
if by_period.open:
    with by_period:
        records = period_records(rows, covers)
        ui.table(list(reversed(records)), COLUMNS, key="fees_by_period")
        ui.csv_button("CSV", f"fees-by-{period}.csv", lambda: ui.to_csv(records), key="fees_period_csv")
if by_kind.open:
    with by_kind:
        kinds = kind_records(resources.read(analytics.fees_by_kind, days.start, days.end))
        ui.table(kinds, COLUMNS, key="fees_by_kind")
        ui.csv_button("CSV", "fees-by-kind.csv", lambda: ui.to_csv(kinds), key="fees_kind_csv")
if by_instrument.open:
    with by_instrument, st.spinner("Ranking the instruments by what they saved…"):
        ranked = resources.read(analytics.fees_by_instrument, TOP_INSTRUMENTS, days.start, days.end)
        top = instrument_records(ranked)
        ui.table(top, COLUMNS, key="fees_by_instrument")
        ui.csv_button("CSV", "fees-top-instruments.csv", lambda: ui.to_csv(top), key="fees_instrument_csv")
what_if(days)
