"""`fpscore serve` under slow, stalled and malformed clients, floods of connections and an app call that
never ends: honest requests keep being answered, and every refusal is the FPS error document, in time;
the security headers on its answers."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from fpshttp import ERROR_BODY, SERVER_KEY, SERVER_SECRET, FpsClient, expect_error, fpscore_serve
from slowclients import DRIBBLE, SlowClients, honest_latencies, read_answer
from sqlalchemy import Engine, text

from fpscore.db import make_engine

CLIENT_TIMEOUT_S = 2.0  # the server's, shortened for the test (the default is 10 s)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server on SQLite for the module's tests (each opens its own connections)."""
    folder = tmp_path_factory.mktemp("front")
    engine = make_engine(f"sqlite:///{folder / 'processor.sqlite3'}")
    with fpscore_serve(engine, folder, client_timeout_s=CLIENT_TIMEOUT_S) as (base_url, _process):
        yield base_url
    engine.dispose()


def _port(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def _raw(base_url: str, request: bytes, *, close_sending: bool = False) -> tuple[bytes, float]:
    """Send `request` on a new connection (then shut our side, if asked): the whole answer and seconds."""
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(request)
        if close_sending:
            sock.shutdown(socket.SHUT_WR)
        answer = read_answer(sock, timeout=5)
        return answer, time.monotonic() - started


def _fps_error(answer: bytes, code: str = "InvalidParams", status: int = 400) -> None:
    """`answer` is the compact FPS error document of `code` with `status`, in XML, not sniffable."""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer[:300]
    headers = head.lower()
    assert b"content-type: text/xml; charset=utf-8" in headers
    assert b"x-content-type-options: nosniff" in headers
    match = ERROR_BODY.fullmatch(body)
    assert match and match["code"].decode() == code, body[:300]


def test_honest_requests_are_answered_while_50_connections_stall(server):
    client = FpsClient(server, SERVER_KEY, SERVER_SECRET)

    def honest(timeout: float) -> bool:
        response = client.session.get(
            server + "/", params=client.signed("GetTotalPrepaidLiability", {}), timeout=timeout
        )
        return response.status_code == 200

    slow = SlowClients(_port(server), 50).start()
    try:
        latencies, failed = honest_latencies(honest, seconds=CLIENT_TIMEOUT_S / 2, timeout=CLIENT_TIMEOUT_S)
        assert failed == 0 and len(latencies) >= 5 and max(latencies) < 1.0, (failed, latencies)
        # Past the client timeout each slow connection is answered with the FPS error document and closed.
        for sock, _dribbles in slow.sockets:
            _fps_error(read_answer(sock, timeout=CLIENT_TIMEOUT_S + 3))
    finally:
        slow.stop()
    assert honest(CLIENT_TIMEOUT_S)


def test_a_body_shorter_than_its_content_length_is_answered_at_once(server):
    answer, seconds = _raw(
        server,
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 60000\r\n\r\nAction=",
        close_sending=True,
    )
    _fps_error(answer)
    assert b"before the request body was complete" in answer and seconds < 1.0


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET /?Action=Pay&Padding=" + b"x" * 20_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(b"X-Filler-%d: %s\r\n" % (index, b"y" * 200) for index in range(100))
        + b"\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
    ids=["long request line", "long headers", "not HTTP"],
)
def test_oversized_or_malformed_heads_get_the_fps_error_document(server, request_head):
    answer, seconds = _raw(server, request_head)
    _fps_error(answer)
    assert seconds < 1.0


def test_a_body_over_the_limit_is_refused_unread(server):
    answer, seconds = _raw(
        server,
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 10000000\r\n\r\nAction=Pay",
    )
    _fps_error(answer)
    assert b"may hold at most 65536 bytes" in answer and seconds < 1.0


def test_api_answers_say_nosniff_and_hsts_behind_https(server):
    client = FpsClient(server, SERVER_KEY, SERVER_SECRET)
    plain = client.call("GetTotalPrepaidLiability")
    assert plain.status_code == 200 and plain.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in plain.headers  # meaningless over plain HTTP

    params = client.signed("GetTotalPrepaidLiability", {})
    proxied = requests.get(server + "/", params=params, headers={"X-Forwarded-Proto": "https"}, timeout=5)
    assert proxied.status_code == 200
    assert proxied.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert proxied.headers["X-Content-Type-Options"] == "nosniff"
    # A header spelled with underscores is not taken for X-Forwarded-Proto.
    params = client.signed("GetTotalPrepaidLiability", {})
    spoofed = requests.get(server + "/", params=params, headers={"X_Forwarded_Proto": "https"}, timeout=5)
    assert spoofed.status_code == 200 and "Strict-Transport-Security" not in spoofed.headers

    error = requests.get(server + "/", params={"Action": "Nope"}, timeout=5)
    expect_error(error, "InvalidAction", 400)
    assert error.headers["X-Content-Type-Options"] == "nosniff"


