"""Crash test of `fpscore serve`: the whole server (gunicorn's master and its workers) killed with SIGKILL
while batches of concurrent Pays are in flight, CYCLES times on each backend, with the default workers
and threads (`server.default_workers`, `server.default_threads`).

After each restart: every Pay answered Success exists with that TransactionId; every Pay left without an
answer (or answered with a retryable error), sent again with its CallerReference and parameters, yields
exactly one transaction; the ledger proves; each instrument's balance is what its Pays imply.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from fpshttp import BOTH_BACKENDS, SERVER_KEY, SERVER_SECRET, FpsClient, amount, database_url
from helpers import free_port, open_prepaid, usd
from sqlalchemy import Engine, select

from fpscore.processor import Processor
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import Transaction
from fpscore.processor.server import default_workers
from fpscore.wire import parse_error, parse_response

CYCLES = 3
LANES = 8  # concurrent clients, each paying from an instrument of its own
PRICE = "0.99"
FUNDS = "200.00"
_transactions = Transaction.__table__
_RUN = (
    "import sys; from fpscore.processor.server import run; "
    "run('127.0.0.1', int(sys.argv[1]), None, sys.argv[2])"
)


@contextmanager
def serving(engine: Engine, log_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`fpscore serve`'s `run` with its defaults in a process group of its own, until every worker
    serves: (base URL, master process). Killed with its workers when the block ends, if still running."""
    url, port = database_url(engine), free_port()
    env = {**os.environ, "FPS_ACCESS_KEY_ID": SERVER_KEY, "FPS_SECRET_ACCESS_KEY": SERVER_SECRET,
           "FPS_DATA_DIR": str(log_path.parent)}  # fmt: skip
    workers = default_workers(url)
    with log_path.open("ab") as log:
        start = log_path.stat().st_size
        process = subprocess.Popen([sys.executable, "-c", _RUN, str(port), url], env=env, stdout=log,
                                   stderr=log, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while log_path.read_bytes()[start:].count(b"Worker serving") < workers:
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", process
    finally:
        kill_all(process)


def kill_all(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the master and every worker at once: no clean-up of any kind."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


@dataclass
class Lane:
    token_id: str
    instrument_id: str
    prefix: str
    answered: dict[str, str] = field(default_factory=dict)  # CallerReference -> TransactionId
    unanswered: list[str] = field(default_factory=list)  # no answer, or a retryable error
    sent: int = 0

    def pay(self, fps: FpsClient, reference: str) -> str | None:
        """Send one Pay; its TransactionId, or None when it got no answer or a retryable error. Any
        other answer fails the test."""
        try:
            response = fps.call("Pay", SenderTokenId=self.token_id, CallerReference=reference,
                                **amount("TransactionAmount", PRICE))  # fmt: skip
        except requests.RequestException:
            return None
        if response.status_code == 200:
            _action, result, _request_id = parse_response(response.content)
            assert result is not None
            return result.findtext("TransactionId")
        error = parse_error(response.content)
        assert error.retriable, response.content
        return None


def pay_until_killed(lane: Lane, base_url: str, stop: threading.Event) -> None:
    fps = FpsClient(base_url, SERVER_KEY, SERVER_SECRET)
    while not stop.is_set():
        lane.sent += 1
        reference = f"{lane.prefix}-{lane.sent}"
        transaction_id = lane.pay(fps, reference)
        if transaction_id is None:
            lane.unanswered.append(reference)
            return
        lane.answered[reference] = transaction_id


@BOTH_BACKENDS
def test_serve_killed_with_pays_in_flight_loses_and_doubles_nothing(engine, buyer_id, tmp_path):
    log_path = tmp_path / "server.log"
    processor = Processor(engine)
    lanes: list[Lane] = []
    rng = random.Random(12)
    cut = 0  # Pays the kills left without an answer
    for _cycle in range(CYCLES):
        with serving(engine, log_path) as (base_url, process):
            if not lanes:
                caller_id = processor.caller_for_key(SERVER_KEY).caller_id
                for n in range(LANES):
                    setup = open_prepaid(processor, caller_id, buyer_id, limit=FUNDS, fund=FUNDS)
                    lanes.append(Lane(setup.sender_token_id, setup.instrument_id, f"crash-{n}"))
            resend_unanswered(lanes, base_url)
            check(engine, processor, caller_id, lanes)
            stop = threading.Event()
            threads = [threading.Thread(target=pay_until_killed, args=(n, base_url, stop)) for n in lanes]
            before = sum(len(lane.answered) for lane in lanes)
            for thread in threads:
                thread.start()
            while sum(len(lane.answered) for lane in lanes) < before + 2 * LANES:
                assert all(thread.is_alive() for thread in threads), log_path.read_text()[-3000:]
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.2))
            kill_all(process)
            stop.set()
            for thread in threads:
                thread.join(30)
            cut += sum(len(lane.unanswered) for lane in lanes)
    with serving(engine, log_path) as (base_url, _process):
        resend_unanswered(lanes, base_url)
    check(engine, processor, caller_id, lanes)
    assert cut > 0  # the kills did land with Pays in flight


def resend_unanswered(lanes: list[Lane], base_url: str) -> None:
    """Send what the last kill left unanswered again, with its CallerReference and parameters."""
    fps = FpsClient(base_url, SERVER_KEY, SERVER_SECRET)
    for lane in lanes:
        for reference in lane.unanswered:
            transaction_id = lane.pay(fps, reference)
            assert transaction_id is not None, f"{reference} still unanswered after the restart"
            lane.answered[reference] = transaction_id
        lane.unanswered.clear()


def check(engine: Engine, processor: Processor, caller_id: int, lanes: list[Lane]) -> None:
    """Every answered Pay exists with its TransactionId, no other Pay exists, the ledger proves, and each
    instrument holds its funds less its Pays."""
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(_transactions.c.caller_reference, _transactions.c.id).where(
                    _transactions.c.operation == "Pay"
                )
            ).all()
        )
    answered = {reference: tid for lane in lanes for reference, tid in lane.answered.items()}
    unanswered = {reference for lane in lanes for reference in lane.unanswered}
    assert {ref: stored[ref] for ref in answered} == answered  # every Success kept, with its TransactionId
    assert set(stored) - set(answered) <= unanswered  # no Pay that nobody sent
    assert check_ledger(engine) == []
    for lane in lanes:
        paid = sum(ref in stored for ref in (*lane.answered, *lane.unanswered))
        balance = processor.get_prepaid_balance(caller_id, lane.instrument_id).available
        assert balance.cents == usd(FUNDS).cents - paid * usd(PRICE).cents
