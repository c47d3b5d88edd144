"""Slow and stalled clients for a server on loopback, and a measurement of honest requests meanwhile.

The tests hold them a few seconds. By hand, `python tests/http/slowclients.py [SECONDS] [COUNT]` starts
the default `fpscore serve` (4 workers) on a fresh SQLite folder, keeps COUNT (50) slow or stalled
connections open for SECONDS (60), opening a new one whenever the server closes one, and sends signed
requests one after another meanwhile; it prints how many were answered and how fast.
"""

from __future__ import annotations

import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

DRIBBLE = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "  # then one byte at a time, never ending
STALLED = (  # a body of 60,000 bytes announced, 7 sent
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 60000\r\n\r\nAction="
)


def read_answer(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection or `timeout` passes."""
    sock.settimeout(0.2)
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    return received


@dataclass
class SlowClients:
    """`count` connections to `port`, half dribbling headers a byte every `interval` s, half stalled in
    their body. `reopen`: replace a connection the server closed, as a persistent attacker would."""

    port: int
    count: int
    interval: float = 0.25
    reopen: bool = False
    sockets: list[tuple[socket.socket, bool]] = field(default_factory=list)  # (socket, dribbles)
    closed_by_server: int = 0
    answers: list[bytes] = field(default_factory=list)  # what the server sent to those it closed
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _open(self, dribbles: bool) -> tuple[socket.socket, bool]:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(DRIBBLE if dribbles else STALLED)
        return sock, dribbles

    def start(self) -> SlowClients:
        self.sockets = [self._open(index % 2 == 0) for index in range(self.count)]
        self._thread = threading.Thread(target=self._dribble, daemon=True)
        self._thread.start()
        return self

    def _dribble(self) -> None:
        answered: set[int] = set()
        while not self._stop.wait(self.interval):
            for index, (sock, dribbles) in enumerate(list(self.sockets)):
                if index in answered:
                    continue
                try:
                    if dribbles:
                        sock.sendall(b"a")
                    if not select.select([sock], [], [], 0)[0]:
                        continue
                except OSError:
                    pass
                self.closed_by_server += 1  # it answered or closed the connection
                if self.reopen:
                    self.answers.append(read_answer(sock, 0.5))
                    sock.close()
                    self.sockets[index] = self._open(dribbles)
                else:
                    answered.add(index)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for sock, _dribbles in self.sockets:
            sock.close()


def honest_latencies(
    call: Callable[[float], bool], seconds: float, timeout: float
) -> tuple[list[float], int]:
    """Call `call(timeout)` (a signed request, True when answered 200) again and again for `seconds`:
    the latencies of those answered, and how many were not."""
    latencies: list[float] = []
    failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            answered = call(timeout)
        except requests.RequestException:
            answered = False
        if answered:
            latencies.append(time.monotonic() - started)
        else:
            failed += 1
    return latencies, failed


def _main(seconds: float, count: int) -> None:
    from fpshttp import FpsClient
    from helpers import free_port

    key, secret = "AKIDSLOW", "slow-secret-0123"
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="fps-slow-"))
    env = {**os.environ, "FPS_DATA_DIR": str(folder), "FPS_ACCESS_KEY_ID": key,
           "FPS_SECRET_ACCESS_KEY": secret}  # fmt: skip
    fpscore = Path(sys.executable).with_name("fpscore")
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen([fpscore, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        client = FpsClient(f"http://127.0.0.1:{port}", key, secret)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/ready", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)

        def call(timeout: float) -> bool:
            params = client.signed("GetTotalPrepaidLiability", {})
            return requests.get(client.base_url + "/", params=params, timeout=timeout).status_code == 200

        slow = SlowClients(port, count, reopen=True).start()
        try:
            latencies, failed = honest_latencies(call, seconds, timeout=5)
        finally:
            slow.stop()
        ms = sorted(1000 * latency for latency in latencies)
        fps_errors = sum(b"<Code>InvalidParams</Code>" in answer for answer in slow.answers)
        print(f"{count} slow/stalled connections held for {seconds:g} s against `fpscore serve` (defaults)")
        print(f"honest signed requests: {len(ms)} answered, {failed} not")
        if ms:
            p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
            print(f"latency ms: median {statistics.median(ms):.1f}, p99 {p99:.1f}, max {ms[-1]:.1f}")
        print(f"slow connections closed by the server: {slow.closed_by_server} ({fps_errors} of "
              f"{len(slow.answers)} read answered with the FPS InvalidParams document)")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


if __name__ == "__main__":
    sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]
    _main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0, int(sys.argv[2]) if len(sys.argv) > 2 else 50)
