"""The book's pages: Instruments (filters, totals, paging, empty states) and Instrument (live balance,
history with running balance, and each action: proposed, confirmed in the dialog, done; or refused)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dashdata
import pytest
from dashapp import as_signed_in, no_exceptions, shown
from sqlalchemy import select

from dashboard import actions, components
from fpscore.merchant.schema import AuditEvent, MerchantInstrument, Refund, WriteOff
from fpscore.money import Amount


def book_balance(book, instrument_id: str) -> int:
    table = MerchantInstrument.__table__
    with book.engine.connect() as conn:
        return conn.execute(select(table.c.balance_cents).where(table.c.id == instrument_id)).scalar_one()


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# -- Instruments ----------------------------------------------------------------------------------------


def test_instruments_lists_the_book_with_totals(seeded):
    at = as_signed_in("ana", "instruments")
    no_exceptions(at)
    assert metrics(at) == {"Instruments": "4", "Prepaid liability": "$11.51", "Outstanding debt": "$26.96"}
    frame = at.dataframe[0].value
    assert len(frame) == 4
    assert f"./instrument?instrument={seeded.due}" in set(frame["Instrument"])
    assert [b.key for b in at.get("download_button")] == ["instruments_csv"]


@pytest.mark.parametrize(
    ("widget", "value", "count", "debt"),
    [
        ("instruments_kind", "Postpaid", "3", "$26.96"),
        ("instruments_search", "BOB@", "1", "$21.97"),
        ("instruments_low", "5.00", "2", "$21.97"),
        ("instruments_used", (80, 100), "1", "$21.97"),
    ],
)
def test_instruments_filters_in_sql(seeded, widget, value, count, debt):
    at = as_signed_in("ana", "instruments")
    element = at.selectbox(key=widget) if widget == "instruments_kind" else None
    if widget == "instruments_kind":
        element.select(value)
    elif widget == "instruments_used":
        at.slider(key=widget).set_range(*value)
    else:
        at.text_input(key=widget).input(value)
    at.run()
    no_exceptions(at)
    assert metrics(at)["Instruments"] == count
    assert metrics(at)["Outstanding debt"] == debt
    assert len(at.dataframe[0].value) == int(count)


def test_instruments_says_what_to_do_when_nothing_matches(seeded):
    at = as_signed_in("ana", "instruments")
    at.text_input(key="instruments_search").input("nobody-like-this").run()
    assert shown(at.info) == ["No instrument matches these filters. Widen them, or clear the search."]
    assert not at.dataframe


def test_instruments_empty_book(empty_book):
    at = as_signed_in("ana", "instruments")
    no_exceptions(at)
    assert any("No instruments yet" in text for text in shown(at.info))
    assert metrics(at)["Instruments"] == "0"


def test_instruments_bad_amount_is_shown_as_its_fps_error(seeded):
    at = as_signed_in("ana", "instruments")
    at.text_input(key="instruments_low").input("1.005").run()
    no_exceptions(at)
    assert shown(at.error) == ["**InvalidParams**: Balance from 1.005 has more than 2 decimal places"]


# -- Instrument: reading --------------------------------------------------------------------------------


def test_instrument_shows_live_balance_history_and_running_balance(seeded):
    at = as_signed_in("ana", "instrument", instrument=seeded.prepaid)
    no_exceptions(at)
    assert shown(at.title) == ["ada · Prepaid"]
    figures = metrics(at)
    assert figures["Balance (live)"] == "$11.51"
    assert figures["Book"] == "$11.51"
    assert figures["Funding limit"] == "$50.00"
    assert any(text.startswith("Asked the processor at ") for text in shown(at.caption))
    history = at.dataframe[0].value
    assert list(history["What"]) == ["Purchase", "Purchase", "Funding"]
    assert [str(v) for v in history["After"]] == ["11.51", "19.01", "20.00"]
    assert "Your role (analyst) can look here but not act." in shown(at.caption)
    tokens = next(text for text in shown(at.markdown) if "Sender token" in text)
    assert "••••" in tokens and seeded.prepaid in tokens


def test_instrument_without_an_id_or_with_an_unknown_one(seeded):
    at = as_signed_in("ana", "instrument")
    assert shown(at.info) == ["Open an instrument from the Instruments page, or paste its id above."]
    at = as_signed_in("ana", "instrument", instrument="NOSUCHINSTRUMENT")
    no_exceptions(at)
    assert shown(at.warning) == [
        "The merchant has no instrument NOSUCHINSTRUMENT. Check the id, or find it on the Instruments page."
    ]


def test_instrument_with_no_movements_yet(seeded, book):
    fresh = dashdata.open_postpaid(book, "eve@buyers.example")
    at = as_signed_in("fiona", "instrument", instrument=fresh)
    no_exceptions(at)
    assert any("No money has moved" in text for text in shown(at.info))


def test_tabs_follow_the_role(seeded):
    assert [t.label for t in as_signed_in("fiona", "instrument", instrument=seeded.due).tabs] == ["Settle"]
    assert [t.label for t in as_signed_in("sam", "instrument", instrument=seeded.due).tabs] == [
        "Write off",
        "Refund a purchase",
        "Cancel token",
    ]
    assert [t.label for t in as_signed_in("sam", "instrument", instrument=seeded.prepaid).tabs] == [
        "Refund a purchase",
        "Cancel token",
    ]


# -- Instrument: actions --------------------------------------------------------------------------------


def confirm(at):
    dialog_text = "\n".join(shown(at.markdown))
    at.button(key="fps_confirm").click().run()
    no_exceptions(at)
    return dialog_text


def test_finance_settles_after_seeing_what_will_move(seeded, book):
    at = as_signed_in("fiona", "instrument", instrument=seeded.due)
    at.button(key="FormSubmitter:instrument_settle-Review settlement").click().run()
    no_exceptions(at)
    dialog = confirm(at)
    assert "#### Settle $21.97 of bob@buyers.example's debt" in dialog
    assert "**Debt after:** $0.00" in dialog and "**Processor fee:** $0.94" in dialog
    assert shown(at.success)[0].startswith("Settled $21.97 (fee $0.94) — debt now $0.00.")
    assert book_balance(book, seeded.due) == 0
    assert metrics(at)["Debt (live)"] == "$0.00"


def test_support_writes_off_part_of_a_debt(seeded, book):
    at = as_signed_in("sam", "instrument", instrument=seeded.due)
    at.text_input(key="write_off_amount").input("1.97")
    at.selectbox(key="write_off_code").select("not_delivered")
    at.text_area(key="write_off_note").input("late delivery")
    at.button(key="FormSubmitter:instrument_write_off-Review write-off").click().run()
    assert shown(at.warning) == ["A write-off cannot be undone."]
    dialog = confirm(at)
    assert "**Debt after:** $20.00" in dialog and "**Reason:** Not delivered: late delivery" in dialog
    assert shown(at.success)[0].startswith("Wrote off $1.97 — debt now $20.00.")
    assert book_balance(book, seeded.due) == 2000


@pytest.mark.parametrize(
    ("amount", "reason", "error"),
    [
        ("1.00", "", "**Not done.** a reason of “Other” needs a note saying what it is"),
        ("99.00", "too much", "**Not done.** write off between $0.01 and the debt, $21.97"),
        ("abc", "typo", "**InvalidParams**: Amount 'abc' is not a decimal amount"),
    ],
)
def test_a_write_off_that_cannot_be_is_not_proposed(seeded, book, amount, reason, error):
    at = as_signed_in("sam", "instrument", instrument=seeded.due)
    at.text_input(key="write_off_amount").input(amount)
    at.selectbox(key="write_off_code").select("other")
    at.text_area(key="write_off_note").input(reason)
    at.button(key="FormSubmitter:instrument_write_off-Review write-off").click().run()
    no_exceptions(at)
    assert error in shown(at.error)
    assert actions.PENDING_KEY not in at.session_state
    assert book_balance(book, seeded.due) == 2197


def test_support_refunds_a_purchase_to_the_prepaid_balance(seeded, book):
    at = as_signed_in("sam", "instrument", instrument=seeded.prepaid)
    at.selectbox(key="refund_purchase").select(seeded.refundable_purchase_id)
    at.selectbox(key="refund_code").select("other")
    at.text_area(key="refund_note").input("song would not play")
    at.button(key="FormSubmitter:instrument_refund-Review refund").click().run()
    dialog = confirm(at)
    assert "$0.99** to the prepaid balance" in dialog and "$11.51 → $12.50" in dialog
    assert shown(at.success)[0].startswith("Refunded $0.99 of “Song: Blue Monday” — balance now $12.50.")
    assert book_balance(book, seeded.prepaid) == 1250
    with book.engine.connect() as conn:
        assert conn.execute(select(Refund.__table__.c.reason)).scalar_one() == "song would not play"


def test_support_cancels_a_token(seeded, book):
    at = as_signed_in("sam", "instrument", instrument=seeded.owing)
    at.text_area(key="cancel_reason").input("customer asked")
    at.button(key="FormSubmitter:instrument_cancel-Review cancellation").click().run()
    dialog = confirm(at)
    assert "no further purchases" in dialog and "$4.99 (book) still has to be settled" in dialog
    assert shown(at.success)[0].startswith("Token cancelled")
    assert ":red-badge[Cancelled]" in shown(at.markdown)[0]
    assert "Cancel token" not in [t.label for t in at.tabs]


def test_cancel_in_the_dialog_moves_nothing(seeded, book):
    at = as_signed_in("fiona", "instrument", instrument=seeded.due)
    at.button(key="FormSubmitter:instrument_settle-Review settlement").click().run()
    at.button(key="fps_cancel").click().run()
    no_exceptions(at)
    assert actions.PENDING_KEY not in at.session_state
    assert "fps_confirm" not in [b.key for b in at.button]
    assert book_balance(book, seeded.due) == 2197


WRITE_OFF = {"currency": "USD", "code": "other", "note": "x", "disputed_purchase_id": None}


def forge(at, kind: str, params: dict, page: str = "instrument") -> None:
    """A pending action put straight into the session, as if the UI had been bypassed."""
    at.session_state[actions.PENDING_KEY] = actions.Pending(
        kind, "forged", (("what", "forged"),), params, page
    )


def test_an_analyst_who_bypasses_the_ui_is_refused_by_fpscore(seeded, book):
    at = as_signed_in("ana", "instrument", instrument=seeded.due)
    forge(at, "write_off", WRITE_OFF | {"instrument_id": seeded.due, "amount_cents": 500})
    at.run()
    at.button(key="fps_confirm").click().run()
    no_exceptions(at)
    refused = "**Refused.** ana (analyst) may not write off — your role does not allow this."
    assert shown(at.error) == [refused]
    assert book_balance(book, seeded.due) == 2197
    table = AuditEvent.__table__
    with book.engine.connect() as conn:
        refused = conn.execute(
            select(table.c.actor, table.c.action).where(table.c.outcome == "Refused")
        ).all()
        assert (
            conn.execute(
                select(WriteOff.__table__.c.id).where(WriteOff.__table__.c.amount_cents == 500)
            ).all()
            == []
        )
    assert ("ana", "write_off") in [tuple(row) for row in refused]


def test_an_fps_error_is_shown_as_code_and_message(seeded, book):
    at = as_signed_in("sam", "instrument", instrument=seeded.owing)
    # more than the debt: the merchant's form would refuse it; the processor refuses it too
    forge(
        at,
        "write_off",
        WRITE_OFF | {"instrument_id": seeded.owing, "amount_cents": 5000},
    )
    at.run()
    at.button(key="fps_confirm").click().run()
    no_exceptions(at)
    (error,) = shown(at.error)
    code, _, message = error.partition(": ")
    assert code and " " not in code and message, error
    assert "Traceback" not in error
    assert book_balance(book, seeded.owing) == 499


def test_csv_keeps_money_exact_and_times_in_utc():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    text = components.to_csv([{"amount": Amount(1999), "at": when, "note": "a, b"}])
    assert text.splitlines() == ["amount,at,note", '19.99,2026-01-02T01:04:05+00:00,"a, b"']
    assert components.to_csv([]) == ""
