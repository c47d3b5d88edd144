"""The merchant's jobs: reconcile, settle --due, and status after the fact (IPN and GetTransactionStatus)."""

from __future__ import annotations

import threading
import time
from wsgiref.simple_server import make_server

import pytest
from journeys import FINANCE, STOREFRONT, open_postpaid, open_prepaid
from sqlalchemy import select, update

from fpscore.cli import main
from fpscore.merchant import flows, settlement
from fpscore.merchant import reconcile as reconcile_module
from fpscore.merchant.connect import connect
from fpscore.merchant.notifications import apply_notification, ipn_app
from fpscore.merchant.reconcile import reconcile
from fpscore.merchant.recovery import follow_up_pending
from fpscore.merchant.schema import FeeDay, Funding, MerchantInstrument, Purchase, Settlement
from fpscore.merchant.settlement import SettlementPolicy
from fpscore.money import Amount
from fpscore.processor.ipn import IpnNotification
from fpscore.processor.keys import SigningKeys, certificate_path

_purchases = Purchase.__table__
_instruments = MerchantInstrument.__table__


def traffic(merchant):
    prepaid = open_prepaid(merchant, "ada@buyers.example", fund="10.00")
    postpaid = open_postpaid(merchant, "bob@buyers.example")
    song = flows.purchase(merchant, STOREFRONT, prepaid, "Song", Amount.parse("0.99"))
    flows.purchase(merchant, STOREFRONT, postpaid, "Sword", Amount.parse("4.99"))
    return prepaid, postpaid, song


def test_reconcile_clean_then_planted_differences(merchant, cli_env, capsys):
    prepaid, _postpaid, song = traffic(merchant)
    assert reconcile(merchant, FINANCE) == []
    assert main(["reconcile"]) == 0

    with merchant.engine.begin() as conn:  # plant: a purchase recorded at the wrong amount...
        conn.execute(update(_purchases).where(_purchases.c.id == song.row_id).values(amount_cents=199))
        conn.execute(Funding.__table__.delete())  # ...and a funding the merchant lost
        conn.execute(update(_instruments).where(_instruments.c.id == prepaid).values(balance_cents=5))
    differences = reconcile(merchant, FINANCE)
    kinds = {difference.kind for difference in differences}
    assert kinds == {"transaction differs", "unknown to the merchant", "balance differs", "total differs"}
    assert any(d.subject == song.transaction_id for d in differences)
    capsys.readouterr()
    assert main(["reconcile"]) == 1
    out = capsys.readouterr().out
    assert song.transaction_id in out and "unknown to the merchant" in out
    # the funding's fee and the song's amount have gone from the records, not from the fee rollup
    assert "fee rollup differs" in out and "records: 1 purchases of 1.99" in out


def test_a_rollup_that_drifted_is_found_and_recounted(merchant, cli_env, capsys):
    traffic(merchant)
    with merchant.engine.begin() as conn:  # as if an old release had recorded a purchase without it
        conn.execute(FeeDay.__table__.delete())
    assert main(["reconcile"]) == 1
    assert "fee rollup differs" in capsys.readouterr().out
    assert main(["rebuild-rollup"]) == 0
    assert "0 differences" in capsys.readouterr().err
    assert main(["reconcile"]) == 0


def test_settle_due_goes_through_every_batch(merchant, cli_env, capsys, monkeypatch):
    monkeypatch.setattr(settlement, "MAX_DUE", 2)  # three due instruments: two batches
    due = [open_postpaid(merchant, f"due{n}@buyers.example") for n in range(3)]
    for n, instrument_id in enumerate(due):
        for _ in range(3):  # 3 x (6.99 + n x 0.50): at least 80% of 25.00, within the limit
            flows.purchase(merchant, STOREFRONT, instrument_id, "Gems", Amount(699 + n * 50))
    assert settlement.due_totals(merchant, SettlementPolicy()).instruments == 3
    assert main(["settle", "--due"]) == 0
    captured = capsys.readouterr()
    assert "3 settled, 0 failed" in captured.err
    assert [line.split("\t")[0] for line in captured.out.splitlines()] == due[::-1]  # largest debt first
    assert settlement.due_instruments(merchant, SettlementPolicy()) == []


def test_settle_due_tries_each_instrument_once(merchant, cli_env, capsys, monkeypatch):
    """Batches of one: a debt settled in part stays due and comes round again, and a refusal does not stop
    the run; each instrument is tried once, largest book debt first."""
    monkeypatch.setattr(settlement, "MAX_DUE", 1)
    owes, phantom, real = (
        open_postpaid(merchant, f"{name}@buyers.example") for name in ("owes", "ph", "real")
    )
    flows.purchase(merchant, STOREFRONT, owes, "Gems", Amount.parse("4.99"))
    for _ in range(3):
        flows.purchase(merchant, STOREFRONT, real, "Gems", Amount.parse("6.99"))
    with merchant.engine.begin() as conn:  # the book drifted: it says more than the processor
        table = MerchantInstrument.__table__
        conn.execute(update(table).where(table.c.id == owes).values(balance_cents=2499))  # 4.99 live
        conn.execute(update(table).where(table.c.id == phantom).values(balance_cents=2200))  # none live
    assert main(["settle", "--due"]) == 1
    captured = capsys.readouterr()
    lines = [line.split("\t") for line in captured.out.splitlines()]
    assert [line[0] for line in lines] == [owes, phantom, real]  # owes then still shows 20.00 due
    assert lines[1][1] == "there is no debt to settle" and "2 settled, 1 failed" in captured.err


