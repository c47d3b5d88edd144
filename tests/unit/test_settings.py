"""Settings: every FPS_* variable is read and checked in fpscore.config, and nowhere else."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fpscore import config
from fpscore.config import Settings
from fpscore.merchant.settlement import SettlementPolicy

ROOT = Path(__file__).resolve().parents[2]
READS_ENVIRONMENT = re.compile(r"os\.environ|os\.getenv|getenv\(")


def test_every_setting_has_its_default_and_is_read_from_the_environment():
    default = Settings.from_env({})
    assert (default.settle_share, default.settle_after, default.session_idle) == (
        Decimal("0.8"), timedelta(days=30), timedelta(hours=8),
    )  # fmt: skip
    assert (default.trusted_user_header, default.staff_password, default.demo_password) == (None, None, None)
    assert default.session_max_age == timedelta(hours=12)
    assert Settings.from_env({"FPS_SESSION_MAX_AGE_HOURS": "24"}).session_max_age == timedelta(days=1)
    chosen = Settings.from_env({
        "FPS_SETTLE_SHARE": "0.5", "FPS_SETTLE_AFTER_DAYS": "7", "FPS_SESSION_IDLE_MINUTES": "15",
        "FPS_TRUSTED_USER_HEADER": "X-Forwarded-User", "FPS_STAFF_PASSWORD": "s3cret-enough",
    })  # fmt: skip
    assert SettlementPolicy.of(chosen) == SettlementPolicy(5_000, timedelta(days=7))
    assert (chosen.session_idle, chosen.trusted_user_header) == (timedelta(minutes=15), "X-Forwarded-User")


@pytest.mark.parametrize(
    ("name", "value"),
    [("FPS_SETTLE_SHARE", "1.5"), ("FPS_SETTLE_SHARE", "lots"), ("FPS_SETTLE_SHARE", "nan"),
     ("FPS_SETTLE_SHARE", "sNaN"), ("FPS_SETTLE_AFTER_DAYS", "-1"), ("FPS_SETTLE_AFTER_DAYS", "9" * 30),
     ("FPS_SESSION_IDLE_MINUTES", "0"), ("FPS_SESSION_IDLE_MINUTES", "an hour"),
     ("FPS_SESSION_IDLE_MINUTES", "9" * 30), ("FPS_SESSION_MAX_AGE_HOURS", "0"),
     ("FPS_SESSION_MAX_AGE_HOURS", "169"), ("FPS_SESSION_MAX_AGE_HOURS", "half a day")],
)  # fmt: skip
def test_a_setting_that_is_not_valid_is_refused_by_name(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_no_other_module_reads_the_environment():
    readers = [
        str(path.relative_to(ROOT))
        for folder in ("fpscore", "dashboard", "pages")
        for path in (ROOT / folder).rglob("*.py")
        if READS_ENVIRONMENT.search(path.read_text()) and path != ROOT / "fpscore" / "config.py"
    ]
    assert readers == []


def test_the_current_settings_are_parsed_again_only_when_a_variable_changes(monkeypatch):
    monkeypatch.setenv("FPS_SESSION_MAX_AGE_HOURS", "3")
    first = config.current()
    assert first.session_max_age == timedelta(hours=3) and config.current() is first
    monkeypatch.setenv("FPS_SESSION_MAX_AGE_HOURS", "4")
    assert config.current().session_max_age == timedelta(hours=4)
