"""The HTTP tests' kit: a client that signs its calls as FPS clients do, checks of the response
documents, and `fpscore_serve`, the real server in a subprocess (the loopback server for a WSGI app in a
thread is `helpers.serve`)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest
import requests
from helpers import free_port, refusing_inserts
from sqlalchemy import Engine, select, text

from fpscore.db import utcnow
from fpscore.processor.schema import ApiRequest
from fpscore.signing import sign_query, utc_timestamp
from fpscore.wire import namespace, parse_error, parse_response
from fpscore.wire.xml import DECLARATION

CALLER_KEY, CALLER_SECRET = "AKIDCALLER", "caller-secret"  # the root conftest's `caller_id`
SERVER_KEY, SERVER_SECRET = "AKIDSERVER", "server-secret-0123"  # registered by `fpscore_serve`
_RUN = (
    "import json, sys; from fpscore.processor.front import Limits; from fpscore.processor.server import run; "
    "run('127.0.0.1', int(sys.argv[1]), 2, sys.argv[2], threads=1, limits=Limits(**json.loads(sys.argv[3])))"
)
BOTH_BACKENDS = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
ERROR_BODY = re.compile(
    rb'<\?xml version="1\.0"\?>\n<Response><Errors><Error><Code>(?P<code>\w+)</Code>'
    rb"<Message>(?P<message>[^\n<]*)</Message></Error></Errors>"
    rb"<RequestID>(?P<request_id>[0-9a-f-]{36})</RequestID></Response>"
)
SUCCESS_REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:0")


class Clock:
    """A settable clock for the processor (and for the Timestamps the client signs)."""

    def __init__(self, now: datetime | None = None):
        self.now = now

    def __call__(self) -> datetime:
        return self.now or utcnow()

    def advance(self, delta: timedelta) -> None:
        self.now = self() + delta


class FpsClient:
    """Signs FPS query-API calls with Signature V2 and sends them, GET or POST."""

    def __init__(self, base_url: str, access_key: str, secret: str, clock: Callable[[], datetime] = utcnow):
        self.base_url = base_url
        self.access_key = access_key
        self.secret = secret
        self.clock = clock
        self.session = requests.Session()
        self.sent_signatures: list[str] = []

    def signed(
        self,
        action: str,
        params: dict[str, str],
        *,
        version: str = "2010-08-28",
        method: str = "GET",
        host: str | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        """The signed parameters of a call; `host` defaults to the server's host without its port (boto)."""
        unsigned = {
            "Action": action,
            "Version": version,
            "AWSAccessKeyId": self.access_key,
            "SignatureVersion": "2",
            "Timestamp": utc_timestamp(self.clock()),
            **params,
        }
        signed = sign_query(unsigned, secret or self.secret, method=method, host=host or "127.0.0.1")
        self.sent_signatures.append(signed["Signature"])
        return signed

    def send(self, params: dict[str, str], method: str = "GET") -> requests.Response:
        if method == "GET":
            return self.session.get(self.base_url + "/", params=params, timeout=10)
        return self.session.post(self.base_url + "/", data=params, timeout=10)

    def call(
        self, action: str, *, version: str = "2010-08-28", method: str = "GET", **params: str
    ) -> requests.Response:
        return self.send(self.signed(action, params, version=version, method=method), method)

    def ok(self, action: str, *, version: str = "2010-08-28", **params: str) -> Element | None:
        """Call `action`, check the success document's shape, and return its `<ActionResult>`."""
        return expect_success(self.call(action, version=version, **params), action, version)


def expect_success(response: requests.Response, action: str, version: str) -> Element | None:
    """Check a success response: 200, default namespace of `version`, no prefixes, no whitespace."""
    body = response.content
    assert response.status_code == 200, body
    assert response.headers["Content-Type"].startswith("text/xml")
    assert body.startswith(DECLARATION)
    document = body[len(DECLARATION) :]
    assert document.startswith(f'<{action}Response xmlns="{namespace(version)}">'.encode())
    assert b"\n" not in document and not re.search(rb">\s|\s<", document)
    assert b"xmlns:" not in document and not re.search(rb"</?\w+:", document)
    parsed_action, result, request_id = parse_response(body)
    assert parsed_action == action
    assert SUCCESS_REQUEST_ID.fullmatch(request_id)
    return result


def expect_error(response: requests.Response, code: str, status: int) -> str:
    """Check an error response: its status, the compact one-line document with `code`. Its message."""
    assert response.status_code == status, response.content
    match = ERROR_BODY.fullmatch(response.content)
    assert match, response.content
    assert match["code"].decode() == code
    assert parse_error(response.content).code == code
    return match["message"].decode()


def children(element: Element | None) -> list[str]:
    assert element is not None
    return [child.tag for child in element]


def ledger_state(engine: Engine) -> tuple[object, ...]:
    """Every account balance, and how many transactions and entries exist: equal means nothing moved."""
    with engine.connect() as conn:
        balances = conn.execute(text("SELECT id, balance_cents FROM ledger_accounts ORDER BY id")).all()
        counts = conn.execute(
            text("SELECT (SELECT COUNT(*) FROM transactions), (SELECT COUNT(*) FROM ledger_entries)")
        ).one()
    return tuple(balances), tuple(counts)


def api_requests(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(select(ApiRequest.__table__).order_by(ApiRequest.received_at)).mappings()
        return [dict(row) for row in rows]


def amount(group: str, value: str, currency: str = "USD") -> dict[str, str]:
    """An amount parameter group as the query API takes it."""
    return {f"{group}.Value": value, f"{group}.CurrencyCode": currency}


def database_url(engine: Engine) -> str:
    url = engine.url
    if engine.dialect.name == "postgresql":  # the test's own schema, as the fixture's connections use it
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        url = url.set(query={"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def fpscore_serve(
    engine: Engine, tmp_path: Path, **limits: float
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`server.run` with two workers of one app thread each (the tests of the front's limits count on it)
    on `engine`'s database in a subprocess, within `limits` (those of
    `front.Limits` changed), logging to `tmp_path/server.log`, with SERVER_KEY registered: (base URL,
    process); stopped with SIGTERM."""
    port = free_port()
    env = {
        **os.environ,
        "FPS_ACCESS_KEY_ID": SERVER_KEY,
        "FPS_SECRET_ACCESS_KEY": SERVER_SECRET,
        "FPS_CALLER_EMAIL": "ops@shop.example",
        "FPS_DATA_DIR": str(tmp_path),
    }
    command = [sys.executable, "-c", _RUN, str(port), database_url(engine), json.dumps(limits)]
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        # Until both workers serve: a SIGTERM that reaches a worker gunicorn is still forking is lost.
        deadline = time.monotonic() + 30
        while (output := (tmp_path / "server.log").read_text()).count("Worker serving") < 2:
            assert process.poll() is None and time.monotonic() < deadline, output
            time.sleep(0.05)
        base_url = f"http://127.0.0.1:{port}"
        try:
            yield base_url, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)


def refusing_records(engine: Engine) -> AbstractContextManager[None]:
    """The processor's database refuses to store api_requests rows while inside (a trigger raises)."""
    return refusing_inserts(engine, "api_requests", "database is read-only", "25006")
