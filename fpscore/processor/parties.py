"""Callers (merchants) with their credentials, and sandbox buyers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from fpscore.db import read_only
from fpscore.errors import InvalidClientTokenId, InvalidParams
from fpscore.money import DEFAULT_CURRENCY
from fpscore.processor import ledger
from fpscore.processor.base import ProcessorBase
from fpscore.processor.schema import Buyer, Caller, Credential

_callers = Caller.__table__
_credentials = Credential.__table__
_buyers = Buyer.__table__
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}")


@dataclass(frozen=True, slots=True)
class CallerAccount:
    caller_id: int
    name: str
    email: str
    secret_access_key: str
    ipn_url: str | None


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InvalidParams(f"{email[:60]!r} is not an e-mail address")
    return email


class PartiesMixin(ProcessorBase):
    def ensure_caller(
        self, access_key_id: str, secret_access_key: str, name: str, email: str, ipn_url: str | None = None
    ) -> int:
        """The caller that owns `access_key_id`, created (with its ledger accounts) if new.

        An existing key keeps its caller; its secret is replaced when a different one is given (rotation).
        """
        email = normalize_email(email)
        if not access_key_id or not secret_access_key:
            raise InvalidParams("an access key id and a secret are required")
        with self.engine.begin() as conn:
            caller_id = conn.execute(
                select(_credentials.c.caller_id).where(_credentials.c.access_key_id == access_key_id)
            ).scalar_one_or_none()
            now = self.clock()
            if caller_id is not None:
                conn.execute(
                    update(_credentials)
                    .where(_credentials.c.access_key_id == access_key_id)
                    .values(secret_access_key=secret_access_key, revoked_at=None)
                )
                return caller_id
            caller_id = conn.execute(select(_callers.c.id).where(_callers.c.email == email)).scalar()
            if caller_id is None:
                balance = ledger.open_account(conn, f"caller:{email}", "caller", DEFAULT_CURRENCY)
                bad_debt = ledger.open_account(conn, f"bad_debt:{email}", "bad_debt", DEFAULT_CURRENCY)
                caller_id = conn.execute(
                    insert(_callers)
                    .values(
                        name=name,
                        email=email,
                        ipn_url=ipn_url,
                        balance_account_id=balance,
                        bad_debt_account_id=bad_debt,
                        created_at=now,
                    )
                    .returning(_callers.c.id)
                ).scalar_one()
            conn.execute(
                insert(_credentials).values(
                    access_key_id=access_key_id,
                    secret_access_key=secret_access_key,
                    caller_id=caller_id,
                    created_at=now,
                )
            )
            return caller_id

    def caller_for_key(self, access_key_id: str) -> CallerAccount:
        """The caller authenticated by `access_key_id`; InvalidClientTokenId when unknown or revoked."""
        with read_only(self.engine) as conn:
            row = conn.execute(
                select(
                    _callers.c.id,
                    _callers.c.name,
                    _callers.c.email,
                    _callers.c.ipn_url,
                    _credentials.c.secret_access_key,
                )
                .join(_callers, _callers.c.id == _credentials.c.caller_id)
                .where(_credentials.c.access_key_id == access_key_id, _credentials.c.revoked_at.is_(None))
            ).one_or_none()
        if row is None:
            raise InvalidClientTokenId("The AWS Access Key Id you provided does not exist in our records.")
        return CallerAccount(row.id, row.name, row.email, row.secret_access_key, row.ipn_url)

    def set_ipn_url(self, caller_id: int, ipn_url: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(_callers).where(_callers.c.id == caller_id).values(ipn_url=ipn_url))

    def find_or_create_buyer(self, email: str, name: str | None = None) -> int:
        """The sandbox buyer signed in as `email`, created with a funding account if new."""
        email = normalize_email(email)
        for _ in range(2):
            with self.engine.begin() as conn:
                buyer_id = conn.execute(select(_buyers.c.id).where(_buyers.c.email == email)).scalar()
                if buyer_id is not None:
                    return buyer_id
                try:
                    with conn.begin_nested():
                        funding = ledger.open_account(conn, f"funding:{email}", "funding", DEFAULT_CURRENCY)
                        return conn.execute(
                            insert(_buyers)
                            .values(
                                email=email,
                                name=(name or email.split("@")[0])[:128],
                                funding_account_id=funding,
                                created_at=self.clock(),
                            )
                            .returning(_buyers.c.id)
                        ).scalar_one()
                except IntegrityError:
                    continue  # created concurrently: read it on the next pass
        raise AssertionError("unreachable: the buyer exists after a unique violation")
