"""`fpscore serve`: the processor's HTTP app on gunicorn, in worker processes (one on SQLite, one per CPU
on PostgreSQL, see `default_workers`), each with app threads (`default_threads`) whose money-moving
actions its group commit batches (`fpscore.processor.batch`).

Each worker is a `BufferingWorker`: gunicorn's master forks, watches and restarts it, and it serves with
`front.Front`, which reads every request whole on an event loop before one of the worker's threads runs
the app (why, and the limits and timeouts, are in `fpscore.processor.front`). With 50 slow or stalled
connections held for 60 s, honest signed requests kept being answered in milliseconds, where gunicorn's
sync workers answered none of them behind four such connections and gthread workers half behind 16.

The event loop beats gunicorn's heartbeat, so the master's timeout alone would not notice an app call
that never ends (a lock wait, a lost database connection). The heartbeat therefore also watches the app
calls: once one has run past `Limits.app_timeout_s`, the worker stops at once (its connections closed,
requests in flight unanswered: money-moving ones are safe to send again under their CallerReference) and
exits without waiting for the stuck thread; the master starts another. On PostgreSQL, statements are
also cut at `Limits.statement_timeout_s`, so a lock wait ends in an InternalError answer first.

Before any worker starts, the master migrates the database, registers the caller of FPS_ACCESS_KEY_ID /
FPS_SECRET_ACCESS_KEY when both are set (named by FPS_CALLER_NAME / FPS_CALLER_EMAIL), makes the signing
key, and disposes of its engine. The app is not preloaded: each worker builds its own engine and app after
the fork, so no database connection is ever shared between processes. Each worker also runs an IPN
delivery thread; the outbox's claims keep them from sending one notification twice at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from wsgiref.types import WSGIApplication

from gunicorn.app.base import BaseApplication
from gunicorn.workers.base import Worker
from sqlalchemy.engine import make_url

from fpscore.config import Settings
from fpscore.db import make_engine, migrate
from fpscore.processor import Processor
from fpscore.processor.app import make_app
from fpscore.processor.front import DEFAULT_LIMITS, Front, Limits, trusted_proxies
from fpscore.processor.ipn import IpnDispatcher
from fpscore.processor.keys import SigningKeys

HEARTBEAT_TIMEOUT_S = 30  # a worker silent this long is killed and replaced; also the graceful stop's bound
# App threads per worker (requests in flight at once in one process, which its group commit batches).
SQLITE_THREADS = 4
POSTGRES_THREADS = 16


def _is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def default_workers(database_url: str) -> int:
    """Worker processes when none are asked for. SQLite: one. Its writers take one database lock in
    turn, so a second process adds no write throughput, and each process has its own group commit
    (`fpscore.processor.batch`): Pays split over two batchers make two fsyncs where one would do. One
    process puts every concurrent Pay of the deployment in one batcher.
    PostgreSQL: one per CPU, as each process runs its Python on one core at a time and PostgreSQL
    commits the workers' batches in parallel."""
    return 1 if _is_sqlite(database_url) else os.cpu_count() or 1


def default_threads(database_url: str) -> int:
    """App threads per worker when none are asked for. SQLite: SQLITE_THREADS. Its one worker runs every
    request's Python under one interpreter lock, and a batch's Pays are answered together when it commits.
    With 4 threads, batches of up to 4 alternate with reading and checking the next requests: 8 signed-HTTP
    clients made about 15% more Pays per second than with 16 threads, and more than with 8 (on a 2-CPU VM
    that flushes fast, bench/signed_http.py). A disk slow to flush wants bigger batches: more threads
    (`--threads`). Requests beyond the threads wait, read whole, in `front.Front`. PostgreSQL:
    POSTGRES_THREADS (8 measured alike)."""
    return SQLITE_THREADS if _is_sqlite(database_url) else POSTGRES_THREADS


