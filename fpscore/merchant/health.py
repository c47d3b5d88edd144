"""The merchant side's health in one call, for the back office (which reads no processor module): the
merchant's records reconciled with the processor's through the protocol, the merchant's own balance at the
processor (GetAccountBalance), the daily fee rollup against the records it sums, and the processor's
ledger invariants only when the processor is embedded in this process (`Health.ledger_checked` says
whether they were; a remote processor checks its ledger on its own side). Each part reads a lot: run it
when asked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fpscore.errors import FpsError
from fpscore.merchant import fee_days
from fpscore.merchant.client import AccountBalance
from fpscore.merchant.connect import Merchant
from fpscore.merchant.flows import FlowRefused
from fpscore.merchant.reconcile import Difference, reconcile
from fpscore.merchant.roles import Actor, Permission, require


@dataclass(frozen=True, slots=True)
class Health:
    checked_at: datetime
    differences: list[Difference] | None  # None when reconciliation could not run: `reconcile_error` says why
    reconcile_error: FpsError | FlowRefused | None
    balance: AccountBalance | None  # None when the processor did not answer: `balance_error` says why
    balance_error: FpsError | None
    rollup: list[fee_days.RollupDifference]
    ledger_checked: bool  # False: the processor runs elsewhere, so its ledger is not here to check
    ledger_problems: list[str]

    @property
    def ok(self) -> bool:
        return self.differences == [] and not self.rollup and not self.ledger_problems


def account_balance(merchant: Merchant, actor: Actor) -> AccountBalance:
    """The merchant's own balance at the processor (RECONCILE permission): what it earned there net of
    fees, pending in and out, and what is available to disburse and to refund."""
    require(merchant.audit, actor, Permission.RECONCILE, "account balance")
    return merchant.client.get_account_balance(actor=actor.name)


def check(merchant: Merchant, actor: Actor, progress: Callable[[str], None] = lambda _step: None) -> Health:
    """Every check there is here (RECONCILE permission); `progress` hears each step as it starts. A
    reconciliation the processor or the records refuse is reported in the result, the other checks still
    run."""
    require(merchant.audit, actor, Permission.RECONCILE, "health")
    checked_at = merchant.clock()
    differences, error = None, None
    try:
        differences = reconcile(merchant, actor, progress=lambda step: progress(f"Reconciliation: {step}"))
    except (FpsError, FlowRefused) as exc:
        error = exc
    balance, balance_error = None, None
    progress("Balance at the processor: asking it")
    try:
        balance = account_balance(merchant, actor)
    except FpsError as exc:
        balance_error = exc
    progress("Fee rollup: adding up the records")
    rollup = fee_days.differences(merchant.engine)
    problems: list[str] = []
    if merchant.processor_engine is not None:  # embedded: the processor's code is loaded already
        from fpscore.processor.invariants import check_ledger

        progress("Ledger: checking every invariant")
        problems = check_ledger(merchant.processor_engine)
    return Health(
        checked_at, differences, error, balance, balance_error, rollup,
        merchant.processor_engine is not None, problems,
    )  # fmt: skip
