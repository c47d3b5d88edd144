"""`fpscore shop`: the storefront on gunicorn, served as the processor is (`BufferingWorker`: requests read
whole on an event loop, then run on the worker's threads). One worker: embedded, it runs the processor in
its process, and one process puts the customers' concurrent Pays in one group commit."""

from __future__ import annotations

import logging
import sys
from wsgiref.types import WSGIApplication

from fpscore.config import Settings
from fpscore.processor.server import host_port, serve_app
from fpscore.shop.app import build

DEFAULT_THREADS = 8


def run(host: str, port: int, settings: Settings, *, threads: int | None = None) -> None:
    """Serve the storefront on `host:port` until stopped (SIGINT/SIGTERM)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(settings).merchant.close()  # migrate and make the key before the worker starts
    print(f"Tune Shop storefront at http://{host_port(host, port)}/", file=sys.stderr, flush=True)

    def load_app() -> WSGIApplication:
        return build(settings)

    serve_app(
        load_app,
        host_port(host, port),
        workers=1,
        threads=threads or DEFAULT_THREADS,
        proc_name="fpscore-shop",
    )
