"""Movements left in flight: a crash between the processor's commit and the merchant's record of the
answer (or before the request was sent at all) heals through `recover` (resend with the same
CallerReference) or `reconcile --fix` (record what the processor's activity proves), with one
difference reported per fact until then, and nothing charged twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from helpers import free_port
from journeys import FINANCE, STOREFRONT, SUPPORT, open_postpaid, open_prepaid
from sqlalchemy import func, select

from fpscore.cli import main
from fpscore.db import utcnow
from fpscore.errors import ServiceUnavailable
from fpscore.merchant import flows, movements, recovery, settlement
from fpscore.merchant.reconcile import fix, reconcile
from fpscore.merchant.roles import Forbidden
from fpscore.merchant.schema import ApiCall, Funding, MerchantInstrument, Order, Purchase, Settlement
from fpscore.merchant.settlement import SettlementPolicy
from fpscore.money import Amount
from fpscore.processor.schema import Transaction

_instruments = MerchantInstrument.__table__
_transactions = Transaction.__table__


def requested(merchant, table, values, kind, died=True):
    """A movement as a flow leaves it when its process dies right after writing its row; `died`: longer
    ago than the client's every attempt could take (otherwise the flow may still be waiting)."""
    reference = flows.new_reference(kind)
    with merchant.engine.begin() as conn:
        row_id = flows._requested(conn, STOREFRONT, table, reference, values, utcnow())
        if died:
            asked = utcnow() - merchant.client.retry_budget() - timedelta(minutes=5)  # any client's budget
            conn.execute(table.update().where(table.c.id == row_id).values(created_at=asked))
    return row_id, {**values, "caller_reference": reference}


def lost_answer(merchant, table, values, kind, died=True):
    """A movement the processor performed whose answer never reached the record (the process died
    between the processor's commit and the merchant's)."""
    row_id, movement = requested(merchant, table, values, kind, died)
    found = flows.instrument(merchant, values["instrument_id"])
    reply = movements.of(table).request(merchant, STOREFRONT.name, movement, found)
    return row_id, movement["caller_reference"], reply.transaction_id


def processor_rows(processor, caller_reference):
    with processor.engine.connect() as conn:
        return conn.execute(
            select(_transactions.c.id, _transactions.c.status).where(
                _transactions.c.caller_reference == caller_reference
            )
        ).all()


def book(merchant, instrument_id):
    with merchant.engine.connect() as conn:
        return conn.execute(
            select(_instruments.c.balance_cents).where(_instruments.c.id == instrument_id)
        ).scalar_one()


def row(merchant, table, row_id):
    with merchant.engine.connect() as conn:
        return conn.execute(select(table).where(table.c.id == row_id)).one()


def due_postpaid(merchant, email):
    instrument_id = open_postpaid(merchant, email)
    for _ in range(3):
        flows.purchase(merchant, STOREFRONT, instrument_id, "Gems", Amount.parse("6.99"))
    return instrument_id


def test_a_settlement_whose_answer_was_lost_is_one_difference_then_heals(any_merchant, any_processor):
    instrument_id = due_postpaid(any_merchant, "due@buyers.example")
    values = {"instrument_id": instrument_id, "amount_cents": 2097, "currency": "USD", "fee_cents": 91}
    row_id, reference, transaction_id = lost_answer(any_merchant, Settlement.__table__, values, "settle")

    differences = reconcile(any_merchant, FINANCE)
    assert [(d.kind, d.subject) for d in differences] == [("answer not recorded", reference)]
    assert transaction_id in differences[0].processor and differences[0].repair is not None
    assert book(any_merchant, instrument_id) == 2097  # the book still says due; the processor says 0.00
    assert [c.operation for c in recovery.in_flight(any_merchant)] == ["SettleDebt"]

    report = recovery.recover(any_merchant, FINANCE)
    assert report.recorded == {"Success": 1} and report.unanswered == []
    settled = row(any_merchant, Settlement.__table__, row_id)
    assert (settled.status, settled.transaction_id) == ("Success", transaction_id)
    assert book(any_merchant, instrument_id) == 0
    assert processor_rows(any_processor, reference) == [(transaction_id, "Success")]  # charged once
    assert reconcile(any_merchant, FINANCE) == []
    assert recovery.in_flight(any_merchant) == []
    assert settlement.settle_due(any_merchant, FINANCE, SettlementPolicy()) == []  # nothing left due
    assert recovery.recover(any_merchant, FINANCE).total == 0  # a second run finds nothing


