"""Fees saved, as the analyst finds it: the page they land on, the range presets, partial periods and
negative savings marked and explained, the what-if replay beside the range as recorded (cleared when its
inputs change), bad input explained in words, hostile input shown as text.

The history book is made on a simulated clock, relative to today (T), through the real CBUI and flows:
  T-40  Eve, postpaid (limit 25.00): four 4.99 items, fees alone 4 × 0.30 = 1.20        saved  1.20
  T-35  Eve's 19.96 settled: one fee of 0.88 (2.9% + 0.30), no purchase                  saved -0.88
  T-3   Finn, prepaid: 10.00 funded (fee 0.59), ten 0.99 songs alone 10 × 0.10 = 1.00     saved  0.41
  T     Gus, postpaid: three 0.99 songs, fees alone 0.30, not settled                     saved  0.30
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dashdata
import pytest
from dashapp import as_signed_in, no_exceptions, shown, texts
from journeys import FINANCE, STOREFRONT
from markup import assert_only_text, plain, sources

from dashboard import nav
from fpscore.config import Settings
from fpscore.db import utcnow
from fpscore.merchant import analytics, demo, flows
from fpscore.merchant.connect import connect
from fpscore.merchant.demo import SimulatedClock
from fpscore.merchant.roles import ROLES
from fpscore.money import Amount

SAVED_BY_DAY = {-40: 120, -35: -88, -3: 41, 0: 30}  # cents, by day relative to today


def at_day(today: date, offset: int, hour: int) -> datetime:
    return datetime(today.year, today.month, today.day, hour, tzinfo=UTC) + timedelta(days=offset)


@pytest.fixture(scope="session")
def history_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, date]:
    """The history book of the module docstring, made once per test process."""
    data_dir = tmp_path_factory.mktemp("history") / "data"
    today = utcnow().date()
    settings = dataclasses.replace(
        Settings.from_env({"FPS_DATA_DIR": str(data_dir)}),
        access_key_id=dashdata.ACCESS_KEY_ID,
        secret_access_key=dashdata.SECRET_ACCESS_KEY,
    )
    clock = SimulatedClock(at_day(today, -40, 9))
    merchant = connect(settings, clock)
    merchant.client.backoff_s = 0.0
    try:
        dashdata.seed_staff(merchant)
        eve = dashdata.open_postpaid(merchant, "eve@buyers.example")
        for _ in range(4):
            flows.purchase(merchant, STOREFRONT, eve, "Game item: Dragon Mount", Amount.parse("4.99"))
        clock.at(at_day(today, -35, 23))
        flows.settle(merchant, FINANCE, eve)
        clock.at(at_day(today, -3, 10))
        finn = dashdata.open_prepaid(merchant, "finn@buyers.example", fund="10.00")
        for _ in range(10):
            flows.purchase(merchant, STOREFRONT, finn, "Song: Quiet Tide", Amount.parse("0.99"))
        clock.at(datetime.combine(today, datetime.min.time(), UTC))  # just after midnight: today's so far
        gus = dashdata.open_postpaid(merchant, "gus@buyers.example")
        for _ in range(3):
            flows.purchase(merchant, STOREFRONT, gus, "Song: Paper Harbor", Amount.parse("0.99"))
    finally:
        merchant.close()
    (data_dir / "today.json").write_text(json.dumps(today.isoformat()))
    return data_dir, today


@pytest.fixture
def history(history_template, tmp_path, monkeypatch) -> date:  # type: ignore[no-untyped-def]
    """This test's own copy of the history book; today's date (the day it was made)."""
    source, today = history_template
    if utcnow().date() != today:
        pytest.skip("the day changed while the tests ran")
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir)
    for name, value in dashdata.env_for(data_dir).items():
        monkeypatch.setenv(name, value)
    for name in ("FPS_SETTLE_SHARE", "FPS_SETTLE_AFTER_DAYS", "FPS_TRUSTED_USER_HEADER"):
        monkeypatch.delenv(name, raising=False)
    return today


def run(at):  # type: ignore[no-untyped-def]
    at.run()
    no_exceptions(at)
    assert_only_text(at)
    return at


def fees(username: str = "ana"):  # type: ignore[no-untyped-def]
    at = as_signed_in(username, "fees")
    no_exceptions(at)
    assert_only_text(at)
    return at


def metrics(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m.label: m.value for m in at.metric}


TABLE_COLUMNS = {"fees_by_period": "Saved so far", "fees_what_if_table": "Scenario"}


def table(at, key: str):  # type: ignore[no-untyped-def]
    """The table `key` shows (known by a column of its own), or None."""
    found = [frame.value for frame in at.dataframe if TABLE_COLUMNS[key] in frame.value.columns]
    return found[0] if found else None


def charts(at) -> list[str]:  # type: ignore[no-untyped-def]
    """The Vega-Lite spec and data of each chart shown, as text."""
    return [chart.proto.spec + str(chart.proto.datasets) for chart in at.get("vega_lite_chart")]


def saved_between(today: date, first: date | None, last: date) -> str:
    cents = sum(
        v for offset, v in SAVED_BY_DAY.items() if (first or date.min) <= today + timedelta(offset) <= last
    )
    return f"-${abs(cents) / 100:,.2f}" if cents < 0 else f"${cents / 100:,.2f}"


# -- landing -------------------------------------------------------------------------------------------------


def test_the_analyst_lands_on_fees_saved_and_others_on_the_book(history):
    at = as_signed_in("ana")
    no_exceptions(at)
    assert texts(at.title) == ["Fees saved"]
    assert texts(as_signed_in("ana", "instruments").title) == ["Instruments"]  # the book is a click away
    for role, username in dashdata.STAFF.items():
        expected = "Fees saved" if role == "analyst" else "Instruments"  # finance settles from the book
        assert texts(as_signed_in(username).title) == [expected], role
        assert nav.landing_page(role) in {spec.url_path for spec in nav.pages_for(role)}
    assert set(nav.LANDING) <= set(ROLES)


def test_totals_by_period_kind_and_instrument(seeded):
    at = fees()
    figures = metrics(at)
    assert figures["Fees if charged alone"] == "$2.28"
    assert figures["Fees paid"] == "$1.06" and figures["Saved"] == "$1.22"
    assert figures["Effective fee rate"] == "2.76%"
    assert [t.label for t in at.tabs] == ["By period", "By kind", "Top instruments"]
    columns = [set(frame.value.columns) for frame in at.dataframe]
    assert {"From", "Saved so far", "Note"} <= columns[0] and not any("Kind" in c for c in columns)  # lazy
    at.session_state["fees_tab"] = "By kind"
    run(at)
    [kinds] = [frame.value for frame in at.dataframe if "Kind" in frame.value.columns]
    assert set(kinds["Kind"]) == {"Prepaid", "Postpaid"} and "From" not in at.dataframe[0].value.columns
    at.session_state["fees_tab"] = "Top instruments"
    run(at)
    [top] = [frame.value for frame in at.dataframe if "Instrument" in frame.value.columns]
    assert len(top) > 0 and all("?instrument=" in link for link in top["Instrument"])


# -- ranges --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "first_offset"),
    [
        ("Last 7 days", -6),
        ("Last 30 days", -29),
        ("Last 90 days", -89),
        ("Month to date", None),
        ("All time", None),
    ],
)
def test_each_preset_shows_its_days(history, preset, first_offset):
    today = history
    at = fees()
    assert at.segmented_control(key="fees_range").value == "Last 90 days"  # the default
    at.segmented_control(key="fees_range").set_value(preset)
    run(at)
    if preset == "Month to date":
        first: date | None = today.replace(day=1)
    else:
        first = None if first_offset is None else today + timedelta(days=first_offset)
    since = first.isoformat() if first else "the first record"
    assert f"**{preset}**: {since} to {today.isoformat()} (UTC days), today still running." in shown(
        at.caption
    )
    assert metrics(at)["Saved"] == saved_between(today, first, today)


def test_a_custom_range_of_days(history):
    today = history
    at = fees()
    at.segmented_control(key="fees_range").set_value("Custom")
    run(at)
    first, last = today - timedelta(days=40), today - timedelta(days=35)
    at.date_input(key="fees_custom").set_value((first, last))
    run(at)
    assert f"**Custom**: {first} to {last} (UTC days)." in shown(at.caption)
    assert metrics(at)["Saved"] == "$0.32"  # 1.20 - 0.88
    assert metrics(at)["Fees paid"] == "$0.88"


def test_partial_periods_are_marked(history):
    today = history
    at = fees()
    at.segmented_control(key="fees_range").set_value("Last 7 days")
    run(at)
    assert any("Partial periods" in text for text in shown(at.caption))
    frame = table(at, "fees_by_period")
    notes = dict(zip(frame["From"], frame["Note"], strict=True))
    monday = today - timedelta(days=today.weekday())
    assert notes[monday].startswith(f"Partial: {monday.isoformat()} to today, still running")
    first = today - timedelta(days=6)
    if today - timedelta(days=3) < monday:  # T-3 is in last week: that week is cut by the range's first day
        week = monday - timedelta(days=7)
        assert notes[week].startswith(
            f"Partial: only {first.isoformat()} to {(monday - timedelta(1)).isoformat()}"
        )
    at.segmented_control(key="fees_period").set_value("Day")
    run(at)
    notes = dict(zip(*(table(at, "fees_by_period")[c] for c in ("From", "Note")), strict=True))
    assert notes[today].startswith("Partial: ") and not isinstance(
        notes[today - timedelta(days=3)], str
    )  # "—"


def test_whole_periods_are_not_marked(history):
    today = history
    at = fees()
    at.segmented_control(key="fees_range").set_value("Custom")
    run(at)
    at.date_input(key="fees_custom").set_value((today - timedelta(days=40), today - timedelta(days=1)))
    at.segmented_control(key="fees_period").set_value("Day")
    run(at)
    assert not any("Partial periods" in text for text in shown(at.caption))
    notes = [note for note in table(at, "fees_by_period")["Note"] if isinstance(note, str)]
    assert notes == ["Negative: a charge's fee; its purchases saved more"]


def test_a_negative_saving_is_explained(history):
    today = history
    at = fees()
    at.segmented_control(key="fees_period").set_value("Day")
    run(at)
    [why] = [text for text in shown(at.caption) if "Negative savings" in text]
    assert "pays one card fee on the aggregated charge" in why and "saved more" in why
    frame = table(at, "fees_by_period")
    settled = frame[frame["From"] == today - timedelta(days=35)].iloc[0]
    assert str(settled["Saved"]) == "-0.88"
    assert "Negative: a charge's fee; its purchases saved more" in settled["Note"]
    at.segmented_control(key="fees_range").set_value("Last 7 days")  # no negative period here
    run(at)
    assert not any("Negative savings" in text for text in shown(at.caption))


# -- what if -------------------------------------------------------------------------------------------------


def test_what_if_is_charted_beside_the_range_as_recorded_and_cleared_when_the_range_changes(history):
    at = fees()
    at.text_input(key="fees_packs").input("5, 20")
    at.button(key="fees_replay").click()
    run(at)
    frame = table(at, "fees_what_if_table")
    assert list(frame["Scenario"]) == ["As recorded", "Packs of $5.00", "Packs of $20.00"]
    recorded = frame.iloc[0]
    # As recorded: 0.88 + 0.59 paid on 1 top-up and 1 settlement; 1.20 + 1.00 + 0.30 alone.
    assert (recorded["Top-ups"], recorded["Settlements"]) == (1, 1)
    assert (str(recorded["Fees paid"]), str(recorded["Fees alone"]), str(recorded["Saved"])) == (
        "1.47", "2.50", "1.03",
    )  # fmt: skip
    # Replayed: Finn's 9.90 in two packs of 5.00 (0.30 each), Eve's 19.96 at 80% of 25.00 (0.88), Gus's
    # 2.97 still owed priced as one more settlement (0.20).
    assert (str(frame.iloc[1]["Fees paid"]), frame.iloc[1]["Top-ups"], frame.iloc[1]["Settlements"]) == (
        "1.68", 2, 2,
    )  # fmt: skip
    shown_charts = charts(at)
    assert len(shown_charts) == 3  # the two of the periods, and the replay's
    assert all(name in shown_charts[-1] for name in frame["Scenario"])
    at.segmented_control(key="fees_range").set_value("Last 30 days")
    run(at)
    assert table(at, "fees_what_if_table") is None and len(charts(at)) == 2
    assert any(text.startswith("Choose pack sizes") for text in shown(at.caption))


def test_what_if_is_cleared_when_its_inputs_change(history):
    at = fees()
    at.button(key="fees_replay").click()
    run(at)
    assert table(at, "fees_what_if_table") is not None
    at.slider(key="fees_share").set_value(50)
    run(at)
    assert table(at, "fees_what_if_table") is None
    at.button(key="fees_replay").click()
    run(at)
    assert table(at, "fees_what_if_table") is not None
    at.segmented_control(key="fees_period").set_value("Month")  # not an input of the replay: kept
    run(at)
    assert table(at, "fees_what_if_table") is not None


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("abc", "Pack size 'abc' is not a decimal amount. Give pack sizes in dollars, separated by commas"),
        ("10, 1.234", "Pack size 1.234 has more than 2 decimal places. Give pack sizes in dollars"),
        ("0", "A pack of $0.00 buys nothing. Give pack sizes in dollars"),
        ("-5", "Pack size must not be negative. Give pack sizes in dollars"),
        (" , ", "No pack sizes given. Give pack sizes in dollars, separated by commas, e.g. 10, 25, 50."),
        (", ".join(["5"] * 21), "21 pack sizes given; at most 20 can be replayed."),
    ],
)
def test_bad_pack_sizes_are_explained_in_words(history, typed, said):
    at = fees("fiona")
    at.text_input(key="fees_packs").input(typed)
    at.button(key="fees_replay").click()
    run(at)
    [error] = shown(at.error)
    assert said in error and "InvalidParams" not in error and "AmountOutOfRange" not in error
    assert table(at, "fees_what_if_table") is None


def test_a_hostile_pack_size_is_shown_as_text(history):
    hostile = f"[x]({dashdata.EVIL}/q)"  # one part (no comma nor space), short enough to be quoted whole
    at = fees()
    at.text_input(key="fees_packs").input(hostile)
    at.button(key="fees_replay").click()
    run(at)  # no markdown source renders a link, an image or HTML
    [error] = [plain(source) for source in sources(at) if "is not a decimal amount" in plain(source)]
    assert hostile in error


# -- the demo ----------------------------------------------------------------------------------------------

SMALL_POLICY = {"FPS_SETTLE_SHARE": "0.2", "FPS_SETTLE_AFTER_DAYS": "2"}  # what a small history reaches


def demo_env(data_dir: Path) -> dict[str, str]:
    env = {"FPS_DATA_DIR": str(data_dir), **SMALL_POLICY}
    return env | {name: "" for name in ("FPS_DATABASE_URL", "FPS_PROCESSOR_DATABASE_URL", "FPS_ENDPOINT")}


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, demo.DemoSummary]:
    """A small `fpscore demo` (its own credentials, its demo-<role> accounts), made once per process."""
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    environ = {**demo_env(data_dir), "FPS_DEMO_PASSWORD": ""}
    summary = demo.run_demo(
        Settings.from_env(environ), customers=6, days=10, progress=False, out=lambda _: None
    )
    return data_dir, summary


@pytest.fixture
def demo_book(demo_template, tmp_path, monkeypatch) -> demo.DemoSummary:  # type: ignore[no-untyped-def]
    source, summary = demo_template
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir)
    for name in ("FPS_ACCESS_KEY_ID", "FPS_SECRET_ACCESS_KEY", "FPS_TRUSTED_USER_HEADER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in demo_env(data_dir).items():
        monkeypatch.setenv(name, value)
    return summary


def test_the_demo_summary_is_what_fees_saved_shows_first_and_finance_finds_debt_due(demo_book):
    at = as_signed_in("demo-analyst")
    no_exceptions(at)
    assert texts(at.title) == ["Fees saved"]
    saved = Amount(demo_book.fees.saved_cents).to_decimal()
    assert metrics(at)["Saved"] == (f"-${-saved:,.2f}" if saved < 0 else f"${saved:,.2f}")
    assert metrics(at)["Fees paid"] == f"${Amount(demo_book.fees.fees_paid_cents).to_decimal():,.2f}"
    first, last = demo_book.days.start, demo_book.days.last
    assert f"**{analytics.DEFAULT_RANGE}**: {first} to {last} (UTC days), today still running." in shown(
        at.caption
    )
    at = as_signed_in("demo-finance", "settlements")
    no_exceptions(at)
    [due] = [frame.value for frame in at.dataframe if "Why due" in frame.value.columns]
    assert len(due) == demo_book.due.instruments >= 1


def test_an_empty_range_says_what_to_do(empty_book):
    at = fees()
    assert any(text.startswith("No completed purchases in this range") for text in shown(at.info))
