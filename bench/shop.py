"""Storefront benchmark: the catalogue (`/`) and account (`/account`) pages under 100 concurrent signed-in
customers, served by `fpscore shop` (gunicorn, as in production) on a loopback port.

The book: CUSTOMERS customers, each with a storefront account, a prepaid instrument opened through the
real co-branded round trip (`sandbox.authorize` in code, `pipelines.complete`), funded with 20.00, and
PURCHASES_EACH songs bought with Pay, all through `fpscore.merchant`'s flows on the embedded processor.
Then every customer (a thread with its own signed session cookie and connection) browses at once: its
catalogue and account pages, ROUNDS times, pausing a random 0 to 2 x --think-ms between pages (a person
reading: 100 customers at 1 s make about 100 pages a second). Each answer's latency is timed from the
request's start to its last byte. Goal: p95 of each page within 50 ms. With no pause at all (--think-ms
0), 100 customers keep 100 requests in the server at once: latency is then the queue (customers /
pages a second), and past the server's queue (threads + 64 waiting) some are answered 503 Throttling.

    .venv/bin/python bench/shop.py [--customers 100] [--purchases 10] [--rounds 20] [--think-ms 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from fpscore import sandbox
from fpscore.config import Settings
from fpscore.merchant import flows, pipelines
from fpscore.merchant.staff import hash_password
from fpscore.money import Amount
from fpscore.shop import records
from fpscore.shop.app import RETURN_ACTOR, customer_actor
from fpscore.shop.cookies import SESSION_COOKIE, Signer, load_key

GOAL_MS = 50.0
KEY, SECRET = "AKIDBENCH", "bench-secret-key"


def load_book(settings: Settings, customers: int, purchases_each: int) -> None:
    from fpscore.merchant.connect import connect

    merchant = connect(settings)
    hashed = hash_password("correct horse battery")
    songs = records.products(merchant.engine)
    started = time.perf_counter()
    for number in range(customers):
        email = f"customer{number:03d}@buyers.example"
        customer_id = records.add_customer(
            merchant.engine, email, f"Customer {number}", hashed, merchant.clock()
        )
        assert customer_id is not None, email
        actor = customer_actor(customer_id)
        url = pipelines.start_prepaid(
            merchant, actor, customer_id, Amount.parse("100.00"), "http://shop.bench/return"
        )
        back = sandbox.authorize(merchant.client.session, url, email)
        result = pipelines.complete(merchant, RETURN_ACTOR, back.url_endpoint, back.params)
        assert result.instrument_id is not None, result
        flows.fund(merchant, actor, result.instrument_id, Amount.parse("20.00"))
        for song in songs[:purchases_each]:
            price = Amount(song.price_cents, song.currency)
            flows.purchase(merchant, actor, result.instrument_id, f"{song.title} — {song.artist}", price)
    print(f"book: {customers} customers, {customers * purchases_each} purchases "
          f"in {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    merchant.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--purchases", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--think-ms", type=float, default=1000.0)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    env = {**os.environ, "FPS_DATA_DIR": str(data_dir), "FPS_ACCESS_KEY_ID": KEY,
           "FPS_SECRET_ACCESS_KEY": SECRET, "FPS_ENDPOINT": ""}  # fmt: skip
    settings = dataclasses.replace(Settings.from_env(env), access_key_id=KEY, secret_access_key=SECRET)
    load_book(settings, args.customers, args.purchases)
    signer = Signer(load_key(settings.data_dir))
    port = free_port()
    log = (data_dir / "shop.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "fpscore.cli", "shop", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/", timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "the shop did not start"
                time.sleep(0.2)
        timings: dict[str, list[float]] = {"/": [], "/account": []}
        lock, gate = threading.Lock(), threading.Barrier(args.customers)
        refused: list[int] = []

        def customer(customer_id: int) -> None:
            client = requests.Session()
            client.cookies.set(SESSION_COOKIE, signer.session(customer_id))
            for path in timings:  # warm the connection
                assert client.get(base + path, timeout=30).status_code == 200
            gate.wait()
            pause = random.Random(customer_id)
            for _round in range(args.rounds):
                for path in timings:
                    time.sleep(pause.uniform(0, 2 * args.think_ms) / 1000)
                    started = time.perf_counter()
                    answer = client.get(base + path, timeout=30)
                    elapsed = (time.perf_counter() - started) * 1000
                    with lock:
                        if answer.status_code == 200:
                            timings[path].append(elapsed)
                        else:
                            refused.append(answer.status_code)

        threads = [threading.Thread(target=customer, args=(number + 1,)) for number in range(args.customers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        total = sum(len(values) for values in timings.values())
        print(f"{args.customers} concurrent customers, {args.rounds} rounds, pauses up to "
              f"{2 * args.think_ms:g} ms: {total} pages in {wall:.1f} s ({total / wall:.0f} pages/s), "
              f"{len(refused)} refused; load {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")  # fmt: skip
        for path, values in timings.items():
            p95 = percentile(values, 0.95)
            verdict = "meets" if p95 <= GOAL_MS else "misses"
            print(f"{path:10} p50 {statistics.median(values):6.1f} ms  p95 {p95:6.1f} ms  "
                  f"max {max(values):6.1f} ms  ({verdict} the {GOAL_MS:g} ms goal)")  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=40)
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
