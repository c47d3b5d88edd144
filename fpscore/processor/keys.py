"""The processor's RSA signing key and self-signed certificate (return URLs, IPN, VerifySignature).

The key lives in the processor's database so that every worker, and every restart, signs with the same
one. It is made on first use; workers racing to make it each insert-or-ignore, and all then use the oldest
row. Its certificate is published at `/certs/<id>/PKICert.pem`, the URL outbound messages carry as
`certificateUrl`. The key PEM is stored unencrypted: this is a sandbox's key, guarded like the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from fpscore.db import read_only, utcnow
from fpscore.processor.schema import SigningKeyRecord
from fpscore.signing import SigningKey

CERTIFICATE_PATH = re.compile(r"/certs/(?P<key_id>[0-9A-Za-z_-]{1,32})/PKICert\.pem")
_keys = SigningKeyRecord.__table__


def certificate_path(key_id: str) -> str:
    """The path (on the processor's host) of the certificate of key `key_id`."""
    return f"/certs/{key_id}/PKICert.pem"


class SigningKeys:
    """The processor's signing keys; loaded keys and certificates are cached (they never change)."""

    def __init__(
        self, engine: Engine, public_host: str | None = None, clock: Callable[[], datetime] = utcnow
    ):
        self.engine = engine
        # A new certificate names the host clients reach the processor by.
        self.common_name = urlsplit(f"//{public_host or 'localhost'}").hostname or "localhost"
        self.clock = clock
        self._current: tuple[str, SigningKey] | None = None
        self._certificates: dict[str, bytes] = {}

    def current(self) -> tuple[str, SigningKey]:
        """(key id, key) to sign with: the oldest stored key, made and stored on first use."""
        if self._current is None:
            self._current = self._oldest() or self._create()
        return self._current

    def certificate_pem(self, key_id: str) -> bytes | None:
        """The PEM certificate of key `key_id`, None if there is no such key."""
        pem = self._certificates.get(key_id)
        if pem is None:
            with read_only(self.engine) as conn:
                text = conn.execute(
                    select(_keys.c.certificate_pem).where(_keys.c.id == key_id)
                ).scalar_one_or_none()
            if text is None:
                return None
            pem = self._certificates[key_id] = text.encode()
        return pem

    def _oldest(self) -> tuple[str, SigningKey] | None:
        with read_only(self.engine) as conn:
            row = conn.execute(
                select(_keys.c.id, _keys.c.key_pem, _keys.c.certificate_pem)
                .order_by(_keys.c.created_at, _keys.c.id)
                .limit(1)
            ).one_or_none()
        if row is None:
            return None
        return row.id, SigningKey.from_pem(row.key_pem.encode(), row.certificate_pem.encode())

    def _create(self) -> tuple[str, SigningKey]:
        key_pem, cert_pem = SigningKey.generate(self.common_name).to_pem()
        now = self.clock()
        with self.engine.begin() as conn:
            dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
            conn.execute(
                dialect_insert(_keys)
                .values(
                    id=now.strftime("%y%m%d"),
                    key_pem=key_pem.decode(),
                    certificate_pem=cert_pem.decode(),
                    created_at=now,
                )
                .on_conflict_do_nothing()
            )
        created = self._oldest()  # ours, or one a concurrent worker stored first
        if created is None:
            raise AssertionError("unreachable: a signing key exists after inserting one")
        return created
