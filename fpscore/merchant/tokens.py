"""How a token id is shown to staff: by its last four characters only (the whole id authorises payments
at the processor, so it stays in fpscore)."""

from __future__ import annotations


def mask(token_id: str | None) -> str:
    """A token shown by its last four characters only; "—" for none."""
    if not token_id:
        return "—"
    return f"••••{token_id[-4:]}"
