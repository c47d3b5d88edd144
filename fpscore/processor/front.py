"""The HTTP front of `fpscore serve`: an asyncio loop reads each request whole, then a thread runs the app.

Why: a worker that parses HTTP on the thread that runs the app (gunicorn's sync and gthread workers) is
held by any client that sends slowly; four such clients stopped the default server. Here one event loop
per worker process reads request lines, headers and bodies of any number of connections (h11 parses
them), and the WSGI app only ever sees a request that has fully arrived, with its body in memory. A
stalled or slow client costs a socket and a coroutine, never an app thread.

Limits, each answered with the FPS error document (`InvalidParams`, HTTP 400) and the connection closed:
- the request line and headers together may hold at most MAX_HEAD_BYTES;
- a body may hold at most MAX_BODY_BYTES (a larger Content-Length is refused before the body is read);
- a request must arrive whole within `Limits.client_timeout_s` of the connection being ready for it
  (opened, or the previous answer sent); a connection that sent nothing of a new request by then is
  closed quietly;
- a connection that ends before its request is complete (a body shorter than its Content-Length) is
  answered at once.
An answer the client does not take within `client_timeout_s` closes the connection.

Load, answered with `Throttling` (HTTP 503, which FPS clients retry): a worker keeps at most
`max_connections`; when a new one arrives beyond that, the connection that has waited longest for its
request is ended (answered, or closed quietly if it sent nothing of it yet), so connections that hold
partial requests cannot keep honest ones out. A complete request waits for one of the app's threads at
most `thread_wait_s`, behind at most `max_waiting` others; beyond either it is answered at once. The
start of each app call is kept, so that the worker can tell a call stuck past `app_timeout_s`
(`fpscore.processor.server` then replaces the worker).
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
import socket
import sys
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote_to_bytes
from wsgiref.types import WSGIApplication, WSGIEnvironment

import h11

from fpscore.errors import FpsError, InternalError, InvalidParams, Throttling
from fpscore.processor.api import BODY_TOO_LARGE_MESSAGE, INTERNAL_ERROR_MESSAGE, MAX_BODY_BYTES, log_summary
from fpscore.processor.app import NOSNIFF, XML
from fpscore.wire import render_error

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024  # request line and headers; a signed GET (VerifySignature above all) can be long
LINGER_S = 1.0  # after an error answer, how long unread request bytes are drained before closing
HEAD_TOO_LARGE_MESSAGE = f"The request line and headers may hold at most {MAX_HEAD_BYTES} bytes"
_RECV_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """A worker's limits of time and load (tests shorten them)."""

    client_timeout_s: float = 10.0  # to send a whole request (at most 64 KiB), or to take an answer
    app_timeout_s: float = 30.0  # an app call running longer is stuck: its worker stops, gunicorn starts one
    thread_wait_s: float = 5.0  # a complete request waiting longer for an app thread is answered Throttling
    max_waiting: int = 64  # complete requests waiting for an app thread; one more is answered Throttling
    max_connections: int = 500  # per worker, below the usual limit of 1,024 open files

    @property
    def statement_timeout_s(self) -> float:
        """PostgreSQL's statement_timeout for the app: a statement stuck on a lock is cancelled (and its
        transaction's locks freed) well before its call counts as stuck. A worker that is replaced
        would not free them: its server process only notices the lost connection after the wait."""
        return self.app_timeout_s / 2


DEFAULT_LIMITS = Limits()


class _Refused(Exception):
    """A request refused before it reaches the app: its FPS error; `linger`: drain what the client still
    sends before closing (not for a connection evicted to make room, whose slot is wanted now)."""

    def __init__(self, error: FpsError, *, linger: bool = True):
        super().__init__(error.message)
        self.error = error
        self.linger = linger


class _Idle(Exception):
    """The connection sent nothing of a new request in time, or closed between requests."""


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


