"""Record (every role, read-only): one money movement — a purchase, funding, refund, settlement or write-off
— found by its TransactionId or CallerReference (`?transaction_id=…` or `?caller_reference=…`, as the
search box opens it): its customer, amount and status, its instrument (tokens masked), and for a purchase
or a refund the purchase's timeline. Support hears TransactionIds from customers and has no Audit page."""

from __future__ import annotations

import streamlit as st

from dashboard import auth, resources, timeline
from dashboard import components as ui
from dashboard.text import md
from fpscore.merchant import queries
from fpscore.merchant.queries import MovementRecord

RECORD_PARAMS = {"transaction_id": "TransactionId", "caller_reference": "CallerReference"}


def look_up() -> None:
    with st.form("record_lookup", border=False):
        cols = st.columns([4, 1], vertical_alignment="bottom")
        typed = (
            cols[0]
            .text_input("TransactionId or CallerReference", key="record_lookup_id", max_chars=128)
            .strip()
        )
        go = cols[1].form_submit_button("Open", type="primary", width="stretch")
    if go and typed:
        for name in RECORD_PARAMS:
            if resources.read(queries.movement_record, auth.actor(), **{name: typed}) is not None:
                st.query_params.from_dict({name: typed})
                st.rerun()
        st.warning(f"No movement has the TransactionId or CallerReference {md(typed[:128])}.")


def show(record: MovementRecord) -> None:
    st.subheader(f"{md(record.kind)} {ui.usd(record.amount)} · {md(record.status)}")
    cols = st.columns(2)
    cols[0].metric("Amount", ui.usd(record.amount))
    cols[1].metric("Status", md(record.status + (f" ({record.error_code})" if record.error_code else "")))
    st.markdown(
        f"- **Customer:** {md(record.customer_email)} · {md(record.customer_name)}\n"
        f"- **Instrument:** [{md(ui.short(record.instrument_id))}]"
        f"({ui.link('instrument', instrument=record.instrument_id)}) · {md(record.instrument_kind)} · "
        f"{md(record.instrument_status)} · sender token {md(record.sender_token)}\n"
        f"- **Asked by:** {md(record.requested_by)} at {ui.when(record.created_at)} · "
        f"**answered** {ui.when(record.completed_at)}"
        + (
            f"\n- **{'Product' if record.kind == 'Purchase' else 'Reason'}:** {md(record.detail)}"
            if record.detail
            else ""
        )
        + (f"\n- **Order:** {record.order_id}" if record.order_id is not None else "")
    )
    ids = st.columns(2)
    with ids[0]:
        st.caption("TransactionId")
        st.code(record.transaction_id or "— (no answer yet)", language=None, wrap_lines=True)
    with ids[1]:
        st.caption("CallerReference")
        st.code(record.caller_reference, language=None, wrap_lines=True)
    if ui.has_page("audit"):
        st.markdown(
            f"[Every FPS call of this movement]({ui.link('audit', caller_reference=record.caller_reference)})"
        )
    timeline.show(record.timeline, key="record_timeline")


st.title("Record")
asked = {name: st.query_params[name] for name in RECORD_PARAMS if st.query_params.get(name)}
if not asked:
    st.caption(
        "A purchase, funding, refund, settlement or write-off by its TransactionId or CallerReference."
    )
    look_up()
    st.stop()
name, value = next(iter(asked.items()))
if st.button("Look up another", icon=":material/arrow_back:", key="record_back"):
    st.query_params.clear()
    st.rerun()
with ui.guarded():
    found = resources.read(queries.movement_record, auth.actor(), **{name: value})
    if found is None:
        st.warning(
            f"No movement has the {RECORD_PARAMS[name]} {md(value[:128])}. Check the id, or search for the "
            "customer by email or name in the sidebar."
        )
    else:
        show(found)
