"""The `fpscore` command: migrate | serve."""

from __future__ import annotations

import argparse
import sys

from fpscore.config import Settings
from fpscore.db import make_engine, migrate


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.processor_database_url)
    migrate(engine, "processor")
    engine.dispose()
    print(f"processor database at head: {engine.url.render_as_string(hide_password=True)}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from fpscore.processor.server import run

    run(args.host, args.port, args.workers, settings.processor_database_url, public_host=args.public_host)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fpscore", description="FPS Back Office")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or upgrade the processor's database").set_defaults(
        func=_migrate
    )
    serve = commands.add_parser("serve", help="run the FPS-compatible processor over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--workers", type=int, default=4)
    serve.add_argument("--public-host", help="host[:port] merchants reach the processor by, if not HOST:PORT")
    serve.set_defaults(func=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args, Settings.from_env()))


if __name__ == "__main__":
    sys.exit(main())
