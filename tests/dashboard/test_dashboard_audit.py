"""Audit: the money-moving calls by default and the reads behind a toggle, a RequestId found without its
suffix or by the start the tables show (deep links too), the record with tokens masked, its answer as
indented XML and its ids copyable, and a purchase's timeline."""

from __future__ import annotations

import json

from dashapp import as_signed_in, no_exceptions, texts
from markup import assert_only_text
from sqlalchemy import insert, select

from fpscore.db import utcnow
from fpscore.merchant import flows, queries
from fpscore.merchant.roles import Actor, Permission
from fpscore.merchant.schema import ApiCall, Purchase

SUPPORT = Actor.staff("sam", "support")


def opened(user: str, **params: str):  # type: ignore[no-untyped-def]
    at = as_signed_in(user, "audit", **params)
    no_exceptions(at)
    assert_only_text(at)
    return at


def test_reads_are_behind_a_toggle(seeded, book):
    flows.refresh_balance(book, SUPPORT, seeded.prepaid)  # a GetPrepaidBalance call
    at = opened("theo")
    actions = set(at.dataframe[0].value["Action"])
    assert actions <= queries.MONEY_ACTIONS and {"Pay", "SettleDebt", "WriteOffDebt"} <= actions
    at.toggle(key="audit_every_action").set_value(True).run()
    assert "GetPrepaidBalance" in set(at.dataframe[0].value["Action"])
    at.toggle(key="audit_every_action").set_value(False).run()
    at.selectbox(key="audit_action").select("GetPrepaidBalance").run()  # an action asked is shown
    assert set(at.dataframe[0].value["Action"]) == {"GetPrepaidBalance"}


def test_a_request_id_opens_with_or_without_its_suffix_and_by_its_start(seeded):
    bare = seeded.request_id.removesuffix(":0")
    for asked in (seeded.request_id, bare, seeded.request_id[:13]):
        at = opened("ada", request_id=asked)
        assert any(label.startswith("Attempt 1 · ") for label in (e.label for e in at.expander)), asked
        assert seeded.request_id in texts(at.code)
    at = opened("theo")
    at.text_input(key="audit_lookup_id").input(seeded.request_id[:13])
    at.button(key="FormSubmitter:audit_lookup-Open").click().run()
    assert at.query_params == {"request_id": seeded.request_id[:13]}
    assert seeded.request_id in texts(at.code)


def test_a_start_too_short_or_shared_opens_nothing(seeded):
    at = opened("theo", request_id=seeded.request_id[:4])
    assert texts(at.warning)[0].startswith("No FPS call with RequestId")


def test_the_record_masks_tokens_and_indents_the_answer(seeded, book):
    purchases = Purchase.__table__
    with book.engine.connect() as conn:
        paid = conn.execute(select(purchases).where(purchases.c.instrument_id == seeded.prepaid)).first()
    sender = queries.instrument_detail(book.engine, seeded.prepaid).sender_token_id
    at = opened("theo", caller_reference=paid.caller_reference)
    sent = json.loads(at.json[0].value)
    assert sent["SenderTokenId"] == f"••••{sender[-4:]}"
    answer = next(code for code in texts(at.code) if code.startswith("<PayResponse"))
    assert "\n  <PayResult>" in answer and "\n    <TransactionId>" in answer
    assert {paid.caller_reference, paid.transaction_id} <= set(texts(at.code))
    everything = "\n".join(texts(at.code) + [str(j.value) for j in at.json])
    assert sender not in everything


def test_an_answer_with_entities_or_not_xml_is_shown_as_it_came(seeded, book):
    """The answer is parsed with defusedxml before it is indented: a DOCTYPE's entities (an expansion
    bomb, an external file) are refused, and the body is shown as text, as it came."""
    bodies = (
        '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><PayResponse>&b;'
        "</PayResponse>",
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><PayResponse>&x;</PayResponse>',
        "<html><body>502 Bad Gateway",  # and what is not XML: a proxy's page, a cut-off answer
        "<PayResponse><PayResult><TransactionStatus>Succ",
    )
    with book.engine.begin() as conn:
        conn.execute(
            insert(ApiCall.__table__),
            [
                {"action": "Pay", "caller_reference": f"entities-{n}", "request_id": f"e0e0e0e0-{n}:0",
                 "attempt": 1, "http_status": 200, "latency_ms": 1, "request_params": "{}",
                 "response_body": body, "actor": "storefront", "created_at": utcnow()}
                for n, body in enumerate(bodies)
            ],
        )  # fmt: skip
    for n, body in enumerate(bodies):
        at = opened("theo", request_id=f"e0e0e0e0-{n}:0")
        assert body in texts(at.code)
        shown_text = "\n".join(texts(at.code))
        assert "a" * 20 not in shown_text and "root:" not in shown_text


def test_a_purchase_timeline_paid_written_off_and_settled(seeded, book):
    purchases = Purchase.__table__
    with book.engine.connect() as conn:
        paid = conn.execute(select(purchases).where(purchases.c.instrument_id == seeded.settled)).first()
    at = opened("theo", caller_reference=paid.caller_reference)
    steps = at.dataframe[0].value
    assert list(steps["Step"]) == ["Paid", "Written off", "Settled"]
    assert [str(v) for v in steps["Of this purchase"]] == ["3.00", "0.50", "2.50"]


def timeline_of(book, purchase_id: int):  # type: ignore[no-untyped-def]
    """The timeline of a purchase, as its record on the Audit page has it."""
    purchases = Purchase.__table__
    with book.engine.connect() as conn:
        reference = conn.execute(
            select(purchases.c.caller_reference).where(purchases.c.id == purchase_id)
        ).scalar_one()
    record = queries.call_record(book.engine, caller_reference=reference)
    assert record is not None
    return record.timeline


def test_timelines_of_refunds_fundings_and_debt_still_owed(seeded, book):
    job = Actor.job("support-desk", Permission.READ, Permission.REFUND)
    refund = flows.refund_purchase(book, job, seeded.refundable_purchase_id, "changed their mind")
    steps = timeline_of(book, seeded.refundable_purchase_id)
    assert [s.step for s in steps] == ["Paid", "Refunded"]  # refunded whole: no funding paid for it
    assert steps[1].caller_reference == refund.caller_reference
    of_refund = queries.call_record(book.engine, caller_reference=refund.caller_reference)
    assert of_refund is not None and of_refund.timeline == steps  # a refund's record: its purchase's
    album = seeded.refundable_purchase_id + 1  # the prepaid instrument's second purchase, 7.50
    assert [(s.step, str(s.amount), str(s.movement)) for s in timeline_of(book, album)] == [
        ("Funded", "7.50", "20.00"),
        ("Paid", "7.50", "7.50"),
    ]
    purchases = Purchase.__table__
    with book.engine.connect() as conn:
        still_owed = conn.execute(
            select(purchases.c.id).where(purchases.c.instrument_id == seeded.owing)
        ).scalar_one()
    steps = timeline_of(book, still_owed)
    assert [(s.step, str(s.amount)) for s in steps] == [("Paid", "4.99"), ("Outstanding", "4.99")]
