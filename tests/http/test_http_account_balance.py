"""GetAccountBalance over real HTTP, in both API versions and on both databases: the caller's own balance
is its ledger account `caller:<email>` as `check_ledger` proves it, after every kind of money movement."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from fpshttp import BOTH_BACKENDS, amount, children, expect_error, expect_success, ledger_state
from helpers import open_prepaid, ref, usd
from sqlalchemy import Engine, func, insert, select

from fpscore.money import Amount
from fpscore.processor.invariants import check_ledger
from fpscore.processor.ledger import NORMAL_SIDE
from fpscore.processor.schema import Caller, LedgerAccount, LedgerEntry, Transaction
from fpscore.wire import VERSIONS, parse_amount
from fpscore.wire.catalogue import MAX_PARAMS

each_version = pytest.mark.parametrize("version", VERSIONS)
AMOUNT = ["CurrencyCode", "Value"]


def caller_account(engine: Engine, caller_id: int) -> tuple[Amount, Amount]:
    """The caller account's stored balance, and the balance its entries prove (check_ledger's two sides)."""
    accounts, entries, callers = LedgerAccount.__table__, LedgerEntry.__table__, Caller.__table__
    with engine.connect() as conn:
        account_id, stored = conn.execute(
            select(accounts.c.id, accounts.c.balance_cents)
            .join(callers, callers.c.balance_account_id == accounts.c.id)
            .where(callers.c.id == caller_id)
        ).one()
        entered = conn.execute(
            select(func.coalesce(func.sum(entries.c.amount_cents), 0)).where(
                entries.c.account_id == account_id
            )
        ).scalar_one()
    return Amount(stored), Amount(NORMAL_SIDE["caller"] * int(entered))


def account_balance(fps, version: str) -> dict[str, Amount]:  # type: ignore[no-untyped-def]
    """GetAccountBalance's figures, after checking the document's shape (as boto's parser walks it)."""
    result = fps.ok("GetAccountBalance", version=version)
    assert children(result) == ["AccountBalance"]
    balance = result.find("AccountBalance")
    assert children(balance) == ["TotalBalance", "PendingInBalance", "PendingOutBalance", "AvailableBalances"]
    available = balance.find("AvailableBalances")
    assert children(available) == ["DisburseBalance", "RefundBalance"]
    figures = {}
    for element in [*balance[:3], *available]:
        assert children(element) == AMOUNT and element.findtext("CurrencyCode") == "USD"
        value = element.findtext("Value")
        assert len(value.partition(".")[2]) == 6  # FPS prints six decimals
        figures[element.tag] = parse_amount(element, signed=True)
    return figures


def expect_figures(fps, version, engine, caller_id, total: Amount) -> None:  # type: ignore[no-untyped-def]
    """The answer equals the caller account, which check_ledger proves and which is `total`."""
    assert check_ledger(engine) == []
    stored, proven = caller_account(engine, caller_id)
    assert stored == proven == total
    assert account_balance(fps, version) == {
        "TotalBalance": total,
        "PendingInBalance": Amount(0),
        "PendingOutBalance": Amount(0),
        "DisburseBalance": Amount(max(total.cents, 0)),
        "RefundBalance": Amount(max(total.cents, 0)),
    }


@BOTH_BACKENDS
@each_version
def test_the_balance_follows_the_caller_account_through_every_movement(
    fps, processor, engine, caller_id, prepaid, postpaid, version
):
    fee = processor.fee_schedule.fee
    # The prepaid fixture was funded with 20.00 before anything was bought: fees exceed earnings.
    total = -fee(usd("20.00"))
    assert total.cents < 0
    expect_figures(fps, version, engine, caller_id, total)

    def money(action: str, **params: str) -> str:
        result = fps.ok(action, version=version, CallerReference=ref(), **params)
        assert result.findtext("TransactionStatus") == "Success"
        return result.findtext("TransactionId")

    money("FundPrepaid", SenderTokenId=prepaid.funding_token_id, PrepaidInstrumentId=prepaid.instrument_id,
          **amount("FundingAmount", "4.00"))  # fmt: skip
    total -= fee(usd("4.00"))
    expect_figures(fps, version, engine, caller_id, total)

    song = money("Pay", SenderTokenId=prepaid.sender_token_id, **amount("TransactionAmount", "12.99"))
    money("Pay", SenderTokenId=postpaid.sender_token_id, **amount("TransactionAmount", "9.50"))
    total += usd("12.99") + usd("9.50")
    expect_figures(fps, version, engine, caller_id, total)

    money("Refund", TransactionId=song, **amount("RefundAmount", "2.99"))
    total -= usd("2.99")
    expect_figures(fps, version, engine, caller_id, total)

    money("SettleDebt", SenderTokenId=postpaid.settlement_token_id, CreditInstrumentId=postpaid.instrument_id,
          **amount("SettlementAmount", "6.00"))  # fmt: skip
    total -= fee(usd("6.00"))
    expect_figures(fps, version, engine, caller_id, total)

    money("WriteOffDebt", CreditInstrumentId=postpaid.instrument_id, **amount("AdjustmentAmount", "3.50"))
    expect_figures(fps, version, engine, caller_id, total)  # the loss is bad debt, not the caller's balance
    assert total == usd("19.50") - fee(usd("20.00")) - fee(usd("4.00")) - fee(usd("6.00"))


def test_each_caller_sees_its_own_balance(fps, processor, engine, caller_id, buyer_id, prepaid):
    other = processor.ensure_caller("AKIDOTHER", "other-secret", "Other Shop", "ops@other.example")
    setup = open_prepaid(processor, other, buyer_id, fund="10.00")
    processor.pay(other, sender_token_id=setup.sender_token_id, amount=usd("7.00"), caller_reference=ref())
    expect_figures(fps, "2010-08-28", engine, caller_id, -processor.fee_schedule.fee(usd("20.00")))
    assert caller_account(engine, other)[0] == usd("7.00") - processor.fee_schedule.fee(usd("10.00"))


def test_pending_transactions_are_pending_in_and_out(fps, processor, engine, caller_id, prepaid, clock):
    """This processor finishes every transaction in its request; a Pending one (received, not finished,
    no entries yet) is written here as a processor with a Pending stage would hold it."""
    processor.pay(caller_id, sender_token_id=prepaid.sender_token_id, amount=usd("15.00"),
                  caller_reference=ref())  # fmt: skip
    total = usd("15.00") - processor.fee_schedule.fee(usd("20.00"))
    now = clock()
    pending = [
        ("Pay", "2.50", "0.00"),
        ("Pay", "1.25", "0.00"),
        ("Refund", "4.00", "0.00"),
        ("FundPrepaid", "10.00", "0.80"),
        ("SettleDebt", "20.00", "0.88"),
        ("WriteOffDebt", "1.00", "0.00"),
    ]
    with engine.begin() as conn:
        for number, (operation, value, fee_value) in enumerate(pending):
            conn.execute(
                insert(Transaction.__table__).values(
                    id=f"PENDING{number:028d}", caller_id=caller_id, operation=operation, status="Pending",
                    status_code="PendingNetworkResponse", amount_cents=usd(value).cents,
                    fee_cents=Amount.parse(fee_value, allow_zero=True).cents, refunded_cents=0,
                    currency="USD", caller_reference=ref(), payment_method="CC",
                    created_at=now + timedelta(seconds=number),
                )
            )  # fmt: skip
    assert check_ledger(engine) == []
    assert caller_account(engine, caller_id)[0] == total
    out = usd("4.00") + usd("0.80") + usd("0.88")
    for version in VERSIONS:
        assert account_balance(fps, version) == {
            "TotalBalance": total,
            "PendingInBalance": usd("3.75"),
            "PendingOutBalance": out,
            "DisburseBalance": total - out,
            "RefundBalance": total - out,
        }


def _raw(fps, query: str):  # type: ignore[no-untyped-def]
    return fps.session.get(f"{fps.base_url}/?{query}", timeout=10)


@each_version
def test_parameters_it_does_not_take_are_ignored_and_malformed_ones_refused(fps, engine, prepaid, version):
    """GetAccountBalance takes no parameters. As for every action (`fpscore.wire.catalogue`), one it does
    not know is ignored, as FPS ignored it; a form that is ambiguous, unbounded or unsafe is InvalidParams,
    a Version this processor does not speak too, and nothing is read or moved."""
    plain = account_balance(fps, version)
    extra = fps.call(
        "GetAccountBalance", version=version, PrepaidInstrumentId=prepaid.instrument_id, Note="x"
    )
    extra_result = expect_success(extra, "GetAccountBalance", version)
    assert (
        parse_amount(extra_result.find("AccountBalance/TotalBalance"), signed=True) == plain["TotalBalance"]
    )

    before = ledger_state(engine)
    signed = fps.signed("GetAccountBalance", {}, version=version)
    message = expect_error(_raw(fps, urlencode([*signed.items(), ("Note", "a"), ("Note", "b")])),
                           "InvalidParams", 400)  # fmt: skip
    assert message == "Parameter 'Note' is given more than once"
    message = expect_error(fps.send({**signed, "Note": "line\nbreak"}), "InvalidParams", 400)
    assert message == "Parameter 'Note' contains control characters"
    crowded = {**signed, **{f"Extra{number}": "x" for number in range(MAX_PARAMS)}}
    message = expect_error(fps.send(crowded), "InvalidParams", 400)
    assert message == f"A request carries at most {MAX_PARAMS} parameters"
    message = expect_error(
        fps.send(fps.signed("GetAccountBalance", {}, version="2007-01-08")), "InvalidParams", 400
    )
    assert message.startswith("Version '2007-01-08' is not supported")
    unsigned = {"Action": "GetAccountBalance", "Version": version}
    assert expect_error(fps.send(unsigned), "MissingParameter", 400) == "AWSAccessKeyId is required"
    assert ledger_state(engine) == before


def test_the_actions_of_other_fps_products_say_where_they_belong(fps, engine):
    before = ledger_state(engine)
    reserve = fps.call(
        "Reserve", SenderTokenId="T", CallerReference=ref(), **amount("TransactionAmount", "1.00")
    )
    assert expect_error(reserve, "InvalidAction", 400).startswith(
        "Action Reserve is not offered here: it belongs to reserve and capture"
    )
    nonsense = fps.call("GetAccountBalances")
    assert (
        expect_error(nonsense, "InvalidAction", 400)
        == "Action 'GetAccountBalances' is not valid for this web service"
    )
    assert ledger_state(engine) == before


def test_a_balance_read_stays_off_the_group_commit(fps, processor, caller_id, prepaid):
    """A balance read is no money action: it reads in a transaction of its own, never in a batch."""
    commits, actions = processor.group_commit.commits, processor.group_commit.committed_actions
    for version in VERSIONS:
        account_balance(fps, version)
    assert (processor.group_commit.commits, processor.group_commit.committed_actions) == (commits, actions)
    fps.ok(
        "Pay",
        SenderTokenId=prepaid.sender_token_id,
        CallerReference=ref(),
        **amount("TransactionAmount", "1.00"),
    )
    assert processor.group_commit.committed_actions == actions + 1  # a Pay does go through it
