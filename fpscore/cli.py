"""The `fpscore` command: migrate | serve | shop | staff add | demo | recover | settle --due |
reconcile [--fix] | rebuild-rollup | ipn-listen."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from fpscore.config import Settings
from fpscore.db import make_engine, migrate
from fpscore.merchant.roles import ROLES

if TYPE_CHECKING:
    from fpscore.merchant.connect import Merchant


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    for url, tree in ((settings.processor_database_url, "processor"), (settings.database_url, "merchant")):
        engine = make_engine(url)
        migrate(engine, tree)
        engine.dispose()
        print(f"{tree} database at head: {engine.url.render_as_string(hide_password=True)}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from fpscore.processor.server import run

    run(
        args.host,
        args.port,
        args.workers,
        settings.processor_database_url,
        threads=args.threads,
        public_host=args.public_host,
    )
    return 0


def _shop(args: argparse.Namespace, settings: Settings) -> int:
    from fpscore.shop.server import run

    run(args.host, args.port or settings.shop_port, settings, threads=args.threads)
    return 0


def _staff_add(args: argparse.Namespace, settings: Settings) -> int:
    from fpscore.merchant.staff import add_staff

    password = settings.staff_password or getpass.getpass(f"Password for {args.name}: ")
    engine = make_engine(settings.database_url)
    migrate(engine, "merchant")
    try:
        add_staff(engine, args.name, args.role, password, args.display_name)
    except ValueError as exc:
        print(f"fpscore staff add: {exc}", file=sys.stderr)
        return 2
    print(f"staff account {args.name} ({args.role}) created")
    return 0


def _job_actor(name: str):  # type: ignore[no-untyped-def]
    from fpscore.merchant.roles import Actor, Permission

    return Actor.job(name, Permission.READ, Permission.SETTLE, Permission.RECONCILE, Permission.RECOVER)


def _recover_in_flight(merchant: Merchant, everything: bool = False) -> int:
    """Resend the movements a crash left in flight, ask after the Pending ones, and settle CBUI round trips
    whose return never came (before a job trusts the books); how many movements are still without an
    answer (1 when the processor could not be asked at all)."""
    from fpscore.errors import FpsError

    try:
        return _recovery_steps(merchant, everything)
    except FpsError as error:
        print(f"recovery stopped, the processor did not answer: {error}", file=sys.stderr)
        return 1


def _recovery_steps(merchant: Merchant, everything: bool) -> int:
    from tqdm import tqdm

    from fpscore.merchant.pipelines import recover_round_trips
    from fpscore.merchant.recovery import follow_up_pending, in_flight, recover

    lapsed = recover_round_trips(merchant, _job_actor("recover"))
    if lapsed.abandoned or lapsed.issued:
        issued = len(lapsed.issued)
        print(f"{lapsed.abandoned} round trips whose return never came marked Abandoned; "
              f"{issued} were issued tokens and wait for their return", file=sys.stderr)  # fmt: skip
    counts = in_flight(merchant)
    if any(count.pending for count in counts):
        changed = follow_up_pending(merchant, _job_actor("recover"))
        print(f"{changed} pending movements finished at the processor since", file=sys.stderr)
    waiting = sum(count.requested if everything else count.cut_off for count in counts)
    if not waiting:
        return 0
    with tqdm(total=waiting, desc="recovering", unit="movement", file=sys.stderr) as bar:
        report = recover(
            merchant, _job_actor("recover"), everything=everything,
            progress=lambda _reference, _outcome: bar.update(1),
        )  # fmt: skip
    print(f"recovered {report.total} movements left in flight ({report.answers}); "
          f"{len(report.unanswered)} still without an answer", file=sys.stderr)  # fmt: skip
    for reference in report.unanswered:
        print(f"still in flight\t{reference}", file=sys.stderr)
    for reference in report.mismatched:
        print(f"differs at the processor (see fpscore reconcile)\t{reference}", file=sys.stderr)
    return len(report.unanswered) + len(report.mismatched)


def _recover(args: argparse.Namespace, settings: Settings) -> int:
    from fpscore.merchant.connect import connect

    merchant = connect(settings)
    left = _recover_in_flight(merchant, everything=args.all)
    if not left:
        print("no movements cut off in flight", file=sys.stderr)
    return 1 if left else 0


def _settle(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from fpscore.merchant.connect import connect
    from fpscore.merchant.settlement import SettlementPolicy, settle_due

    if not args.due:
        print("fpscore settle: say --due to settle every instrument due under the policy", file=sys.stderr)
        return 2
    merchant = connect(settings)
    _recover_in_flight(merchant)

    def advance(_done: int, total: int, _result: object) -> None:
        bar.total = total
        bar.update(1)

    with tqdm(desc="settling", unit="instrument", file=sys.stderr) as bar:
        results = settle_due(merchant, _job_actor("settle-due"), SettlementPolicy.of(settings), advance)
    failed = [result for result in results if result.error]
    for result in results:
        outcome = result.error or f"{result.outcome.transaction_id} {result.outcome.status}"  # type: ignore[union-attr]
        print(f"{result.instrument_id}\t{outcome}")
    print(f"{len(results) - len(failed)} settled, {len(failed)} failed", file=sys.stderr)
    return 1 if failed else 0


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from fpscore.merchant import fee_days
    from fpscore.merchant.connect import connect
    from fpscore.merchant.reconcile import fix, reconcile

    merchant = connect(settings)
    actor = _job_actor("reconcile")
    differences = reconcile(merchant, actor, progress=lambda step: print(step, file=sys.stderr))
    if args.fix and any(difference.repair for difference in differences):
        print(f"recorded {fix(merchant, actor, differences)} answers the processor proves", file=sys.stderr)
        differences = reconcile(merchant, actor, progress=lambda step: print(step, file=sys.stderr))
    for difference in differences:
        print(f"{difference.kind}\t{difference.subject}\tmerchant: {difference.merchant}\t"
              f"processor: {difference.processor}")  # fmt: skip
    print("checking the daily fee rollup", file=sys.stderr)
    rollup = fee_days.differences(merchant.engine)
    for day in rollup:
        print(f"fee rollup differs\t{day.day} {day.kind} {day.currency}\t"
              f"records: {day.describe(day.records)}\trollup: {day.describe(day.rollup)}")  # fmt: skip
    print(f"{len(differences) + len(rollup)} differences", file=sys.stderr)
    return 1 if differences or rollup else 0


def _rebuild_rollup(args: argparse.Namespace, settings: Settings) -> int:
    from fpscore.merchant import fee_days

    engine = make_engine(settings.database_url)
    migrate(engine, "merchant")
    with engine.begin() as conn:
        fee_days.rebuild(conn)
    left = fee_days.differences(engine)
    print(f"daily fee rollup recounted from the records; {len(left)} differences", file=sys.stderr)
    return 1 if left else 0


def _ipn_listen(args: argparse.Namespace, settings: Settings) -> int:
    import logging
    from wsgiref.simple_server import make_server

    from fpscore.merchant.connect import connect
    from fpscore.merchant.notifications import ipn_app

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    merchant = connect(settings)
    _recover_in_flight(merchant)
    app = ipn_app(merchant, args.public_url)
    with make_server(args.host, args.port, app) as server:
        print(f"listening for IPN on http://{args.host}:{args.port}/", file=sys.stderr)
        server.serve_forever()
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from fpscore.merchant.demo import DEFAULT_CUSTOMERS, DEFAULT_DAYS, DEFAULT_SEED, DemoError, run_demo

    try:
        run_demo(
            settings,
            customers=DEFAULT_CUSTOMERS if args.customers is None else args.customers,
            days=DEFAULT_DAYS if args.days is None else args.days,
            seed=DEFAULT_SEED if args.seed is None else args.seed,
            progress=not args.no_progress,
        )
    except DemoError as exc:
        print(f"fpscore demo: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fpscore", description="FPS Back Office")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or upgrade both databases").set_defaults(func=_migrate)

    serve = commands.add_parser("serve", help="run the FPS-compatible processor over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument(
        "--workers", type=int, help="worker processes (default: 1 on SQLite, one per CPU on PostgreSQL)"
    )
    serve.add_argument(
        "--threads",
        type=int,
        help="threads per worker that run the app (default: 4 on SQLite, 16 on PostgreSQL)",
    )
    serve.add_argument("--public-host", help="host[:port] merchants reach the processor by, if not HOST:PORT")
    serve.set_defaults(func=_serve)

    shop = commands.add_parser("shop", help="run the reference storefront customers buy songs at")
    shop.add_argument("--host", default="127.0.0.1")
    shop.add_argument("--port", type=int, help="default: FPS_SHOP_PORT (8600)")
    shop.add_argument("--threads", type=int, help="threads that run the app (default: 8)")
    shop.set_defaults(func=_shop)

    staff = commands.add_parser("staff", help="back-office staff accounts")
    staff_commands = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_commands.add_parser(
        "add", help="create a staff account (password from FPS_STAFF_PASSWORD or asked)"
    )
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--display-name")
    add.set_defaults(func=_staff_add)

    settle = commands.add_parser("settle", help="settle postpaid debt")
    settle.add_argument("--due", action="store_true", help="every instrument due under the settlement policy")
    settle.set_defaults(func=_settle)

    recover = commands.add_parser(
        "recover",
        help="resend every movement cut off in flight (no answer recorded, and no flow waiting for one) with "
        "its CallerReference; exit 1 if any is still without an answer",
    )
    recover.add_argument(
        "--all",
        action="store_true",
        help="every movement without an answer, however recent: only when no other merchant process runs",
    )
    recover.set_defaults(func=_recover)

    reconcile = commands.add_parser(
        "reconcile",
        help="compare the merchant's records with the processor's, and the fee rollup with the records; "
        "exit 1 on any difference",
    )
    reconcile.add_argument(
        "--fix",
        action="store_true",
        help="record the answers the processor's activity proves, then compare again",
    )
    reconcile.set_defaults(func=_reconcile)

    commands.add_parser(
        "rebuild-rollup",
        help="recount the daily fee rollup from the records (after `reconcile` found it differs)",
    ).set_defaults(func=_rebuild_rollup)

    listen = commands.add_parser("ipn-listen", help="receive the processor's IPN and update the records")
    listen.add_argument("--host", default="127.0.0.1")
    listen.add_argument("--port", type=int, default=8766)
    listen.add_argument("--public-url", help="the URL the processor posts to, if not http://HOST:PORT/PATH")
    listen.set_defaults(func=_ipn_listen)

    demo = commands.add_parser("demo", help="seed 90 days of demo traffic through the signed path (once)")
    demo.add_argument("--customers", type=int, help="how many customers (default 30)")
    demo.add_argument("--days", type=int, help="how many days of history, ending today (default 90)")
    demo.add_argument("--seed", type=int, help="the random seed (same seed, same traffic)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args, Settings.from_env()))


if __name__ == "__main__":
    sys.exit(main())
