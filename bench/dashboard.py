"""Dashboard benchmark: each page's first render on a large book (bench/large.py), with the read models timed
on their own, and the process's peak RSS.

Each page runs in `streamlit.testing.v1.AppTest`, signed in as a staff member whose role has the page
(as tests/dashboard does), pointed at --data-dir through FPS_DATA_DIR. Before each page the read-model
caches are cleared (`resources.after_write`), so every figure is a first render with cold Streamlit
caches; the Merchant (engines, client: `st.cache_resource`, made once per process) is made by a warm-up
run that is reported on its own. The pages are rendered twice: first in this fresh process (each page
also pays for its own first imports, e.g. the chart libraries), then again with the read caches cleared
again, as a server that has been running a while renders a page for a new filter. The operating
system's file cache is warm (the book was just written or read).

- Instrument opens `?instrument=` the busiest instrument (most purchases). Its page asks the processor
  for the live balance; bench/large.py does not write the processor's database, so that call is
  answered with an error, which the page shows. The call is timed on its own as well.
- Audit opens `?request_id=` a RequestId from the middle of `api_calls`; `queries.call_record` for that
  RequestId is timed on its own too (goal 100 ms).
- Fees saved opens on its default tab (By period); the Top instruments tab, which ranks instruments over
  every purchase of the range and runs only when opened, is timed as a page of its own.
- Health is rendered without running its on-demand checks.

- Record opens `?transaction_id=` a purchase's TransactionId (as support), with its timeline.
- The search box's read model (`queries.find`, as a troubleshooter and as support, whose RequestId hits
  become the movement the call carried) is timed for each kind of text: an email, a name's start, an
  instrument id and its shown start, a RequestId's shown start, a CallerReference and a TransactionId, and a
  text that matches nothing.

Goals: each page's first render within 1 s, the RequestId lookup and every search within 100 ms, the
process under 300 MB.

    .venv/bin/python bench/dashboard.py --data-dir DIR [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/http.py would shadow the standard library's http package: run with the repository on the path instead
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

APP = ROOT / "dashboard" / "app.py"
PAGE_GOAL_S = 1.0
LOOKUP_GOAL_S = 0.100
RSS_GOAL_MB = 300
RUN_TIMEOUT_S = 300
STAFF = {"finance": "fiona", "support": "sam", "analyst": "ana", "troubleshooter": "theo", "admin": "ada"}


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(
            ("No runtime found", "Thread 'MainThread': missing ScriptRunContext")
        )


def _point_at(data_dir: Path) -> None:
    os.environ.update(
        {
            "FPS_DATA_DIR": str(data_dir),
            "FPS_ACCESS_KEY_ID": "AKIDBENCH",
            "FPS_SECRET_ACCESS_KEY": "bench-secret-key",
            "FPS_DATABASE_URL": "",
            "FPS_PROCESSOR_DATABASE_URL": "",
            "FPS_ENDPOINT": "",
        }
    )
    for name in (
        "FPS_TRUSTED_USER_HEADER",
        "FPS_SESSION_IDLE_MINUTES",
        "FPS_SETTLE_SHARE",
        "FPS_SETTLE_AFTER_DAYS",
    ):
        os.environ.pop(name, None)


def _subjects(path: Path) -> tuple[str, int, str]:
    """The busiest instrument (and its purchase count) and a RequestId from the middle of api_calls."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        # bench/large.py gives the earliest instrument the most purchases; check it against a sample
        candidates = [
            r[0] for r in conn.execute("SELECT id FROM instruments ORDER BY created_at, id LIMIT 5")
        ]
        counted = [
            (conn.execute("SELECT count(*) FROM purchases WHERE instrument_id = ?", (c,)).fetchone()[0], c)
            for c in candidates
        ]
        purchases, instrument = max(counted)
        request_id = conn.execute(
            "SELECT request_id FROM api_calls WHERE id >= (SELECT max(id) / 2 FROM api_calls) "
            "AND request_id IS NOT NULL ORDER BY id LIMIT 1"
        ).fetchone()[0]
    finally:
        conn.close()
    return instrument, purchases, request_id


