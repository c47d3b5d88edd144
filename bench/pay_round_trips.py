"""The Pay on PostgreSQL in fewer round trips: the server-side function against psycopg's pipeline mode.

Three ways to make the same Pay (one payer, a funded prepaid instrument, the same database), in interleaved
rounds after a warm-up:

- core: `Processor.pay`, which on PostgreSQL is one call of `fps_pay` (processor migration 0007) between
  BEGIN and COMMIT: three round trips.
- pipeline: the floor's statements of bench/ledger.py sent in psycopg's pipeline mode, BEGIN included, with
  one sync; their results checked; then COMMIT: two round trips. Its best case: the token's accounts are
  known beforehand (a cache a real implementation would need, with CancelToken's invalidation) and the
  entries take their running balance by subquery, so no statement waits for another's result.
- floor: the same statements one round trip each (bench/ledger.py's floor), for scale.

    FPS_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/pay_round_trips.py [--pays N]
"""

from __future__ import annotations

import argparse
import hashlib
import sys

import ledger as bench  # bench/ledger.py, beside this file

from fpscore.money import Amount
from fpscore.processor import Processor
from fpscore.processor.invariants import check_ledger

ROUNDS = 6
BALANCE_AFTER = "(SELECT balance_cents FROM ledger_accounts WHERE id = %s)"
INSERT_ENTRY = (
    "INSERT INTO ledger_entries (transaction_id, account_id, amount_cents, balance_after_cents)"
    f" VALUES (%s, %s, %s, {BALANCE_AFTER})"
)


class PipelineFloor:
    """bench/ledger.py's floor statements in one pipeline per Pay (see the module's docstring), on the
    connection of a floor of the backend."""

    def __init__(self, floor: bench.PostgresFloor, lane: bench.Lane):
        self.conn, self.now, self.token_lock = floor.conn, floor.now, floor.token_lock
        row = self.conn.execute(bench._pg(bench.SELECT_TOKEN), (lane.token_id,)).fetchone()
        self.conn.rollback()
        assert row is not None and row[5] == "Prepaid"
        self.instrument_id, self.account_id, self.caller_account = row[4], row[7], row[15]

    def pay(self, lane: bench.Lane, cents: int) -> None:
        reference = lane.next_reference()
        digest = hashlib.sha256(f"Pay\n{lane.token_id}\n{cents}\n{reference}".encode()).hexdigest()
        transaction_id, now = bench._floor_transaction_id(), self.now()
        moves = sorted([
            (self.account_id, bench.MOVE_AT_LEAST_ZERO, (-cents, self.account_id, -cents)),
            (self.caller_account, bench.MOVE_UNGUARDED, (cents, self.caller_account)),
        ])  # fmt: skip
        with self.conn.pipeline():
            claim = self.conn.execute(
                bench._pg(bench.INSERT_REFERENCE),
                (lane.caller_id, "Pay", reference, digest, transaction_id, now),
            )
            token = self.conn.execute(bench._pg(bench.SELECT_TOKEN + self.token_lock), (lane.token_id,))
            self.conn.execute(
                bench._pg(bench.INSERT_TRANSACTION),
                (transaction_id, lane.caller_id, bench.SUCCESS_MESSAGE, cents, "USD", reference,
                 lane.token_id, self.instrument_id, "Prepaid", now, now),
            )  # fmt: skip
            moved = [self.conn.execute(bench._pg(sql), params) for _, sql, params in moves]
            for account_id, amount in ((self.account_id, cents), (self.caller_account, -cents)):
                self.conn.execute(INSERT_ENTRY, (transaction_id, account_id, amount, account_id))
        ok = claim.fetchone() is not None and token.fetchone() is not None
        if not ok or any(cursor.fetchone() is None for cursor in moved):
            self.conn.rollback()
            raise bench.FloorError("refused")
        self.conn.commit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pays", type=bench.parse_pays, default=1200, help="timed Pays per side (%(default)s)"
    )
    args = parser.parse_args(argv)
    url = bench.postgres_url()
    if url is None:
        parser.error("set FPS_BENCH_POSTGRES_URL or FPS_TEST_POSTGRES_URL")
    with bench.postgres_backend(url) as backend:
        processor = Processor(backend.engine)
        instruments = bench.Instruments(processor)
        per_lane = args.pays + 200
        lanes = {side: instruments.lane("prepaid", per_lane) for side in ("core", "pipeline", "floor")}
        pipeline = PipelineFloor(backend.floor(), lanes["pipeline"])
        floor = backend.floor()
        amount = Amount(bench.PAY_CENTS)

        def pay(side: str) -> None:
            lane = lanes[side]
            if side == "core":
                processor.pay(lane.caller_id, sender_token_id=lane.token_id, amount=amount,
                              caller_reference=lane.next_reference())  # fmt: skip
            else:
                (pipeline if side == "pipeline" else floor).pay(lane, bench.PAY_CENTS)

        sides = ("core", "pipeline", "floor")
        for side in sides:
            bench.run(lambda _i, side=side: pay(side), [100])
        walls = dict.fromkeys(sides, 0.0)
        cpus = dict.fromkeys(sides, 0.0)
        for round_number, share in enumerate(bench.split(args.pays, ROUNDS)):
            for side in sides if round_number % 2 == 0 else reversed(sides):
                timing = bench.run(lambda _i, side=side: pay(side), [share])
                walls[side] += timing.wall
                cpus[side] += timing.cpu
        print(f"PostgreSQL, one payer, {args.pays} Pays per side, {ROUNDS} interleaved rounds")
        print(f"{'side':<9} {'Pays/s':>7} {'over floor':>10} {'client CPU us/Pay':>17}")
        for side in sides:
            rate = args.pays / walls[side]
            over, cpu = walls["floor"] / walls[side], cpus[side] / args.pays * 1e6
            print(f"{side:<9} {rate:>7.0f} {over:>10.2f} {cpu:>17.0f}")
        problems = check_ledger(backend.engine)
        print(f"ledger invariants: {'hold' if not problems else problems}; {bench.limits(backend)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
