"""Quotes endpoint throughput and price-stream fan-out.

    .venv/bin/python bench/quotes_stream.py [--seconds 8] [--threads 8] [--subscribers 100]

Starts a real edge process (`run_edge --sandbox --venue kalshi`, every book updating about every
5 ms so each 200 ms quote pass changes every symbol) and a real daphne, then measures:

  1. GET /v1/quotes requests/s with `--threads` keep-alive HTTP clients, against GET /v1/keys/me
     (authentication and one row, no Redis) in the same run as the baseline;
  2. stream fan-out: `--subscribers` websocket clients subscribed to one symbol (prices:OKC);
     messages/s delivered in total, and the delay of each message from its book's event time
     (ts_ns) to receipt. The edge publishes the latest book of each changed symbol every 200 ms,
     so with books changing every ~5 ms the published book is a few ms old when the timer fires;
     the fan-out spread (each receipt minus the first receipt of the same book) shows what
     delivering to 100 subscribers adds. The 100 readers are Python threads in this process,
     so on a small machine the tail includes their own scheduling.

Uses the database of DATABASE_URL (.env) and the machine's Redis under its own channel-layer
prefix; removes its client afterwards. Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sequence_site.settings")
os.environ["CHANNEL_LAYER_PREFIX"] = f"bench-quotes-{os.getpid()}"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from sequence_markets.ws import connect  # noqa: E402
from sequence_site import services as site_services  # noqa: E402
from sequence_site.models import Client, Mode  # noqa: E402

SYMBOL = "KXNBA-26-OKC-YES"
ASGI_APP = "sequence_site.asgi:application"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def http_rate(port: int, path: str, key: str, threads: int, seconds: float) -> tuple[float, int]:
    """Requests/s over `seconds` with `threads` keep-alive connections; also counts non-200s."""
    counts = [0] * threads
    errors = [0] * threads
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": f"Bearer {key}"}
        while time.monotonic() < stop:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            counts[i] += 1
            if response.status != 200:
                errors[i] += 1
        conn.close()

    started = time.monotonic()
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.monotonic() - started), sum(errors)


def fan_out(port: int, key: str, subscribers: int, seconds: float) -> dict[str, float]:
    sockets = []
    for _ in range(subscribers):
        ws = connect(f"ws://127.0.0.1:{port}/v1/stream", {"Authorization": f"Bearer {key}"})
        ws.recv_json(timeout=10)  # welcome
        ws.send_json({"op": "subscribe", "channels": [f"prices:{SYMBOL}"]})
        sockets.append(ws)
    delays: list[list[float]] = [[] for _ in range(subscribers)]
    receipts: list[list[tuple[int, int]]] = [[] for _ in range(subscribers)]
    first_seen: dict[int, float] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    warmup_until = time.monotonic() + 1.0

    def read(i: int) -> None:
        ws = sockets[i]
        while time.monotonic() < stop:
            try:
                msg = ws.recv_json(timeout=0.5)
            except TimeoutError:
                continue
            if not isinstance(msg, dict) or not msg.get("channel"):
                continue
            now = time.time_ns()
            if time.monotonic() < warmup_until:
                continue
            ts = msg["data"]["ts_ns"]
            delays[i].append((now - ts) / 1e6)
            receipts[i].append((ts, now))
            with lock:
                first_seen[ts] = min(first_seen.get(ts, now), now)

    started = time.monotonic()
    readers = [threading.Thread(target=read, args=(i,)) for i in range(subscribers)]
    for r in readers:
        r.start()
    for r in readers:
        r.join()
    elapsed = time.monotonic() - started - 1.0
    for ws in sockets:
        ws.close()
    flat = [d for per in delays for d in per]
    # Fan-out spread: each receipt minus the first receipt of the same book by any subscriber.
    spread = [(now - first_seen[ts]) / 1e6 for per in receipts for ts, now in per]
    return {
        "messages": len(flat),
        "per_s": len(flat) / elapsed,
        "books_per_s": len(first_seen) / elapsed,
        "p50": statistics.median(flat),
        "p99": pct(flat, 0.99),
        "min_subscriber_msgs": min(len(per) for per in delays),
        "spread_p50": statistics.median(spread),
        "spread_p99": pct(spread, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--subscribers", type=int, default=100)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    Client.objects.filter(name="Bench quotes").delete()
    client = site_services.client_get_or_create(name="Bench quotes")
    key = site_services.api_key_create(client=client, mode=Mode.SANDBOX, name="bench").plaintext
    env = dict(os.environ)
    logs = Path(tempfile.gettempdir())
    edge_args = ["run_edge", "--sandbox", "--venue", "kalshi", "--mean-interval-ms", "5"]
    edge = subprocess.Popen(
        [sys.executable, "manage.py", *edge_args],
        cwd=REPO, env=env, stdout=(logs / "bench-quotes-edge.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    port = free_port()
    daphne = subprocess.Popen(
        [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), ASGI_APP],
        cwd=REPO, env=env, stdout=(logs / "bench-quotes-daphne.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:

        def quote_ready() -> bool:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", f"/v1/quotes?symbol={SYMBOL}", headers={"Authorization": f"Bearer {key}"})
                return conn.getresponse().status == 200
            except OSError:
                return False

        wait(quote_ready, 60, "daphne and the edge's first quotes")
        base_rate, base_err = http_rate(port, "/v1/keys/me", key, args.threads, args.seconds)
        quote_rate, quote_err = http_rate(
            port, f"/v1/quotes?symbol={SYMBOL}&depth=5", key, args.threads, args.seconds
        )
        fan = fan_out(port, key, args.subscribers, args.seconds)
    finally:
        for proc in (daphne, edge):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        Client.objects.filter(name="Bench quotes").delete()

    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"Machine: {machine}; one daphne process.\n")
    print("| request | requests/s | non-200 |")
    print("| --- | ---: | ---: |")
    print(f"| GET /v1/keys/me (baseline: auth + one row) | {base_rate:,.0f} | {base_err} |")
    print(f"| GET /v1/quotes?symbol=...&depth=5 | {quote_rate:,.0f} | {quote_err} |")
    ratio = quote_rate / base_rate
    print(
        f"\nQuotes / baseline: {ratio:.2f}x ({args.threads} keep-alive clients, {args.seconds:.0f} s each)\n"
    )
    print(f"| stream fan-out: 1 symbol → {args.subscribers} subscribers | value |")
    print("| --- | ---: |")
    print(f"| messages delivered/s (all subscribers) | {fan['per_s']:,.0f} |")
    print(f"| distinct books/s | {fan['books_per_s']:.1f} |")
    print(f"| fewest messages at one subscriber | {fan['min_subscriber_msgs']:.0f} |")
    print(f"| delay book event → receipt, p50 | {fan['p50']:.1f} ms |")
    print(f"| delay book event → receipt, p99 | {fan['p99']:.1f} ms |")
    print(f"| fan-out spread (receipt − first receipt of that book), p50 | {fan['spread_p50']:.1f} ms |")
    print(f"| fan-out spread, p99 | {fan['spread_p99']:.1f} ms |")


if __name__ == "__main__":
    main()
