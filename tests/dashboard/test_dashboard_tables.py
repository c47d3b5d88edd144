"""Tables that read: a page of rows shown whole, identifying columns pinned, "—" for empty values,
statuses as coloured badges, times in UTC or the viewer's own zone, which every time header names; a
hostile value stays text in the grid and in CSV. (The grid's height is measured in Chromium:
tests/e2e/test_tables_browser.py.)"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import dashdata
import pandas as pd
from dashapp import RUN_TIMEOUT_S, as_signed_in, no_exceptions
from streamlit.testing.v1 import AppTest

from dashboard import components as ui
from dashboard import viewer

EVIL_FORMULA = '=HYPERLINK("https://evil.example/x","Sign in")'


def columns(frame) -> dict:  # type: ignore[no-untyped-def]
    """The column_config a grid was given, as the browser receives it."""
    return json.loads(frame.proto.columns)


def grid(at: AppTest, column: str):  # type: ignore[no-untyped-def]
    """The one grid on the page with that column."""
    [frame] = [frame for frame in at.dataframe if column in frame.value.columns]
    return frame


def test_instruments_shows_the_page_whole_with_its_identity_pinned_and_statuses_as_badges(seeded, book):
    for number in range(55):  # more than the default page of 50
        dashdata.open_prepaid(book, f"reader{number:02d}@buyers.example")
    at = as_signed_in("fiona", "instruments")
    no_exceptions(at)
    table = grid(at, "Instrument")
    assert len(table.value) == 50
    config = columns(table)
    assert config["Instrument"]["pinned"] and config["Customer"]["pinned"]
    badges = config["Status"]["type_config"]
    assert badges["type"] == "multiselect"
    assert {option["value"]: option["color"] for option in badges["options"]} == {"Active": "green"}
    assert table.proto.placeholder == "—"


def test_empty_values_read_a_dash(seeded):
    at = as_signed_in("ada", "staff")
    table = grid(at, "User")
    assert table.value["Disabled"].isna().all()  # nobody is disabled: empty cells, shown as the placeholder
    assert table.proto.placeholder == "—"


def test_every_time_header_names_utc_by_default(seeded):
    at = as_signed_in("fiona", "instruments")
    config = columns(grid(at, "Instrument"))
    for name in ("Debt since", "Opened"):
        assert config[name]["label"] == f"{name} (UTC)"
        assert config[name]["type_config"]["timezone"] == "UTC"
    assert at.toggle(key=viewer.LOCAL_KEY).disabled  # the browser did not say its zone
    staff = columns(grid(as_signed_in("ada", "staff"), "User"))
    assert staff["Since"]["label"] == "Since (UTC)"


def test_local_times_follow_the_browsers_zone_when_asked(seeded):
    at = as_signed_in("ada", "staff")
    at.context["timezone"] = "America/New_York"
    at.run()
    assert columns(grid(at, "User"))["Since"]["label"] == "Since (UTC)"
    at.toggle(key=viewer.LOCAL_KEY).set_value(True).run()
    since = columns(grid(at, "User"))["Since"]
    assert since["label"] == "Since (New York)"
    assert since["type_config"]["timezone"] == "America/New_York"
    at.switch_page("../pages/instruments.py").run()  # the choice holds across pages
    assert columns(grid(at, "Instrument"))["Opened"]["label"] == "Opened (New York)"


def test_a_zone_the_database_does_not_know_is_not_taken(seeded):
    at = as_signed_in("ada", "staff")
    at.context["timezone"] = "[Sign in](https://evil.example)"
    at.run()
    assert at.toggle(key=viewer.LOCAL_KEY).disabled
    at.session_state[viewer.LOCAL_KEY] = True
    at.run()
    no_exceptions(at)
    assert columns(grid(at, "User"))["Since"]["label"] == "Since (UTC)"


def _times_in_text() -> None:
    from datetime import UTC, datetime

    import streamlit as st

    from dashboard import components as ui
    from dashboard import viewer

    viewer.time_zone_control()
    st.text(ui.when(datetime(2026, 7, 1, 12, 30, tzinfo=UTC)))
    st.text(ui.when(datetime(2026, 1, 1, 12, 30, 15, tzinfo=UTC), seconds=True))


def test_times_in_text_follow_the_same_choice():
    at = AppTest.from_function(_times_in_text, default_timeout=RUN_TIMEOUT_S)
    at.context["timezone"] = "Europe/Berlin"
    at.run()
    assert [t.value for t in at.text] == ["2026-07-01 12:30 UTC", "2026-01-01 12:30:15 UTC"]
    at.toggle(key=viewer.LOCAL_KEY).set_value(True).run()
    assert [t.value for t in at.text] == ["2026-07-01 14:30 CEST", "2026-01-01 13:30:15 CET"]


def _statuses_and_hostile_cells(hostile: str) -> None:
    from dashboard import components as ui

    ui.table(
        [
            {"Request": "r1", "Status": "Success", "Outcome": "InsufficientBalance (HTTP 400)", "Note": ""},
            {"Request": "r2", "Status": "Failed (TransactionDenied)", "Outcome": "OK", "Note": None},
            {"Request": "r3", "Status": "Pending", "Outcome": "Success", "Note": hostile},
        ],
        {"Outcome": ui.status_column("Outcome", otherwise="red")},
        key="statuses",
    )


def test_badges_colour_each_status_by_its_first_word_and_cells_stay_text():
    at = AppTest.from_function(
        _statuses_and_hostile_cells, default_timeout=RUN_TIMEOUT_S, kwargs={"hostile": EVIL_FORMULA}
    )
    at.run()
    no_exceptions(at)
    [table] = at.dataframe
    config = columns(table)

    def colours(name: str) -> dict[str, str]:
        return {o["value"]: o["color"] for o in config[name]["type_config"]["options"]}

    assert colours("Status") == {"Success": "green", "Failed (TransactionDenied)": "red", "Pending": "orange"}
    assert colours("Outcome") == {"InsufficientBalance (HTTP 400)": "red", "OK": "green", "Success": "green"}
    notes = list(table.value["Note"])
    assert pd.isna(notes[0]) and pd.isna(notes[1])  # empty text and no value both read "—"
    assert notes[2] == EVIL_FORMULA  # drawn as text by the grid, never evaluated
    assert table.proto.placeholder == "—"


def test_csv_of_a_table_neutralises_a_formula_and_keeps_times_in_utc():
    moment = datetime(2026, 7, 1, 12, 30, tzinfo=UTC)
    text = ui.to_csv([{"Note": EVIL_FORMULA, "When": moment, "Empty": None}])
    [row] = csv.reader(io.StringIO(text.splitlines()[1]))
    assert row == [f"'{EVIL_FORMULA}", "2026-07-01T12:30:00+00:00", ""]


def test_an_actions_results_read_like_every_table(seeded):
    at = as_signed_in("fiona", "settlements")
    at.button(key="settle_all").click().run()
    at.button(key="fps_confirm").click().run()
    no_exceptions(at)
    results = grid(at, "Why not")
    assert pd.isna(results.value["Why not"][0])  # settled: no reason why not, shown "—"
    assert columns(results)["Result"]["type_config"]["options"] == [{"value": "Success", "color": "green"}]
    assert columns(results)["Instrument"]["pinned"]


def test_long_identifiers_open_their_record_instead_of_widening_the_table(seeded):
    at = as_signed_in("theo", "audit")
    no_exceptions(at)
    calls = grid(at, "RequestId")
    config = columns(calls)
    assert config["TransactionId"]["type_config"]["type"] == "link"
    assert not config["TransactionId"].get("pinned")  # a link, but not what names the row
    ids = [value for value in calls.value["TransactionId"] if not pd.isna(value)]
    assert ids and all(value.startswith("./record?transaction_id=") for value in ids)
    assert config["CallerReference"]["width"] == 140
