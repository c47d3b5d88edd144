"""The sidebar's search box, for every role: an email or name, an instrument id, a RequestId (with or
without its suffix, or the start the tables show), a CallerReference or a TransactionId. One match opens its
page; several are listed (at most queries.MAX_HITS) to pick from. What a role may open is decided in
fpscore (`queries.find`); here each hit goes to the page the role has for it: an instrument to Instrument, an
FPS call to its Audit record, a movement to its Audit record or, without Audit, to the read-only Record."""

from __future__ import annotations

import streamlit as st

from dashboard import auth, resources
from dashboard import components as ui
from dashboard.text import md
from fpscore.merchant import queries
from fpscore.merchant.queries import HitKind, SearchHit, SearchResult

RESULT_KEY = "fps_search_result"


def target(hit: SearchHit) -> tuple[str, dict[str, str]]:
    """The page (url path) and query parameters that open `hit` for this session's role."""
    if hit.kind is HitKind.CALL and hit.request_id:
        return "audit", {"request_id": hit.request_id}
    if hit.kind is HitKind.MOVEMENT and hit.caller_reference:
        return ("audit" if ui.has_page("audit") else "record"), {"caller_reference": hit.caller_reference}
    return "instrument", {"instrument": hit.instrument_id or ""}


def label(hit: SearchHit) -> str:
    """One line of markdown naming the hit (every value escaped)."""
    if hit.kind is HitKind.CALL:
        return f"{md(hit.action or 'Call')} · RequestId {md(ui.short(hit.request_id, 13))}" + (
            f" · {md(hit.status)}" if hit.status else ""
        )
    who = md(hit.customer_email or "—")
    if hit.kind is HitKind.MOVEMENT:
        return f"{md(hit.movement or '')} {ui.usd(hit.amount)} · {md(hit.status or '')} · {who}"
    return f"{who} · {md(hit.customer_name or '')} · {md(ui.short(hit.instrument_id))}"


def _open(hit: SearchHit) -> None:
    page, params = target(hit)
    ui.open_page(page, **params)


def search_box() -> None:
    """The box and its answer, in the sidebar."""
    with st.form("fps_search", border=False):
        typed = st.text_input(
            "Search",
            key="fps_search_text",
            placeholder="Email, name, instrument, RequestId, CallerReference, TransactionId",
            max_chars=queries.search.MAX_TEXT,
        )
        go = st.form_submit_button("Search", icon=":material/search:")
    if go:
        with ui.guarded():
            result = resources.read(queries.find, auth.actor(), typed)
            st.session_state[RESULT_KEY] = result
            if len(result.hits) == 1:
                _open(result.hits[0])
    result: SearchResult | None = st.session_state.get(RESULT_KEY)
    if result is None:
        return
    if not result.text:
        st.caption(
            "Type an email or a name (its start is enough), an instrument id, a RequestId, a CallerReference "
            "or a TransactionId."
        )
    elif not result.hits:
        st.info(
            f"Nothing matches {md(result.text)}. Ids match whole, or by the start the tables show; names "
            "and emails by their start.",
            icon=":material/search_off:",
        )
    else:
        more = f" (the first {len(result.hits)}; type more to narrow)" if result.more else ""
        matches = "1 match" if len(result.hits) == 1 else f"{len(result.hits)} matches"
        st.caption(f"{matches} for {md(result.text)}{more}")
        for n, hit in enumerate(result.hits):
            if st.button(label(hit), key=f"fps_search_hit_{n}", width="stretch"):
                _open(hit)
