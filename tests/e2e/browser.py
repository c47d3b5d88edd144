"""The browser the end-to-end tests drive: Debian's Chromium through Playwright, by its executable path
(Playwright cannot download browsers here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
