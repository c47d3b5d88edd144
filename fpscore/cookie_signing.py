"""Keys and HMAC signatures for the cookies and forms the dashboard and the storefront sign.

Each app keeps its own key: 32 random bytes in a file of the private data folder (0600, in the 0700
folder), made on first use and shared by the app's processes on every host; deleting it voids everything
signed with it. A value is signed for a purpose (`session`, `csrf`, ...), so a signature made for one
purpose never passes for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from fpscore.config import private_dir

KEY_BYTES = 32


def load_key(data_dir: Path, file_name: str) -> bytes:
    """The key in `file_name` of the private data folder, made on first use."""
    path = private_dir(data_dir) / file_name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # made before (or by another process just now)
    else:
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_bytes(KEY_BYTES))
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path} is not a {KEY_BYTES}-byte signing key; delete it to make a new one")
    return key


def signature(key: bytes, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` for `purpose` under `key` (base64url, unpadded)."""
    digest = hmac.new(key, f"{purpose}\n{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signed(key: bytes, purpose: str, value: str, candidate: str) -> bool:
    """Whether `candidate` is the signature of `value` for `purpose` (compared in constant time)."""
    return hmac.compare_digest(signature(key, purpose, value).encode(), candidate.encode())
