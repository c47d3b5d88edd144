"""Sessions in a real browser (Playwright + Debian Chromium) against `streamlit run dashboard/serve.py`: a
link opened signed out goes through the sign-in page and lands where it pointed; a reload and a second
tab of the same browser stay signed in; sign-out in one tab signs the other out at its next run, and a
reload then leads back to the sign-in page; every page, a role's landing page included, has its own
address (never "Page not found"), through sign-in and after. Screenshots in artifacts/screenshots/session/."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from browser import needs_chromium

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import dashdata  # noqa: E402

SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "session"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("streamlit", reason="streamlit is not installed")
pytestmark = needs_chromium
expect = sync_api.expect


@pytest.fixture(scope="module")
def data_dir(book: tuple[Path, dashdata.Seeded]) -> Path:
    """The dashboard serves this module's seeded book."""
    return book[0]


def idle(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(150)
    page.wait_for_selector(IDLE, timeout=30_000)


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def signed_in_as(page, name: str) -> None:  # type: ignore[no-untyped-def]
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stSidebar").get_by_text(name, exact=True)).to_be_visible()
    idle(page)


def test_a_session_lasts_across_reloads_and_tabs_until_sign_out(dashboard, book, chromium):
    _, seeded = book
    context = chromium.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(30_000)
    first = context.new_page()

    first.goto(f"{dashboard}/instrument?instrument={seeded.due}")  # a table link, opened signed out
    expect(first.get_by_role("heading", name="FPS Back Office")).to_be_visible()
    expect(first.get_by_text("Sign in to go to the Instrument page.")).to_be_visible()
    shot(first, "01-sign-in-page")
    first.get_by_label("User name", exact=True).fill("sam")
    first.get_by_label("Password", exact=True).fill(dashdata.PASSWORD)
    first.get_by_role("button", name="Sign in").click()
    signed_in_as(first, "Sam")
    expect(first.get_by_role("heading", name="bob · Postpaid")).to_be_visible()
    assert f"instrument={seeded.due}" in first.url
    shot(first, "02-landed-on-the-link")
    cookie = next(c for c in context.cookies() if c["name"] == "fps_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    first.reload()
    signed_in_as(first, "Sam")
    expect(first.get_by_role("heading", name="bob · Postpaid")).to_be_visible()
    shot(first, "03-after-reload")

    second = context.new_page()  # a link opened in a new tab of the same browser
    second.goto(f"{dashboard}/instrument?instrument={seeded.prepaid}")
    signed_in_as(second, "Sam")
    expect(second.get_by_role("heading", name="ada · Prepaid")).to_be_visible()
    shot(second, "04-second-tab")

    first.get_by_role("button", name="Sign out").click()
    idle(first)
    expect(first.get_by_text("You signed out.")).to_be_visible()
    shot(first, "05-signed-out")

    second.get_by_test_id("stSidebarNav").get_by_text("Write-offs").click()  # the other tab's next run
    idle(second)
    expect(second.get_by_text("You signed out.")).to_be_visible()
    expect(second.get_by_test_id("stSidebarNav")).to_have_count(0)
    shot(second, "06-other-tab-signed-out")

    second.get_by_role("link", name="Sign in").click()
    expect(second.get_by_text("Sign in to go to the Write-offs page.")).to_be_visible()
    shot(second, "07-back-to-sign-in")

    other_browser = chromium.new_context().new_page()  # no cookie: straight to the sign-in page
    other_browser.goto(f"{dashboard}/audit")
    expect(other_browser.get_by_text("Sign in to go to the Audit page.")).to_be_visible()
    context.close()


def sign_in_here(page, username: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("User name", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(dashdata.PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def found(page) -> None:  # type: ignore[no-untyped-def]
    """The page ran (Streamlit says "Page not found" for an address it does not know)."""
    idle(page)
    expect(page.get_by_text("Page not found")).to_have_count(0)


@pytest.mark.parametrize(("role", "landing", "title"), [("finance", "instruments", "Instruments"),
                                                        ("analyst", "fees", "Fees saved")])  # fmt: skip
def test_the_landing_page_has_its_own_address(dashboard, book, chromium, role, landing, title):
    _, seeded = book
    context = chromium.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{dashboard}/{landing}")  # signed out: through the sign-in page and back
    expect(page.get_by_text(f"Sign in to go to the {title} page.")).to_be_visible()
    sign_in_here(page, dashdata.STAFF[role])
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    found(page)
    assert page.url == f"{dashboard}/{landing}"
    shot(page, f"08-{role}-landing-by-its-address")

    page.goto(f"{dashboard}/{landing}")  # signed in, the address typed or bookmarked
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    found(page)

    page.goto(dashboard)  # the root opens the role's landing page at its own address
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    page.wait_for_url(f"{dashboard}/{landing}")
    found(page)

    page.goto(f"{dashboard}/instrument?instrument={seeded.prepaid}")  # a deep link with parameters
    expect(page.get_by_role("heading", name="ada · Prepaid")).to_be_visible()
    found(page)
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    page.wait_for_url(f"{dashboard}/{landing}")
    found(page)
    context.close()


def test_a_deep_link_with_parameters_leads_through_sign_in(dashboard, book, chromium):
    _, seeded = book
    context = chromium.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{dashboard}/audit?request_id={seeded.request_id}")
    expect(page.get_by_text("Sign in to go to the Audit page.")).to_be_visible()
    sign_in_here(page, dashdata.STAFF["troubleshooter"])
    signed_in_as(page, "Theo")
    found(page)
    assert urlsplit(page.url).path == "/audit"
    assert parse_qs(urlsplit(page.url).query) == {"request_id": [seeded.request_id]}
    expect(page.get_by_role("heading", name="Audit")).to_be_visible()
    shot(page, "09-deep-link-through-sign-in")
    context.close()
