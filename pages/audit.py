"""Audit (troubleshooter, admin): every FPS call the merchant made — the money-moving ones unless reads are
asked for too — searchable by RequestId, CallerReference, TransactionId, instrument, action, actor and
time; a record (`?request_id=…` with or without its `:0` suffix or by the start the tables show,
`?caller_reference=…` or `?transaction_id=…`) shows every attempt with its parameters (tokens masked),
its response as indented XML, its ids copyable, the money movement it carried, the order it paid for and
the purchase's timeline. And what staff did or were refused."""

from __future__ import annotations

import json
import re
from typing import Any
from xml.parsers.expat import ExpatError

import streamlit as st
from defusedxml import DefusedXmlException
from defusedxml.minidom import parseString

from dashboard import components as ui
from dashboard import resources, timeline
from dashboard.text import md
from fpscore.merchant import queries
from fpscore.merchant.queries import ApiCallFilter, ApiCallRow, AuditEventFilter, AuditEventRow, CallRecord

CALLS_PAGE_KEY = "audit_calls_page"
EVENTS_PAGE_KEY = "audit_events_page"
RECORD_PARAMS = ("request_id", "caller_reference", "transaction_id")


def call_records(rows: tuple[ApiCallRow, ...] | list[ApiCallRow]) -> list[dict[str, Any]]:
    return [
        {
            "When": ui.naive_utc(row.created_at),
            "Action": row.action,
            "Try": row.attempt,
            "Outcome": outcome(row),
            "RequestId": ui.link("audit", request_id=row.request_id) if row.request_id else None,
            "CallerReference": row.caller_reference or "",
            "TransactionId": ui.link("record", transaction_id=row.transaction_id)
            if row.transaction_id
            else None,
            "Instrument": ui.link("instrument", instrument=row.instrument_id) if row.instrument_id else None,
            "Actor": row.actor,
            "ms": row.latency_ms,
        }
        for row in rows
    ]


def outcome(row: ApiCallRow) -> str:
    if row.error_code:
        return f"{row.error_code}" + (f" (HTTP {row.http_status})" if row.http_status else " (no answer)")
    return row.fps_status or ("OK" if row.http_status == 200 else f"HTTP {row.http_status}")


def call_export(rows: list[ApiCallRow]) -> list[dict[str, Any]]:
    return [
        {
            "created_at": r.created_at,
            "action": r.action,
            "attempt": r.attempt,
            "request_id": r.request_id,
            "caller_reference": r.caller_reference,
            "transaction_id": r.transaction_id,
            "instrument_id": r.instrument_id,
            "http_status": r.http_status,
            "fps_status": r.fps_status,
            "error_code": r.error_code,
            "error_message": r.error_message,
            "actor": r.actor,
            "latency_ms": r.latency_ms,
        }
        for r in rows
    ]


def event_records(rows: tuple[AuditEventRow, ...] | list[AuditEventRow]) -> list[dict[str, Any]]:
    return [
        {
            "When": ui.naive_utc(r.created_at),
            "Who": r.actor,
            "Did": r.action,
            "Outcome": r.outcome,
            "Subject": r.subject or "",
            "Detail": r.detail or "",
        }
        for r in rows
    ]


def event_export(rows: list[AuditEventRow]) -> list[dict[str, Any]]:
    return [
        {
            "created_at": r.created_at,
            "actor": r.actor,
            "action": r.action,
            "outcome": r.outcome,
            "subject": r.subject,
            "detail": r.detail,
        }
        for r in rows
    ]


TOKEN_ELEMENT = re.compile(r"<(\w*TokenId)>([^<]*)</\1>")


def masked_params(params: dict[str, str]) -> dict[str, str]:
    """The parameters sent, every token id masked (its last four characters only)."""
    return {name: ui.mask(value) if name.endswith("TokenId") else value for name, value in params.items()}


def readable_xml(body: str) -> str:
    """An answer as indented XML with every token id masked; as it came when it is not XML."""
    body = TOKEN_ELEMENT.sub(lambda m: f"<{m[1]}>{ui.mask(m[2])}</{m[1]}>", body)
    try:
        pretty = parseString(body).toprettyxml(indent="  ")
    except (ExpatError, DefusedXmlException):  # not XML (a proxy's error page, a cut-off answer), or with
        return body  # a DOCTYPE's entities defusedxml refuses: shown as it came
    return "\n".join(line for line in pretty.splitlines()[1:] if line.strip())


def copyable(label: str, value: str | None) -> None:
    st.caption(label)
    st.code(value or "—", language=None, wrap_lines=True)


def open_record(**params: str) -> None:
    st.query_params.from_dict(params)
    st.rerun()


