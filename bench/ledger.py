"""Ledger benchmark: Pays per second through the processor core, beside a floor measured in the same run.

The core is `Processor.pay` in-process (engine from `fpscore.db.make_engine`), against a funded prepaid
instrument and against a postpaid instrument with a large credit limit. The floor is the same database
work written directly with the same driver (sqlite3 or psycopg), per Pay in one database transaction:

    BEGIN (IMMEDIATE on SQLite)
    INSERT INTO caller_references ... ON CONFLICT DO NOTHING RETURNING caller_reference
    SELECT the sender token with its instrument, caller and buyer (the core's join; FOR NO KEY UPDATE
        OF tokens on PostgreSQL, as the core)
    INSERT INTO transactions ...
    UPDATE ledger_accounts SET balance_cents = balance_cents + ? WHERE id = ? [AND guard] RETURNING ...
        once per account, in ascending id order, with the core's guards (prepaid: the balance stays
        >= 0; credit: the debt stays between 0 and the credit limit; the caller's account: none)
    INSERT INTO ledger_entries ... (executemany, the two legs)
    COMMIT

Both run against one freshly migrated database per backend (a temp SQLite file with fpscore.db's
pragmas; a throwaway PostgreSQL schema, dropped at the end), each on instruments of its own, in
interleaved rounds after a warm-up. The ledger invariants are checked after the run.

    .venv/bin/python bench/ledger.py [--pays N] [--backend sqlite|postgres|all] [--threads 1[,8]]

PostgreSQL is measured when FPS_BENCH_POSTGRES_URL or FPS_TEST_POSTGRES_URL is set, e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import platform
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import Label

from fpscore.db import SQLITE_BUSY_TIMEOUT_MS, make_engine, migrate
from fpscore.money import Amount
from fpscore.processor import Processor
from fpscore.processor.actions import _TOKEN_QUERY
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import Transaction

DEFAULT_PAYS = 600  # timed Pays per figure and side: ~17 s with SQLite and PostgreSQL, ~7 s SQLite alone
MAX_PAYS = 200_000
MAX_THREADS = 32
ROUNDS = 5  # core and floor alternate, so drift (WAL growth, page cache, neighbours) hits both alike
PAY_CENTS = 100

# -- the floor's SQL (the core's statements, hand-written) ----------------------------------------------

INSERT_REFERENCE = (
    "INSERT INTO caller_references (caller_id, action, caller_reference, request_digest, transaction_id,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING caller_reference"
)
# The columns of the core's token query (actions._TOKEN_QUERY), in its order; checked at start.
TOKEN_COLUMNS = (
    "tokens.id tokens.role tokens.status tokens.caller_id instruments.id instruments.kind instruments.status"
    " instruments.account_id instruments.currency instruments.funding_limit_cents"
    " instruments.credit_limit_cents instruments.purchase_limit_cents instruments.payment_method"
    " instruments.valid_from instruments.expires_at callers.balance_account_id callers.bad_debt_account_id"
    " callers.ipn_url buyers.funding_account_id"
).split()
SELECT_TOKEN = (
    f"SELECT {', '.join(TOKEN_COLUMNS)}"
    " FROM tokens JOIN instruments ON instruments.id = tokens.instrument_id"
    " JOIN callers ON callers.id = instruments.caller_id JOIN buyers ON buyers.id = instruments.buyer_id"
    " WHERE tokens.id = ?"
)
INSERT_TRANSACTION = (
    "INSERT INTO transactions (id, caller_id, operation, status, status_code, status_message, amount_cents,"
    " currency, fee_cents, refunded_cents, caller_reference, caller_description, sender_description,"
    " sender_token_id, instrument_id, payment_method, created_at, completed_at)"
    " VALUES (?, ?, 'Pay', 'Success', 'Success', ?, ?, ?, 0, 0, ?, NULL, NULL, ?, ?, ?, ?, ?)"
)
MOVE = "UPDATE ledger_accounts SET balance_cents = balance_cents + ? WHERE id = ?"
MOVE_UNGUARDED = MOVE + " RETURNING balance_cents"
MOVE_AT_LEAST_ZERO = MOVE + " AND balance_cents + ? >= 0 RETURNING balance_cents"
MOVE_WITHIN_LIMIT = MOVE + " AND balance_cents + ? >= 0 AND balance_cents + ? <= ? RETURNING balance_cents"
INSERT_ENTRIES = (
    "INSERT INTO ledger_entries (transaction_id, account_id, amount_cents, balance_after_cents)"
    " VALUES (?, ?, ?, ?)"
)
SUCCESS_MESSAGE = "The transaction was successful and the payment instrument was charged."


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


def _floor_transaction_id() -> str:
    """35 upper-case alphanumerics, as the core's ids, without its per-character `secrets.choice`."""
    return base64.b32encode(os.urandom(22)).decode()[:35]


