"""Signed HTTP benchmark: Pays per second through the processor's gunicorn server, beside a bare endpoint.

The core is the processor as `fpscore serve` runs it (`fpscore.processor.server.run`, gunicorn, not
preloaded, one engine per worker) in a subprocess on a loopback port. N client threads in this process,
each with its own `FpsClient` (its own `requests` session), send signed Pay POSTs with distinct
CallerReferences, either each against a prepaid instrument of its own (no row contention but the
caller's account: the primary figure) or all against one shared prepaid instrument.

The floor is a BARE endpoint on the same server stack, in the same run: a second gunicorn subprocess
with the same options (taken from `server.run` itself: workers, worker class, timeouts, request-line
limit, no access log) serving `bare_app`, a module-level WSGI app that reads a form POST and answers a fixed
Pay-shaped XML document. Its clients POST a body of the same size as a signed Pay, unsigned, and do not
parse the answer. So Pays/bare is what signing and verifying, parsing and rendering, the caller lookup,
the ledger transaction and the `api_requests` record cost over the raw stack (HTTP, gunicorn, requests).

Instruments are opened and funded directly through `Processor` on the same database before the timed
part. Bare, per-client and shared run in two interleaved rounds (A B C C B A), each round half of
--seconds, after a warm-up. Afterwards the number of Pays the clients saw succeed must equal the number
of Pay transactions in the processor database, and `check_ledger` must be clean.

    .venv/bin/python bench/signed_http.py [--seconds 8] [--clients 8] [--workers N] [--threads T]
        [--backend sqlite|postgres|all]

Workers and threads default to `fpscore serve`'s (`server.default_workers`: 1 on SQLite, one per CPU on
PostgreSQL; `server.default_threads`: 4 on SQLite, 16 on PostgreSQL), for the processor and the bare
server alike. The goal G5 (signed Pays per client instrument over bare: >= 0.7 on SQLite, >= 0.6 on
PostgreSQL) is printed at the end.

PostgreSQL is measured when FPS_BENCH_POSTGRES_URL or FPS_TEST_POSTGRES_URL is set, e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test (in a throwaway schema, dropped at the end).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import patch
from wsgiref.types import StartResponse, WSGIEnvironment

import requests
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from fpscore.db import make_engine, migrate
from fpscore.merchant.client import API_VERSION, FpsClient
from fpscore.money import MAX_MINOR_UNITS, Amount
from fpscore.processor import Processor, server
from fpscore.processor.invariants import check_ledger
from fpscore.processor.schema import Transaction
from fpscore.signing import sign_query, utc_timestamp
from fpscore.wire import render_success

BENCH_KEY, BENCH_SECRET = "AKIDHTTPBENCH", "http-bench-secret-0123"
PAY_CENTS = 100
FUND_CENTS = MAX_MINOR_UNITS  # the largest single amount: a million Pays of 1.00 per instrument
MAX_SECONDS = 120.0
MAX_CLIENTS = 32
MAX_WORKERS = 16
MAX_REQUESTS_PER_CLIENT = 200_000  # per measurement: the time limit comes first on any machine we know
WARMUP_REQUESTS = 10  # per client and kind, before the timed rounds
ROUNDS = 2  # each kind runs twice, in the order A B C C B A, each time for half of --seconds
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
CLIENT_TIMEOUT = (3.05, 30.0)
PR_SET_PDEATHSIG = 1

RUN_PROCESSOR = (
    "import sys; from fpscore.processor.server import run;"
    " run('127.0.0.1', int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], threads=int(sys.argv[4]))"
)


# -- the bare endpoint -------------------------------------------------------------------------------------

# A Pay answer as the processor renders it, with ids of the real lengths.
BARE_BODY = render_success(
    "Pay",
    API_VERSION,
    [("TransactionId", "1" * 35), ("TransactionStatus", "Success")],
    f"{uuid.UUID(int=0)}:0",
)
BARE_HEADERS = [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(BARE_BODY)))]


def bare_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Read the form body (as the processor does, at most 64 KiB) and answer a fixed Pay document."""
    length = environ.get("CONTENT_LENGTH") or "0"
    environ["wsgi.input"].read(min(int(length) if length.isdigit() else 0, 64 * 1024))
    start_response("200 OK", BARE_HEADERS)
    return [BARE_BODY]