def trusted_proxies(allowed: Collection[str]) -> Callable[[str], bool]:
    """Whether a peer address is one whose forwarded-scheme headers are believed (gunicorn's
    `forwarded_allow_ips`: addresses or networks, `*` for any)."""
    if "*" in allowed:
        return lambda _address: True
    networks = [ipaddress.ip_network(entry.strip(), strict=False) for entry in allowed if entry.strip()]

    def trusted(address: str) -> bool:
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(peer in network for network in networks)

    return trusted


def _head_size(request: h11.Request) -> int:
    """The bytes of a request line and headers as sent (give or take the spaces around values)."""
    line = len(request.method) + len(request.target) + len(b"  HTTP/1.1\r\n")
    return line + sum(len(name) + len(value) + len(b": \r\n") for name, value in request.headers)


def _call_app(app: WSGIApplication, environ: WSGIEnvironment) -> _Answer:
    """Run the WSGI app on one buffered request; anything it raises is an FPS InternalError."""
    started: list[tuple[str, list[tuple[str, str]]]] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None):  # type: ignore[no-untyped-def]
        started[:] = [(status, headers)]
        return chunks.append

    try:
        result = app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started[0]
        code, _, reason = status.partition(" ")
        return _Answer(int(code), reason, list(headers), b"".join(chunks))
    except Exception:
        logger.exception("%s %s failed unexpectedly", environ["REQUEST_METHOD"], environ["PATH_INFO"])
        return _error_answer(InternalError(INTERNAL_ERROR_MESSAGE), str(uuid.uuid4()))


def _error_answer(error: FpsError, request_id: str) -> _Answer:
    body = render_error(error, request_id)
    headers = [("Content-Type", XML), ("Content-Length", str(len(body))), NOSNIFF]
    return _Answer(error.http_status, HTTPStatus(error.http_status).phrase, headers, body)


def _logged_error(error: FpsError, started: float) -> _Answer:
    """The answer to a request the front refuses without the app, logged as the API logs its answers."""
    request_id = str(uuid.uuid4())
    log_summary({"request_id": request_id, "action": None, "caller_reference": None,
                 "http_status": error.http_status, "error_code": error.code,
                 "latency_ms": round((time.perf_counter() - started) * 1000)})  # fmt: skip
    return _error_answer(error, request_id)


