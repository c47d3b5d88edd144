"""The sidebar's search box: each kind of id or name finds its record and opens the page the role has for
it (or lists several), support gets the read-only Record page, empty and unmatched searches say so, and
hostile text (markdown, LIKE wildcards) is only text. The read model decides what each role may find."""

from __future__ import annotations

import dashdata
import pytest
from dashapp import as_signed_in, no_exceptions, shown, texts
from dashdata import HOSTILE_NAME, HOSTILE_PRODUCT, HOSTILE_QUERY, HOSTILE_REASON, STAFF
from markup import assert_only_text, plain, sources
from sqlalchemy import insert, select

from fpscore.merchant import flows, queries
from fpscore.merchant.queries import HitKind
from fpscore.merchant.roles import Actor, Forbidden, Permission
from fpscore.merchant.schema import ApiCall, Purchase


def search(at, text: str):  # type: ignore[no-untyped-def]
    at.text_input(key="fps_search_text").input(text)
    at.button(key="FormSubmitter:fps_search-Search").click().run()
    no_exceptions(at)
    assert_only_text(at)
    return at


def page_text(at) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(plain(source) for source in sources(at))


def purchase_of(book, instrument_id: str):  # type: ignore[no-untyped-def]
    table = Purchase.__table__
    with book.engine.connect() as conn:
        return conn.execute(
            select(table).where(table.c.instrument_id == instrument_id).order_by(table.c.id)
        ).first()


def request_of(book, caller_reference: str) -> str:  # type: ignore[no-untyped-def]
    calls = ApiCall.__table__
    with book.engine.connect() as conn:
        return conn.execute(
            select(calls.c.request_id).where(calls.c.caller_reference == caller_reference)
        ).scalar_one()


@pytest.mark.parametrize("role", sorted(STAFF))
def test_every_role_has_the_box_and_is_told_about_empty_and_unmatched_searches(seeded, role):
    at = as_signed_in(STAFF[role])
    assert at.sidebar.text_input(key="fps_search_text")
    search(at, "   ")
    assert any(text.startswith("Type an email or a name") for text in shown(at.sidebar.caption))
    search(at, "no-such-thing-anywhere")
    assert shown(at.sidebar.info)[0].startswith("Nothing matches no-such-thing-anywhere.")


def test_an_email_opens_the_instrument(seeded):
    at = search(as_signed_in("ana"), "ADA@buyers.example")
    assert at.query_params == {"instrument": seeded.prepaid}


def test_a_shortened_instrument_id_opens_it(seeded):
    at = search(as_signed_in("fiona"), seeded.due[:10] + "…")
    assert at.query_params == {"instrument": seeded.due}


def test_several_matches_are_listed_and_a_pick_opens_one(seeded, book):
    second = dashdata.open_prepaid(book, "adam@buyers.example")
    flows.ensure_customer(book, "ada.without.instrument@buyers.example", "Ada W")  # no instrument: no hit
    at = search(as_signed_in("ana"), "ada")
    hits = [b for b in at.sidebar.button if (b.key or "").startswith("fps_search_hit_")]
    assert [plain(b.label).split(" · ")[0] for b in hits] == ["ada@buyers.example", "adam@buyers.example"]
    assert shown(at.sidebar.caption)[0] == "2 matches for ada"
    hits[1].click().run()
    assert at.query_params == {"instrument": second}


def test_a_name_start_any_case_opens_the_instrument(seeded):
    at = search(as_signed_in("ana"), "CLE")  # cleo, named from her email
    assert at.query_params == {"instrument": seeded.owing}


def test_a_request_id_by_its_start_opens_its_audit_record_for_audit_roles(seeded):
    for user in ("theo", "ada"):
        at = search(as_signed_in(user), seeded.request_id[:13])
        assert texts(at.title) == ["Audit"]
        assert at.query_params == {"request_id": seeded.request_id}
        assert seeded.request_id in texts(at.code)


def test_a_request_id_without_its_suffix_opens_the_movement_for_support(seeded, book):
    bare = seeded.request_id.rsplit(":", 1)[0]
    at = search(as_signed_in("sam"), bare)
    assert texts(at.title) == ["Record"]
    text = page_text(at)
    assert "Settlement $2.50" in text and "dan@buyers.example" in text


