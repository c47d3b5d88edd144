"""Putting the merchant side together: its database, its audit log, and an FpsClient.

With `FPS_ENDPOINT` set, the client talks to that processor over the network. Without it (the embedded
default) the processor runs in this process on its own database, mounted behind a `requests` transport
adapter at EMBEDDED_ENDPOINT: the same signing, HTTP and XML path, no second server. Embedded
credentials come from FPS_ACCESS_KEY_ID / FPS_SECRET_ACCESS_KEY, or are made once and kept in the data
folder (readable by the owner only).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import requests
from sqlalchemy import Engine

from fpscore.config import Settings, private_dir
from fpscore.db import make_engine, migrate, utcnow
from fpscore.fees import FeeSchedule
from fpscore.merchant.audit import AuditLog
from fpscore.merchant.client import FpsClient
from fpscore.merchant.transport import WsgiAdapter

EMBEDDED_ENDPOINT = "http://fps.embedded/"


@dataclass
class Merchant:
    """What the flows need: the merchant database, the client, the audit log, the fee schedule and the clock
    that stamps the merchant's records (the client and the audit log take the same one)."""

    engine: Engine
    client: FpsClient
    audit: AuditLog
    fee_schedule: FeeSchedule
    certificates: dict[str, bytes] = field(default_factory=dict)  # the processor's, by certificateUrl
    # Embedded only: the in-process processor's database, for the health page's ledger check. The merchant's
    # flows never read it; they speak the protocol.
    processor_engine: Engine | None = None
    clock: Callable[[], datetime] = utcnow

    def close(self) -> None:
        self.client.session.close()
        self.engine.dispose()
        if self.processor_engine is not None:
            self.processor_engine.dispose()


def _embedded_credentials(data_dir: Path) -> tuple[str, str]:
    path = private_dir(data_dir) / "credentials.json"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"access_key_id": f"AKID{secrets.token_hex(8).upper()}",
                       "secret_access_key": secrets.token_urlsafe(30)}, file)  # fmt: skip
    stored = json.loads(path.read_text())
    return stored["access_key_id"], stored["secret_access_key"]


def embedded_session(
    settings: Settings, access_key_id: str, secret_access_key: str, clock: Callable[[], datetime] = utcnow
) -> tuple[requests.Session, Engine]:
    """A session whose requests to EMBEDDED_ENDPOINT are answered by an in-process processor on `clock`,
    and the processor's engine."""
    from fpscore.processor import Processor
    from fpscore.processor.app import make_app

    engine = make_engine(settings.processor_database_url)
    migrate(engine, "processor")
    processor = Processor(engine, settings.fee_schedule, clock)
    processor.ensure_caller(access_key_id, secret_access_key, settings.caller_name, settings.caller_email)
    session = requests.Session()
    session.mount(EMBEDDED_ENDPOINT, WsgiAdapter(make_app(processor)))
    return session, engine


def connect(settings: Settings | None = None, clock: Callable[[], datetime] = utcnow) -> Merchant:
    """The merchant of `settings`, its records stamped by `clock`. Embedded, the processor and the client
    run on it too; a remote processor refuses requests stamped far from its own time, so the client to it
    keeps real time."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    migrate(engine, "merchant")
    audit = AuditLog(engine, clock)
    if settings.endpoint:
        if not (settings.access_key_id and settings.secret_access_key):
            raise ValueError("FPS_ENDPOINT needs FPS_ACCESS_KEY_ID and FPS_SECRET_ACCESS_KEY")
        client = FpsClient(settings.endpoint, settings.access_key_id, settings.secret_access_key, audit=audit)
    else:
        key, secret = (
            (settings.access_key_id, settings.secret_access_key)
            if settings.access_key_id and settings.secret_access_key
            else _embedded_credentials(settings.data_dir)
        )
        session, processor_engine = embedded_session(settings, key, secret, clock)
        client = FpsClient(EMBEDDED_ENDPOINT, key, secret, audit=audit, session=session, clock=clock)
        return Merchant(
            engine, client, audit, settings.fee_schedule, processor_engine=processor_engine, clock=clock
        )
    return Merchant(engine, client, audit, settings.fee_schedule, clock=clock)
