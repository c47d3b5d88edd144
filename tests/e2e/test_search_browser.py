"""The sidebar's search box in a real browser (Playwright + Debian Chromium) against `streamlit run
dashboard/serve.py` on a loopback port, over a book made the way production makes one: a troubleshooter
types the start of a RequestId that the tables show and lands on its Audit record; support types a
TransactionId a customer read out and lands on the read-only Record; several matches are listed to pick
from. The book and server are the ones tests/e2e/conftest.py shares. Screenshots go to
artifacts/screenshots/search/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser import drawn, idle, needs_chromium
from test_dashboard_browser import sign_in  # the sign-in every browser test uses

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots" / "search"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = needs_chromium
expect = sync_api.expect


@pytest.fixture
def page(chromium, seeded_dashboard):  # type: ignore[no-untyped-def]
    """A new browser's page, on the sign-in page of the shared dashboard (tests/e2e/conftest.py)."""
    context = chromium.new_context(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(seeded_dashboard)
    yield page
    context.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    drawn(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def search(page, text: str) -> None:  # type: ignore[no-untyped-def]
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_label("Search", exact=True).fill(text)
    sidebar.get_by_role("button", name="Search").click()
    idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_request_id_start_lands_on_its_audit_record(page, seeded_book):  # type: ignore[no-untyped-def]
    seeded = seeded_book.seeded
    sign_in(page, "theo")
    search(page, seeded.request_id[:13])
    expect(page).to_have_url(re.compile(r"/audit\?request_id="))
    assert seeded.request_id.replace(":", "%3A") in page.url
    expect(page.get_by_text("Attempt 1 ·")).to_be_visible()
    expect(page.get_by_test_id("stCode").filter(has_text=seeded.request_id).first).to_be_visible()
    expect(page.get_by_text("Timeline of the purchase")).to_have_count(0)  # a settlement, not a purchase
    shot(page, "01-troubleshooter-request-id-start")
    page.get_by_role("button", name="Back to search").click()
    idle(page)
    expect(page.get_by_role("switch", name="Reads too")).not_to_be_checked()
    shot(page, "02-troubleshooter-audit-money-moving-calls")


def test_support_finds_a_transaction_id_on_the_record_page(page, seeded_book):  # type: ignore[no-untyped-def]
    transaction_id = seeded_book.transaction_id
    sign_in(page, "sam")
    search(page, transaction_id.lower())
    expect(page).to_have_url(re.compile(r"/record\?caller_reference="))
    expect(page.get_by_role("heading", name="Purchase $3.00 · Success")).to_be_visible()
    expect(page.get_by_text(re.compile(r"dan@buyers")).first).to_be_visible()  # a word joiner before dots
    expect(page.get_by_text("Timeline of the purchase")).to_be_visible()
    shot(page, "03-support-transaction-id-record")


def test_several_matches_are_listed_and_one_is_picked(page, seeded_book):  # type: ignore[no-untyped-def]
    seeded = seeded_book.seeded
    sign_in(page, "ana")
    search(page, "ada")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("2 matches for ada")).to_be_visible()
    shot(page, "04-analyst-several-matches")
    sidebar.get_by_role("button", name=re.compile(r"^adam@buyers")).click()
    idle(page)
    expect(page).to_have_url(re.compile(r"/instrument\?instrument="))
    search(page, "%_nothing")
    expect(sidebar.get_by_text("Nothing matches %_nothing.")).to_be_visible()
    shot(page, "05-analyst-no-match")
    assert seeded.prepaid not in page.url