def show_record(asked: dict[str, str]) -> None:
    name, value = next(iter(asked.items()))
    if st.button("Back to search", icon=":material/arrow_back:", key="audit_back"):
        st.query_params.clear()
        st.rerun()
    record: CallRecord | None = resources.read(queries.call_record, **{name: value})
    label = {
        "request_id": "RequestId",
        "caller_reference": "CallerReference",
        "transaction_id": "TransactionId",
    }
    if record is None:
        st.warning(
            f"No FPS call with {label[name]} {md(value[:128])} is recorded. The merchant records every "
            "attempt of every call it makes; check the id, or search below by instrument or time."
        )
        return
    attempts = record.attempts
    last = attempts[-1].call if attempts else None
    st.subheader(f"{md(last.action) if last else 'Request'} · {label[name]} {md(value[:80])}")
    cols = st.columns(4)
    cols[0].metric("Attempts", len(attempts))
    cols[1].metric("Outcome", md(outcome(last)) if last else "never sent")
    cols[2].metric(
        "Actor", md(last.actor) if last else (md(record.movement.requested_by) if record.movement else "—")
    )
    cols[3].metric("Time, all attempts", f"{sum(a.call.latency_ms for a in attempts):,} ms")
    links = []
    if record.instrument_id:
        links.append(
            f"[Instrument {md(ui.short(record.instrument_id))}]"
            f"({ui.link('instrument', instrument=record.instrument_id)})"
        )
    if record.movement is not None:
        m = record.movement
        st.markdown(
            f"**{md(m.kind)} {m.row_id}**: {ui.usd(m.amount)}, {md(m.status)}"
            + (f" ({md(m.error_code)})" if m.error_code else "")
            + f", asked by **{md(m.requested_by)}** at {ui.when(m.created_at, seconds=True)}"
            + (f", done {ui.when(m.completed_at, seconds=True)}" if m.completed_at else "")
            + (f" — {md(m.detail)}" if m.detail else "")
        )
    if record.order is not None:
        o = record.order
        st.markdown(
            f"**Order {o.order_id}** of {md(o.customer_email)}: {ui.usd(o.total)}, {md(o.status)}, "
            f"placed {ui.when(o.created_at)}"
        )
    if links:
        st.markdown(" · ".join(links))
    timeline.show(record.timeline, key="audit_timeline")
    if not attempts:
        st.warning("The movement was recorded but no attempt to send it was: it never reached the processor.")
        return
    for attempt in attempts:
        call = attempt.call
        with st.expander(
            f"Attempt {call.attempt} · {ui.when(call.created_at, seconds=True)} · {md(outcome(call))}",
            expanded=attempt is attempts[-1],
        ):
            ids = st.columns(3)
            with ids[0]:
                copyable("RequestId", call.request_id)
            with ids[1]:
                copyable("CallerReference", call.caller_reference)
            with ids[2]:
                copyable("TransactionId", call.transaction_id)
            st.markdown(
                f"**HTTP status:** {call.http_status or 'no answer'} · "
                f"**FPS status:** {md(call.fps_status or '—')} · "
                f"**Actor:** {md(call.actor)} · **took** {call.latency_ms} ms"
            )
            if call.error_code:
                st.error(f"**{md(call.error_code)}**: {md(call.error_message or '')}")
            st.caption("Parameters sent (credentials and signature are never recorded; tokens masked)")
            st.json(masked_params(attempt.request_params), expanded=True)
            if attempt.response_body:
                st.caption("Response")
                st.code(readable_xml(attempt.response_body), language="xml", wrap_lines=True)
    st.download_button(
        "JSON of this record",
        data=json.dumps(
            [
                {
                    **call_export([a.call])[0],
                    "request_params": masked_params(a.request_params),
                    "response_body": readable_xml(a.response_body) if a.response_body else None,
                }
                for a in attempts
            ],
            default=str,
            indent=2,
        ),
        file_name=f"fps-record-{value[:40]}.json",
        mime="application/json",
        key="audit_record_json",
        icon=":material/download:",
        on_click="ignore",
    )


def look_up() -> None:
    with st.form("audit_lookup", border=False):
        cols = st.columns([4, 1], vertical_alignment="bottom")
        typed = cols[0].text_input(
            "Open a record",
            key="audit_lookup_id",
            placeholder="a RequestId (or its start), CallerReference or TransactionId",
        )
        go = cols[1].form_submit_button("Open", type="primary", width="stretch")
    if go and typed.strip():
        for name in RECORD_PARAMS:
            if resources.read(queries.call_record, **{name: typed.strip()}) is not None:
                open_record(**{name: typed.strip()})
        st.warning(f"No FPS call with the id {md(typed.strip()[:128])} is recorded.")


