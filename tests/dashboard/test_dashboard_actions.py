"""Actions that finish: after a write-off, a refund or a settlement the form is empty and the figures are
the new ones, and the result says what happened in words with links to the instrument and the record;
write-offs and refunds take a reason code (a note for "Other"; hostile notes stay text) and a write-off
the purchase it disputes, recorded with the staff event. Settlements → Due now: rows selected in the
table itself, why each is due, settled with a result per customer."""

from __future__ import annotations

import dashdata
import pytest
from dashapp import as_signed_in, no_exceptions, shown
from markup import sources, unintended
from sqlalchemy import select

from dashboard import actions
from fpscore.merchant.schema import AuditEvent, MerchantInstrument, Purchase, WriteOff

WRITE_OFF_REVIEW = "FormSubmitter:instrument_write_off-Review write-off"
REFUND_REVIEW = "FormSubmitter:instrument_refund-Review refund"


def balance(book, instrument_id: str) -> int:
    table = MerchantInstrument.__table__
    with book.engine.connect() as conn:
        return conn.execute(select(table.c.balance_cents).where(table.c.id == instrument_id)).scalar_one()


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def confirm(at) -> str:
    """Confirm the dialog; what it said."""
    said = "\n".join(shown(at.markdown))
    at.button(key="fps_confirm").click().run()
    no_exceptions(at)
    return said


def purchase_id(book, instrument_id: str, product: str) -> int:
    table = Purchase.__table__
    with book.engine.connect() as conn:
        return conn.execute(
            select(table.c.id).where(table.c.instrument_id == instrument_id, table.c.product == product)
        ).scalar_one()


def write_off_on_instrument(at, amount: str, code: str | None, note: str = "") -> None:
    at.text_input(key="write_off_amount").input(amount)
    if code is not None:
        at.selectbox(key="write_off_code").select(code)
    at.text_area(key="write_off_note").input(note)
    at.button(key=WRITE_OFF_REVIEW).click().run()
    no_exceptions(at)


# -- write-offs and refunds -----------------------------------------------------------------------------


def test_a_write_off_clears_its_form_refreshes_the_figures_and_says_what_it_did(seeded, book):
    at = as_signed_in("sam", "instrument", instrument=seeded.due)
    assert metrics(at)["Debt (live)"] == "$21.97"
    write_off_on_instrument(at, "1.97", "goodwill", "late delivery")
    said = confirm(at)
    assert "**Reason:** Goodwill: late delivery" in said and "**Disputed purchase:** none" in said
    (result,) = [m.value for m in at.success]
    summary, links = result.split("\n\n")
    assert shown([at.success[0]])[0].startswith("Wrote off $1.97 — debt now $20.00.")
    assert f"[Open the instrument](./instrument?instrument={seeded.due})" in links
    with book.engine.connect() as conn:
        reference = conn.execute(
            select(WriteOff.__table__.c.caller_reference).order_by(WriteOff.id.desc())
        ).first()[0]
    assert f"[Record](./record?caller_reference={reference})" in links
    assert unintended(result) == []
    # the figures are the new ones, and the form is empty: Review cannot propose the same write-off again
    assert metrics(at)["Debt (live)"] == "$20.00" and metrics(at)["Book"] == "$20.00"
    assert at.text_input(key="write_off_amount").value == ""
    assert at.selectbox(key="write_off_code").value is None
    assert at.text_area(key="write_off_note").value == ""
    at.button(key=WRITE_OFF_REVIEW).click().run()
    assert "**Not done.** choose a reason: one of Not delivered, Goodwill, Uncollectable, Other" in shown(
        at.error
    )
    assert actions.PENDING_KEY not in at.session_state
    assert balance(book, seeded.due) == 2000


