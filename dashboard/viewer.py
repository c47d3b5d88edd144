"""How this viewer reads times: in UTC (the default, as the records and CSV files keep them) or in the
browser's own time zone, chosen in the sidebar. The browser names its zone itself, so only a name the
time zone database knows is taken."""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, available_timezones

import streamlit as st

from dashboard.text import md

LOCAL_KEY = "fps_local_times"
UTC_NAME = "UTC"


@cache
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


def browser_zone() -> str | None:
    """The browser's time zone (an IANA name such as Europe/Berlin), when it sent one that exists."""
    name = st.context.timezone
    return name if name in _known() else None


def zone_name() -> str:
    """The zone times are shown in: UTC, or the browser's when the viewer asked for local times."""
    local = browser_zone()
    return local if local is not None and st.session_state.get(LOCAL_KEY) else UTC_NAME


def zone() -> ZoneInfo:
    return ZoneInfo(zone_name())


def zone_label() -> str:
    """The zone as a column header says it: "UTC", or the place ("Berlin", "New York")."""
    return zone_name().rsplit("/", 1)[-1].replace("_", " ")


def time_zone_control() -> None:
    """The sidebar's switch between UTC and the browser's time zone."""
    local = browser_zone()
    st.toggle(
        "Local times",
        key=LOCAL_KEY,
        disabled=local is None or local == UTC_NAME,
        help=f"Times in {md(local)} (this browser's time zone) instead of UTC"
        if local is not None
        else "This browser did not say its time zone: times are in UTC",
    )
