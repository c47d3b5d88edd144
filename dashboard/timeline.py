"""A purchase's timeline as a table (the Audit record and the Record page): paid, refunded, funded by,
settled or written off, and what is still owed; each step's TransactionId opens its record."""

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
                "By": step.by or "—",
                "Note": step.detail or "",
                "TransactionId": ui.link("record", transaction_id=step.transaction_id)
                if step.transaction_id
                else None,
            }
            for step in steps
        ],
        {
            "When": ui.time_column("When"),
            "Of this purchase": ui.money_column("Of this purchase"),
            "Whole movement": ui.money_column(
                "Whole movement", help="A settlement or funding covers many purchases at once"
            ),
            "TransactionId": ui.link_column(
                "TransactionId", shown=r"transaction_id=([^&]{1,35})", help="Opens its record", pinned=False
            ),
        },
        key=key,
    )
    st.caption(
        "Settlements and write-offs pay off the oldest debt first, and fundings are spent by purchases in "
        "their order; a refund gives back its own purchase's money."
    )
