"""Identifiers in FPS's shapes: 35 upper-case alphanumerics for transactions, 64 for tokens."""

from __future__ import annotations

import secrets
import string

from fpscore.wire.catalogue import TOKEN_ID_LENGTH, TRANSACTION_ID_LENGTH

_ALPHABET = string.ascii_uppercase + string.digits


def _random_id(length: int) -> str:
    """`length` random characters of A-Z0-9, from one call to the system's random source."""
    number = secrets.randbelow(len(_ALPHABET) ** length)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def new_transaction_id() -> str:
    return _random_id(TRANSACTION_ID_LENGTH)


def new_token_id() -> str:
    """A token or instrument id."""
    return _random_id(TOKEN_ID_LENGTH)
