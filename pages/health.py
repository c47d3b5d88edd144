"""Health (finance, troubleshooter): the movements left in flight (always shown: an indexed count; finance
can resend them), and on demand, reconcile the merchant's records with the processor's (every difference
listed), check that the daily fee rollup adds up to the records and, when the processor runs in this
process, check the ledger's invariants. Those read a lot, so they run only when asked, and the last result
stays for this session."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dashboard import actions, auth, resources
from dashboard import components as ui
from dashboard.text import md
from fpscore.db import utcnow
from fpscore.errors import FpsError
from fpscore.merchant import fee_days, recovery
from fpscore.merchant.flows import FlowRefused
from fpscore.merchant.reconcile import Difference, reconcile
from fpscore.merchant.roles import Forbidden, Permission
from fpscore.processor.invariants import check_ledger

RESULT_KEY = "health_result"


@dataclass(frozen=True)
class Checked:
    at: str
    differences: list[Difference] | None
    reconcile_error: str | None
    problems: list[str] | None  # None: the ledger is not here to check
    rollup: list[fee_days.RollupDifference]


def run_checks() -> Checked:
    merchant = resources.merchant()
    started = ui.when(utcnow(), seconds=True)
    differences, error = None, None
    with st.status("Checking…", expanded=True) as status:
        try:
            differences = reconcile(
                merchant, auth.actor(), progress=lambda step: st.write(f"Reconciliation: {md(step)}…")
            )
        except (FpsError, Forbidden, FlowRefused) as exc:
            error = ui.describe(exc)
        st.write("Fee rollup: adding up the records…")
        rollup = fee_days.differences(merchant.engine)
        problems = None
        if merchant.processor_engine is not None:
            st.write("Ledger: checking every invariant…")
            problems = check_ledger(merchant.processor_engine)
        status.update(label=f"Checked at {started}", state="complete", expanded=False)
    return Checked(started, differences, error, problems, rollup)


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
    label = "Resend the request cut off" if waiting == 1 else f"Resend the {waiting} requests cut off"
    if st.button(label, icon=":material/replay:", key="health_recover"):
        actions.propose(
            actions.Pending(
                kind="recover",
                title=label,
                moves=tuple((c.operation, f"{c.cut_off} requests") for c in counts if c.cut_off),
                params={"waiting": waiting},
                page="health",
                warning="Each is sent again exactly as it was asked, under its own CallerReference: what the "
                "processor made already is recorded, what it never received is made now.",
                confirm_label="Resend",
            )
        )


def show_result(result: Checked) -> None:
    st.subheader("Reconciliation")
    if result.reconcile_error:
        st.error(result.reconcile_error)
    elif not result.differences:
        st.success(
            f"The merchant's records and the processor agree (checked {result.at}).", icon=":material/check:"
        )
    else:
        st.error(f"{len(result.differences)} differences (checked {result.at}).")
        records = [
            {"Kind": d.kind, "Subject": d.subject, "Merchant says": d.merchant, "Processor says": d.processor}
            for d in result.differences
        ]
        ui.table(records, key="health_differences")
        ui.csv_button(
            "CSV of the differences",
            "differences.csv",
            lambda: ui.to_csv(records),
            key="health_differences_csv",
        )

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
        ui.table(days, key="health_rollup")
        ui.csv_button(
            "CSV of the days", "fee-rollup-differences.csv", lambda: ui.to_csv(days), key="health_rollup_csv"
        )

    st.subheader("Ledger invariants")
    if result.problems is None:
        st.info(
            "Not available here: the processor runs elsewhere (FPS_ENDPOINT is set), so its ledger is "
            "checked on its own side. Reconciliation above still compares both sides through the protocol.",
            icon=":material/cloud_off:",
        )
    elif not result.problems:
        st.success(
            "Every transaction balances, and every stored balance equals its entries.",
            icon=":material/check:",
        )
    else:
        st.error(f"{len(result.problems)} problems in the ledger.")
        problems = [{"Problem": text} for text in result.problems]
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
    st.session_state[RESULT_KEY] = run_checks()
result: Checked | None = st.session_state.get(RESULT_KEY)
if result is None:
    ui.empty("Nothing checked yet in this session. Run the checks: they take a moment on a large book.")
else:
    show_result(result)