def processor_gunicorn_options(port: int, workers: int, threads: int) -> dict[str, object]:
    """The options `server.run` gives gunicorn, taken from `server.run` itself (with its gunicorn and its
    database preparation stubbed out), so the bare server cannot drift from the processor's."""
    captured: dict[str, object] = {}

    class Capture:
        def __init__(self, _load_app: object, options: dict[str, object], *_front_options: object):
            captured.update(options)

        def run(self) -> None:
            pass

    with patch.object(server, "_Gunicorn", Capture), patch.object(server, "_prepare", lambda *_: None):
        server.run("127.0.0.1", port, workers, "sqlite://", threads=threads)
    if not captured:
        raise SystemExit("signed_http.py: server.run no longer starts gunicorn through server._Gunicorn")
    return captured


def serve_bare(port: int, workers: int, threads: int) -> None:
    options = {**processor_gunicorn_options(port, workers, threads), "proc_name": "fpscore-bench-bare"}
    server._Gunicorn(lambda: bare_app, options).run()


# -- servers -----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self) -> None:
        """Until the server answers anything over HTTP (GET / is an FPS error for the processor)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                requests.get(self.base_url + "/", timeout=2)
                return
            except requests.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{self.name} server did not start:\n{self.log_tail()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # gunicorn: graceful stop of master and workers
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when this process dies, however it dies. Gunicorn's
    workers leave by themselves once their master is gone."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


@contextmanager
def start_server(name: str, argv: list[str], env: dict[str, str], directory: Path) -> Iterator[Server]:
    port = free_port()
    log_path = directory / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *[arg.replace("{port}", str(port)) for arg in argv]],
            env=env,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # before any client thread
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# -- backends ----------------------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    url: str  # as the server subprocess gets it (PostgreSQL: with the schema's search_path)
    engine: Engine
    version: str


def postgres_url() -> str | None:
    return os.environ.get("FPS_BENCH_POSTGRES_URL") or os.environ.get("FPS_TEST_POSTGRES_URL") or None


@contextmanager
def sqlite_backend(directory: Path) -> Iterator[Backend]:
    url = f"sqlite:///{directory / 'processor.sqlite3'}"
    engine = make_engine(url)
    try:
        migrate(engine, "processor")
        yield Backend("sqlite", url, engine, f"SQLite {sqlite3.sqlite_version}")
    finally:
        engine.dispose()


@contextmanager
def postgres_backend(base_url: str) -> Iterator[Backend]:
    schema = f"bench_http_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base_url).set(query={"options": f"-csearch_path={schema}"})
        url_text = url.render_as_string(hide_password=False)
        engine = make_engine(url_text)
        try:
            migrate(engine, "processor")
            yield Backend("postgres", url_text, engine, f"PostgreSQL {version}")
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


# -- instruments -------------------------------------------------------------------------------------------


def open_funded_prepaid(processor: Processor, caller_id: int, n: int) -> str:
    """A prepaid instrument for a buyer of its own, funded with FUND_CENTS; its sender token."""
    buyer_id = processor.find_or_create_buyer(f"buyer{n}@http-bench.example", f"Buyer {n}")
    funds = Amount(FUND_CENTS)
    setup = processor.setup_prepaid(
        caller_id,
        buyer_id,
        caller_reference_sender=f"sender-{n}",
        caller_reference_funding=f"funding-{n}",
        funding_limit=funds,
    )
    processor.fund_prepaid(
        caller_id,
        sender_token_id=setup.funding_token_id or "",
        prepaid_instrument_id=setup.instrument_id,
        amount=funds,
        caller_reference=f"fund-{n}",
    )
    return setup.sender_token_id


# -- load --------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    ok: int = 0
    failed: int = 0
    wall: float = 0.0
    cpu: float = 0.0  # this process (all client threads): signing, requests, parsing
    latencies: list[float] = field(default_factory=list)
    first_error: str | None = None

    def __iadd__(self, other: Sample) -> Sample:
        self.ok += other.ok
        self.failed += other.failed
        self.wall += other.wall
        self.cpu += other.cpu
        self.latencies += other.latencies
        self.first_error = self.first_error or other.first_error
        return self

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall else 0.0

    def percentile_ms(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def drive(request: Callable[[int], None], clients: int, seconds: float, count: int | None = None) -> Sample:
    """`clients` threads call request(i) until `seconds` have passed or each has made `count` calls."""
    limit = min(count or MAX_REQUESTS_PER_CLIENT, MAX_REQUESTS_PER_CLIENT)
    barrier = threading.Barrier(clients + 1)
    samples = [Sample() for _ in range(clients)]
    deadline = [0.0]

    def client(i: int) -> None:
        sample = samples[i]
        barrier.wait()
        for _ in range(limit):
            started = time.perf_counter()
            if started >= deadline[0]:
                break
            try:
                request(i)
            except Exception as exc:  # counted and shown; the run goes on
                sample.failed += 1
                sample.first_error = sample.first_error or f"{exc.__class__.__name__}: {exc}"
                continue
            sample.latencies.append(time.perf_counter() - started)
            sample.ok += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    start, start_cpu = time.perf_counter(), time.process_time()
    barrier.wait()
    for thread in threads:
        thread.join(timeout=seconds + 2 * CLIENT_TIMEOUT[1])
    total = Sample(wall=time.perf_counter() - start, cpu=time.process_time() - start_cpu)
    if any(thread.is_alive() for thread in threads):
        raise SystemExit("a client thread did not finish in time")
    for sample in samples:
        total += sample
    return total


@dataclass
class Kinds:
    """The three request kinds of one backend's run, each `request(i)` for client i."""

    bare: Callable[[int], None]
    own: Callable[[int], None]
    shared: Callable[[int], None]

    def items(self) -> list[tuple[str, Callable[[int], None]]]:
        return [("bare", self.bare), ("per-client", self.own), ("shared", self.shared)]


