"""Data is text, in a real browser with Streamlit's own renderer: a link sent to staff with markdown in its
query parameter, followed through sign-in by a staff member whose display name is markdown, and an
instrument of a customer whose name and email are markdown, with its write-off dialog. Nowhere does the
page hold a link or an image to the attacker's site, and the browser never asks that site for anything.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from browser import idle, needs_chromium, served_dashboard

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import dashdata  # noqa: E402

SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "hostile"
UNMEANT = 'a[href*="evil.example"], img[src*="evil.example"], a[href^="mailto:"]'
EVIL = re.compile(r"^https?://([^/]*\.)?evil\.example")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = needs_chromium
expect = sync_api.expect


@pytest.fixture(scope="module")
def hostile_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dashdata.Hostile]]:
    data_dir = tmp_path_factory.mktemp("hostile-e2e") / "data"
    merchant = dashdata.open_merchant(data_dir)
    made = dashdata.seed_hostile(merchant)
    merchant.close()
    with served_dashboard(dashdata.env_for(data_dir), data_dir.parent / "streamlit.log") as base:
        yield base, made


def only_text(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """No link or image the app did not mean anywhere in the page (dialogs included)."""
    idle(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    found = page.eval_on_selector_all(UNMEANT, "nodes => nodes.map(node => node.outerHTML)")
    assert found == [], found


def test_hostile_names_and_a_reflected_link_render_as_text(hostile_dashboard, chromium):  # type: ignore[no-untyped-def]
    base, made = hostile_dashboard
    context = chromium.new_context(viewport={"width": 1440, "height": 1280})
    context.set_default_timeout(20_000)
    asked: list[str] = []
    context.route(EVIL, lambda route: (asked.append(route.request.url), route.abort()))  # nothing leaves
    page = context.new_page()

    # A link sent to staff, opened signed out, followed after sign-in.
    page.goto(f"{base}/instrument?{urlencode({'instrument': dashdata.HOSTILE_QUERY})}")
    page.get_by_label("User name", exact=True).fill(dashdata.HOSTILE_STAFF)
    page.get_by_label("Password", exact=True).fill(dashdata.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("The merchant has no instrument")).to_contain_text("[Sign in again](https://evil")
    expect(page.get_by_test_id("stSidebar")).to_contain_text("[Staff](https://evil")
    only_text(page, "01-reflected-instrument-id")

    # The hostile customer's instrument, its identifiers, and a write-off with a hostile reason.
    page.get_by_label("Instrument id").fill(made.instrument)
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("[Session expired - sign in](https://evil")
    page.get_by_text("Identifiers and tokens").click()
    page.get_by_role("tab", name="Write off").click()
    page.get_by_label("Amount ($)").first.fill("1.00")
    page.locator(".st-key-write_off_code").get_by_role("combobox").click()
    page.get_by_role("option", name="Other").first.click()
    page.locator(".st-key-write_off_note textarea").fill(dashdata.HOSTILE_REASON)
    page.get_by_role("button", name="Review write-off").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("<img src=https://evil")
    expect(dialog).to_contain_text("[mail](https://evil")
    only_text(page, "02-hostile-customer-write-off")
    context.close()
    assert asked == []
