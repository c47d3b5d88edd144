"""Reason codes of write-offs and refunds, through the real flows on SQLite and PostgreSQL: the code and
the reason in words recorded on the movement, the disputed purchase, the staff event with amount and
reason, the description the processor gets; and every bad reason refused before anything is written."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from journeys import STOREFRONT, SUPPORT, open_postpaid, open_prepaid
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from fpscore.config import Settings
from fpscore.db import utcnow
from fpscore.errors import InvalidParams
from fpscore.merchant import flows, reasons
from fpscore.merchant.connect import Merchant, connect
from fpscore.merchant.flows import FlowRefused
from fpscore.merchant.reasons import MAX_NOTE, Reason, ReasonCode
from fpscore.merchant.schema import ApiCall, AuditEvent, MerchantInstrument, Refund, WriteOff
from fpscore.money import Amount

HOSTILE_NOTE = "[r](https://evil.example/r) <img src=x> `code` $x$ www.evil.example"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def merchant(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Merchant]:
    chosen = settings if request.param == "sqlite" else request.getfixturevalue("postgres_settings")
    made = connect(chosen)
    made.client.backoff_s = 0.0
    yield made
    made.close()


def usd(text: str) -> Amount:
    return Amount.parse(text)


def owing(merchant: Merchant) -> tuple[str, list[int]]:
    """A postpaid instrument owing 14.98 for two purchases (their ids)."""
    instrument = open_postpaid(merchant, "bob@buyers.example")
    bought = [
        flows.purchase(merchant, STOREFRONT, instrument, product, usd(price)).row_id
        for product, price in (("Level pack", "9.99"), ("Skin", "4.99"))
    ]
    return instrument, bought


def one(merchant: Merchant, table, *columns):  # type: ignore[no-untyped-def]
    with merchant.engine.connect() as conn:
        return conn.execute(select(*(table.c[name] for name in columns))).one()


def events(merchant: Merchant, action: str) -> list[tuple[str, str]]:
    table = AuditEvent.__table__
    with merchant.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.outcome, table.c.detail).where(table.c.action == action).order_by(table.c.id)
        ).all()
    return [tuple(row) for row in rows]


def sent_description(merchant: Merchant, caller_reference: str) -> str:
    calls = ApiCall.__table__
    with merchant.engine.connect() as conn:
        params = conn.execute(
            select(calls.c.request_params).where(calls.c.caller_reference == caller_reference)
        ).scalar_one()
    return json.loads(params)["CallerDescription"]


def debt(merchant: Merchant, instrument_id: str) -> int:
    table = MerchantInstrument.__table__
    with merchant.engine.connect() as conn:
        return conn.execute(select(table.c.balance_cents).where(table.c.id == instrument_id)).scalar_one()


def test_a_write_off_records_its_code_note_and_disputed_purchase(merchant):
    instrument, (pack, _) = owing(merchant)
    done = flows.write_off(
        merchant, SUPPORT, instrument, usd("9.99"), "  never   arrived ", code="not_delivered",
        disputed_purchase_id=pack,
    )  # fmt: skip
    assert done.status == "Success" and done.amount == usd("9.99") and done.fee is None
    table = WriteOff.__table__
    row = one(merchant, table, "reason_code", "reason", "disputed_purchase_id")
    assert tuple(row) == ("not_delivered", "Not delivered: never arrived", pack)
    assert sent_description(merchant, done.caller_reference) == "Not delivered: never arrived"
    assert events(merchant, "write_offs") == [
        (
            "Done",
            f"USD 9.99 · Not delivered: never arrived · purchase {pack} · "
            f"TransactionId {done.transaction_id}",
        )
    ]
    assert debt(merchant, instrument) == 499


def test_a_refund_records_its_code_and_the_purchase_it_disputes(merchant):
    prepaid = open_prepaid(merchant, "ada@buyers.example", fund="10.00")
    song = flows.purchase(merchant, STOREFRONT, prepaid, "Song", usd("0.99"))
    done = flows.refund_purchase(merchant, SUPPORT, song.row_id, "", usd("0.50"), code="goodwill")
    row = one(merchant, Refund.__table__, "reason_code", "reason", "purchase_id")
    assert tuple(row) == ("goodwill", "Goodwill", song.row_id)
    assert events(merchant, "refunds") == [
        ("Done", f"USD 0.50 · Goodwill · purchase {song.row_id} · TransactionId {done.transaction_id}")
    ]


def test_free_text_is_an_other_reason_as_before(merchant):
    instrument, _ = owing(merchant)
    flows.write_off(merchant, SUPPORT, instrument, usd("1.00"), "potion never arrived")
    row = one(merchant, WriteOff.__table__, "reason_code", "reason", "disputed_purchase_id")
    assert tuple(row) == ("other", "potion never arrived", None)


def test_a_hostile_note_is_stored_and_sent_as_data(merchant):
    instrument, _ = owing(merchant)
    done = flows.write_off(merchant, SUPPORT, instrument, usd("1.00"), HOSTILE_NOTE, code="goodwill")
    assert one(merchant, WriteOff.__table__, "reason").reason == f"Goodwill: {HOSTILE_NOTE}"
    assert sent_description(merchant, done.caller_reference) == f"Goodwill: {HOSTILE_NOTE}"


@pytest.mark.parametrize(
    ("code", "note", "message"),
    [
        ("other", "   ", "a reason of “Other” needs a note saying what it is"),
        ("", "a note", "choose a reason: one of Not delivered, Goodwill, Uncollectable, Other"),
        ("lost", "a note", "choose a reason: one of Not delivered, Goodwill, Uncollectable, Other"),
        ("goodwill", "x" * (MAX_NOTE + 1), f"the note has 1,001 characters; at most {MAX_NOTE:,}"),
    ],
)
def test_a_bad_reason_writes_off_nothing(merchant, code, note, message):
    instrument, _ = owing(merchant)
    with pytest.raises(InvalidParams) as refused:
        flows.write_off(merchant, SUPPORT, instrument, usd("1.00"), note, code=code)
    assert refused.value.message == message
    with merchant.engine.connect() as conn:
        assert conn.execute(select(WriteOff.__table__.c.id)).all() == []
    assert debt(merchant, instrument) == 1498


def test_uncollectable_is_no_reason_to_refund(merchant):
    prepaid = open_prepaid(merchant, "ada@buyers.example", fund="10.00")
    song = flows.purchase(merchant, STOREFRONT, prepaid, "Song", usd("0.99"))
    with pytest.raises(InvalidParams, match="one of Not delivered, Goodwill, Other"):
        flows.refund_purchase(merchant, SUPPORT, song.row_id, "", code="uncollectable")
    with merchant.engine.connect() as conn:
        assert conn.execute(select(Refund.__table__.c.id)).all() == []


def test_the_disputed_purchase_must_be_a_completed_one_of_this_instrument(merchant):
    instrument, _ = owing(merchant)
    other, (elsewhere, _) = owing(merchant)
    for purchase_id in (elsewhere, 10_000):
        with pytest.raises(FlowRefused, match=f"purchase {purchase_id} is not a completed purchase of this"):
            flows.write_off(
                merchant,
                SUPPORT,
                instrument,
                usd("1.00"),
                "",
                code="goodwill",
                disputed_purchase_id=purchase_id,
            )
    with merchant.engine.connect() as conn:
        assert conn.execute(select(WriteOff.__table__.c.id)).all() == []


def test_the_tables_take_only_their_codes(merchant):
    instrument, (pack, _) = owing(merchant)
    row = {
        "instrument_id": instrument, "amount_cents": 1, "currency": "USD", "status": "Requested",
        "requested_by": "sam", "created_at": utcnow(), "reason": "x",
    }  # fmt: skip
    with merchant.engine.begin() as conn:  # every write-off code is taken
        for code in reasons.WRITE_OFF_CODES:
            conn.execute(
                insert(WriteOff.__table__).values(**row, caller_reference=f"w-{code}", reason_code=code)
            )
    with pytest.raises(IntegrityError), merchant.engine.begin() as conn:
        conn.execute(insert(WriteOff.__table__).values(**row, caller_reference="w-lost", reason_code="lost"))
    with pytest.raises(IntegrityError), merchant.engine.begin() as conn:
        conn.execute(
            insert(Refund.__table__).values(
                **row, purchase_id=pack, caller_reference="r-u", reason_code="uncollectable"
            )
        )


def test_a_reason_in_words():
    assert Reason(ReasonCode.GOODWILL).text == "Goodwill"
    assert Reason(ReasonCode.UNCOLLECTABLE, "moved abroad").text == "Uncollectable: moved abroad"
    assert Reason(ReasonCode.OTHER, "asked by the bank").text == "asked by the bank"
    assert reasons.reason("not_delivered", "a\n\tb").note == "a b"


def test_a_fully_refunded_purchase_cannot_be_disputed(merchant):
    instrument, (pack, skin) = owing(merchant)
    flows.refund_purchase(merchant, SUPPORT, skin, "", code="goodwill")
    assert debt(merchant, instrument) == 999
    with pytest.raises(FlowRefused) as refused:
        flows.write_off(
            merchant, SUPPORT, instrument, usd("1.00"), "", code="goodwill", disputed_purchase_id=skin
        )
    assert str(refused.value) == (
        f"purchase {skin} was refunded in full: none of it is debt, so it cannot be disputed"
    )
    with merchant.engine.connect() as conn:
        assert conn.execute(select(WriteOff.__table__.c.id)).all() == []
    assert debt(merchant, instrument) == 999


def test_a_partly_refunded_or_already_disputed_purchase_can_be_disputed_again(merchant):
    instrument, (pack, _) = owing(merchant)
    flows.refund_purchase(merchant, SUPPORT, pack, "", usd("0.99"), code="goodwill")
    for amount in ("4.00", "5.00"):  # the debt it left, written off in two parts
        done = flows.write_off(
            merchant, SUPPORT, instrument, usd(amount), "", code="not_delivered", disputed_purchase_id=pack
        )
        assert done.status == "Success"
    with merchant.engine.connect() as conn:
        named = conn.execute(select(WriteOff.__table__.c.disputed_purchase_id)).scalars().all()
    assert named == [pack, pack]
    assert debt(merchant, instrument) == 1498 - 99 - 900


def test_a_token_is_cancelled_with_its_note_folded_and_never_cut(merchant):
    prepaid = open_prepaid(merchant, "ada@buyers.example", fund="1.00")
    longest = "x" * MAX_NOTE
    for note, message in (
        ("  \n ", "a reason is required"),
        (longest + "y", f"the note has 1,001 characters; at most {MAX_NOTE:,}"),
    ):
        with pytest.raises(InvalidParams) as refused:
            flows.cancel_token(merchant, SUPPORT, prepaid, note)
        assert refused.value.message == message
    assert events(merchant, "cancel_token") == []
    table = MerchantInstrument.__table__
    with merchant.engine.connect() as conn:
        assert conn.execute(select(table.c.status).where(table.c.id == prepaid)).scalar_one() == "Active"
    flows.cancel_token(merchant, SUPPORT, prepaid, f" {longest[:-5]}\n\tlost ")
    assert events(merchant, "cancel_token") == [("Done", f"{longest[:-5]} lost")]
    with merchant.engine.connect() as conn:
        assert conn.execute(select(table.c.status).where(table.c.id == prepaid)).scalar_one() == "Cancelled"
