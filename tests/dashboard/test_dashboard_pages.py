"""Settlements, Write-offs, Audit, Health and Staff: each page's action done and refused, its history, and
what it says when there is nothing to show. And the role checks in fpscore itself, which hold whatever the
UI shows."""

from __future__ import annotations

import pytest
from dashapp import as_signed_in, no_exceptions, page_view, shown, sign_in
from sqlalchemy import select

from dashboard import actions
from fpscore.db import utcnow
from fpscore.merchant import flows, settlement, staff
from fpscore.merchant.roles import Actor, Forbidden, Permission
from fpscore.merchant.schema import AuditEvent, FeeDay, Funding, MerchantInstrument, Staff
from fpscore.merchant.settlement import settle_many
from fpscore.money import Amount

ANALYST = Actor.staff("ana", "analyst")
SUPPORT = Actor.staff("sam", "support")
FINANCE = Actor.staff("fiona", "finance")
ADMIN = Actor.staff("ada", "admin")


def balance(book, instrument_id: str) -> int:
    table = MerchantInstrument.__table__
    with book.engine.connect() as conn:
        return conn.execute(select(table.c.balance_cents).where(table.c.id == instrument_id)).scalar_one()


def refusals(book) -> list[tuple[str, str]]:
    table = AuditEvent.__table__
    with book.engine.connect() as conn:
        rows = conn.execute(select(table.c.actor, table.c.action).where(table.c.outcome == "Refused")).all()
    return [tuple(row) for row in rows]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# -- Settlements ----------------------------------------------------------------------------------------


def test_settlements_lists_what_is_due_and_settles_it_all(seeded, book):
    at = as_signed_in("fiona", "settlements")
    no_exceptions(at)
    assert metrics(at)["Due instruments"] == "1"
    assert metrics(at)["Debt due (book)"] == "$21.97"
    at.button(key="settle_all").click().run()
    assert "#### Settle 1 instrument" in shown(at.markdown)
    at.button(key="fps_confirm").click().run()
    no_exceptions(at)
    assert shown(at.success) == ["Settled 1 of 1 instrument: $21.97 charged, $0.94 in fees."]
    results = at.dataframe[0].value
    assert list(results["Customer"]) == ["bob@buyers.example"] and list(results["Result"]) == ["Success"]
    assert balance(book, seeded.due) == 0
    assert any(text.startswith("Nothing is due under the policy") for text in shown(at.info))
    assert metrics(at)["Settled successfully (this filter)"] == "$24.47"  # 21.97 now + 2.50 before


def test_settlements_settles_only_the_selected(seeded, book, monkeypatch):
    monkeypatch.setenv("FPS_SETTLE_SHARE", "0.1")  # both debts are due at 10% of the limit
    at = as_signed_in("fiona", "settlements")
    assert metrics(at)["Due instruments"] == "2"
    at.session_state["settlements_due"] = {"selection": {"rows": [1], "columns": []}}  # cleo's row
    at.run().button(key="settle_selected").click().run()
    at.button(key="fps_confirm").click().run()
    assert shown(at.success) == ["Settled 1 of 1 instrument: $4.99 charged, $0.30 in fees."]
    assert balance(book, seeded.owing) == 0 and balance(book, seeded.due) == 2197


def test_settlements_lists_the_largest_when_more_are_due(seeded, book, monkeypatch):
    monkeypatch.setenv("FPS_SETTLE_SHARE", "0.1")  # both debts are due at 10% of the limit...
    monkeypatch.setattr(settlement, "MAX_DUE", 1)  # ...and the page lists one at a time
    at = as_signed_in("fiona", "settlements")
    no_exceptions(at)
    figures = metrics(at)
    assert (figures["Due instruments"], figures["Debt due (book)"]) == ("2", "$26.96")  # 21.97 + 4.99: all
    assert figures["Fees on the listed, about"] == "$0.94"  # 21.97 -> 63.713 + 30 = 94
    assert any(text.startswith("Listing the 1 largest debts of the 2 due.") for text in shown(at.info))
    assert len(at.dataframe[0].value) == 1 and at.button(key="settle_all").label == "Settle the 1 listed"
    at.button(key="settle_all").click().run()
    at.button(key="fps_confirm").click().run()
    assert shown(at.success)[0].startswith("Settled 1 of 1 instrument: $21.97 charged")
    assert balance(book, seeded.due) == 0 and balance(book, seeded.owing) == 499
    assert metrics(at)["Due instruments"] == "1" and at.button(key="settle_all").label == "Settle all 1 due"


def test_settlements_history_filters(seeded):
    at = as_signed_in("fiona", "settlements")
    history = at.dataframe[-1].value
    assert list(history["By"]) == ["settle-due"]
    at.text_input(key="settlements_search").input("nobody").run()
    assert any(text.startswith("No settlement matches.") for text in shown(at.info))