def test_a_settlement_clears_its_form_and_says_the_fee_and_debt_now(seeded, book):
    at = as_signed_in("fiona", "instrument", instrument=seeded.due)
    at.text_input(key="settle_amount").input("1.00")
    at.button(key="FormSubmitter:instrument_settle-Review settlement").click().run()
    confirm(at)
    assert shown([at.success[0]])[0].startswith("Settled $1.00 (fee $0.10) — debt now $20.97.")
    assert "[Record](./record?caller_reference=settle-" in at.success[0].value
    assert at.text_input(key="settle_amount").value == ""
    assert metrics(at)["Debt (live)"] == "$20.97"


def test_a_refund_clears_its_form_and_says_the_balance_now(seeded, book):
    at = as_signed_in("sam", "instrument", instrument=seeded.prepaid)
    assert metrics(at)["Balance (live)"] == "$11.51"
    at.selectbox(key="refund_purchase").select(seeded.refundable_purchase_id)
    at.selectbox(key="refund_code").select("not_delivered")
    at.button(key=REFUND_REVIEW).click().run()
    assert "**Reason:** Not delivered" in confirm(at)
    assert shown([at.success[0]])[0].startswith("Refunded $0.99 of “Song: Blue Monday” — balance now $12.50.")
    assert metrics(at)["Balance (live)"] == "$12.50"
    assert at.selectbox(key="refund_purchase").value is None
    assert at.selectbox(key="refund_code").value is None
    assert at.text_input(key="refund_amount").value == "" and at.text_area(key="refund_note").value == ""
    assert "refund_disputed" not in at.session_state  # the refund form has no disputed purchase
    assert balance(book, seeded.prepaid) == 1250


@pytest.mark.parametrize(
    ("code", "note", "error"),
    [
        (
            None,
            "a note",
            "**Not done.** choose a reason: one of Not delivered, Goodwill, Uncollectable, Other",
        ),
        ("other", "  ", "**Not done.** a reason of “Other” needs a note saying what it is"),
    ],
)
def test_a_write_off_needs_a_reason_code_and_other_a_note(seeded, book, code, note, error):
    at = as_signed_in("sam", "instrument", instrument=seeded.due)
    write_off_on_instrument(at, "1.00", code, note)
    assert error in shown(at.error)
    assert actions.PENDING_KEY not in at.session_state
    assert balance(book, seeded.due) == 2197


def test_a_refund_offers_no_uncollectable_and_needs_a_purchase(seeded):
    at = as_signed_in("sam", "instrument", instrument=seeded.prepaid)
    assert at.selectbox(key="refund_code").options == ["Not delivered", "Goodwill", "Other"]
    at.selectbox(key="refund_code").select("goodwill")
    at.button(key=REFUND_REVIEW).click().run()
    assert "**Not done.** choose the purchase to refund" in shown(at.error)


def test_a_hostile_note_is_kept_as_data_and_shown_as_text(seeded, book):
    at = as_signed_in("sam", "instrument", instrument=seeded.due)
    write_off_on_instrument(at, "1.00", "other", dashdata.HOSTILE_REASON)
    said = confirm(at)
    assert f"**Reason:** {dashdata.HOSTILE_REASON}" in said
    with book.engine.connect() as conn:
        newest = conn.execute(select(WriteOff.__table__.c.reason).order_by(WriteOff.id.desc())).first()
    assert newest.reason == dashdata.HOSTILE_REASON
    at.switch_page("../pages/write_offs.py").run()
    history = at.dataframe[-1].value
    assert list(history["Why"])[0] == dashdata.HOSTILE_REASON


def test_the_hostile_note_in_the_dialog_is_escaped(seeded):
    at = as_signed_in("sam", "instrument", instrument=seeded.due)
    write_off_on_instrument(at, "1.00", "not_delivered", dashdata.HOSTILE_REASON)
    assert [found for source in sources(at) for found in unintended(source)] == []


