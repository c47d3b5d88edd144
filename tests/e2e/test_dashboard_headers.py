"""The dashboard as it is served (`streamlit run dashboard/serve.py`, uvicorn on a loopback port): every
HTTP answer refuses framing and sniffing, HSTS behind a proxy that terminated HTTPS, health still ok; in
Chromium, a page of another origin cannot frame it, and sign-in counts failures by the client address a
trusted proxy forwards."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from browser import needs_chromium, signed_in
from helpers import serve
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import dashdata  # noqa: E402

from fpscore.merchant.schema import AuditEvent  # noqa: E402
from fpscore.merchant.staff import REFUSED  # noqa: E402

SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "dashboard-headers"
FRAMING = {
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
}


def test_every_answer_refuses_framing_and_hsts_comes_behind_https(dashboard):
    sign_in_page = requests.get(f"{dashboard}/audit?request_id=x", timeout=5)  # followed to /signin
    assert sign_in_page.history[0].status_code == 303 and "/signin" in sign_in_page.url
    page = signed_in(dashboard, "theo", dashdata.PASSWORD).get(f"{dashboard}/audit?request_id=x", timeout=5)
    script = re.search(r'src="\.?/?(static/js/[^"]+)"', page.text)
    assert script is not None, page.text[:500]
    health = requests.get(f"{dashboard}/_stcore/health", timeout=5)
    assert health.text == "ok"
    static = requests.get(f"{dashboard}/{script.group(1)}", timeout=5)
    answers = [sign_in_page.history[0], sign_in_page, page, health, static]
    for answer in answers:
        assert answer.status_code in (200, 303), answer.url
        assert {name: answer.headers.get(name) for name in FRAMING} == FRAMING, answer.url
        assert "strict-transport-security" not in answer.headers  # plain HTTP: no HSTS

    behind_proxy = requests.get(dashboard, headers={"X-Forwarded-Proto": "https"}, timeout=5)
    assert behind_proxy.headers["strict-transport-security"].startswith("max-age=31536000")
    assert {name: behind_proxy.headers.get(name) for name in FRAMING} == FRAMING


def _refusals(data_dir: Path) -> list[str]:
    merchant = dashdata.open_merchant(data_dir)
    events = AuditEvent.__table__
    with merchant.engine.connect() as conn:
        details = conn.execute(
            select(events.c.detail).where(events.c.action == "sign_in", events.c.outcome == "Refused")
        ).scalars()
        found = list(details)
    merchant.close()
    return found


def _wrong_sign_in(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base)
    page.get_by_label("User name", exact=True).fill("fiona")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(REFUSED).wait_for()


@pytest.fixture
def framing_page(dashboard: str) -> Iterator[str]:
    """A page of another origin (another loopback port) that frames the dashboard."""

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/html")])
        return [f'<iframe id="victim" src="{dashboard}/" width="800" height="600"></iframe>'.encode()]

    url, stop = serve(app)
    yield url
    stop()


@needs_chromium
def test_chromium_will_not_frame_it_and_sign_in_counts_the_forwarded_address(
    dashboard, data_dir, framing_page, chromium
):  # type: ignore[no-untyped-def]
    page = chromium.new_page()
    page.goto(framing_page)
    frame = page.locator("#victim").element_handle().content_frame()
    frame.wait_for_load_state()
    assert frame.url == "chrome-error://chromewebdata/"  # Chromium refused to load it in the frame
    page.screenshot(path=str(SCREENSHOTS / "framed-by-another-origin.png"))

    _wrong_sign_in(chromium.new_page(), dashboard)
    via_proxy = chromium.new_context(extra_http_headers={"X-Forwarded-For": "198.51.100.7"})
    _wrong_sign_in(via_proxy.new_page(), dashboard)
    assert sorted(_refusals(data_dir)) == ["wrong password from 198.51.100.7", "wrong password from local"]
