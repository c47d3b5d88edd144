"""Health (finance, troubleshooter): the movements left in flight (always shown: an indexed count; finance
can resend them), and on demand the merchant side's health call (`fpscore.merchant.health`): reconciliation
with the processor (every difference listed), the shop's own balance at the processor, the daily fee
rollup against its records and, when the processor runs in this process, the ledger's invariants. Those
read a lot, so they run only when asked, and the last result stays for this session."""

from __future__ import annotations

import streamlit as st

from dashboard import actions, auth, resources
from dashboard import components as ui
from dashboard.text import md
from fpscore.merchant import health, recovery
from fpscore.merchant.health import Health
from fpscore.merchant.roles import Permission

RESULT_KEY = "health_result"


def run_checks() -> Health:
    with st.status("Checking…", expanded=True) as status:
        result = health.check(
            resources.merchant(), auth.actor(), progress=lambda step: st.write(f"{md(step)}…")
        )
        status.update(
            label=f"Checked at {ui.when(result.checked_at, seconds=True)}", state="complete", expanded=False
        )
    return result


def in_flight_section() -> None:
    st.subheader("Movements in flight")
    counts = recovery.in_flight(resources.merchant())
    if not counts:
        st.success("Every movement has its answer recorded.", icon=":material/check:")
        return
    rows = [
        {"Operation": c.operation, "Requested, no answer": c.requested, "Of those, cut off": c.cut_off,
         "Pending at the processor": c.pending}
        for c in counts
    ]  # fmt: skip
    ui.table(rows, key="health_in_flight")
    st.caption(
        "A movement is Requested from the moment it is written until its answer is recorded. One is cut off "
        "when nobody waits for that answer any more: the request got no answer, or the process stopped. "
        "Resending it with its CallerReference is safe: the processor answers the original transaction if "
        "it made it, or makes it now, once. Pending ones finish when the processor's notification arrives."
    )
    waiting = sum(c.cut_off for c in counts)
    if not waiting:
        return
    if not auth.actor().may(Permission.RECOVER):
        st.info("Finance can resend them here; `fpscore recover` does it from the command line.")
        return
    label = "Resend the request cut off" if waiting == 1 else f"Resend the {waiting:,} requests cut off"
    if st.button(label, icon=":material/replay:", key="health_recover"):
        actions.propose(
            actions.Pending(
                kind="recover",
                title=label,
                moves=tuple((c.operation, ui.count(c.cut_off, "request")) for c in counts if c.cut_off),
                params={"waiting": waiting},
                page="health",
                warning="Each is sent again exactly as it was asked, under its own CallerReference: what the "
                "processor made already is recorded, what it never received is made now.",
                confirm_label="Resend",
            )
        )


def balance_section(result: Health) -> None:
    st.subheader("Balance at the processor")
    if result.balance is None:
        if result.balance_error is not None:
            st.error(ui.describe(result.balance_error))
        return
    balance = result.balance
    figures = (
        ("Total", balance.total, "What the shop earned at the processor: purchases less their refunds, "
         "less the fees on fundings and settlements."),
        ("Pending in", balance.pending_in, "Purchases the processor has not finished yet."),
        ("Pending out", balance.pending_out, "Refunds and fees the processor has not finished yet."),
        ("Available to disburse", balance.disburse, "Total less pending out, never below zero."),
        ("Available to refund", balance.refund, "The same figure: the processor holds nothing back."),
    )  # fmt: skip
    for column, (label, amount, explained) in zip(st.columns(len(figures)), figures, strict=True):
        column.metric(label, ui.usd(amount), help=explained)


def show_result(result: Health) -> None:
    at = ui.when(result.checked_at, seconds=True)
    st.subheader("Reconciliation")
    if result.reconcile_error is not None:
        st.error(ui.describe(result.reconcile_error))
    elif not result.differences:
        st.success(f"The merchant's records and the processor agree (checked {at}).", icon=":material/check:")
    else:
        st.error(f"{len(result.differences)} differences (checked {at}).")
        records = [
            {"Kind": d.kind, "Subject": d.subject, "Merchant says": d.merchant, "Processor says": d.processor}
            for d in result.differences
        ]
        ui.table(
            records,
            {"Subject": st.column_config.TextColumn("Subject", pinned=True)},
            key="health_differences",
        )
        ui.csv_button(
            "CSV of the differences",
            "differences.csv",
            lambda: ui.to_csv(records),
            key="health_differences_csv",
        )

    balance_section(result)

    st.subheader("Daily fee rollup")
    if not result.rollup:
        st.success("The daily fee rollup adds up to the records.", icon=":material/check:")
    else:
        st.error(f"{len(result.rollup)} days of the fee rollup differ from their records.")
        days = [
            {"Day": d.day, "Kind": d.kind, "Currency": d.currency, "Records say": d.describe(d.records),
             "Rollup says": d.describe(d.rollup)}
            for d in result.rollup
        ]  # fmt: skip
        ui.table(days, {"Day": st.column_config.DateColumn("Day", pinned=True)}, key="health_rollup")
        ui.csv_button(
            "CSV of the days", "fee-rollup-differences.csv", lambda: ui.to_csv(days), key="health_rollup_csv"
        )

    st.subheader("Ledger invariants")
    if not result.ledger_checked:
        st.info(
            "Not available here: the processor runs elsewhere (FPS_ENDPOINT is set), so its ledger is "
            "checked on its own side. Reconciliation above still compares both sides through the protocol.",
            icon=":material/cloud_off:",
        )
    elif not result.ledger_problems:
        st.success(
            "Every transaction balances, and every stored balance equals its entries.",
            icon=":material/check:",
        )
    else:
        st.error(f"{len(result.ledger_problems)} problems in the ledger.")
        problems = [{"Problem": text} for text in result.ledger_problems]
        ui.table(problems, key="health_problems")
        ui.csv_button(
            "CSV of the problems",
            "ledger-problems.csv",
            lambda: ui.to_csv(problems),
            key="health_problems_csv",
        )


st.title("Health")
ui.show_flash()
in_flight_section()
st.subheader("Checks")
st.caption(
    "Reconciliation compares every movement the merchant recorded with the processor's account activity, "
    "and every book balance with the live one. The fee rollup check adds up the records the Fees saved page "
    "summarises. The ledger check proves the processor's books balance."
)
if st.button("Run the checks", type="primary", icon=":material/play_arrow:", key="health_run"):
    with ui.guarded():
        st.session_state[RESULT_KEY] = run_checks()
result: Health | None = st.session_state.get(RESULT_KEY)
if result is None:
    ui.empty("Nothing checked yet in this session. Run the checks: they take a moment on a large book.")
else:
    show_result(result)