def open_order(merchant, instrument_id, product, cents):
    """A purchase as the flow leaves it when the process dies before sending: its order and its row."""
    found = flows.instrument(merchant, instrument_id)
    with merchant.engine.begin() as conn:
        order_id = conn.execute(
            Order.__table__.insert()
            .values(customer_id=found.customer_id, total_cents=cents, currency="USD", status="Open",
                    created_at=utcnow())
            .returning(Order.__table__.c.id)
        ).scalar_one()  # fmt: skip
    values = {"order_id": order_id, "instrument_id": instrument_id, "product": product, "amount_cents": cents,
              "currency": "USD", "refunded_cents": 0, "fee_alone_cents": 10}  # fmt: skip
    return order_id, values


def test_a_purchase_never_sent_is_made_once_and_its_order_paid(merchant, processor):
    instrument_id = open_prepaid(merchant, "ada@buyers.example", fund="10.00")
    flows.purchase(merchant, STOREFRONT, instrument_id, "Song", Amount.parse("0.99"))
    order_id, values = open_order(merchant, instrument_id, "B-side", 129)
    row_id, movement = requested(merchant, Purchase.__table__, values, "pay")
    differences = reconcile(merchant, FINANCE)
    assert [(d.kind, d.subject) for d in differences] == [
        ("unanswered request", movement["caller_reference"])
    ]

    assert recovery.recover(merchant, FINANCE).recorded == {"Success": 1}
    assert row(merchant, Purchase.__table__, row_id).status == "Success"
    assert row(merchant, Order.__table__, order_id).status == "Paid"
    assert len(processor_rows(processor, movement["caller_reference"])) == 1
    assert book(merchant, instrument_id) == 1000 - 99 - 129
    assert reconcile(merchant, FINANCE) == []


def test_a_resent_purchase_the_processor_refuses_fails_its_order(merchant, processor):
    instrument_id = open_prepaid(merchant, "low@buyers.example", fund="1.00")
    order_id, values = open_order(merchant, instrument_id, "Album", 500)
    row_id, movement = requested(merchant, Purchase.__table__, values, "pay")

    assert recovery.recover(merchant, FINANCE).recorded == {"Failure": 1}
    refused = row(merchant, Purchase.__table__, row_id)
    assert (refused.status, refused.error_code) == ("Failure", "InsufficientBalance")
    assert row(merchant, Order.__table__, order_id).status == "Failed"
    assert processor_rows(processor, movement["caller_reference"]) == []
    assert reconcile(merchant, FINANCE) == []


def test_reconcile_fix_records_what_the_processor_proves_without_resending(merchant):
    instrument_id = open_postpaid(merchant, "bob@buyers.example")
    flows.purchase(merchant, STOREFRONT, instrument_id, "Song", Amount.parse("0.99"))
    _, values = open_order(merchant, instrument_id, "Song 2", 99)
    row_id, reference, transaction_id = lost_answer(merchant, Purchase.__table__, values, "pay")
    differences = reconcile(merchant, FINANCE)
    assert [d.kind for d in differences] == ["answer not recorded"]  # not also "unknown to the merchant"

    with pytest.raises(Forbidden):
        fix(merchant, SUPPORT, differences)
    assert fix(merchant, FINANCE, differences) == 1
    assert fix(merchant, FINANCE, differences) == 0  # already recorded: nothing twice
    mended = row(merchant, Purchase.__table__, row_id)
    assert (mended.status, mended.transaction_id) == ("Success", transaction_id)
    assert book(merchant, instrument_id) == 198
    assert reconcile(merchant, FINANCE) == []
    with merchant.engine.connect() as conn:  # recorded from the activity: the Pay was sent once
        sent = conn.execute(
            select(func.count()).where(ApiCall.__table__.c.caller_reference == reference)
        ).scalar_one()
    assert sent == 1