class BufferingWorker(Worker):  # type: ignore[misc]
    """A gunicorn worker serving with `Front` on an asyncio loop; SIGTERM stops it gracefully (requests
    with the app are finished), SIGINT and SIGQUIT at once."""

    def init_process(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.stop = asyncio.Event()
        self.graceful_s = float(self.cfg.graceful_timeout)
        super().init_process()

    def init_signals(self) -> None:
        for number in self.SIGNALS:
            signal.signal(number, signal.SIG_DFL)
        self.loop.add_signal_handler(signal.SIGTERM, self.stop.set)
        for number in (signal.SIGINT, signal.SIGQUIT):
            self.loop.add_signal_handler(number, self._stop_now)
        self.loop.add_signal_handler(signal.SIGUSR1, self.log.reopen_files)

    def _stop_now(self) -> None:
        self.graceful_s = 0.0
        self.stop.set()

    def run(self) -> None:
        front = Front(
            self.wsgi,
            threads=self.cfg.threads,
            trusted=trusted_proxies(self.cfg.forwarded_allow_ips),
            secure_scheme_headers=self.cfg.secure_scheme_headers,
            limits=self.app.limits,
        )
        self.log.info("Worker serving (pid: %s)", self.pid)
        try:
            self.loop.run_until_complete(self._serve(front))
        finally:
            self.loop.close()
        if front.longest_call_s():  # a thread that cannot be stopped: exit without waiting for it
            self.log.critical("Worker exiting with an app call still running (pid: %s)", self.pid)
            os._exit(1)

    async def _serve(self, front: Front) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(front))
        try:
            sockets = [listener.sock for listener in self.sockets]
            await front.serve(sockets, self.stop, lambda: self.graceful_s)
        finally:
            heartbeat.cancel()

    async def _heartbeat(self, front: Front) -> None:
        """Tell the master this worker lives while no app call has run past the app timeout; stop at
        once when one has, and when the master is gone."""
        while True:
            running_s = front.longest_call_s()
            if running_s > front.limits.app_timeout_s:
                self.log.critical("An app call has run %.0f s, past %g s: stopping (pid: %s)",
                                  running_s, front.limits.app_timeout_s, self.pid)  # fmt: skip
                self._stop_now()
                return
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                self.stop.set()
            await asyncio.sleep(1.0)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(
        self,
        load_app: Callable[[], WSGIApplication],
        options: Mapping[str, object],
        limits: Limits = DEFAULT_LIMITS,
    ):
        self._load_app = load_app
        self._options = options
        self.limits = limits  # read by BufferingWorker
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)
        if "control_socket_disable" in self.cfg.settings:  # newer gunicorn opens a shared control socket
            self.cfg.set("control_socket_disable", True)

    def load(self) -> WSGIApplication:
        return self._load_app()


def serve_app(
    load_app: Callable[[], WSGIApplication],
    bind: str,
    *,
    workers: int,
    threads: int,
    proc_name: str,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Serve the app `load_app` builds in each worker (after the fork) on `bind` (host:port) with gunicorn:
    `workers` `BufferingWorker` processes of `threads` app threads within `limits`, until stopped."""
    options: dict[str, object] = {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": BufferingWorker,
        "timeout": HEARTBEAT_TIMEOUT_S,
        "graceful_timeout": HEARTBEAT_TIMEOUT_S,
        "accesslog": None,  # the apps log each request themselves
        "errorlog": "-",
        "proc_name": proc_name,
    }
    _Gunicorn(load_app, options, limits).run()


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
    workers: int | None,
    database_url: str,
    *,
    threads: int | None = None,
    public_host: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Serve the processor on `host:port` with `workers` processes (None: `default_workers`), each
    running the app on `threads` threads (None: `default_threads`) within `limits`, until stopped
    (SIGINT/SIGTERM). `public_host`: the host name clients may sign for besides Host."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # one JSON line per API request
    settings = Settings.from_env()
    _prepare(database_url, settings, public_host)

    base_url = f"http://{public_host or host_port(host, port)}"

    def load_app() -> WSGIApplication:
        engine = make_engine(database_url, statement_timeout_s=limits.statement_timeout_s)
        processor = Processor(engine, settings.fee_schedule)
        dispatcher = IpnDispatcher(processor.engine, SigningKeys(processor.engine, public_host), base_url)
        threading.Thread(
            target=dispatcher.run_forever, args=(threading.Event(),), name="ipn-delivery", daemon=True
        ).start()
        return make_app(processor, public_host=public_host)

    serve_app(
        load_app,
        host_port(host, port),
        workers=workers or default_workers(database_url),
        threads=threads or default_threads(database_url),
        proc_name="fpscore-processor",
        limits=limits,
    )
