"""A synthetic year in the merchant's database, written directly, for benchmarking the back office at scale.

The merchant database is migrated with `fpscore.db.migrate(engine, "merchant")` and then filled with
plain sqlite3 `executemany` in chunks, one transaction per chunk, with fpscore.db's pragmas (WAL,
synchronous=FULL, foreign keys on). The secondary indexes are dropped for the load and made again at the
end from their own DDL (faster than keeping them up to date row by row); unique constraints stay.

What is written, for 2026-01-01 to 2026-11-27:

- one customer per instrument; 60% prepaid (funding limit $10, $20 or $50), 40% postpaid (credit limit
  $25, $50 or $100); a completed CBUI token reference for each; a handful cancelled;
- purchases at price points $0.69 to $9.99 (most at $0.99 and $1.29), spread over the instruments with
  a heavy tail (the busiest instrument has thousands), one order each; about 1% fail;
- prepaid instruments funded whenever a purchase would overdraw them (to their funding limit), postpaid
  ones settled whenever a purchase would pass the credit limit, so book balances agree with the
  movements; the remaining debt is outstanding with its `debt_since`;
- about 0.2% of purchases refunded (some partly), about 0.3% of postpaid instruments with their debt
  written off;
- one `api_calls` row per movement with its RequestId (about 1% retried: a second attempt with the
  same CallerReference), and audit events for staff movements and sign-ins;
- the daily fee rollup, rebuilt from those records at the end (the flows keep it as they go);
- one staff account per role (fiona finance, sam support, ana analyst, theo troubleshooter, ada admin)
  with the password `correct horse battery`.

The processor's database is not written: the pages read only the merchant's. The Instrument page asks
the processor for the live balance; against this data that call is answered with an error (the
processor does not know the instrument), and bench/dashboard.py times it on its own.

    .venv/bin/python bench/large.py --data-dir DIR [--instruments 100000] [--purchases 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bench/http.py would shadow the standard library's http package: run with the repository on the path instead
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from fpscore.db import SQLITE_BUSY_TIMEOUT_MS, make_engine, migrate  # noqa: E402
from fpscore.fees import DEFAULT_FEE_SCHEDULE  # noqa: E402
from fpscore.merchant import fee_days  # noqa: E402
from fpscore.merchant.staff import add_staff  # noqa: E402
from fpscore.money import Amount  # noqa: E402

CHUNK = 50_000
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 11, 27, tzinfo=UTC)
PASSWORD = "correct horse battery"
STAFF = {"finance": "fiona", "support": "sam", "analyst": "ana", "troubleshooter": "theo", "admin": "ada"}
PRICES = (69, 99, 129, 199, 499, 750, 999)
PRICE_WEIGHTS = (5, 45, 25, 10, 8, 4, 3)
PRODUCTS = {
    69: "Ringtone",
    99: "Song",
    129: "Song",
    199: "Music video",
    499: "EP",
    750: "Album",
    999: "Album",
}
FUNDING_LIMITS = (1_000, 2_000, 5_000)
CREDIT_LIMITS = (2_500, 5_000, 10_000)
PREPAID_SHARE = 0.6
FAILED_SHARE = 0.01
REFUND_SHARE = 0.002
WRITE_OFF_SHARE = 0.003
RETRY_SHARE = 0.01
SETTLE_JOB = "settle-job"
PARENT = {"purchases": "orders"}
TABLES = (
    "staff",
    "customers",
    "orders",
    "token_references",
    "instruments",
    "purchases",
    "fundings",
    "settlements",
    "write_offs",
    "refunds",
    "api_calls",
    "audit_events",
    "fee_days",
)


def stamp(seconds: float) -> str:
    """SQLAlchemy's SQLite DATETIME text for START + seconds (naive UTC)."""
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S.%f")