def test_settle_due_from_the_command_line(merchant, cli_env, capsys):
    due = open_postpaid(merchant, "due@buyers.example", limit="25.00", per_purchase="10.00")
    for _ in range(3):
        flows.purchase(merchant, STOREFRONT, due, "Gems", Amount.parse("6.99"))  # 20.97 ≥ 80% of 25
    not_due = open_postpaid(merchant, "fresh@buyers.example")
    flows.purchase(merchant, STOREFRONT, not_due, "Gems", Amount.parse("0.99"))
    assert main(["settle", "--due"]) == 0
    captured = capsys.readouterr()
    assert due in captured.out and not_due not in captured.out
    assert "1 settled, 0 failed" in captured.err
    with merchant.engine.connect() as conn:
        settled = conn.execute(select(Settlement.__table__)).all()
    assert [(s.instrument_id, s.amount_cents, s.status) for s in settled] == [(due, 2097, "Success")]
    assert flows.refresh_balance(merchant, FINANCE, due).cents == 0


def signed_notification(merchant, params, url):
    key_id, key = SigningKeys(merchant.processor_engine).current()
    params = {**params, "signatureVersion": "2", "signatureMethod": "RSA-SHA1",
              "certificateUrl": f"http://fps.embedded{certificate_path(key_id)}"}  # fmt: skip
    params["signature"] = key.sign_outbound(params, method="POST", url_endpoint=url)
    return params


def test_ipn_completes_a_pending_purchase_once(merchant):
    prepaid, _postpaid, song = traffic(merchant)
    with merchant.engine.begin() as conn:  # as if the Pay had answered Pending
        conn.execute(update(_purchases).where(_purchases.c.id == song.row_id).values(status="Pending"))
        conn.execute(update(_instruments).where(_instruments.c.id == prepaid).values(balance_cents=1000))
    url = "https://shop.example/ipn"
    notice = signed_notification(
        merchant,
        {
            "notificationType": "TransactionStatus",
            "transactionId": song.transaction_id,
            "transactionStatus": "SUCCESS",
        },
        url,
    )
    assert "Success" in apply_notification(merchant, url, notice)
    apply_notification(merchant, url, notice)  # delivered twice: changes nothing more
    with merchant.engine.connect() as conn:
        assert (
            conn.execute(select(_purchases.c.status).where(_purchases.c.id == song.row_id)).scalar()
            == "Success"
        )
        balance = conn.execute(
            select(_instruments.c.balance_cents).where(_instruments.c.id == prepaid)
        ).scalar()
    assert balance == 901
    with pytest.raises(ValueError):
        apply_notification(merchant, url, {**notice, "transactionStatus": "FAILURE"})


def test_follow_up_pending_asks_the_processor(merchant):
    _prepaid, _postpaid, song = traffic(merchant)
    with merchant.engine.begin() as conn:
        conn.execute(update(_purchases).where(_purchases.c.id == song.row_id).values(status="Pending"))
    assert follow_up_pending(merchant, FINANCE) == 1
    with merchant.engine.connect() as conn:
        assert (
            conn.execute(select(_purchases.c.status).where(_purchases.c.id == song.row_id)).scalar()
            == "Success"
        )


def test_ipn_delivered_by_the_served_processor_to_the_listener(served_settings, processor):
    merchant = connect(served_settings)
    listener = make_server("127.0.0.1", 0, ipn_app(merchant))
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    listener_url = f"http://127.0.0.1:{listener.server_port}"
    try:
        caller_id = processor.caller_for_key(served_settings.access_key_id).caller_id
        processor.set_ipn_url(caller_id, listener_url + "/fps/ipn")
        instrument_id = open_prepaid(merchant, "ada@buyers.example", fund="5.00")
        flows.purchase(merchant, STOREFRONT, instrument_id, "Song", Amount.parse("0.99"))
        outbox = IpnNotification.__table__
        deadline = time.monotonic() + 20
        while True:
            with processor.engine.connect() as conn:
                rows = conn.execute(select(outbox.c.delivered_at, outbox.c.last_http_status)).all()
            if len(rows) == 2 and all(row.delivered_at for row in rows):
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.2)
        assert {row.last_http_status for row in rows} == {200}
    finally:
        listener.shutdown()
        merchant.close()


def test_reconcile_says_what_it_did_not_compare_when_it_stops_at_its_limits(merchant, monkeypatch):
    prepaid, postpaid, _song = traffic(merchant)
    monkeypatch.setattr(reconcile_module, "PAGE_SIZE", 1)
    monkeypatch.setattr(reconcile_module, "MAX_PAGES", 2)  # 2 of the 3 transactions
    monkeypatch.setattr(reconcile_module, "MAX_BALANCE_CHECKS", 1)  # 1 of the 2 instruments
    stopped = [d for d in reconcile(merchant, FINANCE) if d.kind == reconcile_module.STOPPED]
    assert [(d.subject, d.merchant) for d in stopped] == [
        ("account activity", "2 transactions read"),
        ("instrument balances", "the first 1 compared"),
    ]
    assert f"instruments after {min(prepaid, postpaid)} not asked" == stopped[1].processor
