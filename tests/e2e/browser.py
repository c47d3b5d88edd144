"""The browser the end-to-end tests drive: Debian's Chromium through Playwright, by its executable path
(Playwright cannot download browsers here); and the dashboard they drive, served as in production
(`streamlit run dashboard/serve.py`) on a loopback port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_STARTUP_TIMEOUT_S = 60
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
# Every data grid and chart in view has its canvas (or SVG) laid out: they draw after the script ends.
DRAWN = """() => [...document.querySelectorAll(
        "[data-testid='stDataFrame'], [data-testid='stVegaLiteChart']")]
    .filter(element => element.checkVisibility())
    .every(element => [...element.querySelectorAll('canvas, svg')]
        .some(drawing => drawing.getBoundingClientRect().width > 0))"""

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")


def launched(screenshots: Path) -> Iterator[object]:
    """Chromium, headless, for a test module that saves its screenshots in `screenshots`."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    screenshots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@contextmanager
def served_dashboard(env: Mapping[str, str], log_path: Path) -> Iterator[str]:
    """`streamlit run dashboard/serve.py` (uvicorn, the security headers) with `env` added, on a free
    loopback port, until /_stcore/health answers ok; its base URL. The server's output goes to `log_path`."""
    port = free_port()
    env = {
        **os.environ,
        **env,
        "STREAMLIT_SERVER_PORT": str(port),
        "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
        "STREAMLIT_SERVER_HEADLESS": "true",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "serve.py")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + DASHBOARD_STARTUP_TIMEOUT_S
            while True:
                try:
                    if requests.get(f"{base}/_stcore/health", timeout=1).text == "ok":
                        break
                except (requests.ConnectionError, requests.Timeout):
                    pass  # not up yet, or too busy starting to answer in time
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


def idle(page, timeout_ms: int = 30_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until the app's script is not running (after a short grace for a rerun just asked for)."""
    page.wait_for_timeout(120)  # a widget's rerun begins on the server's word, not at the click
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def drawn(page) -> None:  # type: ignore[no-untyped-def]
    """Wait, after the script ends, until every grid and chart in view is drawn, then one more frame."""
    idle(page)
    page.wait_for_function(DRAWN, timeout=20_000)
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def signed_in(base: str, username: str, password: str) -> requests.Session:
    """A client that signed in on the dashboard's sign-in page (CSRF token and cookie, as a browser does)."""
    client = requests.Session()
    form = client.get(f"{base}/signin", timeout=10).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None, form[:500]
    fields = {"csrf": csrf.group(1), "next": "", "username": username, "password": password}
    answer = client.post(f"{base}/signin", data=fields, allow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text[:500]
    return client
