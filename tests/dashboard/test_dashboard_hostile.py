"""Data is text: hostile customer names and emails, product descriptions, reasons, staff names, processor
error messages and query parameters go through every page, its dialogs and its messages, and no markdown
source of any run renders a link, an image or HTML the app did not mean (markup.py). Each page also shows
the hostile value, as text, so that the check cannot pass by showing nothing."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from dashapp import as_signed_in, no_exceptions
from dashdata import (
    HOSTILE_EMAIL,
    HOSTILE_FPS_MESSAGE,
    HOSTILE_NAME,
    HOSTILE_PRODUCT,
    HOSTILE_QUERY,
    HOSTILE_REASON,
    HOSTILE_STAFF,
    HOSTILE_STAFF_NAME,
)
from markup import assert_only_text, plain, sources, unintended

from dashboard import components
from dashboard.text import md
from fpscore.money import Amount

PAYLOADS = [
    HOSTILE_NAME, HOSTILE_EMAIL, HOSTILE_PRODUCT, HOSTILE_REASON, HOSTILE_STAFF, HOSTILE_STAFF_NAME,
    HOSTILE_FPS_MESSAGE, HOSTILE_QUERY, "<https://evil.example/a>", "x@evil.example", ":red[x] $x$ :smile:",
    "line\n\n# heading\n[ref]: https://evil.example/r\n[ref]", "&#91;x&#93;&#40;https://evil.example&#41;",
]  # fmt: skip
EMAIL = HOSTILE_EMAIL.lower()


def page_text(at) -> str:
    """Everything the last run showed as markdown, as it reads once rendered."""
    return "\n".join(plain(source) for source in sources(at))


def run(at):
    """`at.run()`, then the checks every run of this module makes."""
    at.run()
    no_exceptions(at)
    assert_only_text(at)
    return at


def opened(username: str, page: str, **params: str):
    at = as_signed_in(username, page, **params)
    no_exceptions(at)
    assert_only_text(at)
    return at


@pytest.mark.parametrize("payload", PAYLOADS)
def test_md_makes_any_value_text(payload):
    assert unintended(md(payload)) == []
    assert plain(md(payload)) == " ".join(payload.split())


def test_the_checker_sees_what_would_render():
    assert all(unintended(payload) for payload in PAYLOADS[:9])
    assert unintended("[Open the instrument](./instrument?instrument=X)") == []  # the app's own links


def test_instrument_page_shows_a_hostile_customer_as_text(hostile):
    at = opened("sam", "instrument", instrument=hostile.instrument)
    assert HOSTILE_NAME in plain(at.title[0].value) and EMAIL in page_text(at)
    at.text_input(key="write_off_amount").input(HOSTILE_QUERY)  # echoed in the FPS error message
    at.selectbox(key="write_off_code").select("other")
    at.text_area(key="write_off_note").input(HOSTILE_REASON)
    at.button(key="FormSubmitter:instrument_write_off-Review write-off").click()
    assert "is not a decimal amount" in page_text(run(at))
    at.text_input(key="write_off_amount").input("1.00")
    at.button(key="FormSubmitter:instrument_write_off-Review write-off").click()
    assert HOSTILE_REASON in page_text(run(at)) and f"{EMAIL}'s debt" in page_text(at)
    at.button(key="fps_confirm").click()
    assert "Wrote off $1.00 — debt now $23.47." in page_text(run(at))
    at.selectbox(key="refund_purchase").select_index(0)
    at.selectbox(key="refund_code").select("other")
    at.text_area(key="refund_note").input(HOSTILE_REASON)
    at.button(key="FormSubmitter:instrument_refund-Review refund").click()
    assert f"“{HOSTILE_PRODUCT}”" in page_text(run(at))
    at.button(key="fps_cancel").click()
    run(at)
    at.text_area(key="cancel_reason").input(HOSTILE_REASON)
    at.button(key="FormSubmitter:instrument_cancel-Review cancellation").click()
    assert f"Cancel {EMAIL}'s postpaid instrument" in page_text(run(at))
    at.button(key="fps_confirm").click()
    assert "Token cancelled" in page_text(run(at))


def test_instrument_page_settles_a_hostile_customer_as_text(hostile):
    at = opened("fiona", "instrument", instrument=hostile.instrument)
    at.button(key="FormSubmitter:instrument_settle-Review settlement").click()
    assert f"Settle $24.47 of {EMAIL}'s debt" in page_text(run(at))
    assert hostile.instrument in page_text(at)
    at.button(key="fps_confirm").click()
    assert "Settled $24.47 (fee $1.01) — debt now $0.00." in page_text(run(at))


def test_a_reflected_instrument_id_is_text(hostile):
    at = opened("ana", "instrument", instrument=HOSTILE_QUERY)
    assert f"The merchant has no instrument {HOSTILE_QUERY[:64]}." in page_text(at)


@pytest.mark.parametrize("name", ["request_id", "caller_reference", "transaction_id"])
def test_a_reflected_audit_id_is_text(hostile, name):
    at = opened("theo", "audit", **{name: HOSTILE_QUERY})
    assert f"{HOSTILE_QUERY} is recorded." in page_text(at)


def test_audit_records_show_hostile_staff_reasons_and_processor_messages_as_text(hostile):
    at = opened("theo", "audit", caller_reference=hostile.write_off_caller_reference)
    text = page_text(at)
    assert f"asked by **{HOSTILE_STAFF}**" in text and HOSTILE_REASON in text and HOSTILE_FPS_MESSAGE in text
    at = opened("ada", "audit", caller_reference=hostile.purchase_caller_reference)
    assert f"of {EMAIL}" in page_text(at)
    at = opened("theo", "audit", instrument=HOSTILE_QUERY)
    at.text_input(key="audit_lookup_id").input(HOSTILE_QUERY)
    at.button(key="FormSubmitter:audit_lookup-Open").click()
    assert f"No FPS call with the id {HOSTILE_QUERY} is recorded." in page_text(run(at))


def test_settlements_settle_a_hostile_customer_as_text(hostile):
    at = opened("fiona", "settlements")
    at.button(key="settle_all").click()
    run(at).button(key="fps_confirm").click()
    assert "Settled 1 of 1 instrument: $24.47 charged" in page_text(run(at))


def test_write_offs_show_a_hostile_customer_and_reason_as_text(hostile):
    at = opened("sam", "write_offs", instrument=HOSTILE_QUERY)
    at.text_input(key="write_off_search").input("evil")
    run(at).text_input(key="write_off_page_amount").input("1.00")
    at.selectbox(key="write_off_page_code").select("goodwill")
    at.selectbox(key="write_off_page_disputed").select_index(0)
    at.text_area(key="write_off_page_note").input(HOSTILE_REASON)
    at.button(key="FormSubmitter:write_off_form-Review write-off").click()
    assert f"Goodwill: {HOSTILE_REASON}" in page_text(run(at)) and HOSTILE_PRODUCT in page_text(at)
    at.button(key="fps_confirm").click()
    assert "Wrote off $1.00 — debt now $23.47." in page_text(run(at))


def test_staff_page_shows_a_hostile_display_name_as_text(hostile):
    at = opened("ada", "staff")
    at.selectbox(key="staff_chosen").select(HOSTILE_STAFF)
    run(at).selectbox(key="staff_role").select("finance")  # the Role selector starts from their role
    run(at).button(key="staff_change_role").click()
    assert f"Make {HOSTILE_STAFF} finance" in page_text(run(at))
    at.button(key="fps_confirm").click()
    assert f"{HOSTILE_STAFF} is now finance." in page_text(run(at))
    for button in ("staff_toggle", "staff_reset"):
        at.button(key=button).click()
        assert HOSTILE_STAFF_NAME in page_text(run(at))
        at.button(key="fps_confirm").click()
        assert HOSTILE_STAFF in page_text(run(at))
    at.text_input(key="staff_new_username").input("x.evil.example")
    at.text_input(key="staff_new_name").input(HOSTILE_STAFF_NAME)
    at.text_input(key="staff_new_password").input("long enough password")
    at.button(key="FormSubmitter:staff_add-Add").click()
    assert "x.evil.example added as finance." in page_text(run(at))


def test_the_other_pages_show_a_hostile_book_as_text(hostile):
    at = opened("ana", "instruments")
    assert EMAIL in set(at.dataframe[0].value["Customer"])
    at.text_input(key="instruments_search").input(HOSTILE_QUERY)
    assert "No instrument matches these filters." in page_text(run(at))
    at = opened("ana", "fees")
    at.session_state["fees_tab"] = "Top instruments"
    [top] = [frame.value for frame in run(at).dataframe if "Customer" in frame.value.columns]
    assert EMAIL in set(top["Customer"])
    at = opened("fiona", "health")
    at.button(key="health_run").click()
    assert "The merchant's records and the processor agree" in page_text(run(at))


# -- CSV ---------------------------------------------------------------------------------------------------


def test_csv_cells_never_start_a_formula():
    formulas = [
        '=HYPERLINK("https://evil.example")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
    ]
    text = components.to_csv(
        [
            {"note": formula, "amount": Amount(-100), "number": Decimal("-1.50"), "count": -3}
            for formula in formulas
        ]
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["note"] for row in rows] == [f"'{formula}" for formula in formulas]
    assert {(row["amount"], row["number"], row["count"]) for row in rows} == {("-1.00", "-1.50", "-3")}