def make_kinds(bare_url: str, pay_url: str, own_tokens: list[str], shared_token: str, run_id: str) -> Kinds:
    clients = len(own_tokens)
    fps = [
        FpsClient(pay_url, BENCH_KEY, BENCH_SECRET, timeout_s=CLIENT_TIMEOUT, max_attempts=1)
        for _ in range(clients)
    ]
    sessions = [requests.Session() for _ in range(clients)]
    sequence = [0] * clients
    amount = Amount(PAY_CENTS)
    # The bare body: a signed Pay's form, as FpsClient would send it (same size), never verified.
    form = sign_query(
        {
            "Action": "Pay",
            "Version": API_VERSION,
            "SenderTokenId": own_tokens[0],
            "CallerReference": f"{run_id}-0-000000",  # as long as the Pays' own
            "TransactionAmount.Value": str(amount),
            "TransactionAmount.CurrencyCode": amount.currency,
            "AWSAccessKeyId": BENCH_KEY,
            "SignatureVersion": "2",
            "Timestamp": utc_timestamp(datetime.now(UTC)),
        },
        BENCH_SECRET,
        method="POST",
        host="127.0.0.1",
        path="/",
    )

    def bare(i: int) -> None:
        response = sessions[i].post(bare_url + "/", data=form, timeout=CLIENT_TIMEOUT)
        if response.status_code != 200 or len(response.content) != len(BARE_BODY):
            raise RuntimeError(f"bare answered HTTP {response.status_code}")

    def pay(i: int, token: str) -> None:
        sequence[i] += 1
        reply = fps[i].pay(
            sender_token_id=token,
            amount=amount,
            caller_reference=f"{run_id}-{i}-{sequence[i]:06d}",
            actor="bench",
        )
        if reply.status != "Success":
            raise RuntimeError(f"Pay answered {reply.status}")

    kinds = Kinds(bare, lambda i: pay(i, own_tokens[i]), lambda i: pay(i, shared_token))
    return kinds


# -- one backend -------------------------------------------------------------------------------------------


@dataclass
class Figures:
    backend: str
    workers: int
    threads: int
    clients: int
    samples: dict[str, Sample]
    pays_made: int  # successful Pays, warm-up included
    pays_failed: int