def test_settlements_empty_book(empty_book):
    at = as_signed_in("fiona", "settlements")
    no_exceptions(at)
    assert any(text.startswith("Nothing is due under the policy") for text in shown(at.info))
    assert any(text.startswith("No settlement matches.") for text in shown(at.info))


# -- Write-offs ------------------------------------------------------------------------------------------


def test_write_offs_find_write_off_and_show_who_and_why(seeded, book):
    at = as_signed_in("sam", "write_offs")
    no_exceptions(at)
    assert any(text.startswith("Search for the customer") for text in shown(at.info))
    at.text_input(key="write_off_search").input("bob").run()
    at.text_input(key="write_off_page_amount").input("2.00")
    at.selectbox(key="write_off_page_code").select("other")
    at.text_area(key="write_off_page_note").input("double charge")
    at.button(key="FormSubmitter:write_off_form-Review write-off").click().run()
    assert "**Debt after:** $19.97" in "\n".join(shown(at.markdown))
    at.button(key="fps_confirm").click().run()
    no_exceptions(at)
    assert shown(at.success)[0].startswith("Wrote off $2.00 — debt now $19.97.")
    assert balance(book, seeded.due) == 1997
    history = at.dataframe[-1].value
    assert list(history["Why"])[0] == "double charge" and list(history["By"])[0] == "sam"
    assert metrics(at)["Written off (this filter)"] == "$2.50"


def test_write_offs_needs_a_reason_and_debt(seeded, book):
    at = as_signed_in("sam", "write_offs")
    at.text_input(key="write_off_search").input("bob").run()
    at.text_input(key="write_off_page_amount").input("2.00")
    at.button(key="FormSubmitter:write_off_form-Review write-off").click().run()
    assert "**Not done.** choose a reason: one of Not delivered, Goodwill, Uncollectable, Other" in shown(
        at.error
    )
    at.text_input(key="write_off_search").input("ada@").run()  # prepaid: no debt to write off
    assert any(text.startswith("No postpaid instrument with debt matches.") for text in shown(at.info))


def test_write_offs_deep_link_preselects_the_instrument(seeded):
    at = as_signed_in("sam", "write_offs", instrument=seeded.owing)
    assert at.selectbox(key="write_off_instrument").value == seeded.owing


# -- Audit -----------------------------------------------------------------------------------------------


def test_audit_searches_calls_and_opens_a_record(seeded):
    at = as_signed_in("theo", "audit")
    no_exceptions(at)
    calls = at.dataframe[0].value
    assert "SettleDebt" in set(calls["Action"])
    at.selectbox(key="audit_action").select("SettleDebt").run()
    assert list(at.dataframe[0].value["Action"]) == ["SettleDebt"]
    at.text_input(key="audit_lookup_id").input(seeded.request_id)
    at.button(key="FormSubmitter:audit_lookup-Open").click().run()
    no_exceptions(at)
    assert at.query_params == {"request_id": seeded.request_id}
    assert metrics(at)["Outcome"] == "Success"
    assert any(
        text.startswith("**Settlement ") and "asked by **settle-due**" in text for text in shown(at.markdown)
    )
    assert [e.label for e in at.expander][0].startswith("Attempt 1 · ")
    at.button(key="audit_back").click().run()
    assert not at.query_params


def test_audit_record_of_a_purchase_links_its_order(seeded, book):
    outcome = flows.purchase(book, Actor.job("storefront", *Permission), seeded.owing, "Skin", Amount(199))
    at = as_signed_in("theo", "audit", caller_reference=outcome.caller_reference)
    no_exceptions(at)
    assert any(text.startswith("**Order ") for text in shown(at.markdown))
    assert any(f"instrument={seeded.owing}" in text for text in shown(at.markdown))


def test_audit_unknown_ids_and_staff_events(seeded, book):
    at = as_signed_in("theo", "audit", request_id="no-such-request")
    assert shown(at.warning)[0].startswith("No FPS call with RequestId no-such-request is recorded.")
    with pytest.raises(Forbidden):
        flows.settle(book, ANALYST, seeded.due)
    at = as_signed_in("theo", "audit")
    events = at.dataframe[1].value
    refused = events[events["Outcome"] == "Refused"]
    assert list(refused["Who"]) == ["ana"] and list(refused["Did"]) == ["settle"]


def test_audit_empty_book(empty_book):
    at = as_signed_in("theo", "audit")
    no_exceptions(at)
    assert any(text.startswith("No FPS call has been made yet.") for text in shown(at.info))


# -- Health ----------------------------------------------------------------------------------------------


