"""Settings from FPS_* environment variables (the one documented prefix; see README), and the data
directory's mode: it holds secrets (databases with merchant secrets and the signing key, credentials), so
it is the owner's alone."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

from fpscore.fees import DEFAULT_FEE_SCHEDULE, FeeSchedule

T = TypeVar("T")
DEFAULT_SETTLE_SHARE = "0.8"  # settle when the debt reaches this share of the credit limit,
DEFAULT_SETTLE_AFTER_DAYS = "30"  # or when the oldest unsettled debt is this old
DEFAULT_SESSION_IDLE_MINUTES = "480"
MAX_SETTLE_AFTER_DAYS = 3_650
MAX_SESSION_IDLE_MINUTES = 7 * 24 * 60
DEFAULT_SESSION_MAX_AGE_HOURS = "12"
MAX_SESSION_MAX_AGE_HOURS = 7 * 24
DEFAULT_SHOP_PORT = "8600"
PREFIX = "FPS_"


@dataclass(frozen=True)
class Settings:
    """Every FPS_* setting, read in one place; no other module reads the environment."""

    data_dir: Path
    processor_database_url: str
    database_url: str  # the merchant's own database
    endpoint: str | None  # the FPS endpoint; None: the processor runs in this process
    access_key_id: str | None
    secret_access_key: str | None
    caller_name: str
    caller_email: str
    fee_schedule: FeeSchedule
    settle_share: Decimal  # settle when the debt reaches this share of the credit limit
    settle_after: timedelta  # or when the oldest unsettled debt is this old
    session_idle: timedelta  # a dashboard session ends after this long unused
    session_max_age: timedelta  # and this long after sign-in, however much it is used
    trusted_user_header: str | None  # behind a single-sign-on proxy: the header naming the user
    oidc_email_domain: str | None  # sign-in by OIDC (st.login): staff sign in as <user name>@this domain
    staff_password: str | None  # `fpscore staff add` takes it instead of asking
    demo_password: str | None  # the demo's staff accounts take it instead of demo-<role>-pass
    shop_port: int  # the port `fpscore shop` serves the storefront on unless --port says otherwise

    @property
    def sign_in(self) -> str:
        """How staff sign in to the dashboard: "header" (a single-sign-on proxy names them), "oidc" (an
        identity provider, through st.login) or "password" (the sign-in page)."""
        return "header" if self.trusted_user_header else "oidc" if self.oidc_email_domain else "password"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of `environ` (default: this process's environment); ValueError names the setting
        that is not valid."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("FPS_DATA_DIR", "data")).resolve()
        fee_text = env.get("FPS_FEE_SCHEDULE")
        share = _parsed(env, "FPS_SETTLE_SHARE", Decimal, DEFAULT_SETTLE_SHARE)
        if not (share.is_finite() and Decimal(0) < share <= Decimal(1)):
            raise ValueError("FPS_SETTLE_SHARE is a share of the credit limit in (0, 1], e.g. 0.8")
        days = _parsed(env, "FPS_SETTLE_AFTER_DAYS", int, DEFAULT_SETTLE_AFTER_DAYS)
        if not 0 <= days <= MAX_SETTLE_AFTER_DAYS:
            raise ValueError(f"FPS_SETTLE_AFTER_DAYS is 0 to {MAX_SETTLE_AFTER_DAYS}")
        minutes = _parsed(env, "FPS_SESSION_IDLE_MINUTES", int, DEFAULT_SESSION_IDLE_MINUTES)
        if not 1 <= minutes <= MAX_SESSION_IDLE_MINUTES:
            raise ValueError(f"FPS_SESSION_IDLE_MINUTES is 1 to {MAX_SESSION_IDLE_MINUTES}")
        max_age_hours = _parsed(env, "FPS_SESSION_MAX_AGE_HOURS", int, DEFAULT_SESSION_MAX_AGE_HOURS)
        if not 1 <= max_age_hours <= MAX_SESSION_MAX_AGE_HOURS:
            raise ValueError(f"FPS_SESSION_MAX_AGE_HOURS is 1 to {MAX_SESSION_MAX_AGE_HOURS}")
        shop_port = _parsed(env, "FPS_SHOP_PORT", int, DEFAULT_SHOP_PORT)
        if not 1 <= shop_port <= 65_535:
            raise ValueError("FPS_SHOP_PORT is a TCP port, 1 to 65535")
        header = env.get("FPS_TRUSTED_USER_HEADER") or None
        oidc_domain = (env.get("FPS_OIDC_EMAIL_DOMAIN") or "").strip().lower() or None
        if header and oidc_domain:
            raise ValueError(
                "FPS_TRUSTED_USER_HEADER and FPS_OIDC_EMAIL_DOMAIN are two ways to sign in: set one"
            )
        return cls(
            data_dir=data_dir,
            processor_database_url=env.get("FPS_PROCESSOR_DATABASE_URL")
            or f"sqlite:///{data_dir / 'processor.sqlite3'}",
            database_url=env.get("FPS_DATABASE_URL") or f"sqlite:///{data_dir / 'merchant.sqlite3'}",
            endpoint=env.get("FPS_ENDPOINT") or None,
            access_key_id=env.get("FPS_ACCESS_KEY_ID") or None,
            secret_access_key=env.get("FPS_SECRET_ACCESS_KEY") or None,
            caller_name=env.get("FPS_CALLER_NAME") or "Tune Shop",
            caller_email=env.get("FPS_CALLER_EMAIL") or "billing@tuneshop.example",
            fee_schedule=FeeSchedule.parse(fee_text) if fee_text else DEFAULT_FEE_SCHEDULE,
            settle_share=share,
            settle_after=timedelta(days=days),
            session_idle=timedelta(minutes=minutes),
            session_max_age=timedelta(hours=max_age_hours),
            trusted_user_header=header,
            oidc_email_domain=oidc_domain,
            staff_password=env.get("FPS_STAFF_PASSWORD") or None,
            demo_password=env.get("FPS_DEMO_PASSWORD") or None,
            shop_port=shop_port,
        )


def current() -> Settings:
    """This process's settings, parsed again only when its FPS_* variables change (for code that asks on
    every request)."""
    return _settings_of(
        frozenset((name, value) for name, value in os.environ.items() if name.startswith(PREFIX))
    )


@functools.lru_cache(maxsize=8)
def _settings_of(variables: frozenset[tuple[str, str]]) -> Settings:
    return Settings.from_env(dict(variables))


def _parsed(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: str) -> T:
    try:
        return parse(env.get(name) or default)
    except (ValueError, InvalidOperation):
        raise ValueError(f"{name} is not valid: {env.get(name)!r}") from None


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner may enter (0700): made so, or narrowed if it exists."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path