def _signed_get(client: FpsClient, timeout: float) -> requests.Response:
    """A signed GetTotalPrepaidLiability on a connection of its own (it also writes the request's record)."""
    params = client.signed("GetTotalPrepaidLiability", {})
    return requests.get(client.base_url + "/", params=params, timeout=timeout)


@contextmanager
def _write_lock(engine: Engine) -> Iterator[None]:
    """SQLite's write lock held: every request waits to write its record (up to the 60 s busy timeout)."""
    with engine.begin():  # BEGIN IMMEDIATE
        yield


def test_a_flood_of_partial_requests_cannot_keep_honest_ones_out(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'processor.sqlite3'}")
    with fpscore_serve(engine, tmp_path, max_connections=20) as (base_url, _process):
        # Three times what the two workers keep, each holding a request head that never ends. Each sends its
        # part before the next connects: a connection evicted before the front has read a byte of it is
        # closed without an answer (it had sent nothing), which is not what this test is about.
        flood = []
        try:
            for _ in range(60):
                flood.append(socket.create_connection(("127.0.0.1", _port(base_url)), timeout=5))
                flood[-1].sendall(DRIBBLE)
                time.sleep(0.005)
            time.sleep(0.5)
            client = FpsClient(base_url, SERVER_KEY, SERVER_SECRET)
            started = time.monotonic()
            assert _signed_get(client, timeout=5).status_code == 200
            assert time.monotonic() - started < 1.0
            # The connections that waited longest for their request were answered Throttling to make room.
            time.sleep(0.2)
            answered = select.select(flood, [], [], 0)[0]
            answers = [read_answer(sock, timeout=1) for sock in answered]
        finally:
            for sock in flood:
                sock.close()
    assert len(answers) >= 20, len(answers)
    for answer in answers:
        _fps_error(answer, "Throttling", 503)
    engine.dispose()


def test_requests_waiting_behind_a_busy_app_thread_are_answered_throttling(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'processor.sqlite3'}")
    with fpscore_serve(engine, tmp_path, thread_wait_s=0.5, max_waiting=1) as (base_url, _process):
        client = FpsClient(base_url, SERVER_KEY, SERVER_SECRET)
        with ThreadPoolExecutor(6) as pool, _write_lock(engine):
            calls = []
            for _ in range(6):  # per worker: one call runs (it waits for the lock), one may wait for it
                calls.append(pool.submit(_signed_get, client, 10))
                time.sleep(0.1)
            time.sleep(1.0)
            early = [call for call in calls if call.done()]
        responses = [call.result() for call in calls]
        throttled = [call.result() for call in early]
        assert len(throttled) >= 4
        messages = {expect_error(response, "Throttling", 503) for response in throttled}
        assert messages == {
            "Too many requests are waiting; send this one again",
            "The request waited 0.5 seconds to be served; send it again",
        }
        # The calls that held the threads went on once the lock was free.
        assert sum(response.status_code == 200 for response in responses) == len(calls) - len(early)
    engine.dispose()


def test_a_worker_whose_app_call_is_stuck_is_replaced(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'processor.sqlite3'}")
    with fpscore_serve(engine, tmp_path, app_timeout_s=1.0) as (base_url, process):
        client = FpsClient(base_url, SERVER_KEY, SERVER_SECRET)
        with ThreadPoolExecutor(1) as pool, _write_lock(engine):
            started = time.monotonic()
            stuck = pool.submit(_signed_get, client, 10)
            # Past the app timeout its worker stops without answering and exits; the master starts another.
            with pytest.raises(requests.ConnectionError):
                stuck.result()
            assert time.monotonic() - started < 4.0
        log = tmp_path / "server.log"
        deadline = time.monotonic() + 10
        while log.read_text().count("Worker serving") < 3:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        output = log.read_text()
        assert "An app call has run" in output and "Worker exiting with an app call still running" in output
        for _ in range(4):
            assert _signed_get(client, timeout=5).status_code == 200
    engine.dispose()


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_statement_stuck_on_a_postgresql_lock_is_cancelled_and_answered(engine: Engine, tmp_path: Path):
    with fpscore_serve(engine, tmp_path, app_timeout_s=3.0) as (base_url, _process):  # statements: 1.5 s
        client = FpsClient(base_url, SERVER_KEY, SERVER_SECRET)
        with engine.begin() as conn:
            conn.execute(text("LOCK TABLE credentials IN ACCESS EXCLUSIVE MODE"))  # every caller lookup waits
            started = time.monotonic()
            expect_error(_signed_get(client, timeout=10), "InternalError", 503)
            assert time.monotonic() - started < 2.5
        assert _signed_get(client, timeout=5).status_code == 200
    assert "An app call has run" not in (tmp_path / "server.log").read_text()
