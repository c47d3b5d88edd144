"""The dashboard's read models (fpscore.merchant.queries) on SQLite and PostgreSQL: filters, sorting and
totals in SQL, running balances that end at the book balance, hard limits, and the record of a request."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from urllib.parse import quote

import dashdata
import pytest
from pgschema import PostgresSchema

from fpscore.config import Settings
from fpscore.merchant import flows, queries
from fpscore.merchant.connect import Merchant, connect
from fpscore.merchant.queries import ApiCallFilter, AuditEventFilter, InstrumentFilter, MovementFilter
from fpscore.merchant.roles import Actor, Forbidden
from fpscore.money import Amount


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def made(request, tmp_path_factory) -> Iterator[tuple[Merchant, dashdata.Seeded]]:
    """A seeded merchant whose own database is SQLite, or a throwaway PostgreSQL schema; made once per
    module and backend, so the tests read it and only the last one writes (what it writes it checks)."""
    settings = dataclasses.replace(
        Settings.from_env({"FPS_DATA_DIR": str(tmp_path_factory.mktemp("queries"))}),
        access_key_id=dashdata.ACCESS_KEY_ID,
        secret_access_key=dashdata.SECRET_ACCESS_KEY,
    )
    schema = None
    if request.param == "postgres":
        schema = PostgresSchema()
        separator = "&" if "?" in schema.url else "?"
        options = quote(f"-csearch_path={schema.name}")
        settings = dataclasses.replace(settings, database_url=f"{schema.url}{separator}options={options}")
    merchant = connect(settings)
    merchant.client.backoff_s = 0.0
    seeded = dashdata.seed(merchant)
    yield merchant, seeded
    merchant.close()
    if schema is not None:
        schema.drop()


def test_instruments_filter_sort_and_total_in_sql(made):
    merchant, seeded = made
    everything = queries.instruments(merchant.engine, InstrumentFilter())
    assert everything.totals.count == 4 and everything.page.total == 4
    assert everything.totals.prepaid_liability == Amount(1151)
    assert everything.totals.outstanding_debt == Amount(2696)
    by_debt = queries.instruments(merchant.engine, InstrumentFilter(kind="Postpaid", sort="balance"))
    assert [row.instrument_id for row in by_debt.page.rows] == [seeded.due, seeded.owing, seeded.settled]
    assert by_debt.page.rows[0].utilisation_bps == 8788
    used = queries.instruments(
        merchant.engine, InstrumentFilter(utilisation_min_pct=10, utilisation_max_pct=90)
    )
    assert {row.instrument_id for row in used.page.rows} == {seeded.due, seeded.owing}
    search = queries.instruments(merchant.engine, InstrumentFilter(search="%"))  # wildcards are literal
    assert search.totals.count == 0
    found = queries.instruments(merchant.engine, InstrumentFilter(search=seeded.owing[:12]))
    assert [row.instrument_id for row in found.page.rows] == [seeded.owing]
    ranged = queries.instruments(
        merchant.engine, InstrumentFilter(balance_min_cents=500, balance_max_cents=1200)
    )
    assert [row.instrument_id for row in ranged.page.rows] == [seeded.prepaid]


def test_pages_are_bounded(made):
    merchant, _ = made
    first = queries.instruments(merchant.engine, InstrumentFilter(sort="instrument", descending=False), 1, 3)
    second = queries.instruments(merchant.engine, InstrumentFilter(sort="instrument", descending=False), 2, 3)
    assert len(first.page.rows) == 3 and len(second.page.rows) == 1 and first.page.pages == 2
    assert not {r.instrument_id for r in first.page.rows} & {r.instrument_id for r in second.page.rows}
    huge = queries.api_calls(merchant.engine, ApiCallFilter(), page=10**9, page_size=10**9)
    assert huge.page_size == queries.MAX_PAGE_SIZE and huge.rows == ()
    assert len(queries.instruments_export(merchant.engine, InstrumentFilter(), limit=10**9)) == 4


def test_history_running_balance_ends_at_the_book(made):
    merchant, seeded = made
    for instrument_id in (seeded.prepaid, seeded.due, seeded.settled):
        view = queries.instrument_view(merchant.engine, instrument_id)
        assert view is not None
        assert view.history.rows[0].balance_after == view.detail.balance
        assert view.series[-1].balance == view.detail.balance
    settled = queries.instrument_view(merchant.engine, seeded.settled)
    assert [(e.kind, str(e.effect), str(e.balance_after)) for e in settled.history.rows] == [
        ("Settlement", "-2.50", "0.00"),
        ("WriteOff", "-0.50", "2.50"),
        ("Purchase", "3.00", "3.00"),
    ]
    assert settled.history.rows[0].fee is not None
    prepaid = queries.instrument_view(merchant.engine, seeded.prepaid)
    assert [p.purchase_id for p in prepaid.refundable][-1] == seeded.refundable_purchase_id
    assert queries.instrument_view(merchant.engine, "nope") is None
    assert len(queries.instrument_history(merchant.engine, seeded.due)) == 3


def test_movements_say_who_and_why(made):
    merchant, seeded = made
    write_offs = queries.movements(merchant.engine, MovementFilter(kind="write_offs"))
    (row,) = write_offs.page.rows
    assert (row.reason, row.requested_by, row.amount) == (
        "goodwill after an outage",
        "support-desk",
        Amount(50),
    )
    settled = queries.movements(merchant.engine, MovementFilter(kind="settlements", search="dan@"))
    assert settled.succeeded_total == Amount(250) and settled.page.rows[0].fee is not None
    assert (
        queries.movements(
            merchant.engine, MovementFilter(kind="settlements", requested_by="fiona")
        ).page.total
        == 0
    )
    assert queries.staff_names(merchant.engine, "write_offs") == ["support-desk"]
    with pytest.raises(ValueError):
        queries.movements(merchant.engine, MovementFilter(kind="purchases"))


def test_the_record_of_a_request(made):
    merchant, seeded = made
    record = queries.call_record(merchant.engine, request_id=seeded.request_id)
    assert record is not None and record.movement is not None
    assert record.movement.kind == "Settlement" and record.instrument_id == seeded.settled
    reference = record.attempts[0].call.caller_reference
    assert "Signature" not in record.attempts[0].request_params
    assert record.attempts[0].request_params["Action"] == "SettleDebt"
    transaction_id = record.attempts[0].call.transaction_id
    assert queries.call_record(merchant.engine, caller_reference=reference) == record
    assert queries.call_record(merchant.engine, transaction_id=transaction_id) == record
    assert queries.call_record(merchant.engine, request_id="missing") is None
    calls = queries.api_calls(merchant.engine, ApiCallFilter(action="SettleDebt"))
    assert [row.request_id for row in calls.rows] == [seeded.request_id]


def test_writes_show_up_in_the_read_models(made):
    """The last test of the module: it writes, then reads what it wrote."""
    merchant, seeded = made
    with pytest.raises(Exception):  # noqa: B017 - the processor refuses: more than the debt
        flows.write_off(merchant, dashdata.SUPPORT_JOB, seeded.owing, Amount(9999), "too much")
    failed = queries.instrument_view(merchant.engine, seeded.owing).history.rows[0]
    assert failed.kind == "WriteOff" and failed.status == "Failure" and failed.error_code
    assert failed.effect == Amount(0) and failed.balance_after == Amount(499)

    bought = flows.purchase(merchant, dashdata.STOREFRONT, seeded.owing, "Skin", Amount(100))
    purchase = queries.call_record(merchant.engine, caller_reference=bought.caller_reference)
    assert purchase is not None and purchase.order is not None and purchase.order.status == "Paid"
    assert queries.instruments(merchant.engine, InstrumentFilter()).totals.outstanding_debt == Amount(2796)

    with pytest.raises(Forbidden):
        flows.settle(merchant, Actor.staff("ana", "analyst"), seeded.due)
    refused = queries.audit_events(merchant.engine, AuditEventFilter(outcome="Refused"))
    assert [(row.actor, row.action) for row in refused.rows] == [("ana", "settle")]
    assert len(queries.audit_events_export(merchant.engine, AuditEventFilter(actor="ANA"))) == 1
