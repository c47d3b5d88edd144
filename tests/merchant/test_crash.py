"""Crash test of the merchant side: `fpscore settle --due` and a purchase loop killed with SIGKILL at
random points, CYCLES times each, on SQLite and on PostgreSQL. After each kill, recovery must leave no
movement in flight, reconciliation must find no difference, the processor's ledger must prove, no order
may stay open, and no CallerReference may have been charged twice.

The processor runs embedded in the killed process (the default deployment), so a kill can land anywhere:
before the request, inside the processor's transaction, between its commit and the merchant's record of
the answer (the case that left books wrong for good), or after.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from journeys import FINANCE, STOREFRONT, open_postpaid, open_prepaid
from sqlalchemy import func, select

from fpscore.errors import FpsError
from fpscore.merchant import flows, recovery
from fpscore.merchant.connect import connect
from fpscore.merchant.movements import KINDS
from fpscore.merchant.reconcile import reconcile
from fpscore.merchant.schema import ApiCall, MerchantInstrument, Order
from fpscore.merchant.settlement import SettlementPolicy, settle_due
from fpscore.money import Amount
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import Transaction

CYCLES = 10
BUYER = Path(__file__).with_name("crash_buyer.py")
_instruments = MerchantInstrument.__table__
_transactions = Transaction.__table__


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crash_settings(request, settings):
    return settings if request.param == "sqlite" else request.getfixturevalue("postgres_settings")


@pytest.fixture
def merchant_at(crash_settings):
    merchant = connect(crash_settings)
    merchant.client.backoff_s = 0.0
    yield merchant
    merchant.close()


def child_env(settings):
    return {
        **os.environ,
        "FPS_DATA_DIR": str(settings.data_dir),
        "FPS_DATABASE_URL": settings.database_url,
        "FPS_PROCESSOR_DATABASE_URL": settings.processor_database_url,
        "FPS_ACCESS_KEY_ID": settings.access_key_id,
        "FPS_SECRET_ACCESS_KEY": settings.secret_access_key,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }


def kill(process: subprocess.Popen) -> bool:
    """SIGKILL (no clean-up of any kind); whether the process was still running."""
    running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return running


def heal_and_check(merchant) -> int:
    """Recover (the killed process is gone, so every movement without an answer is resent), then prove
    the books; how many movements the kill had left in flight."""
    left = sum(count.requested for count in recovery.in_flight(merchant))
    report = recovery.recover(merchant, FINANCE, everything=True)
    assert (report.unanswered, report.mismatched) == ([], [])
    assert recovery.in_flight(merchant) == []
    assert reconcile(merchant, FINANCE) == []
    assert check_ledger(merchant.processor_engine) == []
    with merchant.processor_engine.connect() as conn:
        made = Counter(
            conn.execute(select(_transactions.c.operation, _transactions.c.caller_reference)).all()
        )
    with merchant.engine.connect() as conn:
        asked = Counter(
            (kind.operation, reference)
            for kind in KINDS
            for (reference,) in conn.execute(
                select(kind.table.c.caller_reference).where(kind.table.c.status == "Success")
            )
        )
        orders = conn.execute(
            select(Order.__table__.c.status, func.count()).group_by(Order.__table__.c.status)
        ).all()
    assert made == asked  # each movement the merchant asked for made once, and nothing it did not ask for
    assert "Open" not in dict(orders)  # every order followed its payment
    return left


def debt(merchant, instrument_id) -> int:
    with merchant.engine.connect() as conn:
        return conn.execute(
            select(_instruments.c.balance_cents).where(_instruments.c.id == instrument_id)
        ).scalar_one()


def test_settle_due_killed_at_random_points(merchant_at, crash_settings, tmp_path):
    merchant, rng, log = merchant_at, random.Random(9), tmp_path / "child.log"
    due = [open_postpaid(merchant, f"due{n}@buyers.example") for n in range(8)]
    in_flight = 0
    for _ in range(CYCLES):
        for instrument_id in due:  # at least 80% of the 25.00 limit: due under the policy
            while (owed := debt(merchant, instrument_id)) < 2000:
                flows.purchase(merchant, STOREFRONT, instrument_id, "Gems", Amount(min(699, 2500 - owed)))
        with merchant.engine.connect() as conn:
            calls = conn.execute(select(func.max(ApiCall.__table__.c.id))).scalar_one()
        process = subprocess.Popen(
            [sys.executable, "-m", "fpscore.cli", "settle", "--due"],
            env=child_env(crash_settings), stdout=subprocess.DEVNULL, stderr=log.open("wb"),
        )  # fmt: skip
        while process.poll() is None:  # wait until it talks to the processor, then kill at random
            with merchant.engine.connect() as conn:
                if conn.execute(select(func.max(ApiCall.__table__.c.id))).scalar_one() != calls:
                    break
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.25))
        kill(process)
        assert process.returncode == -signal.SIGKILL or process.returncode == 0, log.read_text()
        in_flight += heal_and_check(merchant)
        # the rerun the crash used to break: every instrument still due settles, none refused
        results = settle_due(merchant, FINANCE, SettlementPolicy())
        assert all(result.error is None for result in results), results
        assert all(debt(merchant, instrument_id) == 0 for instrument_id in due)
    assert reconcile(merchant, FINANCE) == []
    print(f"settle --due: {CYCLES} kills, {in_flight} movements left in flight, all recovered")


def test_purchase_loop_killed_at_random_points(merchant_at, crash_settings, tmp_path):
    merchant, rng, log = merchant_at, random.Random(11), tmp_path / "child.log"
    prepaid = [open_prepaid(merchant, f"pre{n}@buyers.example", fund="20.00") for n in range(2)]
    postpaid = [open_postpaid(merchant, f"post{n}@buyers.example") for n in range(2)]
    in_flight = 0
    for _ in range(CYCLES):
        for instrument_id in prepaid:
            if debt(merchant, instrument_id) < 1000:
                flows.fund(merchant, FINANCE, instrument_id, Amount(2500 - debt(merchant, instrument_id)))
        for instrument_id in postpaid:
            if debt(merchant, instrument_id) > 1500:
                flows.settle(merchant, FINANCE, instrument_id)
        process = subprocess.Popen(
            [sys.executable, str(BUYER), *prepaid, *postpaid],
            env=child_env(crash_settings), stdout=subprocess.PIPE, stderr=log.open("wb"),
        )  # fmt: skip
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready", log.read_text()
        time.sleep(rng.uniform(0, 0.3))
        assert kill(process), "the purchase loop runs until it is killed"
        in_flight += heal_and_check(merchant)
    try:  # the instruments still work after all that
        flows.purchase(merchant, STOREFRONT, prepaid[0], "Song", Amount(99))
    except FpsError as error:
        pytest.fail(f"a purchase after the crashes was refused: {error}")
    print(f"purchase loop: {CYCLES} kills, {in_flight} movements left in flight, all recovered")