def bench_backend(backend: Backend, args: argparse.Namespace, directory: Path) -> Figures:
    processor = Processor(backend.engine)
    caller_id = processor.ensure_caller(BENCH_KEY, BENCH_SECRET, "HTTP Bench Shop", "shop@http-bench.example")
    own_tokens = [open_funded_prepaid(processor, caller_id, n) for n in range(args.clients)]
    shared_token = open_funded_prepaid(processor, caller_id, args.clients)

    env = {
        **os.environ,
        "FPS_ACCESS_KEY_ID": BENCH_KEY,
        "FPS_SECRET_ACCESS_KEY": BENCH_SECRET,
        "FPS_CALLER_NAME": "HTTP Bench Shop",
        "FPS_CALLER_EMAIL": "shop@http-bench.example",
        "FPS_DATA_DIR": str(directory),
    }
    for name in ("FPS_PROCESSOR_DATABASE_URL", "FPS_ENDPOINT", "FPS_FEE_SCHEDULE"):
        env.pop(name, None)
    workers_n = args.workers or server.default_workers(backend.url)
    threads_n = args.threads or server.default_threads(backend.url)
    workers, threads = str(workers_n), str(threads_n)
    processor_argv = ["-c", RUN_PROCESSOR, "{port}", workers, backend.url, threads]
    bare_argv = [
        os.path.realpath(__file__),
        "--serve-bare",
        "{port}",
        "--workers",
        workers,
        "--threads",
        threads,
    ]
    with ExitStack() as stack:
        bare_server = stack.enter_context(start_server(f"bare-{backend.name}", bare_argv, env, directory))
        pay_server = stack.enter_context(
            start_server(f"processor-{backend.name}", processor_argv, env, directory)
        )
        kinds = make_kinds(
            bare_server.base_url, pay_server.base_url, own_tokens, shared_token, uuid.uuid4().hex[:12]
        )
        made = failed = 0
        for name, request in kinds.items():
            warm = drive(request, args.clients, MAX_SECONDS, count=WARMUP_REQUESTS)
            if warm.failed:
                failing = bare_server if name == "bare" else pay_server
                raise SystemExit(f"{name} warm-up failed: {warm.first_error}\n{failing.log_tail()}")
            if name != "bare":
                made += warm.ok
        samples = {name: Sample() for name, _ in kinds.items()}
        order = kinds.items()
        for round_number in range(ROUNDS):
            for name, request in order if round_number % 2 == 0 else list(reversed(order)):
                samples[name] += drive(request, args.clients, args.seconds / ROUNDS)
        for name in ("per-client", "shared"):
            made += samples[name].ok
            failed += samples[name].failed
    return Figures(backend.name, workers_n, threads_n, args.clients, samples, made, failed)


def check_after(backend: Backend, figures: Figures) -> str:
    problems = check_ledger(backend.engine)
    with backend.engine.connect() as conn:
        recorded = conn.execute(
            select(func.count()).select_from(Transaction).where(Transaction.operation == "Pay")
        ).scalar_one()
    if problems or recorded != figures.pays_made:
        raise SystemExit(
            f"{backend.name}: {recorded} Pay transactions recorded but {figures.pays_made} succeeded"
            f" ({figures.pays_failed} failed); ledger problems: {problems}"
        )
    return (
        f"{backend.name}: ledger invariants hold; {recorded} Pay transactions recorded,"
        f" = {figures.pays_made} successful Pays ({figures.pays_failed} failed)"
    )


# -- output ------------------------------------------------------------------------------------------------

G5_GOALS = {"sqlite": 0.7, "postgres": 0.6}  # signed Pays per client instrument over bare, at least

HEADER = (
    f"{'backend':<9} {'workers':>7} {'threads':>7} {'clients':>7} {'instrument':<10} {'bare req/s':>10}"
    f" {'Pays/s':>7} {'Pays/bare':>9} {'Pay p50 ms':>10} {'Pay p99 ms':>10} {'bare p50 ms':>11}"
    f" {'bare p99 ms':>11} {'Pays':>6} {'failed':>6} {'client CPU us/Pay':>17} {'us/bare':>7}"
)


