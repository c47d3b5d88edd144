"""The sidebar's search box in a real browser (Playwright + Debian Chromium) against `streamlit run
dashboard/serve.py` on a loopback port, over a book made the way production makes one: a troubleshooter
types the start of a RequestId that the tables show and lands on its Audit record; support types a
TransactionId a customer read out and lands on the read-only Record; several matches are listed to pick
from. Screenshots go to artifacts/screenshots/search/."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import launched, needs_chromium, served_dashboard

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import dashdata  # noqa: E402
from test_dashboard_browser import idle, sign_in  # noqa: E402  (the sign-in every browser test uses)

from fpscore.merchant.schema import Purchase  # noqa: E402

SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "search"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = needs_chromium
expect = sync_api.expect


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dashdata.Seeded, str]:
    """The seeded book, a second customer whose email starts like the first's, and the TransactionId of
    the settled instrument's purchase."""
    data_dir = tmp_path_factory.mktemp("search-e2e") / "data"
    merchant = dashdata.open_merchant(data_dir)
    seeded = dashdata.seed(merchant)
    dashdata.open_prepaid(merchant, "adam@buyers.example")
    purchases = Purchase.__table__
    with merchant.engine.connect() as conn:
        transaction_id = (
            conn.execute(purchases.select().where(purchases.c.instrument_id == seeded.settled))
            .first()
            .transaction_id
        )
    merchant.close()
    return data_dir, seeded, transaction_id


@pytest.fixture(scope="module")
def dashboard(book: tuple[Path, dashdata.Seeded, str]) -> Iterator[str]:
    data_dir = book[0]
    with served_dashboard(dashdata.env_for(data_dir), data_dir.parent / "streamlit.log") as base:
        yield base


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    yield from launched(SCREENSHOTS)


@pytest.fixture
def page(chromium):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    idle(page)
    page.wait_for_timeout(300)  # grids draw after the script ends
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def search(page, text: str) -> None:  # type: ignore[no-untyped-def]
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_label("Search", exact=True).fill(text)
    sidebar.get_by_role("button", name="Search").click()
    idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_request_id_start_lands_on_its_audit_record(dashboard, book, page):  # type: ignore[no-untyped-def]
    _, seeded, _ = book
    page.goto(dashboard)
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


def test_support_finds_a_transaction_id_on_the_record_page(dashboard, book, page):  # type: ignore[no-untyped-def]
    _, _, transaction_id = book
    page.goto(dashboard)
    sign_in(page, "sam")
    search(page, transaction_id.lower())
    expect(page).to_have_url(re.compile(r"/record\?caller_reference="))
    expect(page.get_by_role("heading", name="Purchase $3.00 · Success")).to_be_visible()
    expect(page.get_by_text(re.compile(r"dan@buyers")).first).to_be_visible()  # a word joiner before dots
    expect(page.get_by_text("Timeline of the purchase")).to_be_visible()
    shot(page, "03-support-transaction-id-record")


def test_several_matches_are_listed_and_one_is_picked(dashboard, book, page):  # type: ignore[no-untyped-def]
    _, seeded, _ = book
    page.goto(dashboard)
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