@dataclass
class Lane:
    """One instrument that one thread pays from, with its own CallerReference sequence."""

    caller_id: int
    token_id: str
    prefix: str
    sequence: int = 0

    def next_reference(self) -> str:
        self.sequence += 1
        return f"{self.prefix}-{self.sequence}"


class FloorError(Exception):
    pass


class Floor:
    """The Pay written directly with the driver; subclasses open the connection and run the statements."""

    def pay(self, lane: Lane, cents: int) -> None:
        reference = lane.next_reference()
        digest = hashlib.sha256(f"Pay\n{lane.token_id}\n{cents}\n{reference}".encode()).hexdigest()
        transaction_id = _floor_transaction_id()
        now = self.now()
        with self.transaction() as execute:
            claim = (lane.caller_id, "Pay", reference, digest, transaction_id, now)
            if execute(INSERT_REFERENCE, claim) is None:
                raise FloorError(f"CallerReference {reference} taken")
            row = execute(SELECT_TOKEN + self.token_lock, (lane.token_id,))
            if row is None:
                raise FloorError("no such token")
            (_, role, token_status, token_caller_id, instrument_id, kind, instrument_status, account_id,
             currency, _, credit_limit, purchase_limit, _, valid_from, expires_at, caller_account,
             _, ipn_url, _) = row  # fmt: skip
            if token_caller_id != lane.caller_id or role not in ("PrepaidSender", "CreditSender"):
                raise FloorError("not a sender token of this caller")
            if token_status != "Active" or instrument_status != "Active":
                raise FloorError("token or instrument not active")
            if valid_from is not None or expires_at is not None or currency != "USD" or ipn_url is not None:
                raise FloorError("the bench's instruments are in USD, with no validity window and no IPN")
            if kind != "Prepaid" and cents > purchase_limit:
                raise FloorError("above the purchase limit")
            method = "Prepaid" if kind == "Prepaid" else "Debt"
            execute(
                INSERT_TRANSACTION,
                (transaction_id, lane.caller_id, SUCCESS_MESSAGE, cents, currency, reference,
                 lane.token_id, instrument_id, method, now, now),
            )  # fmt: skip
            if kind == "Prepaid":  # credit-normal: the Pay's debit lowers it
                moves = {account_id: (MOVE_AT_LEAST_ZERO, (-cents, account_id, -cents))}
            else:  # debit-normal: the debt grows, up to the credit limit
                moves = {account_id: (MOVE_WITHIN_LIMIT, (cents, account_id, cents, cents, credit_limit))}
            moves[caller_account] = (MOVE_UNGUARDED, (cents, caller_account))  # credit-normal, credited
            balances = {}
            for moved_id in sorted(moves):
                balance = execute(*moves[moved_id])
                if balance is None:
                    raise FloorError("insufficient balance")
                balances[moved_id] = balance[0]
            self.execute_many(
                INSERT_ENTRIES,
                [
                    (transaction_id, account_id, cents, balances[account_id]),
                    (transaction_id, caller_account, -cents, balances[caller_account]),
                ],
            )

    token_lock = ""

    def now(self) -> Any:
        raise NotImplementedError

    def transaction(self) -> Any:
        raise NotImplementedError

    def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SqliteFloor(Floor):
    def __init__(self, path: Path):
        # The pragmas and transaction mode of fpscore.db.make_engine.
        self.conn = sqlite3.connect(
            path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        self.cursor = self.conn.cursor()

    def now(self) -> str:
        # How SQLAlchemy stores a UtcDateTime on SQLite: naive UTC text with microseconds.
        return datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    @contextmanager
    def transaction(self) -> Iterator[Callable[..., Any]]:
        cursor = self.cursor

        def execute(sql: str, params: tuple[Any, ...]) -> Any:
            return cursor.execute(sql, params).fetchone()

        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield execute
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self.cursor.executemany(sql, rows)

    def close(self) -> None:
        self.conn.close()


class PostgresFloor(Floor):
    token_lock = " FOR NO KEY UPDATE OF tokens"  # as the core locks it against a concurrent CancelToken

    def __init__(self, conninfo: str, schema: str):
        self.conn = psycopg.connect(conninfo, options=f"-csearch_path={schema}")
        self.cursor = self.conn.cursor()

    def now(self) -> datetime:
        return datetime.now(UTC)

    @contextmanager
    def transaction(self) -> Iterator[Callable[..., Any]]:
        cursor = self.cursor

        def execute(sql: str, params: tuple[Any, ...]) -> Any:
            cursor.execute(_pg(sql), params)
            return cursor.fetchone() if cursor.description is not None else None

        try:  # psycopg opens the transaction on the first statement
            yield execute
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self.cursor.executemany(_pg(sql), rows)

    def close(self) -> None:
        self.conn.close()


# -- backends ---------------------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    engine: Engine
    new_floor: Callable[[], Floor]
    version: str
    drop: Callable[[], None] = lambda: None
    floors: list[Floor] = field(default_factory=list)

    def floor(self) -> Floor:
        floor = self.new_floor()
        self.floors.append(floor)
        return floor

    def close(self) -> None:
        for floor in self.floors:
            floor.close()
        self.engine.dispose()
        self.drop()


@contextmanager
def sqlite_backend() -> Iterator[Backend]:
    with tempfile.TemporaryDirectory(prefix="fps-bench-") as directory:
        path = Path(directory) / "processor.sqlite3"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine, "processor")
        backend = Backend("sqlite", engine, lambda: SqliteFloor(path), f"SQLite {sqlite3.sqlite_version}")
        try:
            yield backend
        finally:
            backend.close()