def test_a_lost_answer_under_another_amount_is_not_taken_as_its_answer(merchant):
    """A record whose reference the processor knows for a different amount is reported, never mended:
    the processor's transaction is not this record's answer."""
    instrument_id = due_postpaid(merchant, "odd@buyers.example")
    values = {"instrument_id": instrument_id, "amount_cents": 500, "currency": "USD", "fee_cents": 30}
    row_id, reference, _ = lost_answer(merchant, Settlement.__table__, values, "settle")
    with merchant.engine.begin() as conn:
        table = Settlement.__table__
        conn.execute(table.update().where(table.c.id == row_id).values(amount_cents=600))
    assert recovery.recover(merchant, FINANCE).mismatched == [reference]  # DuplicateRequest: unknown
    assert row(merchant, Settlement.__table__, row_id).status == "Requested"
    differences = reconcile(merchant, FINANCE)  # the book also differs: a person must look
    assert (differences[0].kind, differences[0].subject) == ("transaction differs", reference)
    assert [d.kind for d in differences[1:]] == ["total differs", "balance differs"]
    assert not any(d.repair for d in differences)


def test_settle_due_and_recover_from_the_command_line(merchant, cli_env, capsys):
    """The crash the issue saw: a SettleDebt done at the processor, due at the merchant. `settle --due`
    recovers it first instead of failing on it with "there is no debt to settle"."""
    lost = due_postpaid(merchant, "lost@buyers.example")
    values = {"instrument_id": lost, "amount_cents": 2097, "currency": "USD", "fee_cents": 91}
    lost_answer(merchant, Settlement.__table__, values, "settle")
    other = due_postpaid(merchant, "other@buyers.example")
    assert main(["settle", "--due"]) == 0
    captured = capsys.readouterr()
    assert "recovered 1 movements left in flight (1 Success)" in captured.err
    assert other in captured.out and lost not in captured.out
    assert "1 settled, 0 failed" in captured.err
    assert main(["recover"]) == 0
    assert "no movements cut off in flight" in capsys.readouterr().err
    assert main(["reconcile"]) == 0


def test_settle_due_right_after_a_crash_leaves_the_cut_off_settlement_alone(
    merchant, cli_env, capsys, processor
):
    """Run again at once, `settle --due` cannot tell a crashed settlement from one still waiting for its
    answer: it leaves that instrument alone (saying why) and charges nothing twice."""
    lost = due_postpaid(merchant, "again@buyers.example")
    values = {"instrument_id": lost, "amount_cents": 2097, "currency": "USD", "fee_cents": 91}
    _, reference, transaction_id = lost_answer(merchant, Settlement.__table__, values, "settle", died=False)
    assert main(["settle", "--due"]) == 1
    captured = capsys.readouterr()
    assert f"{lost}\tan earlier SettleDebt of 20.97 on this instrument is still waiting" in captured.out
    with processor.engine.connect() as conn:
        settled = conn.execute(
            select(func.count()).where(_transactions.c.operation == "SettleDebt")
        ).scalar_one()
    assert settled == 1
    assert main(["recover", "--all"]) == 0  # nothing else runs: every movement without an answer
    assert processor_rows(processor, reference) == [(transaction_id, "Success")]
    assert book(merchant, lost) == 0


def test_reconcile_fix_from_the_command_line(merchant, cli_env, capsys):
    instrument_id = due_postpaid(merchant, "cli@buyers.example")
    values = {"instrument_id": instrument_id, "amount_cents": 1000, "currency": "USD", "fee_cents": 59}
    lost_answer(merchant, Settlement.__table__, values, "settle")
    assert main(["reconcile"]) == 1
    assert capsys.readouterr().out.count("\n") == 1  # one difference for one fact
    assert main(["reconcile", "--fix"]) == 0
    assert "recorded 1 answers the processor proves" in capsys.readouterr().err
    assert book(merchant, instrument_id) == 2097 - 1000


def unreachable(merchant):
    """The processor stops answering this merchant's client (its connections are refused)."""

    def refused(*_args, **_kwargs):
        raise requests.ConnectionError("the processor is unreachable")

    merchant.client.session.post = refused


