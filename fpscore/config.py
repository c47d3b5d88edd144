"""Settings from FPS_* environment variables (the one documented prefix; see README), and the data
directory's mode: it holds secrets (databases with merchant secrets and the signing key, credentials), so
it is the owner's alone."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fpscore.fees import DEFAULT_FEE_SCHEDULE, FeeSchedule


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    processor_database_url: str
    database_url: str  # the merchant's own database
    endpoint: str | None  # the FPS endpoint; None: the processor runs in this process
    access_key_id: str | None
    secret_access_key: str | None
    caller_name: str
    caller_email: str
    fee_schedule: FeeSchedule

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("FPS_DATA_DIR", "data")).resolve()
        fee_text = env.get("FPS_FEE_SCHEDULE")
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
        )


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner may enter (0700): made so, or narrowed if it exists."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path