def calls_tab() -> None:
    engine = resources.merchant().engine
    with st.container(border=True):
        top = st.columns(4)
        request_id = top[0].text_input("RequestId", key="audit_request_id")
        caller_reference = top[1].text_input("CallerReference", key="audit_caller_reference")
        transaction_id = top[2].text_input("TransactionId", key="audit_transaction_id")
        instrument_id = top[3].text_input(
            "Instrument", key="audit_instrument", value=st.query_params.get("instrument", "")
        )
        bottom = st.columns([1, 1, 1.5, 1])
        action = bottom[0].selectbox("Action", ["Any", *queries.action_names()], key="audit_action")
        actor = bottom[1].text_input("Actor", key="audit_actor", placeholder="user name or job")
        with bottom[2]:
            since, until = ui.date_range("Between (UTC days)", "audit_days", CALLS_PAGE_KEY)
        with bottom[3]:
            errors_only = st.toggle("Errors only", key="audit_errors")
            every_action = st.toggle(
                "Reads too",
                key="audit_every_action",
                help="Balance and status reads and token calls as well as the calls that move money",
            )
    wanted = ApiCallFilter(
        request_id=request_id,
        caller_reference=caller_reference,
        transaction_id=transaction_id,
        instrument_id=instrument_id,
        action="" if action == "Any" else action,
        actor=actor.strip().lower(),
        errors_only=errors_only,
        since=since,
        until=until,
        every_action=every_action,
    )
    if st.session_state.get("audit_last_filter") != wanted:
        st.session_state["audit_last_filter"] = wanted
        ui.reset_page(CALLS_PAGE_KEY)
    page = resources.read(queries.api_calls, wanted, page=ui.page_number(CALLS_PAGE_KEY), page_size=50)
    if not page.rows:
        if wanted == ApiCallFilter():
            ui.empty(
                "No FPS call has been made yet. Every call the merchant makes is recorded here, "
                "with each retry."
            )
        else:
            ui.empty(
                "No FPS call matches. Identifiers match exactly; widen the time range, clear a field or "
                "turn on Reads too."
            )
        return
    event = ui.table(
        call_records(page.rows),
        {
            "When": ui.time_column("When"),
            "RequestId": ui.link_column(
                "RequestId", shown=r"request_id=([^&]{1,13})", help="Opens the record"
            ),
            "Instrument": ui.link_column("Instrument"),
            "CallerReference": st.column_config.TextColumn(
                "CallerReference", width=140, help="Its start; the record shows it whole"
            ),
            "TransactionId": ui.link_column(
                "TransactionId", shown=r"transaction_id=([^&]{1,12})", help="Opens its record", pinned=False
            ),
            "Try": st.column_config.NumberColumn("Try", format="%d"),
            "ms": st.column_config.NumberColumn("ms", format="%d"),
        },
        key="audit_calls",
        select="single-row",
    )
    picked = ui.selected_row(event)
    if picked is not None:
        row = page.rows[picked]
        if row.request_id:
            open_record(request_id=row.request_id)
        elif row.caller_reference:
            open_record(caller_reference=row.caller_reference)
    ui.pager(page, CALLS_PAGE_KEY)
    st.caption("Select a row to open its record here; a RequestId link opens it in a new tab.")
    ui.csv_button(
        f"CSV of this filter (newest {queries.MAX_EXPORT_ROWS:,})",
        "fps-calls.csv",
        lambda: ui.to_csv(call_export(queries.api_calls_export(engine, wanted))),
        key="audit_calls_csv",
    )


def events_tab() -> None:
    engine = resources.merchant().engine
    cols = st.columns([1, 1, 1, 1.5])
    actor = cols[0].text_input("Who", key="events_actor", on_change=ui.reset_page, args=(EVENTS_PAGE_KEY,))
    did = cols[1].text_input(
        "Did",
        key="events_action",
        placeholder="e.g. write_offs, sign_in",
        on_change=ui.reset_page,
        args=(EVENTS_PAGE_KEY,),
    )
    result = cols[2].selectbox(
        "Outcome",
        ["Any", "Done", "Refused", "Failed"],
        key="events_outcome",
        on_change=ui.reset_page,
        args=(EVENTS_PAGE_KEY,),
    )
    with cols[3]:
        since, until = ui.date_range("Between (UTC days)", "events_days", EVENTS_PAGE_KEY)
    wanted = AuditEventFilter(
        actor=actor, action=did, outcome=None if result == "Any" else result, since=since, until=until
    )
    page = resources.read(queries.audit_events, wanted, page=ui.page_number(EVENTS_PAGE_KEY), page_size=50)
    if not page.rows:
        ui.empty("No staff event matches. Sign-ins, actions and refusals appear here as they happen.")
        return
    ui.table(
        event_records(page.rows),
        {"When": ui.time_column("When"), "Detail": st.column_config.TextColumn("Detail", width="large")},
        key="audit_events",
    )
    ui.pager(page, EVENTS_PAGE_KEY)
    ui.csv_button(
        f"CSV of this filter (newest {queries.MAX_EXPORT_ROWS:,})",
        "staff-events.csv",
        lambda: ui.to_csv(event_export(queries.audit_events_export(engine, wanted))),
        key="audit_events_csv",
    )


st.title("Audit")
ui.show_flash()
asked = {name: st.query_params[name] for name in RECORD_PARAMS if st.query_params.get(name)}
if asked:
    show_record(asked)
    st.stop()
look_up()
calls, events = st.tabs(["FPS calls", "Staff events"])
with calls:
    calls_tab()
with events:
    events_tab()