def test_asked_again_after_no_answer_resends_the_first_instead_of_charging_twice(merchant, processor):
    """Staff see ServiceUnavailable and ask again: the first funding (made or not) is resent with its own
    CallerReference and the second is refused, so the customer is charged once."""
    instrument_id = open_prepaid(merchant, "ada@buyers.example", limit="100.00")
    reachable = merchant.client.session.post
    unreachable(merchant)
    with pytest.raises(ServiceUnavailable):
        flows.fund(merchant, FINANCE, instrument_id, Amount.parse("20.00"))
    with pytest.raises(flows.FlowRefused, match="still has no answer from the processor"):
        flows.fund(merchant, FINANCE, instrument_id, Amount.parse("20.00"))  # still down: nothing new
    merchant.client.session.post = reachable
    with pytest.raises(flows.FlowRefused, match=r"sent again .*FundPrepaid of 20.00: Success"):
        flows.fund(merchant, FINANCE, instrument_id, Amount.parse("20.00"))
    assert book(merchant, instrument_id) == 2000
    with processor.engine.connect() as conn:
        funded = conn.execute(
            select(func.count()).where(_transactions.c.operation == "FundPrepaid")
        ).scalar_one()
    assert funded == 1
    assert recovery.recover(merchant, FINANCE).total == 0 and reconcile(merchant, FINANCE) == []
    flows.fund(merchant, FINANCE, instrument_id, Amount.parse("5.00"))  # asked again: now it is new
    assert book(merchant, instrument_id) == 2500


def test_a_flow_still_waiting_for_its_answer_is_not_raced(merchant, processor):
    """A movement whose flow may still be waiting (recent, not given up) is left to it: recovery does not
    resend it, and a second request of the same kind on the instrument is refused meanwhile."""
    instrument_id = open_prepaid(merchant, "bea@buyers.example", fund="1.00")
    order_id, values = open_order(merchant, instrument_id, "Album", 999)
    row_id, movement = requested(merchant, Purchase.__table__, values, "pay", died=False)
    flows.fund(merchant, FINANCE, instrument_id, Amount.parse("20.00"))  # a top-up lands meanwhile
    assert recovery.recover(merchant, FINANCE).total == 0
    assert row(merchant, Purchase.__table__, row_id).status == "Requested"
    with pytest.raises(flows.FlowRefused, match="still waiting for the processor's answer"):
        flows.purchase(merchant, STOREFRONT, instrument_id, "Album", Amount.parse("9.99"))
    flows.purchase(merchant, STOREFRONT, instrument_id, "Single", Amount.parse("0.99"))  # another product
    assert processor_rows(processor, movement["caller_reference"]) == []
    assert len(recovery.recover(merchant, FINANCE, everything=True).recorded) == 1  # after a crash: all
    assert row(merchant, Order.__table__, order_id).status == "Paid"


def test_a_resend_refused_before_its_reference_is_looked_up_stays_in_flight(merchant, processor):
    """An authentication failure on a resend says nothing of the original: the movement stays in flight
    (not Failure), and once the credentials are right again it is recorded, made once."""
    instrument_id = open_prepaid(merchant, "cy@buyers.example")
    values = {"instrument_id": instrument_id, "amount_cents": 2000, "currency": "USD", "fee_cents": 88}
    row_id, reference, transaction_id = lost_answer(merchant, Funding.__table__, values, "fund")
    right = merchant.client._secret
    merchant.client._secret = "a mistyped secret"
    report = recovery.recover(merchant, FINANCE)
    assert report.unanswered == [reference] and report.total == 0
    assert row(merchant, Funding.__table__, row_id).status == "Requested"
    merchant.client._secret = right
    assert recovery.recover(merchant, FINANCE).recorded == {"Success": 1}
    assert processor_rows(processor, reference) == [(transaction_id, "Success")]
    assert book(merchant, instrument_id) == 2000