def _search_texts(path: Path) -> dict[str, str]:
    """One text of each kind the search box takes, from the middle of the book."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        email, name, instrument = conn.execute(
            "SELECT c.email, c.name, i.id FROM instruments i JOIN customers c ON c.id = i.customer_id "
            "WHERE i.rowid = (SELECT max(rowid) / 2 FROM instruments)"
        ).fetchone()
        request_id = conn.execute(
            "SELECT request_id FROM api_calls WHERE id = (SELECT max(id) * 2 / 3 FROM api_calls)"
        ).fetchone()[0]
        reference, transaction_id = conn.execute(
            "SELECT caller_reference, transaction_id FROM purchases "
            "WHERE id = (SELECT max(id) / 3 FROM purchases)"
        ).fetchone()
    finally:
        conn.close()
    return {
        "email": email,
        "name's start": name[:-1],
        "instrument id": instrument,
        "instrument id's shown start": instrument[:10] + "…",
        "RequestId's shown start": request_id[:13],
        "CallerReference": reference,
        "TransactionId": transaction_id,
        "nothing matches": "no-such-customer",
    }


def _render(
    page: str | None, username: str, params: dict[str, str], state: dict[str, str] | None = None
) -> tuple[float, Any]:
    from streamlit.testing.v1 import AppTest

    sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
    import dashapp  # the tests' AppTest driver: a real session, its cookie held for AppTest

    at = dashapp.holding(
        AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S), dashapp.session_for(username)
    )
    if page is not None:
        at.switch_page(f"../pages/{page}.py")
    for name, value in params.items():
        at.query_params[name] = value
    for name, value in (state or {}).items():
        at.session_state[name] = value
    started = time.perf_counter()
    at.run()
    return time.perf_counter() - started, at


def _timed(function: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(first, median of the rest or first, result)."""
    times, result = [], None
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    rest = times[1:] or times
    return times[0], statistics.median(rest), result


