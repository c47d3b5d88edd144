"""Tables that read, in Chromium at 1440×900: a page of 50 instruments shown whole (the grid has no
scrollbar of its own) with every column in view, time headers naming UTC and then the browser's own zone
once asked; Instruments, Instrument, Health and Staff photographed into artifacts/screenshots/tables/.
The grid is drawn on a canvas; its headers are also in the grid's accessibility tree, which is read here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from browser import drawn, idle, needs_chromium

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import dashdata  # noqa: E402
from test_dashboard_browser import open_page  # noqa: E402

from fpscore.merchant.schema import MerchantInstrument  # noqa: E402

SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "tables"
VIEWPORT = {"width": 1440, "height": 900}
ZONE = "Europe/Berlin"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = needs_chromium
expect = sync_api.expect


@pytest.fixture(scope="module")
def book(book: tuple[Path, dashdata.Seeded]) -> tuple[Path, dashdata.Seeded]:
    """This module's seeded book with 55 more prepaid instruments (more than a page of 50), and the
    merchant's record of one balance wrong, so that Health lists a difference."""
    data_dir, seeded = book
    merchant = dashdata.open_merchant(data_dir)
    for number in range(55):
        dashdata.open_prepaid(merchant, f"reader{number:02d}@buyers.example")
    table = MerchantInstrument.__table__
    with merchant.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == seeded.owing).values(balance_cents=123))
    merchant.close()
    return book


@pytest.fixture(scope="module")
def data_dir(book: tuple[Path, dashdata.Seeded]) -> Path:
    """The dashboard serves this module's book."""
    return book[0]


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    drawn(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def grids(page) -> list[dict]:  # type: ignore[no-untyped-def]
    """Each grid's scroll area (content and visible sizes) and its column headers."""
    page.wait_for_selector("[data-testid='stDataFrame'] [role='columnheader']", state="attached")
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')].map(grid => {
            const scroller = grid.querySelector('.dvn-scroller');
            return {
                scrollHeight: scroller.scrollHeight, clientHeight: scroller.clientHeight,
                scrollWidth: scroller.scrollWidth, clientWidth: scroller.clientWidth,
                headers: [...grid.querySelectorAll('[role="columnheader"]')].map(h => h.textContent.trim()),
            };
        })"""
    )


def whole(grid: dict) -> bool:
    """Every row and every column of the grid in view, without scrolling it."""
    return grid["scrollHeight"] <= grid["clientHeight"] and grid["scrollWidth"] <= grid["clientWidth"]


def test_tables_show_their_page_whole_and_name_the_time_zone(signed_in, book):  # type: ignore[no-untyped-def]
    _, seeded = book
    page = signed_in("fiona")
    open_page(page, "Instruments")
    [instruments] = grids(page)
    assert whole(instruments), instruments
    assert instruments["scrollHeight"] > 50 * 30  # the whole page of 50 rows, not ten of them
    assert {"Debt since (UTC)", "Opened (UTC)"} <= set(instruments["headers"]), instruments["headers"]
    shot(page, "01-instruments-utc")

    page.get_by_text("Local times").click()
    idle(page)
    expect(page.locator("[role='columnheader']", has_text="Opened (Berlin)")).to_have_count(1)
    [instruments] = grids(page)
    assert {"Debt since (Berlin)", "Opened (Berlin)"} <= set(instruments["headers"]), instruments["headers"]
    assert whole(instruments), instruments
    shot(page, "02-instruments-berlin")

    page.get_by_text("Local times").click()
    idle(page)
    open_page(page, "Instrument")
    page.get_by_label("Instrument id").fill(seeded.due)
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.get_by_text("Identifiers and tokens")).to_be_visible()
    idle(page)
    history = grids(page)[-1]
    assert whole(history), history
    assert "When (UTC)" in history["headers"] and "Status" in history["headers"]
    page.get_by_test_id("stDataFrame").last.scroll_into_view_if_needed()
    shot(page, "03-instrument")

    open_page(page, "Health")
    page.get_by_role("button", name="Run the checks").click()
    expect(page.get_by_text("differences (checked")).to_be_visible()
    for grid in grids(page):
        assert whole(grid), grid
    shot(page, "04-health")

    page = signed_in("ada")
    open_page(page, "Staff")
    [accounts] = grids(page)
    assert whole(accounts), accounts
    assert {"User", "Status", "Since (UTC)", "Disabled (UTC)"} <= set(accounts["headers"])
    shot(page, "05-staff")
