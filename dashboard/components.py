"""Display helpers every page shares: money and times, masked tokens, links, tables with CSV export,
pagination, empty states, and errors shown as what they are (an FPS code and message, a refusal), never
a traceback.

A table shows its whole page of rows (no scrollbar of its own), "—" for an empty value, statuses as
coloured badges, times in the viewer's zone (`dashboard.viewer`) named in their header; pages get that
by building their columns with the helpers below."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from dashboard import auth, resources, viewer
from dashboard.text import md
from fpscore.db import utcnow
from fpscore.errors import FpsError
from fpscore.merchant import flows
from fpscore.merchant.flows import FlowRefused
from fpscore.merchant.queries import Page
from fpscore.merchant.roles import Forbidden
from fpscore.merchant.tokens import mask as mask  # a token as staff see it, defined in fpscore
from fpscore.money import Amount

FLASH_KEY = "fps_flash"


# -- values ----------------------------------------------------------------------------------------------


def money(amount: Amount | None) -> Decimal | None:
    """An amount for a table cell: an exact Decimal (the grid shows it as dollars)."""
    return None if amount is None else amount.to_decimal()


def count(number: int, noun: str) -> str:
    """`number` with its noun: "1 request", "3 requests"."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def usd(amount: Amount | None) -> str:
    """An amount for text: $1,234.56 (negative: -$1.00)."""
    if amount is None:
        return "—"
    value = amount.to_decimal()
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def when(moment: datetime | None, seconds: bool = False) -> str:
    """A moment for text, in the viewer's zone and named: "2026-03-01 14:05 UTC"."""
    if moment is None:
        return "—"
    return moment.astimezone(viewer.zone()).strftime(
        "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
    )


def naive_utc(moment: datetime | None) -> datetime | None:
    """A UTC time for a table cell (the grid shows naive times as they are)."""
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def short(identifier: str | None, keep: int = 10) -> str:
    if not identifier:
        return "—"
    return identifier if len(identifier) <= keep + 1 else f"{identifier[:keep]}…"


def link(url_path: str, **params: str) -> str:
    """A deep link to a page, relative so that it works under any base path."""
    return f"./{url_path}?{urlencode(params)}" if params else f"./{url_path}"


def day_range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole UTC days from `start` to `end` inclusive, as [since, until)."""
    since = datetime.combine(start, time.min, UTC) if start else None
    until = datetime.combine(end, time.min, UTC) + timedelta(days=1) if end else None
    return since, until


def parse_amount(text: str, field: str) -> Amount | None:
    """An amount typed as text ("12.50"), exact; None when blank. Raises FpsError (InvalidParams,
    AmountOutOfRange) when it is not an amount."""
    text = text.strip().replace(",", "").lstrip("$")
    if not text:
        return None
    return Amount.parse(text, field=field, allow_zero=True)


# -- messages -----------------------------------------------------------------------------------------


def describe(error: BaseException) -> str:
    """An error as the person reading it needs it, as markdown: the FPS code and message, a clear refusal,
    or why the merchant's records refused (every part from outside escaped)."""
    if isinstance(error, Forbidden):
        return f"**Refused.** {md(error)} — your role does not allow this."
    if isinstance(error, FpsError):
        request = f" (RequestId {md(error.request_id)})" if error.request_id else ""
        return f"**{md(error.code)}**: {md(error.message)}{request}"
    return f"**Not done.** {md(error)}"


def show_error(error: BaseException) -> None:
    if isinstance(error, FlowRefused):
        st.warning(describe(error), icon=":material/info:")
    else:
        icon = ":material/block:" if isinstance(error, Forbidden) else ":material/error:"
        st.error(describe(error), icon=icon)


@contextmanager
def guarded() -> Iterator[None]:
    """Show FPS errors, refusals and bad input where they happen instead of stopping the page."""
    try:
        yield
    except (FpsError, Forbidden, FlowRefused, ValueError) as error:
        show_error(error)


def flash(
    kind: str,
    text: str,
    rows: list[dict[str, Any]] | None = None,
    columns: dict[str, Any] | None = None,
    resets: dict[str, Any] | None = None,
) -> None:
    """A message for the next run (after the rerun that closes a dialog); `text` is markdown, its values
    escaped with `md`, its first line a summary (the toast); `rows` a table under it, `columns` its
    column_config; `resets` widget values (key: value) set as it is shown, before the widgets exist."""
    st.session_state[FLASH_KEY] = {
        "kind": kind, "text": text, "rows": rows or [], "columns": columns, "resets": resets or {}
    }  # fmt: skip