class Front:
    """Serves a WSGI app on listening sockets: requests read whole on the event loop, the app on
    `threads` threads, within `limits`."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        threads: int,
        trusted: Callable[[str], bool],
        secure_scheme_headers: Mapping[str, str],
        limits: Limits = DEFAULT_LIMITS,
    ):
        self.app = app
        self.limits = limits
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="app")
        self.trusted = trusted
        self.secure_scheme_headers = {name.upper().replace("-", "_"): value
                                      for name, value in secure_scheme_headers.items()}  # fmt: skip
        self.stopping = False
        self._connections: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()  # connections whose request is with the app
        self._reading: dict[asyncio.Timeout, None] = {}  # the waits for a request, the oldest first
        self._threads = asyncio.Semaphore(threads)
        self._waiting_for_thread = 0
        self._calls: dict[asyncio.Future[_Answer], float] = {}  # app calls running, when each began

    def longest_call_s(self) -> float:
        """How long the oldest app call still running has run (0 when none runs)."""
        return time.monotonic() - min(self._calls.values()) if self._calls else 0.0

    async def serve(
        self, listeners: list[socket.socket], stop: asyncio.Event, graceful_s: Callable[[], float]
    ) -> None:
        """Accept and serve until `stop` is set; then finish the requests already with the app (for at
        most `graceful_s()` seconds) and close every connection."""
        slots = asyncio.Semaphore(self.limits.max_connections)
        acceptors = [asyncio.create_task(self._accept(listener, slots)) for listener in listeners]
        await stop.wait()
        self.stopping = True
        for task in acceptors:
            task.cancel()
        for task in self._connections - self._busy:
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections, timeout=graceful_s())
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*acceptors, *self._connections, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _accept(self, listener: socket.socket, slots: asyncio.Semaphore) -> None:
        """Accept connections, each on a slot: when all are taken, the oldest reader is evicted."""
        loop = asyncio.get_running_loop()
        listener.setblocking(False)
        while True:
            try:
                client, _address = await loop.sock_accept(listener)
            except OSError as exc:  # out of file descriptors, or the peer gave up already
                logger.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            try:
                if slots.locked():
                    self._evict_oldest_reader()
                await slots.acquire()
                peer, local = client.getpeername(), client.getsockname()
                # This yields to the connections accepted before, so that they are reading (and can be
                # evicted) before the next is accepted, even when a burst of them waits in the backlog.
                reader, writer = await asyncio.open_connection(sock=client)
            except OSError:  # the client left already
                client.close()
                slots.release()
                continue
            except BaseException:  # cancelled: the worker stops
                client.close()
                raise
            task = asyncio.create_task(self._connection(reader, writer, peer, local))
            self._connections.add(task)
            task.add_done_callback(lambda done: (self._connections.discard(done), slots.release()))

    def _evict_oldest_reader(self) -> None:
        """End the wait of the connection that has waited longest for its request, to make room for a
        new one (it releases its slot as soon as it is answered or closed)."""
        for deadline in self._reading:
            if not deadline.expired():
                del self._reading[deadline]
                deadline.reschedule(asyncio.get_running_loop().time())
                return

    async def _connection(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: tuple[str, int],
        local: tuple[str, int],
    ) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        task = asyncio.current_task()
        assert task is not None
        try:
            while not self.stopping:
                started = time.perf_counter()
                try:
                    request, body = await self._read_request(conn, reader, writer)
                except _Idle:
                    return
                except _Refused as refused:
                    await self._refuse(refused, started, reader, writer)
                    return
                self._busy.add(task)
                try:
                    answer = await self._run_app(self._environ(request, body, peer, local), started)
                    if not await self._send(conn, writer, request, answer):
                        return
                finally:
                    self._busy.discard(task)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        finally:
            writer.close()

    async def _run_app(self, environ: WSGIEnvironment, started: float) -> _Answer:
        """The app's answer from one of its threads, or Throttling when `max_waiting` requests wait for
        one already or none was free within `thread_wait_s`."""
        if self._waiting_for_thread >= self.limits.max_waiting:
            return _logged_error(Throttling("Too many requests are waiting; send this one again"), started)
        self._waiting_for_thread += 1
        try:
            async with asyncio.timeout(self.limits.thread_wait_s):
                await self._threads.acquire()
        except TimeoutError:
            message = f"The request waited {self.limits.thread_wait_s:g} seconds to be served; send it again"
            return _logged_error(Throttling(message), started)
        finally:
            self._waiting_for_thread -= 1
        call = asyncio.get_running_loop().run_in_executor(self.executor, _call_app, self.app, environ)
        self._calls[call] = time.monotonic()
        call.add_done_callback(self._call_ended)
        return await asyncio.shield(call)  # a cancelled connection leaves the call counted until it ends

    def _call_ended(self, call: asyncio.Future[_Answer]) -> None:
        del self._calls[call]
        self._threads.release()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[h11.Request, bytes]:
        """The next request and its whole body, within the client timeout (or until evicted)."""
        received = bool(conn.trailing_data[0])
        request: h11.Request | None = None
        body = bytearray()
        deadline = asyncio.timeout(self.limits.client_timeout_s)
        try:
            async with deadline:
                self._reading[deadline] = None
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        if conn.they_are_waiting_for_100_continue:
                            writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                        data = await reader.read(_RECV_BYTES)
                        received = received or bool(data)
                        conn.receive_data(data)
                    elif isinstance(event, h11.Request):
                        request = event
                        if _head_size(event) > MAX_HEAD_BYTES:  # h11 bounds only a head still arriving
                            raise _Refused(InvalidParams(HEAD_TOO_LARGE_MESSAGE))
                        length = dict(event.headers).get(b"content-length", b"0")
                        if int(length) > MAX_BODY_BYTES:  # h11 checked it is a number
                            raise _Refused(InvalidParams(BODY_TOO_LARGE_MESSAGE))
                    elif isinstance(event, h11.Data):
                        body += event.data
                        if len(body) > MAX_BODY_BYTES:
                            raise _Refused(InvalidParams(BODY_TOO_LARGE_MESSAGE))
                    elif isinstance(event, h11.EndOfMessage):
                        assert request is not None
                        return request, bytes(body)
                    else:  # ConnectionClosed before a new request began
                        raise _Idle
        except TimeoutError:
            if not received:
                raise _Idle from None
            if deadline not in self._reading:  # _evict_oldest_reader took it out
                message = "The server is at its connection limit and the request had not arrived whole"
                raise _Refused(Throttling(message), linger=False) from None
            message = f"The request did not arrive whole within {self.limits.client_timeout_s:g} seconds"
            raise _Refused(InvalidParams(message)) from None
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint == 431:
                message = HEAD_TOO_LARGE_MESSAGE
            elif request is not None:
                message = "The connection ended before the request body was complete"
            else:
                message = "The request is not valid HTTP/1.1"
            raise _Refused(InvalidParams(message)) from None
        except ConnectionError:
            raise _Idle from None
        finally:
            self._reading.pop(deadline, None)

    async def _send(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, request: h11.Request, answer: _Answer
    ) -> bool:
        """Write the app's answer; False when the connection must close (the client left or is too slow)."""
        headers = answer.headers + ([("Connection", "close")] if self.stopping else [])
        try:
            data = conn.send(h11.Response(status_code=answer.status, headers=headers, reason=answer.reason))
            if request.method != b"HEAD":
                data += conn.send(h11.Data(data=answer.body))
            writer.write(data + conn.send(h11.EndOfMessage()))
            async with asyncio.timeout(self.limits.client_timeout_s):
                await writer.drain()
        except h11.LocalProtocolError:
            logger.exception("The app's answer to %s %r is not valid HTTP", request.method, request.target)
            return False
        except (TimeoutError, ConnectionError):
            return False
        return True

    async def _refuse(
        self, refused: _Refused, started: float, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer a refused request with the FPS error document and close: after our side is shut, unread
        request bytes are drained for LINGER_S (if it lingers) so that the client reads the answer rather
        than a reset."""
        answer = _logged_error(refused.error, started)
        head = f"HTTP/1.1 {answer.status} {answer.reason}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in answer.headers)
        try:
            writer.write(f"{head}Connection: close\r\n\r\n".encode("latin-1") + answer.body)
            async with asyncio.timeout(LINGER_S):
                await writer.drain()
                writer.write_eof()
                while refused.linger and await reader.read(_RECV_BYTES):
                    pass
        except (TimeoutError, ConnectionError, OSError):
            pass

    def _environ(
        self, request: h11.Request, body: bytes, peer: tuple[str, int], local: tuple[str, int]
    ) -> WSGIEnvironment:
        """The WSGI environ (PEP 3333) of a buffered request."""
        target = request.target
        if not target.startswith(b"/"):  # absolute form (or `*`): keep its path
            target = b"/" + target.partition(b"://")[2].partition(b"/")[2] if b"://" in target else b"/"
        path, _, query = target.partition(b"?")
        environ: WSGIEnvironment = {
            "REQUEST_METHOD": request.method.decode("ascii"),
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": local[0],
            "SERVER_PORT": str(local[1]),
            "SERVER_PROTOCOL": f"HTTP/{request.http_version.decode('ascii')}",
            "REMOTE_ADDR": peer[0],
            "REMOTE_PORT": str(peer[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        for raw_name, raw_value in request.headers:  # h11 gives names lowercased
            name = raw_name.decode("latin-1")
            if "_" in name:  # X_Forwarded_Proto must not pass for X-Forwarded-Proto
                continue
            key = name.upper().replace("-", "_")
            value = raw_value.decode("latin-1")
            if key == "CONTENT_TYPE":
                environ[key] = value
            elif key != "CONTENT_LENGTH":
                key = f"HTTP_{key}"
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        if self.trusted(peer[0]) and any(
            environ.get(f"HTTP_{name}") == value for name, value in self.secure_scheme_headers.items()
        ):
            environ["wsgi.url_scheme"] = "https"
        return environ
