"""Identifiers in FPS's shapes: 35 upper-case alphanumerics for transactions, 64 for tokens.

Each is the upper-case hex of random bytes from the system's random source (4 bits a character: 140 for
a transaction, 256 for a token), one call as one is made for every payment.
"""

from __future__ import annotations

import secrets

from fpscore.wire.catalogue import TOKEN_ID_LENGTH, TRANSACTION_ID_LENGTH


def _random_id(length: int) -> str:
    """`length` random characters of 0-9A-F."""
    return secrets.token_hex((length + 1) // 2)[:length].upper()


def new_transaction_id() -> str:
    return _random_id(TRANSACTION_ID_LENGTH)


def new_token_id() -> str:
    """A token or instrument id."""
    return _random_id(TOKEN_ID_LENGTH)