def show_flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if not message:
        return
    for key, value in message["resets"].items():
        st.session_state[key] = value
    show = {"success": st.success, "warning": st.warning, "error": st.error}.get(message["kind"], st.info)
    show(message["text"])
    if message["kind"] == "success":
        st.toast(message["text"].split("\n")[0][:120], icon=":material/check_circle:")
    if message["rows"]:
        table(message["rows"], message["columns"], key="fps_flash_rows")


def empty(text: str) -> None:
    st.info(text, icon=":material/inbox:")


# -- tables -----------------------------------------------------------------------------------------------


EMPTY = "—"
STATUS_COLUMNS = ("Status", "Outcome", "Result")  # shown as badges unless configured otherwise
STATUS_COLOURS = {  # a status's first word: its badge's colour
    "Success": "green",
    "Active": "green",
    "OK": "green",
    "Done": "green",
    "Requested": "blue",
    "Reserved": "blue",
    "Pending": "orange",
    "Locked": "orange",
    "Failed": "red",
    "Failure": "red",
    "Disabled": "red",
    "Refused": "red",
    "Cancelled": "gray",
    "Abandoned": "gray",
    "Inactive": "gray",
}


def money_column(label: str, help: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format="dollar", help=help)


def time_column(label: str, *, seconds: bool = False, help: str | None = None) -> Any:
    """A column of naive UTC times (`naive_utc`), shown in the viewer's zone, which its header names."""
    zone = viewer.zone_name()
    return st.column_config.DatetimeColumn(
        f"{label} ({viewer.zone_label()})",
        format="YYYY-MM-DD HH:mm:ss" if seconds else "YYYY-MM-DD HH:mm",
        timezone=zone,
        help=f"{help} ({zone})" if help else f"Time zone: {zone}",
    )


def link_column(
    label: str, shown: str = r"=([^&]{1,12})", help: str | None = None, *, pinned: bool = True
) -> Any:
    """A column of deep links (`link`), showing the part of the URL `shown` captures; pinned to the left
    by default, since a link names the row."""
    return st.column_config.LinkColumn(label, display_text=shown, help=help, pinned=pinned)


@dataclass(frozen=True)
class Badges:
    """A column of statuses shown as coloured badges; `table` fills in the values the page holds. A value
    whose first word is not a known status (an error code) gets the colour `otherwise`."""

    label: str
    otherwise: str = "gray"
    help: str | None = None

    def config(self, values: pd.Series) -> Any:
        options = sorted({str(value) for value in values.dropna()})
        colours = [
            STATUS_COLOURS.get(re.split(r"[\s(]", option, maxsplit=1)[0], self.otherwise)
            for option in options
        ]
        return st.column_config.MultiselectColumn(self.label, options=options, color=colours, help=self.help)


def status_column(label: str, *, otherwise: str = "gray", help: str | None = None) -> Badges:
    return Badges(label, otherwise, help)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def to_csv(records: Iterable[dict[str, Any]]) -> str:
    """`records` as CSV for a spreadsheet. A text cell that a spreadsheet would read as a formula gets a
    leading single quote (OWASP's rule); numbers (amounts, counts) stay numbers, a negative one included,
    since only text can carry a formula."""
    buffer = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for record in records:
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(record))
            writer.writeheader()
        writer.writerow({k: _csv_value(v) for k, v in record.items()})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, Amount):
        return value.to_decimal()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def csv_button(label: str, file_name: str, build: Callable[[], str], key: str) -> None:
    """A download whose CSV is made only when clicked (bounded by the query that `build` runs)."""
    st.download_button(
        label,
        data=build,
        file_name=file_name,
        mime="text/csv",
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )


def table(
    records: Sequence[dict[str, Any]],
    columns: dict[str, Any] | None = None,
    *,
    key: str,
    height: int | str = "content",
    select: Literal["single-row", "multi-row"] | None = None,
) -> Any:
    """A data grid of `records`, one page of them, shown whole (`height`: "content", no scrollbar of its
    own); empty values and empty text read "—"; a Status, Outcome or Result column without a config, and
    any `status_column`, shows badges. The grid sorts and searches the page; a CSV comes from
    `csv_button` (the grid's own download is turned off: its cells are not neutralised, see `to_csv`).
    With `select`, rows can be selected, and the selection is returned."""
    frame = pd.DataFrame(list(records)).replace("", None)
    config: dict[str, Any] = dict(columns or {})
    for name in STATUS_COLUMNS:
        if name in frame.columns and name not in config:
            config[name] = Badges(name)
    config = {
        name: spec.config(frame[name]) if isinstance(spec, Badges) else spec
        for name, spec in config.items()
        if not isinstance(spec, Badges) or name in frame.columns
    }
    options: dict[str, Any] = {
        "column_config": config,
        "hide_index": True,
        "width": "stretch",
        "height": height,
        "placeholder": EMPTY,
        "key": key,
    }
    if select:
        return st.dataframe(frame, on_select="rerun", selection_mode=select, **options)
    st.dataframe(frame, **options)
    return None


def selected_row(event: Any) -> int | None:
    """The row index a single-row selection picked, if any."""
    try:
        rows = event.selection.rows
    except AttributeError:
        return None
    return rows[0] if rows else None


def pager(page: Page[Any], key: str) -> None:
    """Which rows are shown, and the pagination control (its value is read on the next run via `key`)."""
    if page.total == 0:
        return
    if page.page > page.pages:  # the filter changed under a later page: start again from the first
        reset_page(key)
        st.rerun()
    last = page.first_row + len(page.rows) - 1
    total = f"{page.total:,}+" if page.total_capped else f"{page.total:,}"
    left, right = st.columns([2, 3], vertical_alignment="center")
    left.caption(f"Rows {page.first_row:,}–{last:,} of {total}")
    if page.pages > 1:
        with right:
            st.pagination(page.pages, key=key, default=min(page.page, page.pages))


def page_number(key: str) -> int:
    """The page the pagination control under `key` asks for (1 before it first shows)."""
    value = st.session_state.get(key)
    return int(value) if isinstance(value, int) and value > 0 else 1


def reset_page(key: str) -> None:
    """Back to page 1 (when the filter changes)."""
    st.session_state.pop(key, None)


def open_page(url_path: str, **params: str) -> None:
    """Go to another page of this session (if the role has it), with query parameters."""
    pages = st.session_state.get("fps_pages", {})
    if url_path in pages:
        st.switch_page(pages[url_path], query_params=params)


def has_page(url_path: str) -> bool:
    return url_path in st.session_state.get("fps_pages", {})


def current_page() -> str:
    return str(st.session_state.get("fps_page", ""))


LIVE_KEY = "fps_live_balances"


def live_balance(instrument_id: str, *, refresh: bool = False) -> tuple[Amount, datetime] | None:
    """The processor's live balance (prepaid) or debt (postpaid) and when it was asked, kept for this
    session until refreshed; None (with the error shown) when the processor could not say."""
    known: dict[str, tuple[Amount, datetime]] = st.session_state.setdefault(LIVE_KEY, {})
    if refresh or instrument_id not in known:
        try:
            known[instrument_id] = (
                flows.refresh_balance(resources.merchant(), auth.actor(), instrument_id),
                utcnow(),
            )
        except (FpsError, Forbidden, FlowRefused) as error:
            show_error(error)
            return None
    return known[instrument_id]


def date_range(
    label: str, key: str, page_key: str | None = None, last_days: int | None = None
) -> tuple[datetime | None, datetime | None]:
    """A range of whole UTC days picked in a date input, as [since, until); (None, None) when not set.
    `last_days`: start with the last that many days picked instead of none."""
    today = datetime.now(UTC).date()
    picked = st.date_input(
        label,
        value=(today - timedelta(days=last_days - 1), today) if last_days else (),
        key=key,
        format="YYYY-MM-DD",
        on_change=reset_page if page_key else None,
        args=(page_key,) if page_key else None,
    )
    days = list(picked) if isinstance(picked, tuple | list) else [picked]
    days = [day for day in days if day is not None]
    if not days:
        return None, None
    return day_range(days[0], days[-1])
