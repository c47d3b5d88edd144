"""Fees saved in Chromium, over `fpscore demo` data: the analyst signs in at the root and lands on it, with
the figure the demo printed; periods by day (a settlement day's negative saving explained, today partial),
a preset, the what-if replay charted beside the range as recorded and cleared when the range changes, and
bad input explained. Screenshots in artifacts/screenshots/fees/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import drawn, idle, needs_chromium, served_dashboard

from fpscore.config import Settings
from fpscore.merchant import demo
from fpscore.money import Amount

ROOT = Path(__file__).resolve().parents[2]

SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "fees"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = needs_chromium
expect = sync_api.expect
expect.set_options(timeout=20_000)  # a loaded machine: the Replay reruns the page
UNSET = (
    "FPS_DATABASE_URL",
    "FPS_PROCESSOR_DATABASE_URL",
    "FPS_ENDPOINT",
    "FPS_ACCESS_KEY_ID",
    "FPS_SECRET_ACCESS_KEY",
    "FPS_TRUSTED_USER_HEADER",
    "FPS_SETTLE_SHARE",
    "FPS_SETTLE_AFTER_DAYS",
)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, demo.DemoSummary, Settings]:
    """Eight customers over twenty days: inside the default range (last 90 days), with settlement days that
    saved less than nothing and today partial, as the full demo has them."""
    data_dir = tmp_path_factory.mktemp("fees-e2e") / "data"
    settings = Settings.from_env({"FPS_DATA_DIR": str(data_dir)})
    summary = demo.run_demo(settings, customers=8, days=20, progress=False, out=lambda _: None)
    return data_dir, summary, settings


@pytest.fixture(scope="module")
def dashboard(demo_data, monkeypatch_module) -> Iterator[str]:  # type: ignore[no-untyped-def]
    data_dir, _, _ = demo_data
    with served_dashboard({"FPS_DATA_DIR": str(data_dir)}, data_dir.parent / "streamlit.log") as base:
        yield base


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """The server takes this process's environment: none of the settings that would point it elsewhere."""
    with pytest.MonkeyPatch.context() as patch:
        for name in UNSET:
            patch.delenv(name, raising=False)
        yield patch


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    drawn(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))  # the viewport is as tall as the page


def pick(page, label: str) -> None:  # type: ignore[no-untyped-def]
    """A choice of a segmented control (By, Range)."""
    page.get_by_test_id("stButtonGroup").get_by_text(label, exact=True).click()
    idle(page)


def usd(cents: int) -> str:
    value = Amount(cents).to_decimal()
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def test_the_analyst_lands_on_fees_saved_with_the_demo_figure(dashboard, demo_data, chromium):  # type: ignore[no-untyped-def]
    _, summary, settings = demo_data
    context = chromium.new_context(viewport={"width": 1440, "height": 2400})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(dashboard)
    page.get_by_label("User name", exact=True).fill("demo-analyst")
    page.get_by_label("Password", exact=True).fill(demo.demo_password(settings, "analyst"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Fees saved", exact=True)).to_be_visible()
    idle(page)
    first, last = summary.days.start, summary.days.last
    expect(page.get_by_text(f"{first} to {last} (UTC days), today still running.")).to_be_visible()
    saved = page.get_by_test_id("stMetric").filter(has_text="Saved").filter(has_not_text="charged alone")
    expect(saved.first).to_contain_text(usd(summary.fees.saved_cents))
    shot(page, "01-landing-last-90-days-by-week")

    pick(page, "Day")
    expect(page.get_by_text("Negative savings", exact=False)).to_be_visible()
    expect(page.get_by_text("Partial periods", exact=False)).to_be_visible()  # today, still running
    shot(page, "02-by-day-negative-and-partial")

    pick(page, "Week")
    pick(page, "Last 30 days")
    expect(page.get_by_text("Partial periods", exact=False)).to_be_visible()
    page.get_by_role("button", name="Replay", exact=True).click()
    shot(page, "03-last-30-days-what-if")
    expect(page.get_by_text("Fees paid per scenario", exact=False)).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(
        2
    )  # the periods, and the replay beside as recorded

    pick(page, "Month to date")
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)  # the replay was of another range
    expect(page.get_by_text("Choose pack sizes and a settlement policy", exact=False)).to_be_visible()

    page.get_by_label("Prepaid pack sizes ($)").fill("10, ten")
    page.get_by_label("Prepaid pack sizes ($)").press("Enter")
    idle(page)
    page.get_by_role("button", name="Replay", exact=True).click()
    shot(page, "04-month-to-date-bad-pack-size")
    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_contain_text("Pack size 'ten' is not a decimal amount")  # a word joiner before each dot
    expect(error).to_contain_text("Give pack sizes in dollars, separated by commas")
    expect(page.get_by_text("InvalidParams")).to_have_count(0)
    context.close()
