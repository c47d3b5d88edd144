"""The Staff page in Chromium: the Role selector follows the chosen account, "Change role" waits for
another role, and a role changed through the confirmation dialog is the one asked for."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from browser import needs_chromium

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import dashdata  # noqa: E402
from test_dashboard_browser import idle, open_page, sign_in  # noqa: E402

from fpscore.merchant import staff  # noqa: E402
from fpscore.merchant.roles import Actor  # noqa: E402

SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "staff"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = needs_chromium
expect = sync_api.expect


@pytest.fixture
def page(chromium):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def choose(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label(label, exact=True).first.click()
    page.get_by_role("option", name=option, exact=True).click()
    idle(page)


def role_shown(page) -> str:  # type: ignore[no-untyped-def]
    """The Role selector's value (the first selector so named; the add form's comes after it)."""
    return page.get_by_label("Role", exact=True).first.input_value()


def test_an_admin_changes_the_role_of_the_account_they_chose(dashboard, data_dir, page):  # type: ignore[no-untyped-def]
    page.goto(dashboard)
    sign_in(page, "ada")
    open_page(page, "Staff")
    change = page.get_by_role("button", name="Change role")
    assert role_shown(page) == "admin"  # ada, the first account
    expect(change).to_be_disabled()

    choose(page, "Account", "sam · Sam")
    assert role_shown(page) == "support"  # not the admin role of the account chosen before
    expect(change).to_be_disabled()

    choose(page, "Role", "analyst")
    expect(change).to_be_enabled()
    change.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Make sam analyst")).to_be_visible()
    expect(dialog.get_by_text("support → analyst")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "change-role-dialog.png"))
    dialog.get_by_role("button", name="Make analyst").click()
    idle(page)
    expect(page.get_by_text("sam is now analyst.").first).to_be_visible()
    assert role_shown(page) == "analyst"
    expect(change).to_be_disabled()

    merchant = dashdata.open_merchant(data_dir)
    try:
        roles = {a.username: a.role for a in staff.list_staff(merchant.engine, Actor.staff("ada", "admin"))}
    finally:
        merchant.close()
    assert roles["sam"] == "analyst" and roles["ada"] == "admin"