def test_health_runs_on_demand(seeded):
    at = as_signed_in("theo", "health")
    assert any(text.startswith("Nothing checked yet") for text in shown(at.info))
    assert shown(at.success) == ["Every movement has its answer recorded."]
    at.button(key="health_run").click().run()
    no_exceptions(at)
    assert shown(at.success)[1].startswith("The merchant's records and the processor agree")
    assert shown(at.success)[2].startswith("The daily fee rollup adds up to the records")
    assert shown(at.success)[3].startswith("Every transaction balances")


def test_health_shows_movements_in_flight_and_finance_resends_them(seeded, book):
    """A funding that got no answer (the flow gave up on it): Health counts it, a troubleshooter is told
    who can resend it, finance resends it after confirming (the processor makes it once) and the books
    agree again. One still waiting for its answer is counted but not offered."""
    values = {"instrument_id": seeded.prepaid, "amount_cents": 300, "currency": "USD", "fee_cents": 20}
    with book.engine.begin() as conn:
        row_id = flows._requested(
            conn, Actor.staff("fiona", "finance"), Funding.__table__, "fund-cut-off", values, utcnow()
        )
        conn.execute(
            Funding.__table__.update()
            .values(error_code="ServiceUnavailable")
            .where(Funding.__table__.c.id == row_id)
        )
        waiting = Actor.staff("fiona", "finance")
        flows._requested(conn, waiting, Funding.__table__, "fund-waiting", values, utcnow())
    at = as_signed_in("theo", "health")
    no_exceptions(at)
    [counts] = [frame.value for frame in at.dataframe if "Requested, no answer" in frame.value.columns]
    assert counts.to_dict("records") == [
        {
            "Operation": "FundPrepaid",
            "Requested, no answer": 2,
            "Of those, cut off": 1,
            "Pending at the processor": 0,
        }
    ]
    assert not [b for b in at.button if b.key == "health_recover"]
    assert any("Finance can resend them here" in text for text in shown(at.info))

    at = as_signed_in("fiona", "health")
    at.button(key="health_recover").click().run()
    assert "#### Resend the request cut off" in shown(at.markdown)  # the dialog, before anything moves
    at.button(key="fps_confirm").click().run()
    no_exceptions(at)
    assert shown(at.success)[0] == "Recorded 1 answer (1 Success)."
    with book.engine.connect() as conn:
        table = Funding.__table__
        statuses = dict(
            conn.execute(
                select(table.c.caller_reference, table.c.status).where(
                    table.c.caller_reference.in_(["fund-cut-off", "fund-waiting"])
                )
            ).all()
        )
    assert statuses == {"fund-cut-off": "Success", "fund-waiting": "Requested"}


def test_health_lists_differences(seeded, book):
    table = MerchantInstrument.__table__
    with book.engine.begin() as conn:  # the book drifts from the processor
        conn.execute(table.update().where(table.c.id == seeded.owing).values(balance_cents=123))
    at = as_signed_in("fiona", "health")
    at.button(key="health_run").click().run()
    no_exceptions(at)
    assert "differences (checked " in shown(at.error)[0]
    kinds = set(at.dataframe[0].value["Kind"])
    assert {"balance differs", "total differs"} <= kinds


def test_health_lists_fee_rollup_days_that_differ(seeded, book):
    with book.engine.begin() as conn:  # a day of the rollup drifts from its records
        conn.execute(FeeDay.__table__.update().values(purchases=FeeDay.__table__.c.purchases + 1))
    at = as_signed_in("theo", "health")
    at.button(key="health_run").click().run()
    no_exceptions(at)
    assert any(text.endswith("days of the fee rollup differ from their records.") for text in shown(at.error))
    [rollup] = [frame.value for frame in at.dataframe if "Rollup says" in frame.value.columns]
    assert len(rollup) > 0 and set(rollup["Kind"]) <= {"Prepaid", "Postpaid"}


def test_health_says_when_the_ledger_is_elsewhere(seeded, monkeypatch):
    at = as_signed_in("theo", "health")
    from dashboard import resources

    monkeypatch.setattr(resources.merchant(), "processor_engine", None)
    at.button(key="health_run").click().run()
    assert any(text.startswith("Not available here: the processor runs elsewhere") for text in shown(at.info))


# -- Staff -----------------------------------------------------------------------------------------------


