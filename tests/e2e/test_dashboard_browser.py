"""The back office in a real browser (Playwright + Debian Chromium) against `streamlit run
dashboard/serve.py` on a loopback port, over a book made the way production makes one (instruments opened
through the real CBUI, money moved with the flows; tests/dashboard/dashdata.py).

Each role signs in and opens every page it has, one test per role so that they spread over the test
processes; the book and the server are shared (tests/e2e/conftest.py), and no role's test looks at what
another's writes: finance settles the one due instrument, support writes off part of another's debt, a
troubleshooter follows a RequestId link opened while signed out. Every page is photographed into
artifacts/screenshots/dashboard/. The data grid is a canvas, so the tests drive forms, dialogs and links.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from browser import drawn, idle, needs_chromium

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import dashdata  # noqa: E402

SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "dashboard"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("streamlit", reason="streamlit is not installed")
pytestmark = needs_chromium
expect = sync_api.expect


@pytest.fixture
def page(chromium, seeded_dashboard):  # type: ignore[no-untyped-def]
    """A new browser's page, on the sign-in page (HTML) of the shared dashboard."""
    context = chromium.new_context(viewport={"width": 1440, "height": 1280}, device_scale_factor=1)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(seeded_dashboard)
    yield page
    context.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    drawn(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, username: str, password: str = dashdata.PASSWORD) -> None:  # type: ignore[no-untyped-def]
    expect(page.get_by_role("heading", name="FPS Back Office")).to_be_visible()
    page.get_by_label("User name", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
    idle(page)


def open_page(page, title: str) -> None:  # type: ignore[no-untyped-def]
    """Go to a page through the sidebar (a new URL would start a new, signed-out session)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def nav_titles(page) -> list[str]:  # type: ignore[no-untyped-def]
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    return [text.strip().splitlines()[-1].strip() for text in links.all_inner_texts()]  # after the icon


def heading(page, text: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("heading", name=text, exact=True).first


def open_instrument(page, instrument_id: str) -> None:  # type: ignore[no-untyped-def]
    open_page(page, "Instrument")
    page.get_by_label("Instrument id").fill(instrument_id)
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.get_by_text("Identifiers and tokens")).to_be_visible()
    idle(page)


def test_finance_settles_the_due_instrument_and_reads_fees_and_health(page, seeded_book):  # type: ignore[no-untyped-def]
    seeded = seeded_book.seeded
    expect(page.get_by_role("heading", name="FPS Back Office")).to_be_visible()  # the sign-in page (HTML)
    page.screenshot(path=str(SCREENSHOTS / "00-sign-in.png"), full_page=True)
    sign_in(page, "fiona")
    assert nav_titles(page) == ["Instruments", "Instrument", "Record", "Settlements", "Fees saved", "Health"]
    expect(page.get_by_text("Prepaid liability")).to_be_visible()
    shot(page, "01-instruments")
    open_page(page, "Settlements")
    expect(page.get_by_text("Debt due (book)")).to_be_visible()
    shot(page, "02-settlements-due")
    page.get_by_role("button", name="Settle all 1 due").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Settle 1 instrument")).to_be_visible()
    shot(page, "03-settlements-confirm")
    dialog.get_by_role("button", name="Settle 1").click()
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("Settled 1 of 1 instrument: $21.97")
    shot(page, "04-settlements-done")
    open_page(page, "Fees saved")
    expect(page.get_by_text("Cumulative savings")).to_be_visible()
    shot(page, "05-fees")
    page.get_by_role("tab", name="Top instruments").click()  # a lazy tab: it runs when opened
    idle(page)
    expect(page.get_by_role("tab", name="Top instruments")).to_have_attribute("aria-selected", "true")
    expect(page.locator(".st-key-fees_instrument_csv")).to_be_visible()
    expect(page.locator(".st-key-fees_period_csv")).to_have_count(0)  # the closed tab did not run
    shot(page, "05-fees-top-instruments")
    open_page(page, "Health")
    page.get_by_role("button", name="Run the checks").click()
    expect(page.get_by_text("Every transaction balances")).to_be_visible()
    shot(page, "06-health")
    open_instrument(page, seeded.due)
    expect(page.get_by_text("Asked the processor at")).to_be_visible()
    shot(page, "07-instrument-settled")


def test_support_writes_off_part_of_a_debt(page, seeded_book):  # type: ignore[no-untyped-def]
    seeded = seeded_book.seeded
    sign_in(page, "sam")
    assert nav_titles(page) == ["Instruments", "Instrument", "Record", "Write-offs"]
    open_page(page, "Write-offs")
    search = page.get_by_label("Find the customer or instrument")
    search.fill("cleo")
    search.press("Enter")
    expect(page.get_by_role("button", name="Review write-off")).to_be_visible()
    page.get_by_label("Amount ($)").fill("1.99")
    page.locator(".st-key-write_off_page_code").get_by_role("combobox").click()
    page.get_by_role("option", name="Not delivered").click()
    page.locator(".st-key-write_off_page_note textarea").fill("Level pack would not load")
    page.get_by_role("button", name="Review write-off").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Debt after")).to_be_visible()
    expect(dialog.get_by_text("$3.00")).to_be_visible()
    shot(page, "08-write-off-confirm")
    dialog.get_by_role("button", name="Write off $1.99").click()
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("Wrote off $1.99 — debt now $3.00.")
    page.get_by_role("tab", name="History").click()
    shot(page, "09-write-offs-history")
    open_instrument(page, seeded.prepaid)
    expect(page.get_by_role("tab", name="Refund a purchase")).to_be_visible()
    shot(page, "10-instrument-prepaid")


def test_the_analyst_reads_only(page, seeded_book):  # type: ignore[no-untyped-def]
    seeded = seeded_book.seeded
    sign_in(page, "ana")
    assert nav_titles(page) == ["Instruments", "Instrument", "Record", "Fees saved"]
    open_instrument(page, seeded.owing)
    expect(page.get_by_text("Your role (analyst) can look here but not act.")).to_be_visible()
    open_page(page, "Fees saved")
    expect(page.get_by_text("Effective fee rate")).to_be_visible()


def test_an_admin_sees_staff_and_audit(page, seeded_book):  # type: ignore[no-untyped-def]
    seeded = seeded_book.seeded
    sign_in(page, "ada")
    assert nav_titles(page) == ["Instruments", "Instrument", "Record", "Audit", "Staff"]
    open_page(page, "Staff")
    expect(page.get_by_text("Manage an account")).to_be_visible()
    shot(page, "11-staff")
    open_page(page, "Audit")
    page.get_by_role("tab", name="Staff events").click()
    shot(page, "12-audit-staff-events")
    open_instrument(page, seeded.settled)


def test_a_troubleshooter_follows_a_request_id_link_opened_signed_out(page, seeded_book, seeded_dashboard):  # type: ignore[no-untyped-def]
    """A RequestId link opened while signed out lands on its record after sign-in."""
    seeded = seeded_book.seeded
    page.goto(f"{seeded_dashboard}/audit?request_id={seeded.request_id}")
    expect(page.get_by_text("Sign in to go to the Audit page.")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "13-deep-link-sign-in.png"), full_page=True)
    sign_in(page, "theo")
    assert nav_titles(page) == ["Instruments", "Instrument", "Record", "Audit", "Health"]
    expect(page.get_by_text("Attempt 1 ·")).to_be_visible()
    assert f"request_id={seeded.request_id}".replace(":", "%3A") in page.url or seeded.request_id in page.url
    shot(page, "14-audit-record")
    page.get_by_role("button", name="Back to search").click()
    expect(page.get_by_role("tab", name="FPS calls")).to_be_visible()
    shot(page, "15-audit-search")
    open_page(page, "Health")
    expect(heading(page, "Health")).to_be_visible()
    open_page(page, "Instruments")
    expect(page.get_by_text("Outstanding debt")).to_be_visible()
    open_instrument(page, seeded.owing)
    expect(page.get_by_text("Your role (troubleshooter) can look here but not act.")).to_be_visible()