def test_reconcile_fix_mends_a_movement_recorded_as_refused_that_the_processor_made(merchant):
    instrument_id = open_prepaid(merchant, "di@buyers.example")
    values = {"instrument_id": instrument_id, "amount_cents": 1000, "currency": "USD", "fee_cents": 59}
    row_id, reference, transaction_id = lost_answer(merchant, Funding.__table__, values, "fund")
    with merchant.engine.begin() as conn:  # as an older release recorded a refused resend
        table = Funding.__table__
        conn.execute(table.update().where(table.c.id == row_id).values(status="Failure", error_code="X"))
    differences = reconcile(merchant, FINANCE)
    assert [(d.kind, d.subject) for d in differences] == [("answer not recorded", reference)]
    assert fix(merchant, FINANCE, differences) == 1
    assert (row(merchant, Funding.__table__, row_id).transaction_id, book(merchant, instrument_id)) == (
        transaction_id,
        1000,
    )
    assert reconcile(merchant, FINANCE) == []


def test_recover_says_so_when_the_processor_cannot_be_asked(merchant, cli_env, capsys, monkeypatch):
    instrument_id = open_prepaid(merchant, "eve@buyers.example", fund="5.00")
    song = flows.purchase(merchant, STOREFRONT, instrument_id, "Song", Amount.parse("0.99"))
    with merchant.engine.begin() as conn:  # answered Pending; its notification has not come
        table = Purchase.__table__
        conn.execute(table.update().where(table.c.id == song.row_id).values(status="Pending"))
    monkeypatch.setenv("FPS_ENDPOINT", f"http://127.0.0.1:{free_port()}/")  # nothing listens there
    assert main(["recover"]) == 1
    assert "recovery stopped, the processor did not answer: ServiceUnavailable" in capsys.readouterr().err


def test_an_order_fails_with_a_purchase_whose_failure_is_learnt_later(merchant):
    """A purchase answered Pending, then found failed (GetTransactionStatus, an IPN, reconciliation): its
    order fails with it instead of staying Open."""
    prepaid = open_prepaid(merchant, "lee@buyers.example", fund="5.00")
    bought = flows.purchase(merchant, STOREFRONT, prepaid, "Song", Amount.parse("0.99"))
    purchases, orders = Purchase.__table__, Order.__table__
    with merchant.engine.begin() as conn:  # as it stood while the answer was Pending
        order_id = conn.execute(select(purchases.c.order_id).where(purchases.c.id == bought.row_id)).scalar()
        conn.execute(purchases.update().where(purchases.c.id == bought.row_id).values(status="Pending"))
        conn.execute(orders.update().where(orders.c.id == order_id).values(status="Open"))
    with merchant.engine.begin() as conn:
        flows.record_status(conn, purchases, bought.row_id, "Failure", utcnow())
    with merchant.engine.connect() as conn:
        assert conn.execute(select(orders.c.status).where(orders.c.id == order_id)).scalar() == "Failed"


def test_a_chosen_caller_reference_answers_its_repeat_and_refuses_another_request(merchant):
    """A CallerReference the caller chose (a form's one-time key) answers the same request asked again with
    the movement it made; asked for another product, amount or instrument it is refused, and nothing moves."""
    prepaid = open_prepaid(merchant, "kim@buyers.example", fund="5.00")
    other = open_prepaid(merchant, "lou@buyers.example", fund="5.00")
    song = Amount.parse("0.99")
    first = flows.purchase(merchant, STOREFRONT, prepaid, "Song", song, caller_reference="buy-once-1")
    again = flows.purchase(merchant, STOREFRONT, prepaid, "Song", song, caller_reference="buy-once-1")
    assert (again.row_id, again.transaction_id) == (first.row_id, first.transaction_id)
    for product, amount, instrument_id in [
        ("Album", song, prepaid),
        ("Song", Amount.parse("1.29"), prepaid),
        ("Song", song, other),
    ]:
        with pytest.raises(flows.FlowRefused):
            flows.purchase(
                merchant, STOREFRONT, instrument_id, product, amount, caller_reference="buy-once-1"
            )
    with merchant.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Purchase.__table__)).scalar() == 1
    assert flows.refresh_balance(merchant, FINANCE, prepaid) == Amount.parse("4.01")
