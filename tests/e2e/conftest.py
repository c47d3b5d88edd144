"""Fixtures the browser tests share: Chromium for a module (its screenshots in the module's SCREENSHOTS), and
one seeded book served by the dashboard per test process, for the modules whose tests only add to it in
ways the others do not look at (each role's walk, the search box)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser import launched, served_dashboard

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
import dashdata  # noqa: E402

from fpscore.merchant.schema import Purchase  # noqa: E402


@dataclass(frozen=True)
class Book:
    """The seeded book (tests/dashboard/dashdata.py) with a second customer whose email starts like staff
    ada's, and the TransactionId of the settled instrument's purchase."""

    data_dir: Path
    seeded: dashdata.Seeded
    transaction_id: str


@pytest.fixture(scope="module")
def chromium(request: pytest.FixtureRequest) -> Iterator[object]:
    """Chromium for this module: one Playwright at a time per process, so not shared across modules."""
    yield from launched(request.module.SCREENSHOTS)


@pytest.fixture(scope="session")
def seeded_book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    data_dir = tmp_path_factory.mktemp("seeded-e2e") / "data"
    merchant = dashdata.open_merchant(data_dir)
    seeded = dashdata.seed(merchant)
    dashdata.open_prepaid(merchant, "adam@buyers.example")
    purchases = Purchase.__table__
    with merchant.engine.connect() as conn:
        [transaction_id] = conn.execute(
            purchases.select().with_only_columns(purchases.c.transaction_id)
            .where(purchases.c.instrument_id == seeded.settled)
        ).scalars()  # fmt: skip
    merchant.close()
    return Book(data_dir, seeded, transaction_id)


@pytest.fixture(scope="session")
def seeded_dashboard(seeded_book: Book) -> Iterator[str]:
    """The dashboard served over `seeded_book`; its base URL."""
    data_dir = seeded_book.data_dir
    with served_dashboard(dashdata.env_for(data_dir), data_dir.parent / "streamlit.log") as base:
        yield base


@pytest.fixture(scope="module")
def book(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> tuple[Path, dashdata.Seeded]:
    """The seeded book (tests/dashboard/dashdata.py) made for this module, for modules whose tests change
    it (a module may add to it by overriding `book`, and serve it by overriding `data_dir`)."""
    data_dir = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]) / "data"
    merchant = dashdata.open_merchant(data_dir)
    seeded = dashdata.seed(merchant)
    merchant.close()
    return data_dir, seeded


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A merchant with the staff accounts only, made for this module (a module with a book of its own
    defines its own `data_dir` or `dashboard`)."""
    data_dir = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]) / "data"
    merchant = dashdata.open_merchant(data_dir)
    dashdata.seed_staff(merchant)
    merchant.close()
    return data_dir


@pytest.fixture(scope="module")
def dashboard(data_dir: Path) -> Iterator[str]:
    """The dashboard served over this module's `data_dir`; its base URL."""
    with served_dashboard(dashdata.env_for(data_dir), data_dir.parent / "streamlit.log") as base:
        yield base


@pytest.fixture
def signed_in(chromium, dashboard, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """`signed_in(username)`: a new browser at the module's VIEWPORT (in its time zone ZONE, if it names
    one), signed in as `username` on `dashboard`; its page."""
    from test_dashboard_browser import sign_in  # here: that module skips itself without Playwright

    options = {"viewport": request.module.VIEWPORT, "device_scale_factor": 1}
    if zone := getattr(request.module, "ZONE", None):
        options["timezone_id"] = zone
    contexts = []

    def open_as(username: str):  # type: ignore[no-untyped-def]
        context = chromium.new_context(**options)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.goto(dashboard)
        sign_in(page, username)
        return page

    yield open_as
    for context in contexts:
        context.close()
