"""The storefront in Chromium, with the back office beside it: a new customer signs up, prepays 10.00
through the co-branded pages (served under the shop's own host), buys three songs and sees 7.03 left; a
second customer opens a 5.00 credit line, buys until refused and reads why; finance signs in to the served
dashboard, sees both customers, and settles the second one's debt on Settlements; the customer's account
page then shows it settled. Photographed into artifacts/screenshots/shop/."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import needs_chromium, served_dashboard
from helpers import serve

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import dashdata  # noqa: E402
from test_dashboard_browser import idle, open_page, sign_in  # noqa: E402
from test_money_browser import click_row_checkbox  # noqa: E402

from fpscore.config import Settings  # noqa: E402
from fpscore.shop.app import build  # noqa: E402

SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "shop"
SHOP_VIEWPORT = {"width": 1100, "height": 900}
PASSWORD = "correct horse battery"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = needs_chromium
expect = sync_api.expect


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("shop-e2e") / "data"
    merchant = dashdata.open_merchant(data_dir)
    dashdata.add_account(merchant, "fiona", "finance", "Fiona Finance")
    merchant.close()
    return data_dir


@pytest.fixture(scope="module")
def shop(data_dir: Path) -> Iterator[str]:
    settings = dataclasses.replace(
        Settings.from_env({"FPS_DATA_DIR": str(data_dir)}),
        access_key_id=dashdata.ACCESS_KEY_ID,
        secret_access_key=dashdata.SECRET_ACCESS_KEY,
    )
    app = build(settings)
    url, stop = serve(app)
    yield url
    stop()
    app.merchant.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_up(page, shop: str, name: str, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(shop)
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def walk_cobranded_pages(page, shop: str, email: str, name: str, shot_name: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in on the co-branded pages (on the shop's host) and confirm."""
    assert page.url.startswith(f"{shop}/cobranded-ui/actions/start?")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Review and confirm")).to_be_visible()
    shot(page, shot_name)
    page.get_by_role("button", name="Confirm").click()


def buy(page, title: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name=f"Buy {title}").click()


def test_customers_buy_and_the_back_office_settles(chromium, shop, data_dir):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport=SHOP_VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(shop)
    expect(page.get_by_role("heading", name="Songs")).to_be_visible()
    shot(page, "01-catalogue")

    # Ada prepays 10.00 and buys three songs at 0.99.
    sign_up(page, shop, "Ada Lovelace", "ada@buyers.example")
    shot(page, "02-account-new")
    page.locator("form[action='/prepay']").get_by_role("button", name="10.00").click()
    walk_cobranded_pages(page, shop, "ada@buyers.example", "Ada Lovelace", "03-cobranded-confirm-prepaid")
    expect(page.get_by_role("heading", name="Your prepaid balance is ready")).to_be_visible()
    expect(page.locator(".balance")).to_have_text("10.00")
    shot(page, "04-prepaid-ready")
    page.get_by_role("link", name="Buy songs with one click").click()
    for title in ("Paper Lanterns", "Northbound", "Glasshouse"):
        buy(page, title)
        expect(page.get_by_text(f"You bought {title}")).to_be_visible()
    expect(page.locator(".outcome .balance")).to_have_text("7.03")
    shot(page, "05-three-songs-bought")
    page.get_by_role("link", name="Your account").click()
    expect(page.locator("#prepaid-balance")).to_have_text("7.03")
    expect(page.locator("#purchases tbody tr")).to_have_count(3)
    shot(page, "06-account-7.03")
    context.close()

    # Grace opens a 5.00 credit line and buys until the processor refuses.
    context = chromium.new_context(viewport=SHOP_VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(20_000)
    page = context.new_page()
    sign_up(page, shop, "Grace Hopper", "grace@buyers.example")
    page.locator("form[action='/paylater']").get_by_role("button", name="5.00").click()
    walk_cobranded_pages(page, shop, "grace@buyers.example", "Grace Hopper", "07-cobranded-confirm-postpaid")
    expect(page.get_by_role("heading", name="Your Pay later account is ready")).to_be_visible()
    page.get_by_role("link", name="Buy songs with one click").click()
    for owed in ("0.99", "1.98", "2.97", "3.96", "4.95"):
        buy(page, "Paper Lanterns")
        expect(page.locator(".outcome .debt")).to_have_text(owed)
    buy(page, "Paper Lanterns")
    refusal = page.locator(".outcome.refused")
    expect(refusal).to_contain_text("Not bought")
    expect(refusal).to_contain_text("would take what you owe (4.95) above your credit limit of 5.00")
    expect(refusal.get_by_role("button", name="Pay 4.95 now")).to_be_visible()
    shot(page, "08-refused-credit-limit")

    # Finance, in the back office, sees both customers and settles Grace's debt.
    env = dashdata.env_for(data_dir)
    with served_dashboard(env, data_dir.parent / "streamlit.log") as dashboard:
        staff = chromium.new_context(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
        staff.set_default_timeout(20_000)
        office = staff.new_page()
        office.goto(dashboard)
        sign_in(office, "fiona")
        open_page(office, "Instruments")
        # both customers' instruments (the grid is a canvas: its summary, and the screenshot, show them)
        expect(office.get_by_text("Rows 1–2 of 2")).to_be_visible()
        expect(office.get_by_text("$7.03", exact=True)).to_be_visible()
        expect(office.get_by_text("$4.95", exact=True)).to_be_visible()
        office.wait_for_timeout(500)  # the grid draws after the script ends
        shot(office, "09-back-office-instruments")
        open_page(office, "Settlements")
        click_row_checkbox(office, "settlements_due", 0)
        office.get_by_role("button", name="Settle selected (1)").click()
        dialog = office.get_by_role("dialog")
        expect(dialog.get_by_text("1 customer, one charge each, $4.95 in all")).to_be_visible()
        shot(office, "10-back-office-settle")
        dialog.get_by_role("button", name="Settle 1 instrument").click()
        expect(office.get_by_test_id("stAlertContentSuccess")).to_contain_text("Settled 1 of 1 instrument")
        idle(office)
        shot(office, "11-back-office-settled")
        staff.close()

    page.get_by_role("link", name="Your account").click()
    expect(page.locator("#debt-settled")).to_contain_text("You owe nothing: settled")
    expect(page.locator("#payments")).to_contain_text("Paid what you owed")
    shot(page, "12-account-settled")
    context.close()
