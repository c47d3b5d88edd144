"""`fpscore demo` through the CLI entry point: a small size, the staff accounts, api_calls with their
RequestIds, simulated history up to now on which both sides agree, no difference at reconciliation, a
second run that adds nothing; instruments left due for finance, and the summary's figure that of the Fees
saved page's default range."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, insert, select

from fpscore import cli
from fpscore.config import Settings
from fpscore.db import make_engine, migrate, utcnow
from fpscore.merchant import analytics, demo, settlement
from fpscore.merchant.connect import connect
from fpscore.merchant.schema import (
    ApiCall,
    AuditEvent,
    Customer,
    Funding,
    MerchantInstrument,
    Order,
    Purchase,
    Refund,
    Settlement,
    Staff,
    TokenReference,
    WriteOff,
)
from fpscore.merchant.settlement import SettlementPolicy
from fpscore.merchant.staff import sign_in
from fpscore.money import Amount
from fpscore.processor.schema import Transaction

TABLES = (Customer, Order, TokenReference, MerchantInstrument, Purchase, Funding, Settlement, WriteOff,
          Refund, ApiCall, Staff)  # fmt: skip


@pytest.fixture
def data_dir(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    for name in ("FPS_ENDPOINT", "FPS_DATABASE_URL", "FPS_PROCESSOR_DATABASE_URL", "FPS_ACCESS_KEY_ID",
                 "FPS_SECRET_ACCESS_KEY", "FPS_DEMO_PASSWORD", "FPS_FEE_SCHEDULE", "FPS_SETTLE_SHARE",
                 "FPS_SETTLE_AFTER_DAYS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FPS_DATA_DIR", str(tmp_path))
    return tmp_path


def counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {
            model.__tablename__: conn.execute(select(func.count()).select_from(model.__table__)).scalar_one()
            for model in TABLES
        }


def test_demo_runs_once_through_the_signed_path(data_dir, capsys):
    assert cli.main(["demo", "--customers", "6", "--days", "10"]) == 0
    out, err = capsys.readouterr()
    assert "demo traffic" in err  # the progress bar
    for role in ("finance", "support", "analyst", "troubleshooter", "admin"):
        assert f"staff account demo-{role} ({role}) created, password: demo-{role}-pass" in out
    assert "demo data added: 6 customers" in out and "saved" in out

    engine = make_engine(f"sqlite:///{data_dir / 'merchant.sqlite3'}")
    assert sign_in(engine, "demo-support", "demo-support-pass").role == "support"
    table = Purchase.__table__
    calls = ApiCall.__table__
    with engine.connect() as conn:
        purchases = conn.execute(select(table.c.status, table.c.created_at, table.c.transaction_id)).all()
        answered = conn.execute(
            select(calls.c.action, calls.c.request_id).where(calls.c.http_status.is_not(None))
        ).all()
        opened = conn.execute(select(func.count()).select_from(TokenReference.__table__)).scalar_one()
    assert len(purchases) > 20 and opened >= 6
    # Every answered FPS call carries the processor's RequestId.
    assert answered and all(request_id for _, request_id in answered)
    assert {"Pay", "FundPrepaid"} <= {action for action, _ in answered}
    # History: ten days up to now (today the tenth), on the demo's clock on both sides: the processor made
    # each payment between the merchant's asking for it and recording the answer.
    today = datetime.combine(utcnow().date(), time(0), tzinfo=UTC)
    assert all(today - timedelta(days=9) <= created <= utcnow() for _, created, _ in purchases)
    assert len({created.date() for _, created, _ in purchases}) >= 5
    assert all(transaction_id for status, _, transaction_id in purchases if status == "Success")
    with engine.connect() as conn:
        answered = conn.execute(
            select(table.c.transaction_id, table.c.created_at, table.c.completed_at).where(
                table.c.status == "Success"
            )
        ).all()
    processor = make_engine(f"sqlite:///{data_dir / 'processor.sqlite3'}")
    transactions = Transaction.__table__
    with processor.connect() as conn:
        made = dict(conn.execute(select(transactions.c.id, transactions.c.created_at)).all())
    processor.dispose()
    assert [r for r in answered if not r.created_at <= made[r.transaction_id] <= r.completed_at] == []

    assert cli.main(["reconcile"]) == 0
    assert "0 differences" in capsys.readouterr().err

    before = counts(engine)
    assert cli.main(["demo", "--customers", "6", "--days", "10", "--no-progress"]) == 0
    out, _ = capsys.readouterr()
    assert "already present, nothing added" in out and "password" not in out
    after = counts(engine)
    assert after == before
    assert cli.main(["reconcile"]) == 0
    engine.dispose()


def test_half_a_previous_run_is_refused(data_dir, capsys):
    engine = make_engine(f"sqlite:///{data_dir / 'merchant.sqlite3'}")
    migrate(engine, "merchant")
    with engine.begin() as conn:
        conn.execute(
            insert(Customer.__table__).values(
                email=f"ada.0000@{demo.DEMO_DOMAIN}", name="Ada", created_at=utcnow()
            )
        )
    assert cli.main(["demo", "--customers", "2", "--days", "2", "--no-progress"]) == 2
    assert "stopped half-way" in capsys.readouterr().err
    with engine.connect() as conn:
        events = AuditEvent.__table__
        assert conn.execute(select(events.c.id).where(events.c.action == demo.DEMO_MARKER)).first() is None
    engine.dispose()


def test_the_plan_is_deterministic_and_sizes_are_bounded(data_dir, monkeypatch):
    first = demo._plan_customers(random.Random(7), 30, 90)
    assert first == demo._plan_customers(random.Random(7), 30, 90)
    assert first != demo._plan_customers(random.Random(8), 30, 90)
    assert {"Prepaid", "Postpaid"} <= {kind for plan in first for kind in plan.kinds}
    assert cli.main(["demo", "--customers", "0"]) == 2
    monkeypatch.setenv("FPS_DEMO_PASSWORD", "short")
    assert cli.main(["demo", "--customers", "1", "--days", "1"]) == 2


def test_the_demo_leaves_instruments_due_and_sums_the_fees_saved_default_range(data_dir, monkeypatch, capsys):
    # A policy that a small history reaches: finance's end-of-day runs stop UNSETTLED_DAYS days before the
    # end, so debt older than 2 days, or at 20% of its limit, is due then.
    monkeypatch.setenv("FPS_SETTLE_SHARE", "0.2")
    monkeypatch.setenv("FPS_SETTLE_AFTER_DAYS", "2")
    assert demo.UNSETTLED_DAYS >= 2
    settings = Settings.from_env()
    summary = demo.run_demo(settings, customers=6, days=10, progress=False)
    out = capsys.readouterr().out
    merchant = connect(settings)
    try:
        policy = SettlementPolicy.of(settings)
        due = settlement.due_instruments(merchant, policy)
        assert due and summary.due.instruments == len(due)
        assert all(policy.why_due(d.debt, d.credit_limit, d.debt_since, merchant.clock()) for d in due)
        total = sum(item.debt.cents for item in due)
        assert f"Settlements, due now: {len(due)} postpaid instrument" in out and f"{Amount(total)}" in out
        # The figure printed is the Fees saved page's default range, which holds the whole history.
        today = utcnow().date()
        days = analytics.preset_range(analytics.DEFAULT_RANGE, today)
        shown = analytics.fee_totals(merchant.engine, days.start, days.end)
        assert summary.days == days and summary.fees == shown == analytics.fee_totals(merchant.engine)
        first, last = days.start, days.last
        assert f"Fees saved, last 90 days ({first} to {last}, UTC, the page's default): " in out
        assert f"saved {Amount(shown.saved_cents)} by aggregating" in out
        # Run again, it says the same.
        assert demo.run_demo(settings, customers=6, days=10, progress=False).fees == shown
    finally:
        merchant.close()
