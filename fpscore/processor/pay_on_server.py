"""The Pay on PostgreSQL: one call of the `fps_pay` function (processor migration 0007), one round trip.

In-process, a Pay is the claim of its CallerReference, the token's row, the transaction row, the guarded
balance moves and the entries: six statements, each a round trip to PostgreSQL. The function runs them on
the server and answers what happened (`outcome`); the checks' errors and messages stay in Python
(`actions`), which raises them from the token's row the function returns when it refused. The calls of
the Pays of one batch are sent together (`GroupCommit.run_ahead`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, String, bindparam, text

from fpscore.db import UtcDateTime
from fpscore.money import Amount
from fpscore.processor.driver import Compiled
from fpscore.processor.idempotency import Reference

_PARAMS = (
    ("caller_id", "bigint"),
    ("caller_reference", "text"),
    ("digest", "text"),
    ("transaction_id", "text"),
    ("now", "timestamptz"),
    ("token_id", "text"),
    ("amount_cents", "bigint"),
    ("currency", "text"),
    ("caller_description", "text"),
    ("sender_description", "text"),
    ("status", "text"),
    ("status_code", "text"),
    ("status_message", "text"),
    ("defer", "boolean"),
)
_CALL = Compiled(
    text(f"SELECT * FROM fps_pay({', '.join(f'CAST(:{name} AS {kind})' for name, kind in _PARAMS)})")  # noqa: S608 - the constant names above
    .bindparams(bindparam("now", type_=UtcDateTime), bindparam("defer", type_=Boolean))
    .columns(
        outcome=String,
        existing_id=String,
        existing_status=String,
        token_id=String,
        role=String,
        token_status=String,
        caller_id=BigInteger,
        instrument_id=String,
        kind=String,
        instrument_status=String,
        account_id=BigInteger,
        currency=String,
        credit_limit_cents=BigInteger,
        purchase_limit_cents=BigInteger,
        valid_from=UtcDateTime,
        expires_at=UtcDateTime,
        balance_account_id=BigInteger,
        caller_ipn_url=String,
    )
)


def call(
    ref: Reference,
    transaction_id: str,
    now: datetime,
    token_id: str,
    amount: Amount,
    caller_description: str | None,
    sender_description: str | None,
    success: tuple[str, str, str],
    defer: bool,
) -> tuple[Compiled, dict[str, Any]]:
    """The Pay's statement and parameters. Its row: `outcome` is 'paid', 'refused' (the token's columns
    say why; None when there is no such token), 'guard' (the balance would pass its bound), 'replay'
    (`existing_id`, `existing_status`), 'duplicate' (another request has this CallerReference) or 'retry'.
    Only 'paid' wrote anything; with `defer` it did not move the caller's account (the leg is the batch's
    to move)."""
    status, code, message = success
    return _CALL, {
        "caller_id": ref.caller_id,
        "caller_reference": ref.caller_reference,
        "digest": ref.digest,
        "transaction_id": transaction_id,
        "now": now,
        "token_id": token_id,
        "amount_cents": amount.cents,
        "currency": amount.currency,
        "caller_description": caller_description,
        "sender_description": sender_description,
        "status": status,
        "status_code": code,
        "status_message": message,
        "defer": defer,
    }
