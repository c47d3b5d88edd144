"""Small builders the tests share, and a WSGI app served on loopback in a thread."""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import WSGIApplication

from sqlalchemy import Engine, select, text

from fpscore.db import is_sqlite
from fpscore.merchant.schema import AuditEvent
from fpscore.money import Amount
from fpscore.processor import InstrumentSetup, Processor

_refs = itertools.count(1)


def usd(value: str) -> Amount:
    return Amount.parse(value)


def sign_in_refusals(engine: Engine) -> list[str]:
    """The detail of every refused sign-in the merchant recorded, oldest first."""
    events = AuditEvent.__table__
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(events.c.detail)
                .where(events.c.action == "sign_in", events.c.outcome == "Refused")
                .order_by(events.c.id)
            ).scalars()
        )


def ref(prefix: str = "ref") -> str:
    """A fresh CallerReference."""
    return f"{prefix}-{next(_refs)}"


def open_prepaid(
    processor: Processor, caller_id: int, buyer_id: int, limit: str = "25.00", fund: str | None = None
) -> InstrumentSetup:
    setup = processor.setup_prepaid(
        caller_id,
        buyer_id,
        caller_reference_sender=ref("sender"),
        caller_reference_funding=ref("funding"),
        funding_limit=usd(limit),
    )
    if fund is not None:
        processor.fund_prepaid(
            caller_id,
            sender_token_id=setup.funding_token_id,
            prepaid_instrument_id=setup.instrument_id,
            amount=usd(fund),
            caller_reference=ref("fund"),
        )
    return setup


def open_postpaid(
    processor: Processor,
    caller_id: int,
    buyer_id: int,
    credit_limit: str = "25.00",
    per_purchase: str = "10.00",
) -> InstrumentSetup:
    return processor.setup_postpaid(
        caller_id,
        buyer_id,
        caller_reference_sender=ref("sender"),
        caller_reference_settlement=ref("settlement"),
        credit_limit=usd(credit_limit),
        global_amount_limit=usd(per_purchase),
    )


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(app: WSGIApplication) -> tuple[str, Callable[[], None]]:
    """Serve `app` on a free loopback port in a thread: (base URL, stop)."""
    httpd = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join()

    return f"http://127.0.0.1:{httpd.server_port}", stop


@contextmanager
def refusing_inserts(engine: Engine, table: str, message: str, sqlstate: str) -> Iterator[None]:
    """The database of `engine` refuses every row inserted into `table` while inside: a trigger raises
    `message` (with `sqlstate` on PostgreSQL, as a real fault of that kind would)."""
    name = f"refuse_{table}"
    with engine.begin() as conn:
        if is_sqlite(conn):
            conn.execute(text(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END"
            ))  # fmt: skip
        else:
            conn.execute(text(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = '{sqlstate}'; END $$"
            ))  # fmt: skip
            conn.execute(text(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
            ))  # fmt: skip
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TRIGGER {name}" + ("" if is_sqlite(conn) else f" ON {table}")))
            if not is_sqlite(conn):
                conn.execute(text(f"DROP FUNCTION {name}()"))


def failing_token_inserts(engine: Engine) -> AbstractContextManager[None]:
    """The processor's database refuses to store tokens while inside: a fault at the worst moment of a
    confirm, after the instrument and its account were written."""
    return refusing_inserts(engine, "tokens", "disk on fire", "53100")
