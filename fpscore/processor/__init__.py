"""The FPS-compatible processor: double-entry ledger, tokens and instruments, and the FPS actions.

`Processor(engine)` is the whole core; the HTTP app puts the FPS wire protocol in front of it.
"""

from fpscore.processor.actions import ActionsMixin
from fpscore.processor.base import TransactionResult
from fpscore.processor.instruments import InstrumentSetup, InstrumentsMixin
from fpscore.processor.parties import PartiesMixin
from fpscore.processor.queries import (
    AccountBalance,
    ActivityPage,
    Balance,
    QueriesMixin,
    TokenView,
    TransactionView,
)


class Processor(PartiesMixin, InstrumentsMixin, ActionsMixin, QueriesMixin):
    """The processor's core: every FPS action as a method taking the authenticated caller's id."""


__all__ = [
    "AccountBalance",
    "ActivityPage",
    "Balance",
    "InstrumentSetup",
    "Processor",
    "TokenView",
    "TransactionResult",
    "TransactionView",
]