@contextmanager
def postgres_backend(url: str) -> Iterator[Backend]:
    schema = f"bench_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    try:
        engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
        migrate(engine, "processor")
    except BaseException:
        drop()
        raise
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    backend = Backend(
        "postgres", engine, lambda: PostgresFloor(conninfo, schema), f"PostgreSQL {version}", drop
    )
    try:
        yield backend
    finally:
        backend.close()


def check_floor_matches_core() -> None:
    """The floor's token SELECT must read what the core's does; a change in the core needs one here."""
    columns = [c.element if isinstance(c, Label) else c for c in _TOKEN_QUERY.selected_columns.values()]
    core = [f"{column.table.name}.{column.name}" for column in columns]
    if core != TOKEN_COLUMNS:
        raise SystemExit(
            "bench/ledger.py: the core's token query changed; update TOKEN_COLUMNS and Floor.pay\n"
            f"  core:  {core}\n  floor: {TOKEN_COLUMNS}"
        )


def postgres_url() -> str | None:
    return os.environ.get("FPS_BENCH_POSTGRES_URL") or os.environ.get("FPS_TEST_POSTGRES_URL") or None


# -- instruments -------------------------------------------------------------------------------------------


class Instruments:
    """Opens a funded prepaid or a postpaid instrument per lane, each for a buyer of its own."""

    def __init__(self, processor: Processor):
        self.processor = processor
        self.caller_id = processor.ensure_caller(
            "AKIDBENCH", "bench-secret", "Bench Shop", "shop@bench.example"
        )
        self.count = 0

    def lane(self, kind: str, pays: int) -> Lane:
        self.count += 1
        n = self.count
        p = self.processor
        buyer_id = p.find_or_create_buyer(f"buyer{n}@bench.example", f"Buyer {n}")
        needed = Amount(pays * PAY_CENTS)
        if kind == "prepaid":
            setup = p.setup_prepaid(
                self.caller_id,
                buyer_id,
                caller_reference_sender=f"sender-{n}",
                caller_reference_funding=f"funding-{n}",
                funding_limit=needed,
            )
            p.fund_prepaid(
                self.caller_id,
                sender_token_id=setup.funding_token_id or "",
                prepaid_instrument_id=setup.instrument_id,
                amount=needed,
                caller_reference=f"fund-{n}",
            )
        else:
            setup = p.setup_postpaid(
                self.caller_id,
                buyer_id,
                caller_reference_sender=f"sender-{n}",
                caller_reference_settlement=f"settlement-{n}",
                credit_limit=needed,
                global_amount_limit=Amount(PAY_CENTS),
            )
        return Lane(self.caller_id, setup.sender_token_id, f"pay-{n}")