class Writer:
    """Chunked executemany, one transaction per chunk."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.buffers: dict[str, list[tuple[object, ...]]] = {}
        self.sql: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def table(self, name: str, columns: str) -> None:
        marks = ", ".join("?" for _ in columns.split(","))
        self.sql[name] = f"INSERT INTO {name} ({columns}) VALUES ({marks})"
        self.buffers[name] = []
        self.counts[name] = 0

    def add(self, name: str, row: tuple[object, ...]) -> None:
        buffer = self.buffers[name]
        buffer.append(row)
        if len(buffer) >= CHUNK:
            self.flush(PARENT.get(name))  # its parent rows first (foreign keys)
            self.flush(name)

    def flush(self, name: str | None = None) -> None:
        for table in [name] if name else list(self.buffers):  # in the order the tables were declared
            rows = self.buffers[table]
            if not rows:
                continue
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(self.sql[table], rows)
            self.conn.execute("COMMIT")
            self.counts[table] += len(rows)
            rows.clear()


class Ids:
    """Random identifiers shaped like the processor's."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def request_id(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def transaction_id(self) -> str:
        return f"{self.rng.getrandbits(175):035X}"[:35]


def _secondary_indexes(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    names = ", ".join(f"'{t}'" for t in TABLES)
    return conn.execute(
        "SELECT name, sql FROM sqlite_master "
        f"WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({names})"
    ).fetchall()


def _response(action: str, request_id: str, transaction_id: str | None, status: str) -> str:
    result = f"<TransactionId>{transaction_id}</TransactionId>" if transaction_id else ""
    return (
        f"<{action}Response><{action}Result>{result}<TransactionStatus>{status}</TransactionStatus>"
        f"</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )


def build(data_dir: Path, instruments: int, purchases: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    ids = Ids(rng)
    span = (END - START).total_seconds()
    path = data_dir / "merchant.sqlite3"
    if path.exists():
        raise SystemExit(f"{path} exists: give an empty --data-dir")
    data_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine, "merchant")
    for role, username in STAFF.items():
        add_staff(engine, username, role, PASSWORD, display_name=username.title())
    engine.dispose()
    print(f"migrated, staff added: {time.perf_counter() - t0:.1f} s", flush=True)

    conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "cache_size=-262144"):
        conn.execute(f"PRAGMA {pragma}")
    indexes = _secondary_indexes(conn)
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    w = Writer(conn)
    movement = "amount_cents, currency, caller_reference, transaction_id, status, error_code, requested_by, "
    movement += "created_at, completed_at"
    w.table("customers", "id, email, name, created_at")
    w.table(
        "token_references",
        "id, customer_id, kind, caller_reference_sender, caller_reference_funding, "
        "caller_reference_settlement, funding_limit_cents, credit_limit_cents, status, cbui_status, "
        "instrument_id, created_at, completed_at",
    )
    w.table(
        "instruments",
        "id, customer_id, kind, sender_token_id, funding_token_id, settlement_token_id, funding_limit_cents, "
        "credit_limit_cents, purchase_limit_cents, currency, status, expires_at, balance_cents, "
        "balance_seen_at, debt_since, created_at",
    )
    w.table("orders", "id, customer_id, total_cents, currency, status, created_at")
    w.table("purchases", f"id, {movement}, order_id, instrument_id, product, refunded_cents, fee_alone_cents")
    w.table("fundings", f"id, {movement}, instrument_id, fee_cents")
    w.table("settlements", f"id, {movement}, instrument_id, fee_cents")
    w.table("write_offs", f"id, {movement}, instrument_id, reason")
    w.table("refunds", f"id, {movement}, purchase_id, instrument_id, reason")
    w.table(
        "api_calls",
        "action, caller_reference, request_id, transaction_id, instrument_id, attempt, http_status, "
        "fps_status, error_code, error_message, latency_ms, request_params, response_body, actor, created_at",
    )
    w.table("audit_events", "actor, action, outcome, subject, detail, created_at")

    # -- instruments: created in the first half of the year, sorted by creation
    created = sorted(rng.random() * span * 0.5 for _ in range(instruments))
    inst_ids: list[str] = []
    prepaid = array("b")
    limit = array("q")
    for n, at in enumerate(created, start=1):
        is_prepaid = rng.random() < PREPAID_SHARE
        iid = f"I{n:07d}{rng.getrandbits(64):016X}"
        inst_ids.append(iid)
        prepaid.append(1 if is_prepaid else 0)
        limit.append(rng.choice(FUNDING_LIMITS if is_prepaid else CREDIT_LIMITS))
        when = stamp(at)
        w.add("customers", (n, f"buyer{n}@buyers.example", f"Buyer {n}", when))
        kind = "Prepaid" if is_prepaid else "Postpaid"
        w.add(
            "token_references",
            (
                n,
                n,
                kind,
                f"cbui-{n}-sender",
                f"cbui-{n}-funding" if is_prepaid else None,
                f"cbui-{n}-settlement" if not is_prepaid else None,
                limit[-1] if is_prepaid else None,
                None if is_prepaid else limit[-1],
                "Completed",
                "SA" if is_prepaid else "SC",
                iid,
                when,
                stamp(at + 40),
            ),
        )
        w.add(
            "instruments",
            (
                iid,
                n,
                kind,
                f"sender-{n}",
                f"funding-{n}" if is_prepaid else None,
                None if is_prepaid else f"settlement-{n}",
                limit[-1] if is_prepaid else None,
                None if is_prepaid else limit[-1],
                2_000,
                "USD",
                "Active",
                stamp(at + 3 * 365 * 86_400),
                0,
                None,
                None,
                stamp(at + 40),
            ),
        )
    w.flush()
    print(f"instruments drawn: {time.perf_counter() - t0:.1f} s", flush=True)

    # -- purchases in time order, each on an instrument that exists by then (heavy tail: low ranks busier)
    balance = array("q", bytes(8 * instruments))  # prepaid balance or postpaid debt
    debt_since = [0.0] * instruments
    fee_alone = {p: DEFAULT_FEE_SCHEDULE.fee(Amount(p)).cents for p in PRICES}
    times = sorted(span * (0.02 + 0.98 * rng.random()) for _ in range(purchases))
    prices = rng.choices(PRICES, PRICE_WEIGHTS, k=purchases)
    funding_no = settlement_no = refund_no = write_off_no = 0
    refunds: list[tuple[float, int, int, int, int]] = []  # at, purchase id, instrument, cents, partial
    counts = {"api_calls": 0}

    def call(
        action: str,
        reference: str,
        txn: str | None,
        inst: int,
        status: str,
        error: str | None,
        actor: str,
        at: float,
        params: dict[str, str],
    ) -> None:
        attempts = 2 if rng.random() < RETRY_SHARE else 1
        for attempt in range(1, attempts + 1):
            rid = ids.request_id()
            last = attempt == attempts
            http, fps = (200, status) if last else (503, None)
            err = error if last else "ServiceUnavailable"
            params = {"Action": action, "CallerReference": reference, **params}
            w.add(
                "api_calls",
                (
                    action,
                    reference,
                    rid,
                    txn if last else None,
                    inst_ids[inst],
                    attempt,
                    http,
                    fps,
                    err,
                    None if err is None else f"{err} (synthetic)",
                    rng.randint(4, 60),
                    json.dumps(params),
                    _response(action, rid, txn, status) if last else None,
                    actor,
                    stamp(at + attempt - 1),
                ),
            )
            counts["api_calls"] += 1

    def fund(inst: int, at: float, cents: int) -> None:
        nonlocal funding_no
        funding_no += 1
        ref, txn = f"fund-{funding_no}", ids.transaction_id()
        fee = DEFAULT_FEE_SCHEDULE.fee(Amount(cents)).cents
        w.add(
            "fundings",
            (
                funding_no,
                cents,
                "USD",
                ref,
                txn,
                "Success",
                None,
                "storefront",
                stamp(at),
                stamp(at + 1),
                inst_ids[inst],
                fee,
            ),
        )
        call(
            "FundPrepaid",
            ref,
            txn,
            inst,
            "Success",
            None,
            "storefront",
            at,
            {"PrepaidInstrumentId": inst_ids[inst], "FundingAmount.Value": f"{cents / 100:.2f}"},
        )
        balance[inst] += cents

    def settle(inst: int, at: float, actor: str) -> None:
        nonlocal settlement_no
        settlement_no += 1
        cents = balance[inst]
        ref, txn = f"settle-{settlement_no}", ids.transaction_id()
        fee = DEFAULT_FEE_SCHEDULE.fee(Amount(cents)).cents
        w.add(
            "settlements",
            (
                settlement_no,
                cents,
                "USD",
                ref,
                txn,
                "Success",
                None,
                actor,
                stamp(at),
                stamp(at + 1),
                inst_ids[inst],
                fee,
            ),
        )
        call(
            "SettleDebt",
            ref,
            txn,
            inst,
            "Success",
            None,
            actor,
            at,
            {"CreditInstrumentId": inst_ids[inst], "SettlementAmount.Value": f"{cents / 100:.2f}"},
        )
        w.add("audit_events", (actor, "settlements", "Done", ref, txn, stamp(at + 1)))
        balance[inst] = 0
        debt_since[inst] = 0.0

    # instrument ids are 1-based in the tables; `inst` below is 0-based
    inst_created = created
    for pid, (at, cents) in enumerate(zip(times, prices, strict=True), start=1):
        # the instruments that exist at `at`, busiest first by rank
        alive = max(1, _bisect(inst_created, at))
        inst = int(alive * rng.random() ** 2)
        if prepaid[inst]:
            if balance[inst] < cents:
                fund(inst, at - 5, max(limit[inst] - balance[inst], cents))
        elif balance[inst] + cents > limit[inst]:
            settle(inst, at - 5, SETTLE_JOB)
        failed = rng.random() < FAILED_SHARE
        ref = f"pay-{pid}"
        txn = None if failed else ids.transaction_id()
        status = "Failure" if failed else "Success"
        error = "InsufficientBalance" if failed else None
        w.add("orders", (pid, inst + 1, cents, "USD", "Failed" if failed else "Paid", stamp(at - 2)))
        w.add(
            "purchases",
            (
                pid,
                cents,
                "USD",
                ref,
                txn,
                status,
                error,
                "storefront",
                stamp(at),
                stamp(at + 1),
                pid,
                inst_ids[inst],
                f"{PRODUCTS[cents]} #{rng.randint(1, 50_000)}",
                0,
                fee_alone[cents],
            ),
        )
        sender = f"sender-{inst + 1}"
        call(
            "Pay",
            ref,
            txn,
            inst,
            status,
            error,
            "storefront",
            at,
            {"SenderTokenId": sender, "TransactionAmount.Value": f"{cents / 100:.2f}"},
        )
        if not failed:
            if prepaid[inst]:
                balance[inst] -= cents
            else:
                if balance[inst] == 0:
                    debt_since[inst] = at
                balance[inst] += cents
            if rng.random() < REFUND_SHARE:
                partial = rng.random() < 0.3
                refunds.append(
                    (at + 3_600 * rng.randint(1, 72), pid, inst, cents // 2 if partial else cents, partial)
                )
        if pid % 200_000 == 0:
            print(f"  {pid:,} purchases: {time.perf_counter() - t0:.1f} s", flush=True)
    w.flush("orders")
    w.flush("purchases")

    # -- refunds (the purchase and order are updated after the load), then write-offs
    refunded: list[tuple[int, int]] = []
    for at, pid, inst, cents, partial in sorted(refunds):
        refund_no += 1
        ref, txn = f"refund-{refund_no}", ids.transaction_id()
        at = min(at, span)
        w.add(
            "refunds",
            (
                refund_no,
                cents,
                "USD",
                ref,
                txn,
                "Success",
                None,
                "sam",
                stamp(at),
                stamp(at + 1),
                pid,
                inst_ids[inst],
                "Customer asked" if partial else "Duplicate purchase",
            ),
        )
        call("Refund", ref, txn, inst, "Success", None, "sam", at, {"TransactionId": f"of-purchase-{pid}"})
        w.add("audit_events", ("sam", "refunds", "Done", ref, txn, stamp(at + 1)))
        refunded.append((cents, pid))
        balance[inst] += cents if prepaid[inst] else -cents
    owing = [i for i in range(instruments) if not prepaid[i] and balance[i] > 0]
    written: set[int] = set()
    for inst in rng.sample(owing, max(1, int(len(owing) * WRITE_OFF_SHARE))) if owing else []:
        write_off_no += 1
        at = span - rng.random() * 86_400 * 30
        ref, txn = f"writeoff-{write_off_no}", ids.transaction_id()
        w.add(
            "write_offs",
            (
                write_off_no,
                balance[inst],
                "USD",
                ref,
                txn,
                "Success",
                None,
                "sam",
                stamp(at),
                stamp(at + 1),
                inst_ids[inst],
                "Customer unreachable",
            ),
        )
        call(
            "WriteOffDebt",
            ref,
            txn,
            inst,
            "Success",
            None,
            "sam",
            at,
            {"CreditInstrumentId": inst_ids[inst], "AdjustmentAmount.Value": f"{balance[inst] / 100:.2f}"},
        )
        w.add("audit_events", ("sam", "write_offs", "Done", ref, txn, stamp(at + 1)))
        balance[inst] = 0
        debt_since[inst] = 0.0
        written.add(inst)

    # -- sign-ins: each staff member most working days, a few refused attempts
    for day in range(int(span // 86_400)):
        if day % 7 in (3, 4):  # 2026-01-01 is a Thursday: skip Saturdays and Sundays
            continue
        for username in STAFF.values():
            at = day * 86_400 + 8 * 3_600 + rng.random() * 3_600
            if rng.random() < 0.05:
                w.add("audit_events", (username, "sign_in", "Refused", username, "wrong password", stamp(at)))
            w.add("audit_events", (username, "sign_in", "Done", username, "password", stamp(at + 30)))

    # -- the instruments' final book balances and states
    now = stamp(span)
    final = []
    for n in range(instruments):
        cancelled = n in written or rng.random() < 0.002
        final.append(
            (
                "Cancelled" if cancelled else "Active",
                balance[n],
                now if rng.random() < 0.1 else None,
                stamp(debt_since[n]) if balance[n] and not prepaid[n] else None,
                inst_ids[n],
            )
        )
    w.flush()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "UPDATE instruments SET status = ?, balance_cents = ?, balance_seen_at = ?, debt_since = ? "
        "WHERE id = ?",
        final,
    )
    conn.execute("COMMIT")
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("UPDATE purchases SET refunded_cents = refunded_cents + ? WHERE id = ?", refunded)
    conn.execute(
        "UPDATE orders SET status = CASE WHEN p.refunded_cents >= p.amount_cents THEN 'Refunded' "
        "ELSE 'PartlyRefunded' END FROM purchases p WHERE p.order_id = orders.id AND p.refunded_cents > 0"
    )
    conn.execute("COMMIT")
    print(f"rows written: {time.perf_counter() - t0:.1f} s", flush=True)
    for _name, sql in indexes:
        conn.execute(sql)
    print(f"indexes made: {time.perf_counter() - t0:.1f} s", flush=True)
    conn.close()
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as sa_conn:  # the flows keep the daily fee rollup; rows written directly do not
        fee_days.rebuild(sa_conn)
        fee_day_rows = sa_conn.execute(text("SELECT count(*) FROM fee_days")).scalar_one()
    engine.dispose()
    print(f"fee rollup rebuilt: {time.perf_counter() - t0:.1f} s", flush=True)
    conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(f"analyzed: {time.perf_counter() - t0:.1f} s", flush=True)
    result = dict(w.counts)
    result["api_calls"] = counts["api_calls"]
    result["fee_days"] = fee_day_rows
    return result


def _bisect(sorted_values: list[float], x: float) -> int:
    from bisect import bisect_right

    return bisect_right(sorted_values, x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="an empty folder for merchant.sqlite3")
    parser.add_argument("--instruments", type=int, default=100_000)
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.instruments < 1 or args.purchases < 1:
        parser.error("--instruments and --purchases must be at least 1")
    started = time.perf_counter()
    counts = build(args.data_dir.resolve(), args.instruments, args.purchases, args.seed)
    elapsed = time.perf_counter() - started
    size = (args.data_dir / "merchant.sqlite3").stat().st_size
    print("\n| table | rows |\n|---|---:|")
    for table in TABLES:
        if table in counts:
            print(f"| {table} | {counts[table]:,} |")
    print(f"\nmerchant.sqlite3: {size / 1e6:,.0f} MB; total time {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
