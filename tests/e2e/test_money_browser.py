"""Money actions that finish, in Chromium at 1440 px: finance selects a due instrument in the Due now table
itself (its checkbox on the grid's canvas) and settles it, seeing customer, amount and fee in the result;
support writes off part of a debt with a reason code and a disputed purchase and finds the form empty
again, the debt shown the new one. Photographed into artifacts/screenshots/money/."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import needs_chromium, served_dashboard

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import dashdata  # noqa: E402
from test_dashboard_browser import idle, open_page  # noqa: E402

SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "money"
VIEWPORT = {"width": 1440, "height": 1000}
ROW_PX = 35  # the grid's header and row height
CHECKBOX_PX = 20  # the middle of the selection checkbox, from the grid's left edge

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = needs_chromium
expect = sync_api.expect


@pytest.fixture(scope="module")
def dashboard(book: tuple[Path, dashdata.Seeded]) -> Iterator[str]:
    """The dashboard over the seeded book, settling at 10% of the limit: bob (87%) and cleo (19%) due."""
    data_dir, _ = book
    env = {**dashdata.env_for(data_dir), "FPS_SETTLE_SHARE": "0.1"}
    with served_dashboard(env, data_dir.parent / "streamlit.log") as base:
        yield base


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    idle(page)
    page.wait_for_timeout(400)  # grids draw after the script ends
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def click_row_checkbox(page, grid_key: str, row: int) -> None:  # type: ignore[no-untyped-def]
    """Tick row `row` (0 first) of a grid with multi-row selection: the grid is a canvas, so by position."""
    grid = page.locator(f".st-key-{grid_key} [data-testid='stDataFrameResizable']")
    expect(grid).to_be_visible()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + CHECKBOX_PX, box["y"] + ROW_PX * (row + 1) + ROW_PX / 2)
    idle(page)


def choose(page, key: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Pick `option` in the selectbox whose key is `key`."""
    page.locator(f".st-key-{key}").get_by_role("combobox").click()
    page.get_by_role("option", name=option).first.click()


def test_settle_a_row_selected_in_the_table(signed_in):  # type: ignore[no-untyped-def]
    page = signed_in("fiona")
    open_page(page, "Settlements")
    expect(page.get_by_text("debt at 10% of the credit limit or more")).to_be_visible()
    settle_selected = page.get_by_role("button", name="Settle selected: select rows above")
    expect(settle_selected).to_be_disabled()
    shot(page, "01-due-now")
    click_row_checkbox(page, "settlements_due", 1)  # cleo, the second largest debt
    expect(page.get_by_role("button", name="Settle selected (1)")).to_be_enabled()
    shot(page, "02-due-now-selected")
    page.get_by_role("button", name="Settle selected (1)").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("1 customer, one charge each, $4.99 in all")).to_be_visible()
    shot(page, "03-settle-confirm")
    dialog.get_by_role("button", name="Settle 1 instrument").click()
    success = page.get_by_test_id("stAlertContentSuccess")
    expect(success).to_contain_text("Settled 1 of 1 instrument: $4.99 charged, $0.30 in fees.")
    expect(page.get_by_role("button", name="Settle selected: select rows above")).to_be_disabled()
    shot(page, "04-settled")


def test_write_off_with_a_reason_code_and_the_form_is_cleared(signed_in, book):  # type: ignore[no-untyped-def]
    _, seeded = book
    page = signed_in("sam")
    open_page(page, "Write-offs")
    search = page.get_by_label("Find the customer or instrument")
    search.fill("bob")
    search.press("Enter")
    idle(page)
    expect(page.get_by_role("button", name="Review write-off")).to_be_visible()
    amount = page.locator(".st-key-write_off_page_amount input")
    amount.fill("4.99")
    choose(page, "write_off_page_code", "Not delivered")
    choose(page, "write_off_page_disputed", "Skin")
    page.locator(".st-key-write_off_page_note textarea").fill("Skin never showed up in the game")
    shot(page, "05-write-off-form")
    page.get_by_role("button", name="Review write-off").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Not delivered: Skin never showed up in the game")).to_be_visible()
    shot(page, "06-write-off-confirm")
    dialog.get_by_role("button", name="Write off $4.99").click()
    success = page.get_by_test_id("stAlertContentSuccess")
    expect(success).to_contain_text("Wrote off $4.99 — debt now $16.98.")
    expect(success.get_by_role("link", name="Open the instrument")).to_have_attribute(
        "href", f"./instrument?instrument={seeded.due}"
    )
    # the form is empty: nothing armed for a second Review
    expect(amount).to_have_value("")
    expect(page.locator(".st-key-write_off_page_note textarea")).to_have_value("")
    expect(page.locator(".st-key-write_off_page_code")).not_to_contain_text("Not delivered")
    expect(page.locator(".st-key-write_off_page_disputed")).not_to_contain_text("Skin")
    expect(page.get_by_text("Debt $16.98 (book)")).to_be_visible()
    shot(page, "07-written-off")
    page.get_by_role("tab", name="History").click()
    shot(page, "08-write-offs-history")
