"""Fixtures for the dashboard's AppTest suite.

The book is made once per test process (instruments opened through the real CBUI, money moved with the
flows, one staff account per role; see dashdata.py) and copied into each test's own FPS_DATA_DIR, so tests
that settle or write off never see each other's writes. Streamlit's caches are process-wide: they are
cleared (and the cached Merchant closed) around every test.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


class _Expected(logging.Filter):
    """Clearing caches and reading st.context outside a running app are expected here: not worth a warning
    (a filter, since Streamlit resets its loggers' levels whenever it reads its configuration)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(
            ("No runtime found", "Thread 'MainThread': missing ScriptRunContext")
        )


for _name in (
    "streamlit.runtime.caching.cache_data_api",
    "streamlit.runtime.scriptrunner_utils.script_run_context",
):
    logging.getLogger(_name).addFilter(_Expected())


ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `dashboard` is a top-level package of the repository, not installed
    sys.path.insert(0, str(ROOT))

import dashdata  # noqa: E402

from dashboard import resources  # noqa: E402
from fpscore.config import Settings  # noqa: E402
from fpscore.merchant.connect import Merchant  # noqa: E402


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dashdata.Seeded]:
    """The seeded book, made once per test process."""
    data_dir = tmp_path_factory.mktemp("book") / "data"
    merchant = dashdata.open_merchant(data_dir)
    seeded = dashdata.seed(merchant)
    merchant.close()
    (data_dir / "seeded.json").write_text(json.dumps(seeded.__dict__))
    return data_dir, seeded


@pytest.fixture(autouse=True)
def clear_caches() -> Iterator[None]:
    resources.clear_all()
    yield
    resources.clear_all()


def _point_at(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    for name, value in dashdata.env_for(data_dir).items():
        monkeypatch.setenv(name, value)
    for name in (
        "FPS_TRUSTED_USER_HEADER",
        "FPS_SESSION_IDLE_MINUTES",
        "FPS_SESSION_MAX_AGE_HOURS",
        "FPS_SETTLE_SHARE",
        "FPS_SETTLE_AFTER_DAYS",
    ):
        monkeypatch.delenv(name, raising=False)


def _copy(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This test's own copy of a book made once; the app reads it through FPS_DATA_DIR."""
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir)
    _point_at(monkeypatch, data_dir)


@pytest.fixture
def seeded(
    template: tuple[Path, dashdata.Seeded], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dashdata.Seeded:
    """This test's own copy of the seeded book."""
    source, made = template
    _copy(source, tmp_path, monkeypatch)
    return made


@pytest.fixture(scope="session")
def hostile_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dashdata.Hostile]:
    """The hostile book (dashdata.seed_hostile), made once per test process."""
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    merchant = dashdata.open_merchant(data_dir)
    made = dashdata.seed_hostile(merchant)
    merchant.close()
    return data_dir, made


@pytest.fixture
def hostile(
    hostile_template: tuple[Path, dashdata.Hostile], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dashdata.Hostile:
    """This test's own copy of the hostile book."""
    source, made = hostile_template
    _copy(source, tmp_path, monkeypatch)
    return made


@pytest.fixture
def empty_book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data dir with staff accounts but no instruments and no history."""
    data_dir = tmp_path / "empty"
    merchant = dashdata.open_merchant(data_dir)
    dashdata.seed_staff(merchant)
    merchant.close()
    _point_at(monkeypatch, data_dir)
    return data_dir


@pytest.fixture
def book(seeded: dashdata.Seeded) -> Iterator[Merchant]:
    """A Merchant on this test's data, to check what the dashboard did (or make more data)."""
    merchant = dashdata.open_merchant(Settings.from_env().data_dir)
    yield merchant
    merchant.close()
