"""The Pay on PostgreSQL is one call of the `fps_pay` function, run without a savepoint of its own in its
batch: its refusals write nothing, and any other error after it fails the whole batch, retryable."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import open_postpaid, open_prepaid, ref, usd
from sqlalchemy import Connection, func, select
from test_group_commit import count, holder, pay  # noqa: F401 - holder is a fixture

from fpscore.errors import InsufficientBalance, ServiceUnavailable
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import ApiRequest, CallerReferenceRecord, Transaction

pytestmark = pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])

_transactions = Transaction.__table__
_references = CallerReferenceRecord.__table__


def test_the_pay_is_one_statement(processor, caller_id, buyer_id):
    """Counted on the driver's cursors: one statement between BEGIN and COMMIT."""
    token = open_prepaid(processor, caller_id, buyer_id, fund="5.00").sender_token_id
    sent: list[str] = []
    processor.pay(caller_id, sender_token_id=token, amount=usd("0.10"), caller_reference=ref("warm"))
    conn = processor.group_commit._conn  # noqa: SLF001 - the batch's kept connection
    assert conn is not None
    pgconn = conn.connection.dbapi_connection
    original = pgconn.cursor

    class Counting:  # the driver's cursor, noting each statement sent
        def __init__(self, cursor: Any):
            self.cursor = cursor

        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append(str(query))
            self.cursor.execute(query, *args, **kwargs)
            return self

        def __getattr__(self, name: str) -> Any:
            return getattr(self.cursor, name)

    def counting_cursor(*args: Any, **kwargs: Any) -> Counting:
        return Counting(original(*args, **kwargs))

    pgconn.cursor = counting_cursor
    try:
        result = processor.pay(
            caller_id, sender_token_id=token, amount=usd("0.10"), caller_reference=ref("one")
        )
    finally:
        del pgconn.cursor
    assert result.status == "Success"
    assert len(sent) == 1 and "fps_pay(" in sent[0]


def test_refusals_leave_no_claim_and_the_same_reference_pays_later(processor, caller_id, buyer_id):
    setup = open_prepaid(processor, caller_id, buyer_id, fund="1.00")
    reference = ref("later")
    before = count(processor, _transactions)
    with pytest.raises(InsufficientBalance):
        processor.pay(caller_id, sender_token_id=setup.sender_token_id, amount=usd("1.50"),
                      caller_reference=reference)  # fmt: skip
    assert count(processor, _references, caller_reference=reference) == 0
    assert count(processor, _transactions) == before
    processor.fund_prepaid(caller_id, sender_token_id=setup.funding_token_id or "",
                           prepaid_instrument_id=setup.instrument_id, amount=usd("1.00"),
                           caller_reference=ref("fund"))  # fmt: skip
    result = processor.pay(caller_id, sender_token_id=setup.sender_token_id, amount=usd("1.50"),
                           caller_reference=reference)  # fmt: skip
    assert result.status == "Success" and not result.replayed
    assert check_ledger(processor.engine) == []


def test_an_error_after_a_server_side_pay_fails_its_batch(processor, caller_id, buyer_id, holder):  # noqa: F811
    """A Pay's writes cannot be told from its batch's without a savepoint: an error after them (here in
    the hook that records the request) fails the batch, and every Pay of it is sent again, once."""
    tokens = [open_prepaid(processor, caller_id, buyer_id, fund="5.00").sender_token_id for _ in range(3)]
    credit = open_postpaid(processor, caller_id, buyer_id, credit_limit="5.00").sender_token_id

    def broken(_conn: Connection, _result: object) -> None:
        raise RuntimeError("the request could not be recorded")

    references = [ref("batch") for _ in range(4)]
    actions = [
        pay(processor, caller_id, tokens[0], "0.99", references[0]),
        pay(processor, caller_id, credit, "0.99", references[1]),
        pay(processor, caller_id, tokens[1], "0.99", references[2], hook=broken),
        pay(processor, caller_id, tokens[2], "0.99", references[3]),
    ]
    before = count(processor, _transactions)
    results = holder(actions)
    assert all(isinstance(r, ServiceUnavailable) and r.retriable for r in results), results
    assert count(processor, _transactions) == before + 1  # the holder's Pay; nothing of the batch
    assert count(processor, ApiRequest.__table__) == 0
    with processor.engine.connect() as conn:
        claimed = conn.execute(
            select(func.count())
            .select_from(_references)
            .where(_references.c.caller_reference.in_(references))
        ).scalar_one()
    assert claimed == 0
    again = [actions[i]() for i in (0, 1, 3)]
    assert [(r.status, r.replayed) for r in again] == [("Success", False)] * 3
    assert count(processor, _transactions) == before + 1 + 3
    assert check_ledger(processor.engine) == []