# -- timing ------------------------------------------------------------------------------------------------


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0  # this process only: the client's CPU, not the PostgreSQL server's

    def __iadd__(self, other: Timing) -> Timing:
        return Timing(self.wall + other.wall, self.cpu + other.cpu)


def run(pay: Callable[[int], None], shares: list[int]) -> Timing:
    """Wall and CPU seconds for thread i to do shares[i] Pays (pay(i) does one); one thread runs inline."""
    if len(shares) == 1:
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(shares[0]):
            pay(0)
        return Timing(time.perf_counter() - start, time.process_time() - start_cpu)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(shares) + 1)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            for _ in range(shares[i]):
                pay(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(shares))]
    for thread in threads:
        thread.start()
    barrier.wait()
    start, start_cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    elapsed = Timing(time.perf_counter() - start, time.process_time() - start_cpu)
    if errors:
        raise errors[0]
    return elapsed


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass
class Figure:
    backend: str
    kind: str
    threads: int
    pays: int
    core: Timing
    floor: Timing
    warmup: int
    commits: int  # the core's group commits during its timed rounds

    @property
    def pays_per_commit(self) -> float:
        return self.pays / self.commits

    @property
    def core_rate(self) -> float:
        return self.pays / self.core.wall

    @property
    def floor_rate(self) -> float:
        return self.pays / self.floor.wall

    @property
    def ratio(self) -> float:
        return self.core_rate / self.floor_rate