def test_a_transaction_id_opens_the_read_only_record_for_support(seeded, book):
    paid = purchase_of(book, seeded.settled)
    at = search(as_signed_in("sam"), paid.transaction_id.lower())
    assert texts(at.title) == ["Record"]
    assert at.query_params == {"caller_reference": paid.caller_reference}
    text = page_text(at)
    assert "Purchase $3.00 · Success" in text and "dan@buyers.example" in text and "Soundtrack" in text
    assert paid.transaction_id in texts(at.code) and paid.caller_reference in texts(at.code)
    detail = queries.instrument_detail(book.engine, seeded.settled)
    assert detail.sender_token_id not in text and f"••••{detail.sender_token_id[-4:]}" in text
    steps = at.dataframe[0].value
    assert list(steps["Step"]) == ["Paid", "Written off", "Settled"]
    assert [str(v) for v in steps["Of this purchase"]] == ["3.00", "0.50", "2.50"]
    assert not at.button(key="record_back").disabled and not any(b.key == "fps_confirm" for b in at.button)


def test_a_caller_reference_opens_the_audit_record_for_audit_roles(seeded, book):
    paid = purchase_of(book, seeded.settled)
    at = search(as_signed_in("theo"), paid.caller_reference)
    assert texts(at.title) == ["Audit"] and at.query_params == {"caller_reference": paid.caller_reference}


def test_the_record_page_looks_up_and_says_when_nothing_matches(seeded, book):
    at = as_signed_in("sam", "record")
    at.text_input(key="record_lookup_id").input("NOPE")
    at.button(key="FormSubmitter:record_lookup-Open").click().run()
    assert shown(at.warning)[0].startswith("No movement has the TransactionId or CallerReference NOPE.")
    at = as_signed_in("sam", "record", transaction_id=HOSTILE_QUERY)
    assert_only_text(at)
    assert f"No movement has the TransactionId {HOSTILE_QUERY}" in page_text(at)


def test_hostile_text_and_like_wildcards_are_only_text(hostile):
    at = as_signed_in("theo")
    for wildcard in ("%", "_", "\\", "%@%", "[%"):
        search(at, wildcard)
        assert shown(at.sidebar.info)[0].startswith(f"Nothing matches {wildcard}")
    search(at, HOSTILE_QUERY)
    assert f"Nothing matches {HOSTILE_QUERY}" in page_text(at)
    search(at, HOSTILE_NAME[:12])  # "[Session exp": the hostile customer's name, by its start
    assert at.query_params == {"instrument": hostile.instrument}


def test_what_each_role_may_find_is_decided_in_fpscore(seeded, book):
    engine = book.engine
    calls_for = {"troubleshooter", "admin"}  # the roles with the Audit page
    for role, kind in ((role, HitKind.CALL if role in calls_for else HitKind.MOVEMENT) for role in STAFF):
        found = queries.find(engine, Actor.staff("someone", role), seeded.request_id)
        assert [hit.kind for hit in found.hits] == [kind], role
    with pytest.raises(Forbidden):
        queries.find(engine, Actor.job("nobody", Permission.PURCHASE), "ada")
    with pytest.raises(Forbidden):
        queries.movement_record(engine, Actor.job("nobody"), transaction_id="X")


def test_the_hits_are_capped(seeded, book):
    for _ in range(queries.MAX_HITS + 1):
        dashdata.open_prepaid(book, "cap@buyers.example")  # one customer, many instruments
    found = queries.find(book.engine, Actor.staff("ana", "analyst"), "cap@")
    assert len(found.hits) == queries.MAX_HITS and found.more
    at = search(as_signed_in("ana"), "cap@")
    assert (
        shown(at.sidebar.caption)[0]
        == f"{queries.MAX_HITS} matches for cap@ (the first {queries.MAX_HITS}; type more to narrow)"
    )


# -- the read model on SQLite and PostgreSQL (prefix ranges in code-point order, COLLATE "C" there) --------

from test_dashboard_queries import made  # noqa: E402, F401  (the seeded book on each backend)