def rows(figures: Figures) -> list[str]:
    bare = figures.samples["bare"]
    lines = []
    for name in ("per-client", "shared"):
        pays = figures.samples[name]
        lines.append(
            f"{figures.backend:<9} {figures.workers:>7} {figures.threads:>7} {figures.clients:>7} {name:<10}"
            f" {bare.rate:>10.0f}"
            f" {pays.rate:>7.0f} {pays.rate / bare.rate:>9.2f} {pays.percentile_ms(0.5):>10.1f}"
            f" {pays.percentile_ms(0.99):>10.1f} {bare.percentile_ms(0.5):>11.1f}"
            f" {bare.percentile_ms(0.99):>11.1f} {pays.ok:>6} {pays.failed:>6}"
            f" {pays.cpu / max(pays.ok, 1) * 1e6:>17.0f} {bare.cpu / max(bare.ok, 1) * 1e6:>7.0f}"
        )
        if pays.first_error:
            lines.append(f"  first {name} failure: {pays.first_error}")
    if bare.failed:
        lines.append(f"  bare: {bare.failed} failed, first: {bare.first_error}")
    return lines


def goal(figures: Figures) -> str:
    ratio = figures.samples["per-client"].rate / figures.samples["bare"].rate
    bound = G5_GOALS[figures.backend]
    verdict = "met" if ratio >= bound else "NOT met"
    what = f"{figures.backend} {figures.clients} clients per-client"
    return f"G5  {what}, Pays/bare: {ratio:.2f} (goal >= {bound:g}) {verdict}"


def bounded(kind: Callable[[str], Any], low: float, high: float, name: str) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        number = kind(value)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{name} must be between {low:g} and {high:g}")
        return number

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds",
        type=bounded(float, 1, MAX_SECONDS, "--seconds"),
        default=8.0,
        help="timed seconds per measurement (bare, per-client, shared), split over two rounds (%(default)s)",
    )
    parser.add_argument("--clients", type=bounded(int, 1, MAX_CLIENTS, "--clients"), default=8)
    parser.add_argument(
        "--workers",
        type=bounded(int, 1, MAX_WORKERS, "--workers"),
        help="worker processes, as fpscore serve --workers (its default per backend)",
    )
    parser.add_argument(
        "--threads",
        type=bounded(int, 1, 64, "--threads"),
        help="threads per worker that run the app, as fpscore serve --threads (its default)",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare is not None:  # given both by bench_backend
        serve_bare(args.serve_bare, args.workers, args.threads)
        return 0

    # SIGTERM (timeout, a CI runner) unwinds like Ctrl-C: servers stopped, schema dropped, temp dir removed.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    url = postgres_url()
    names = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if "postgres" in names and url is None:
        if args.backend == "postgres":
            parser.error("set FPS_BENCH_POSTGRES_URL or FPS_TEST_POSTGRES_URL to measure PostgreSQL")
        names.remove("postgres")
        print("postgres: skipped (FPS_BENCH_POSTGRES_URL / FPS_TEST_POSTGRES_URL not set)")

    worker_class = getattr(processor_gunicorn_options(0, 1, 1)["worker_class"], "__name__", "?")
    print(
        "HTTP bench: signed Pay POSTs to the processor on gunicorn vs a bare WSGI app on the same stack\n"
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC,"
        f" {worker_class} workers, {args.clients} client threads,"
        f" {args.seconds:g} s per measurement in {ROUNDS} interleaved rounds, after a warm-up"
    )
    started = time.perf_counter()
    checks, goals = [], []
    for name in names:
        with tempfile.TemporaryDirectory(prefix="fps-bench-http-") as temp, ExitStack() as stack:
            directory = Path(temp)
            try:
                context = sqlite_backend(directory) if name == "sqlite" else postgres_backend(url or "")
                backend = stack.enter_context(context)
            except OperationalError as exc:
                raise SystemExit(f"{name}: cannot open the database: {exc.orig}") from exc
            print(f"\n{backend.version}")
            print(HEADER)
            figures = bench_backend(backend, args, directory)
            for line in rows(figures):
                print(line, flush=True)
            checks.append(check_after(backend, figures))
            goals.append(goal(figures))
    print()
    for check in checks:
        print(check)
    print()
    for line in goals:
        print(line)
    print(f"total wall time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