def measure(backend: Backend, instruments: Instruments, kind: str, threads: int, pays: int) -> Figure:
    warmup = max(threads * 10, min(200, pays // 10))
    # The most any one thread pays: the first thread takes the remainder of every split.
    per_lane = sum(split(share, threads)[0] for share in [warmup, *split(pays, ROUNDS)])
    amount = Amount(PAY_CENTS)
    processor = instruments.processor
    core_lanes = [instruments.lane(kind, per_lane) for _ in range(threads)]
    floor_lanes = [instruments.lane(kind, per_lane) for _ in range(threads)]
    floors = [backend.floor() for _ in range(threads)]

    def core(i: int) -> None:
        lane = core_lanes[i]
        result = processor.pay(
            lane.caller_id,
            sender_token_id=lane.token_id,
            amount=amount,
            caller_reference=lane.next_reference(),
        )
        if result.status != "Success" or result.replayed:
            raise AssertionError(f"core Pay answered {result}")

    def floor(i: int) -> None:
        floors[i].pay(floor_lanes[i], PAY_CENTS)

    run(core, split(warmup, threads))
    run(floor, split(warmup, threads))
    core_time, floor_time = Timing(), Timing()
    commits = processor.group_commit.commits
    for round_number, share in enumerate(split(pays, ROUNDS)):
        if round_number % 2:
            core_time += run(core, split(share, threads))
            floor_time += run(floor, split(share, threads))
        else:
            floor_time += run(floor, split(share, threads))
            core_time += run(core, split(share, threads))
    commits = processor.group_commit.commits - commits  # the floor does not use the processor
    return Figure(backend.name, kind, threads, pays, core_time, floor_time, warmup, commits)


def bench_backend(
    backend: Backend, pays: int, thread_counts: list[int], report: Callable[[Figure], None]
) -> list[Figure]:
    """Measure every (kind, threads) on `backend`."""
    processor = Processor(backend.engine)
    instruments = Instruments(processor)
    figures = []
    for threads in thread_counts:
        for kind in ("prepaid", "postpaid"):
            figures.append(measure(backend, instruments, kind, threads, pays))
            report(figures[-1])
    return figures


LIMIT_SAMPLES = 300


def limits(backend: Backend) -> str:
    """What the database itself costs on this machine, through the bare driver: a durable commit of a
    one-row write (an fsync on SQLite with synchronous=FULL, a WAL flush on PostgreSQL) and, on
    PostgreSQL, one round trip (`SELECT 1`). Medians of LIMIT_SAMPLES, after the checks (the row goes to
    a table of its own)."""
    floor = backend.floor()
    if isinstance(floor, SqliteFloor):
        cursor = floor.cursor
        cursor.execute("CREATE TABLE bench_limits (n INTEGER)")

        def commit() -> None:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("INSERT INTO bench_limits VALUES (1)")
            cursor.execute("COMMIT")

        round_trip = None
    else:
        assert isinstance(floor, PostgresFloor)
        pg = floor.conn
        pg.execute("CREATE TABLE bench_limits (n INTEGER)")
        pg.commit()

        def commit() -> None:
            pg.execute("INSERT INTO bench_limits VALUES (1)")
            pg.commit()

        def round_trip() -> None:  # inside one transaction: one round trip each
            pg.execute("SELECT 1").fetchone()

    def median_us(call: Callable[[], None]) -> float:
        times = []
        for _ in range(LIMIT_SAMPLES):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2] * 1e6

    commit_us = median_us(commit)
    text = f"{backend.name} limits: a durable one-row commit {commit_us:.0f} us ({1e6 / commit_us:.0f}/s)"
    if round_trip is not None:
        text += f"; a round trip (SELECT 1) {median_us(round_trip):.0f} us"
        floor.conn.commit()
    return text


def check_after(backend: Backend, figures: list[Figure]) -> str:
    made = sum(2 * (figure.pays + figure.warmup) for figure in figures)
    problems = check_ledger(backend.engine)
    with backend.engine.connect() as conn:
        paid = conn.execute(
            select(func.count()).select_from(Transaction).where(Transaction.operation == "Pay")
        ).scalar_one()
    if problems or paid != made:
        raise SystemExit(f"{backend.name}: after the run {paid} Pays (expected {made}); problems: {problems}")
    return f"{backend.name}: ledger invariants hold; {paid} Pays recorded, as made"


# -- output ------------------------------------------------------------------------------------------------

HEADER = (
    f"{'backend':<9} {'instrument':<10} {'threads':>7} {'N':>6} {'core Pays/s':>11} {'floor Pays/s':>12}"
    f" {'core/floor':>10} {'Pays/commit':>11} {'core s':>7} {'floor s':>7} {'core CPU us/Pay':>15}"
    f" {'floor CPU us/Pay':>16} {'CPU core/floor':>14}"
)


def row(figure: Figure) -> str:
    core_cpu, floor_cpu = figure.core.cpu / figure.pays * 1e6, figure.floor.cpu / figure.pays * 1e6
    return (
        f"{figure.backend:<9} {figure.kind:<10} {figure.threads:>7} {figure.pays:>6}"
        f" {figure.core_rate:>11.0f} {figure.floor_rate:>12.0f} {figure.ratio:>10.2f}"
        f" {figure.pays_per_commit:>11.1f} {figure.core.wall:>7.2f} {figure.floor.wall:>7.2f}"
        f" {core_cpu:>15.0f} {floor_cpu:>16.0f} {core_cpu / floor_cpu:>14.2f}"
    )


@dataclass(frozen=True)
class Goal:
    name: str
    text: str
    figure: float
    bound: float
    at_least: bool = True

    def line(self) -> str:
        met = self.figure >= self.bound if self.at_least else self.figure <= self.bound
        sign = ">=" if self.at_least else "<="
        verdict = "met" if met else "NOT met"
        return f"{self.name}  {self.text}: {self.figure:.2f} (goal {sign} {self.bound:g}) {verdict}"


def goals(figures: list[Figure]) -> list[Goal]:
    """The issue's goals G1-G4 that the figures measured speak to (G5 is bench/signed_http.py's)."""
    found: list[Goal] = []
    for f in figures:
        what = f"{f.backend} {f.kind} {f.threads} thread(s)"
        if f.backend == "sqlite" and f.threads >= 8:
            found.append(Goal("G1", f"{what}, Pays per commit", f.pays_per_commit, 4))
            found.append(Goal("G1", f"{what}, core/floor Pays/s", f.ratio, 1.5))
        if f.threads == 1:
            found.append(Goal("G2", f"{what}, CPU per Pay core/floor", f.core.cpu / f.floor.cpu, 1.5, False))
        if f.backend == "postgres" and f.threads == 1:
            found.append(Goal("G3", f"{what}, core/floor Pays/s", f.ratio, 1.3))
        one = next((o for o in figures if (o.backend, o.kind, o.threads) == (f.backend, f.kind, 1)), None)
        if f.backend == "postgres" and f.threads >= 8 and one is not None:
            found.append(Goal("G4", f"{what}, core Pays/s over 1 thread's", f.core_rate / one.core_rate, 2))
    return found


def parse_threads(value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a comma-separated list of integers") from exc
    if not counts or any(not 1 <= count <= MAX_THREADS for count in counts):
        raise argparse.ArgumentTypeError(f"thread counts must be between 1 and {MAX_THREADS}")
    return counts


def parse_pays(value: str) -> int:
    pays = int(value)
    if not ROUNDS <= pays <= MAX_PAYS:
        raise argparse.ArgumentTypeError(f"--pays must be between {ROUNDS} and {MAX_PAYS}")
    return pays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pays", type=parse_pays, default=DEFAULT_PAYS, help="timed Pays per figure and side (%(default)s)"
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument(
        "--threads",
        type=parse_threads,
        default=[1],
        help="client thread counts, comma-separated (1); e.g. 1,8",
    )
    args = parser.parse_args(argv)
    check_floor_matches_core()
    url = postgres_url()
    names = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if "postgres" in names and url is None:
        if args.backend == "postgres":
            parser.error("set FPS_BENCH_POSTGRES_URL or FPS_TEST_POSTGRES_URL to measure PostgreSQL")
        names.remove("postgres")
        print("postgres: skipped (FPS_BENCH_POSTGRES_URL / FPS_TEST_POSTGRES_URL not set)")

    print(
        f"Ledger bench: Processor.pay (core) vs the same SQL through the bare driver (floor), same run\n"
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC,"
        f" N={args.pays} timed Pays per side and figure, {ROUNDS} interleaved rounds, after a warm-up"
    )
    started = time.perf_counter()
    checks = []
    measured: list[Figure] = []
    for name in names:
        with ExitStack() as stack:
            try:
                context = sqlite_backend() if name == "sqlite" else postgres_backend(url or "")
                backend = stack.enter_context(context)
            except OperationalError as exc:
                raise SystemExit(f"{name}: cannot open the database: {exc.orig}") from exc
            print(f"\n{backend.version}")
            print(HEADER)
            figures = bench_backend(
                backend, args.pays, args.threads, lambda figure: print(row(figure), flush=True)
            )
            checks.append(check_after(backend, figures))
            checks.append(limits(backend))
            measured += figures
    print()
    for check in checks:
        print(check)
    print()
    for goal in sorted(goals(measured), key=lambda goal: goal.name):
        print(goal.line())
    print(f"total wall time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
