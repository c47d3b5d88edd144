"""Health shows the shop's own balance at the processor (GetAccountBalance) with the checks: the figures of
the processor's ledger account for the shop, or the processor's refusal explained."""

from __future__ import annotations

from dashapp import as_signed_in, no_exceptions, shown
from sqlalchemy import select, update

from dashboard import components as ui
from fpscore.money import Amount
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import Caller, Credential, LedgerAccount

LABELS = ["Total", "Pending in", "Pending out", "Available to disburse", "Available to refund"]


def caller_balance(book) -> Amount:  # type: ignore[no-untyped-def]
    assert check_ledger(book.processor_engine) == []
    accounts, callers = LedgerAccount.__table__, Caller.__table__
    with book.processor_engine.connect() as conn:
        [cents] = conn.execute(
            select(accounts.c.balance_cents).join(callers, callers.c.balance_account_id == accounts.c.id)
        ).scalars()
    return Amount(cents)


def test_health_shows_the_balance_at_the_processor(seeded, book):
    total = caller_balance(book)
    assert total.cents > 0
    at = as_signed_in("fiona", "health")
    assert not at.metric  # asked only with the checks
    at.button(key="health_run").click().run()
    no_exceptions(at)
    assert "Balance at the processor" in [header.value for header in at.subheader]
    figures = {metric.label: metric.value for metric in at.metric}
    expected = [ui.usd(total), "$0.00", "$0.00", ui.usd(total), ui.usd(total)]
    assert figures == dict(zip(LABELS, expected, strict=True))


def test_health_explains_when_the_processor_refuses(seeded, book):
    at = as_signed_in("theo", "health")  # the back office connects (and registers its key), then
    with book.processor_engine.begin() as conn:  # the processor no longer knows that key
        conn.execute(update(Credential.__table__).values(revoked_at=Credential.__table__.c.created_at))
    at.button(key="health_run").click().run()
    no_exceptions(at)
    assert not at.metric
    refusals = [text for text in shown(at.error) if text.startswith("**InvalidClientTokenId**: ")]
    assert len(refusals) == 2, shown(at.error)  # reconciliation's, and the balance's
