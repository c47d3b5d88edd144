"""Why money is given back: the reason codes of write-offs and refunds, defined once. The movement tables'
constraints, the flows' checks and the back office's choices all read them from here.

A reason is a code and a note. "Other" needs the note; the other codes take one optionally. What a
movement row keeps in its `reason` column (and sends to the processor as its description) is the reason as
words, `Reason.text`: the label, then the note. Rows written before there were codes are "other", their
free text the note, so their text reads as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fpscore.errors import InvalidParams


class ReasonCode(StrEnum):
    NOT_DELIVERED = "not_delivered"
    GOODWILL = "goodwill"
    UNCOLLECTABLE = "uncollectable"
    OTHER = "other"


LABELS: dict[ReasonCode, str] = {
    ReasonCode.NOT_DELIVERED: "Not delivered",
    ReasonCode.GOODWILL: "Goodwill",
    ReasonCode.UNCOLLECTABLE: "Uncollectable",
    ReasonCode.OTHER: "Other",
}
WRITE_OFF_CODES: tuple[ReasonCode, ...] = tuple(ReasonCode)
# A refund gives back a purchase: its debt being uncollectable is a write-off's reason, not a refund's.
REFUND_CODES: tuple[ReasonCode, ...] = (ReasonCode.NOT_DELIVERED, ReasonCode.GOODWILL, ReasonCode.OTHER)
CODE_LENGTH = 16  # the column's width
MAX_NOTE = 1000  # characters


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    note: str = ""

    @property
    def text(self) -> str:
        """The reason in words: "Goodwill", "Goodwill: loyal customer", or an "other" reason's note."""
        if self.code is ReasonCode.OTHER:
            return self.note
        return f"{LABELS[self.code]}: {self.note}" if self.note else LABELS[self.code]


def sql_in(codes: tuple[ReasonCode, ...]) -> str:
    """`codes` as the list of an SQL IN constraint: ('goodwill', 'other')."""
    return "(" + ", ".join(f"'{code.value}'" for code in codes) + ")"


def checked_note(note: str) -> str:
    """A note as kept: its whitespace runs made single spaces, at most MAX_NOTE characters (a longer one
    raises InvalidParams, never cut)."""
    note = " ".join(note.split())
    if len(note) > MAX_NOTE:
        raise InvalidParams(f"the note has {len(note):,} characters; at most {MAX_NOTE:,}")
    return note


def reason(code: str, note: str = "", allowed: tuple[ReasonCode, ...] = WRITE_OFF_CODES) -> Reason:
    """A checked reason: `code` one of `allowed`, the note checked (`checked_note`) and present for
    "other". Raises InvalidParams saying what to correct."""
    if code not in [c.value for c in allowed]:
        raise InvalidParams(f"choose a reason: one of {', '.join(LABELS[c] for c in allowed)}")
    note = checked_note(note)
    chosen = ReasonCode(code)
    if chosen is ReasonCode.OTHER and not note:
        raise InvalidParams("a reason of “Other” needs a note saying what it is")
    return Reason(chosen, note)