def test_a_write_off_records_the_disputed_purchase_and_the_staff_event(seeded, book):
    pack = purchase_id(book, seeded.due, "Level pack")
    at = as_signed_in("sam", "write_offs")
    at.text_input(key="write_off_search").input("bob").run()
    at.text_input(key="write_off_page_amount").input("9.99")
    at.selectbox(key="write_off_page_code").select("not_delivered")
    at.selectbox(key="write_off_page_disputed").select(pack)
    at.button(key="FormSubmitter:write_off_form-Review write-off").click().run()
    said = confirm(at)
    assert f"**Disputed purchase:** {pack} · Level pack · $9.99" in said
    assert shown([at.success[0]])[0].startswith("Wrote off $9.99 — debt now $11.98.")
    assert at.selectbox(key="write_off_page_disputed").value is None
    assert at.text_input(key="write_off_page_amount").value == ""
    assert "write_off_page_purchase" not in at.session_state  # a write-off names a disputed purchase only
    history = at.dataframe[-1].value
    assert list(history["Why"])[0] == "Not delivered" and list(history["Purchase"])[0] == pack
    table, events = WriteOff.__table__, AuditEvent.__table__
    with book.engine.connect() as conn:
        row = conn.execute(select(table).order_by(table.c.id.desc())).first()
        event = conn.execute(
            select(events.c.actor, events.c.outcome, events.c.detail).where(
                events.c.subject == row.caller_reference
            )
        ).one()
    assert (row.reason_code, row.disputed_purchase_id) == ("not_delivered", pack)
    assert tuple(event) == (
        "sam",
        "Done",
        f"USD 9.99 · Not delivered · purchase {pack} · TransactionId {row.transaction_id}",
    )


# -- Settlements → Due now --------------------------------------------------------------------------------


def select_rows(at, *rows: int):
    """Select rows of the Due now table, as a click on their checkboxes does."""
    at.session_state["settlements_due"] = {"selection": {"rows": list(rows), "columns": []}}
    return at.run()


def test_due_now_says_why_each_is_due_and_the_policy_in_words(seeded, monkeypatch):
    monkeypatch.setenv("FPS_SETTLE_SHARE", "0.1")
    at = as_signed_in("fiona", "settlements")
    no_exceptions(at)
    due = at.dataframe[0].value
    assert list(due["Customer"]) == ["bob@buyers.example", "cleo@buyers.example"]
    assert list(due["Why due"]) == ["87% of the credit limit", "19% of the credit limit"]
    caption = " ".join(shown(at.caption))
    assert "debt at 10% of the credit limit or more, or owed for 30 days or more" in caption
    assert "FPS_" not in caption
    assert (
        at.button(key="settle_selected").disabled and at.button(key="settle_selected").proto.type == "primary"
    )


def test_due_now_settles_the_rows_selected_in_the_table(seeded, book, monkeypatch):
    monkeypatch.setenv("FPS_SETTLE_SHARE", "0.1")  # both debts are due at 10% of the limit
    at = select_rows(as_signed_in("fiona", "settlements"), 1)
    assert at.button(key="settle_selected").label == "Settle selected (1)"
    at.button(key="settle_selected").click().run()
    said = "\n".join(shown(at.markdown))
    assert "#### Settle 1 instrument" in said and "**1 customer**, one charge each, **$4.99**" in said
    assert list(at.dataframe[-1].value["Debt"]) == ["$4.99"]  # the dialog's rows, with their currency
    at.button(key="fps_confirm").click().run()
    no_exceptions(at)
    assert shown(at.success) == ["Settled 1 of 1 instrument: $4.99 charged, $0.30 in fees."]
    results = at.dataframe[0].value
    assert list(results["Customer"]) == ["cleo@buyers.example"] and list(results["Result"]) == ["Success"]
    assert [str(a) for a in results["Amount"]] == ["4.99"] and [str(f) for f in results["Fee"]] == ["0.30"]
    assert list(results["Instrument"]) == [f"./instrument?instrument={seeded.owing}"]
    assert list(results["Record"])[0].startswith("./record?caller_reference=settle-")
    assert balance(book, seeded.owing) == 0 and balance(book, seeded.due) == 2197
    # the selection is gone with the settled row: nothing is selected in the new list
    assert at.button(key="settle_selected").disabled
    assert list(at.dataframe[1].value["Customer"]) == ["bob@buyers.example"]
