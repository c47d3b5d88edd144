"""`fpscore serve`: the processor's HTTP app on gunicorn, in several worker processes.

Before any worker starts, the master migrates the database, registers the caller of FPS_ACCESS_KEY_ID /
FPS_SECRET_ACCESS_KEY when both are set (named by FPS_CALLER_NAME / FPS_CALLER_EMAIL), makes the signing
key, and disposes of its engine. The app is not preloaded: each worker builds its own engine and app after
the fork, so no database connection is ever shared between processes. Each worker also runs an IPN
delivery thread; the outbox's claims keep them from sending one notification twice at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from wsgiref.types import WSGIApplication

from gunicorn.app.base import BaseApplication

from fpscore.config import Settings
from fpscore.db import make_engine, migrate
from fpscore.processor import Processor
from fpscore.processor.app import make_app
from fpscore.processor.ipn import IpnDispatcher
from fpscore.processor.keys import SigningKeys

REQUEST_TIMEOUT_S = 30
MAX_REQUEST_LINE = 8190  # gunicorn's ceiling; a signed GET (VerifySignature above all) can be long


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, load_app: Callable[[], WSGIApplication], options: Mapping[str, object]):
        self._load_app = load_app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)
        if "control_socket_disable" in self.cfg.settings:  # newer gunicorn opens a shared control socket
            self.cfg.set("control_socket_disable", True)

    def load(self) -> WSGIApplication:
        return self._load_app()


def _prepare(database_url: str, settings: Settings, public_host: str | None) -> None:
    """Migrate, register the configured caller and make the signing key, before any worker exists."""
    engine = make_engine(database_url)
    try:
        migrate(engine, "processor")
        if settings.access_key_id and settings.secret_access_key:
            Processor(engine).ensure_caller(
                settings.access_key_id,
                settings.secret_access_key,
                settings.caller_name,
                settings.caller_email,
            )
        SigningKeys(engine, public_host).current()
    finally:
        engine.dispose()


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run(
    host: str,
    port: int,
    workers: int,
    database_url: str,
    *,
    threads: int = 1,
    public_host: str | None = None,
) -> None:
    """Serve the processor on `host:port` with `workers` processes (gthread workers when `threads` > 1)
    until stopped (SIGINT/SIGTERM). `public_host`: the host name clients may sign for besides Host."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # one JSON line per API request
    settings = Settings.from_env()
    _prepare(database_url, settings, public_host)

    base_url = f"http://{public_host or host_port(host, port)}"

    def load_app() -> WSGIApplication:
        processor = Processor(make_engine(database_url), settings.fee_schedule)
        dispatcher = IpnDispatcher(processor.engine, SigningKeys(processor.engine, public_host), base_url)
        threading.Thread(
            target=dispatcher.run_forever, args=(threading.Event(),), name="ipn-delivery", daemon=True
        ).start()
        return make_app(processor, public_host=public_host)

    options: dict[str, object] = {
        "bind": host_port(host, port),
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": REQUEST_TIMEOUT_S,
        "graceful_timeout": REQUEST_TIMEOUT_S,
        "limit_request_line": MAX_REQUEST_LINE,
        "accesslog": None,  # the app logs each API request itself
        "errorlog": "-",
        "proc_name": "fpscore-processor",
    }
    _Gunicorn(load_app, options).run()