def test_staff_lists_changes_roles_disables_and_resets(seeded, book):
    at = as_signed_in("ada", "staff")
    no_exceptions(at)
    assert list(at.dataframe[0].value["User"]) == ["ada", "ana", "fiona", "sam", "theo"]
    at.selectbox(key="staff_chosen").select("ana").run()
    at.selectbox(key="staff_role").select("troubleshooter").run()
    at.button(key="staff_change_role").click().run()
    assert "**Role:** analyst → **troubleshooter**" in "\n".join(shown(at.markdown))
    at.button(key="fps_confirm").click().run()
    assert shown(at.success) == ["ana is now troubleshooter."]
    at.button(key="staff_toggle").click().run()
    at.button(key="fps_confirm").click().run()
    assert shown(at.success)[0].startswith("ana is disabled")
    at.button(key="staff_toggle").click().run()
    at.button(key="fps_confirm").click().run()
    assert shown(at.success) == ["ana is enabled."]
    at.button(key="staff_reset").click().run()
    at.button(key="fps_confirm").click().run()
    password = shown(at.success)[0].split("`")[1]
    signed = page_view(sign_in("ana", password))
    assert shown(signed.title) == ["Instruments"]
    for page in ("audit", "health"):  # a troubleshooter's pages now
        signed.switch_page(f"../pages/{page}.py").run()
        no_exceptions(signed)


def test_staff_adds_an_account_and_refuses_a_short_password(seeded, book):
    at = as_signed_in("ada", "staff")
    at.text_input(key="staff_new_username").input("zoe")
    at.text_input(key="staff_new_password").input("short")
    at.button(key="FormSubmitter:staff_add-Add").click().run()
    assert shown(at.error) == ["**Not done.** passwords have at least 10 characters"]
    at.text_input(key="staff_new_username").input("zoe")
    at.text_input(key="staff_new_password").input("long enough password")
    at.selectbox(key="staff_new_role").select("support")
    at.button(key="FormSubmitter:staff_add-Add").click().run()
    assert shown(at.success) == ["zoe added as support."]
    assert "zoe" in list(at.dataframe[0].value["User"])


def test_staff_cannot_disable_themselves_or_the_last_admin(seeded, book):
    at = as_signed_in("ada", "staff")
    at.selectbox(key="staff_chosen").select("ada").run()
    assert at.button(key="staff_toggle").disabled
    with pytest.raises(ValueError, match="own account"):
        staff.set_disabled(book.engine, ADMIN, "ada", True)
    at.selectbox(key="staff_role").select("support").run()
    at.button(key="staff_change_role").click().run()
    at.button(key="fps_confirm").click().run()
    assert shown(at.error) == ["**Not done.** the last active admin keeps the admin role"]


def test_a_non_admin_bypassing_the_ui_is_refused(seeded, book):
    at = as_signed_in("sam", "write_offs")
    at.session_state[actions.PENDING_KEY] = actions.Pending(
        "change_role", "forged", (("what", "forged"),), {"username": "sam", "role": "admin"}, "write_offs"
    )
    at.run()
    at.button(key="fps_confirm").click().run()
    refused = "**Refused.** sam (support) may not manage staff — your role does not allow this."
    assert shown(at.error) == [refused]
    with book.engine.connect() as conn:
        table = Staff.__table__
        assert conn.execute(select(table.c.role).where(table.c.username == "sam")).scalar_one() == "support"
    assert ("sam", "change_role") in refusals(book)


# -- the role checks in fpscore, whatever the UI does ---------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "call", "permission"),
    [
        (ANALYST, lambda m, s, a: flows.settle(m, a, s.due), "settle"),
        (ANALYST, lambda m, s, a: flows.write_off(m, a, s.due, Amount(100), "x"), "write_off"),
        (ANALYST, lambda m, s, a: flows.refund_purchase(m, a, s.refundable_purchase_id, "x"), "refund"),
        (ANALYST, lambda m, s, a: flows.cancel_token(m, a, s.owing, "x"), "cancel_token"),
        (SUPPORT, lambda m, s, a: flows.settle(m, a, s.due), "settle"),
        (SUPPORT, lambda m, s, a: settle_many(m, a, [s.due]), "settle"),
        (FINANCE, lambda m, s, a: flows.write_off(m, a, s.due, Amount(100), "x"), "write_off"),
        (FINANCE, lambda m, s, a: staff.list_staff(m.engine, a), "list_staff"),
        (SUPPORT, lambda m, s, a: staff.reset_password(m.engine, a, "ada"), "reset_password"),
        (ANALYST, lambda m, s, a: staff.set_disabled(m.engine, a, "ada", True), "disable_staff"),
        (
            ANALYST,
            lambda m, s, a: staff.create_staff(m.engine, a, "x1", "admin", "long password!"),
            "add_staff",
        ),
    ],
)
def test_fpscore_refuses_and_records_whatever_the_ui(seeded, book, actor, call, permission):
    with pytest.raises(Forbidden):
        call(book, seeded, actor)
    assert (actor.name, permission) in refusals(book)
    assert balance(book, seeded.due) == 2197
