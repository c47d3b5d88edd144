"""A purchase's timeline as a table (the Audit record and the Record page): paid, refunded, funded by,
settled or written off, and what is still owed."""

from __future__ import annotations

import streamlit as st

from dashboard import components as ui
from fpscore.merchant.queries import TimelineStep


def show(steps: tuple[TimelineStep, ...], key: str) -> None:
    if not steps:
        return
    st.markdown("**Timeline of the purchase**")
    ui.table(
        [
            {
                "When": ui.naive_utc(step.at),
                "Step": step.step,
                "Of this purchase": ui.money(step.amount),
                "Whole movement": ui.money(step.movement),
                "CallerReference": step.caller_reference or "—",
                "TransactionId": step.transaction_id or "—",
                "By": step.by or "—",
                "Note": step.detail or "",
            }
            for step in steps
        ],
        {
            "When": ui.time_column("When"),
            "Of this purchase": ui.money_column("Of this purchase"),
            "Whole movement": ui.money_column(
                "Whole movement", help="A settlement or funding covers many purchases at once"
            ),
        },
        key=key,
    )
    st.caption(
        "Settlements and write-offs pay off the oldest debt first, and fundings are spent by purchases in "
        "their order; a refund gives back its own purchase's money."
    )