def test_each_kind_of_text_on_each_backend(made):  # noqa: F811
    merchant, seeded = made
    engine, theo = merchant.engine, Actor.staff("theo", "troubleshooter")

    def found(text: str) -> list[tuple[str, str | None]]:
        return [(hit.matched, hit.instrument_id) for hit in queries.find(engine, theo, text).hits]

    assert found("ADA@Buyers.example") == [("email", seeded.prepaid)]
    assert found("Cle") == [("email", seeded.owing)]  # her name is her email's start too: one hit
    assert found(seeded.due[:10] + "…") == [("instrument id", seeded.due)]
    assert found(seeded.due.lower()) == [("instrument id", seeded.due)]
    bare = seeded.request_id.removesuffix(":0")
    for text in (seeded.request_id, bare, bare + ":1", seeded.request_id[:13]):
        hits = queries.find(engine, theo, text).hits
        assert [(h.kind, h.request_id) for h in hits] == [(HitKind.CALL, seeded.request_id)], text
    record = queries.call_record(engine, request_id=seeded.request_id[:13])
    assert record is not None and record.attempts[0].call.request_id == seeded.request_id
    paid = queries.instrument_view(engine, seeded.settled).history.rows[-1]
    for text in (paid.caller_reference, paid.transaction_id.lower()):
        (hit,) = queries.find(engine, theo, text).hits
        assert (hit.kind, hit.movement, hit.caller_reference) == (
            HitKind.MOVEMENT,
            "Purchase",
            paid.caller_reference,
        )
    for wildcard in ("%", "_", "%@%", "\\", "a%", seeded.request_id[:8] + "%"):
        assert queries.find(engine, theo, wildcard).hits == (), wildcard
    steps = queries.movement_record(engine, theo, transaction_id=paid.transaction_id).timeline
    assert [(s.step, str(s.amount)) for s in steps] == [
        ("Paid", "3.00"),
        ("Written off", "0.50"),
        ("Settled", "2.50"),
    ]


def test_a_movement_record_masks_the_sender_token_in_fpscore(made):  # noqa: F811
    merchant, seeded = made
    paid = queries.instrument_view(merchant.engine, seeded.settled).history.rows[-1]
    record = queries.movement_record(
        merchant.engine, Actor.staff("sam", "support"), caller_reference=paid.caller_reference
    )
    token = queries.instrument_detail(merchant.engine, seeded.settled).sender_token_id
    assert record is not None and record.sender_token == f"••••{token[-4:]}"
    assert token not in repr(record)


def test_a_request_id_start_naming_several_calls_finds_what_each_carried(made):  # noqa: F811
    """For support: the movement each call carried, else its instrument, in the calls' order, each once
    (the last test on this book: it adds calls)."""
    merchant, seeded = made
    paid = queries.instrument_view(merchant.engine, seeded.settled).history.rows[-1]
    calls = [  # (RequestId, CallerReference, instrument): two attempts of a purchase, a call that moved
        ("f0f0f0f0-0001", paid.caller_reference, seeded.settled),  # nothing, a call for an instrument,
        ("f0f0f0f0-0002", paid.caller_reference, seeded.settled),  # a call for nothing
        ("f0f0f0f0-0003", "no-movement-has-this", seeded.owing),
        ("f0f0f0f0-0004", None, seeded.due),
        ("f0f0f0f0-0005", None, None),
    ]
    with merchant.engine.begin() as conn:
        conn.execute(
            insert(ApiCall.__table__),
            [
                {"action": "Pay", "caller_reference": reference, "request_id": request_id,
                 "instrument_id": instrument, "attempt": 1, "latency_ms": 1, "request_params": "{}",
                 "actor": "storefront", "created_at": paid.created_at}
                for request_id, reference, instrument in calls
            ],
        )  # fmt: skip
    hits = queries.find(merchant.engine, Actor.staff("sam", "support"), "F0F0F0F0").hits
    assert [(h.kind, h.matched, h.caller_reference, h.instrument_id) for h in hits] == [
        (HitKind.MOVEMENT, "RequestId", paid.caller_reference, seeded.settled),
        (HitKind.INSTRUMENT, "RequestId", None, seeded.owing),
        (HitKind.INSTRUMENT, "RequestId", None, seeded.due),
    ]
    assert hits[0].movement == "Purchase"
    theo = Actor.staff("theo", "troubleshooter")
    assert [h.request_id for h in queries.find(merchant.engine, theo, "f0f0f0f0").hits] == [
        request_id for request_id, _, _ in calls
    ]


def test_the_record_page_shows_a_hostile_customer_and_reason_as_text(hostile):
    at = as_signed_in("sam", "record", caller_reference=hostile.write_off_caller_reference)
    no_exceptions(at)
    assert_only_text(at)
    text = page_text(at)
    assert HOSTILE_NAME in text and HOSTILE_REASON in text
    at = as_signed_in("sam", "record", caller_reference=hostile.purchase_caller_reference)
    assert_only_text(at)
    assert HOSTILE_PRODUCT in page_text(at) and HOSTILE_PRODUCT in set(at.dataframe[0].value["Note"])