def _row(name: str, seconds: float, goal: float | None, note: str = "") -> str:
    met = "" if goal is None else ("yes" if seconds <= goal else "**no**")
    goal_text = "" if goal is None else (f"≤ {goal * 1000:.0f} ms" if goal < 1 else f"≤ {goal:.0f} s")
    return f"| {name} | {seconds:.3f} | | {goal_text} | {met} | {note} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a folder written by bench/large.py")
    parser.add_argument("--repeat", type=int, default=3, help="direct query timings: runs per query")
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    database = data_dir / "merchant.sqlite3"
    if not database.exists():
        parser.error(f"{database} does not exist: run bench/large.py first")
    _point_at(data_dir)
    instrument, purchases, request_id = _subjects(database)
    search_texts = _search_texts(database)

    for name in (
        "streamlit.runtime.caching.cache_data_api",
        "streamlit.runtime.scriptrunner_utils.script_run_context",
    ):
        logging.getLogger(name).addFilter(_Quiet())

    from dashboard import resources
    from fpscore.config import Settings
    from fpscore.merchant import analytics, fee_days, flows, queries
    from fpscore.merchant.roles import Actor
    from fpscore.merchant.settlement import SettlementPolicy, due_instruments, due_totals

    size_mb = database.stat().st_size / 1e6
    print(f"book: {database} ({size_mb:,.0f} MB)")
    print(f"instrument: {instrument} ({purchases:,} purchases); request id: {request_id}")

    resources.clear_all()
    warm_s, at = _render(None, STAFF["analyst"], {})
    print(f"warm-up (imports, connect, Instruments page): {warm_s:.3f} s")

    top_tab = {"fees_tab": "Top instruments"}
    pages: tuple[tuple[str, str, str, dict[str, str], dict[str, str]], ...] = (
        ("Instruments", "instruments", "analyst", {}, {}),
        ("Instrument", "instrument", "support", {"instrument": instrument}, {}),
        ("Settlements", "settlements", "finance", {}, {}),
        ("Write-offs", "write_offs", "support", {}, {}),
        ("Fees saved", "fees", "analyst", {}, {}),
        ("Fees saved, Top instruments tab", "fees", "analyst", {}, top_tab),
        ("Audit (RequestId)", "audit", "troubleshooter", {"request_id": request_id}, {}),
        ("Audit (lists)", "audit", "admin", {}, {}),
        (
            "Record (TransactionId)",
            "record",
            "support",
            {"transaction_id": search_texts["TransactionId"]},
            {},
        ),
        ("Health (not run)", "health", "troubleshooter", {}, {}),
        ("Staff", "staff", "admin", {}, {}),
    )
    timings: dict[str, list[float]] = {}
    notes: dict[str, str] = {}
    for run in ("fresh process", "warm process"):
        for title, page, role, params, state in pages:
            resources.after_write()
            seconds, at = _render(page, STAFF[role], params, state)
            problems = [e.message for e in at.exception] + [str(e.value)[:80] for e in at.error]
            notes[title] = f"{role}; " + ("; ".join(problems) if problems else "no errors shown")
            timings.setdefault(title, []).append(seconds)
            print(f"  {run}: {title}: {seconds:.3f} s", flush=True)
    rows = []
    for title, (fresh, warm) in timings.items():
        met = "yes" if max(fresh, warm) <= PAGE_GOAL_S else ("**no**" if warm > PAGE_GOAL_S else "warm only")
        rows.append(f"| {title} | {fresh:.3f} | {warm:.3f} | ≤ 1 s | {met} | {notes[title]} |")

    merchant = resources.merchant()
    engine = merchant.engine
    lookup_first, lookup_median, record = _timed(
        lambda: queries.call_record(engine, request_id=request_id), args.repeat
    )
    attempts = len(record.attempts) if record else 0
    rows.append(
        _row(
            "RequestId lookup (`queries.call_record`)",
            lookup_first,
            LOOKUP_GOAL_S,
            f"median of repeats {lookup_median * 1000:.1f} ms; {attempts} attempt(s)",
        )
    )
    actor = Actor.staff(STAFF["support"], "support")

    def live() -> str:
        try:
            return str(flows.refresh_balance(merchant, actor, instrument))
        except Exception as error:  # the processor does not know the synthetic instrument
            return type(error).__name__

    live_first, live_median, answer = _timed(live, args.repeat)
    rows.append(_row("Live balance call (embedded processor)", live_first, None, f"answered: {answer}"))
    for role in ("troubleshooter", "support"):
        searcher = Actor.staff(STAFF[role], role)
        for kind, text in search_texts.items():
            first, median, found = _timed(partial(queries.find, engine, searcher, text), args.repeat)
            rows.append(
                _row(
                    f"Search, {kind} (`queries.find`, {role})",
                    first,
                    LOOKUP_GOAL_S,
                    f"median of repeats {median * 1000:.1f} ms; {len(found.hits)} hit(s)"
                    + (" and more" if found.more else ""),
                )
            )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(
        f"| Process peak RSS (MB) | {rss_mb:.0f} | | < {RSS_GOAL_MB} MB | "
        f"{'yes' if rss_mb < RSS_GOAL_MB else '**no**'} | maxrss after every page |"
    )

    print(
        "\n| page | first render, fresh process (s) | first render, warm process (s) | goal | met | notes |"
        "\n|---|---:|---:|---|---|---|"
    )
    print("\n".join(rows))

    # the read models the pages call, on their own: which one is slow
    everything, searched = queries.InstrumentFilter(), queries.InstrumentFilter(search="buyer42")
    events = queries.AuditEventFilter()
    settled, written = queries.MovementFilter("settlements"), queries.MovementFilter("write_offs")
    policy = SettlementPolicy.of(Settings.from_env())
    today = datetime.now(UTC).date()
    days = (today - timedelta(days=89), today + timedelta(days=1))  # the page's default range
    reads: tuple[tuple[str, Callable[[], Any]], ...] = (
        ("queries.instruments (default filter)", lambda: queries.instruments(engine, everything)),
        ("queries.instruments (search 'buyer42')", lambda: queries.instruments(engine, searched)),
        ("queries.instrument_view (busiest)", lambda: queries.instrument_view(engine, instrument, 1, 25)),
        ("settlement.due_instruments", lambda: due_instruments(merchant, policy)),
        ("settlement.due_totals", lambda: due_totals(merchant, policy)),
        ("queries.movements settlements", lambda: queries.movements(engine, settled)),
        ("queries.movements write_offs", lambda: queries.movements(engine, written)),
        ("queries.staff_names settlements", lambda: queries.staff_names(engine, "settlements")),
        ("analytics.fee_totals (all time)", lambda: analytics.fee_totals(engine, None, None)),
        ("analytics.fees_by_period month", lambda: analytics.fees_by_period(engine, "month", None, None)),
        ("analytics.fees_by_kind", lambda: analytics.fees_by_kind(engine, None, None)),
        (
            "analytics.fees_by_period week (last 90 days)",
            lambda: analytics.fees_by_period(engine, "week", *days),
        ),
        ("analytics.fees_by_instrument top 10", lambda: analytics.fees_by_instrument(engine, 10, None, None)),
        (
            "analytics.fees_by_instrument top 20 (last 90 days)",
            lambda: analytics.fees_by_instrument(engine, 20, *days),
        ),
        ("fee_days.differences (Health)", lambda: fee_days.differences(engine)),
        ("queries.api_calls (no filter)", lambda: queries.api_calls(engine, queries.ApiCallFilter())),
        ("queries.action_names", queries.action_names),
        ("queries.audit_events (no filter)", lambda: queries.audit_events(engine, events)),
    )
    print(f"\n| read model | first s | median s (of {args.repeat}) |\n|---|---:|---:|")
    for name, function in reads:
        try:
            first, median, _ = _timed(function, args.repeat)
            print(f"| {name} | {first:.3f} | {median:.3f} |", flush=True)
        except Exception as error:
            print(f"| {name} | failed: {type(error).__name__}: {str(error)[:80]} | |", flush=True)
    resources.clear_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
