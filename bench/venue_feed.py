"""Live venue feed: frame → on_book latency and book messages/s, Kraken's protocol.

    .venv/bin/python bench/venue_feed.py [--rounds 40]

1. Decode only, one core: the real BTC/USD capture (1 snapshot + 509 updates, ws_v2_book_capture_
   btcusd.jsonl) through `KrakenBookProtocol.on_frame` (decode, book, checksum, snapshot), against
   `orjson.loads` of the same frames as the baseline.
2. Over a real WebSocket: a server process on 127.0.0.1 sends the capture `--rounds` times (a fresh
   snapshot each round, so every checksum holds) as fast as it can; this process runs `FeedThread`
   with an `on_book` callback standing for the algo. Latency = from the moment the frame's bytes
   were read (`recv_ns`, right after `recv()` returns) to `on_book` returning; throughput = frames
   applied per second between the first and the last. The send → read wake-up is the machine's
   share and is not in the latency (FINDINGS.md). A wasm algo's own on_book is measured by
   bench/edge_callback.py.

Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from venues.kraken.feed import KrakenBookProtocol  # noqa: E402
from venues.live.connection import FeedThread  # noqa: E402

CAPTURE = [
    line
    for line in Path("/work/shared/venues/kraken/ws_v2_book_capture_btcusd.jsonl").read_text().splitlines()
    if line
]
PRECISION = {"BTC/USD": (1, 8)}


def pct(values: list[int], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] / 1000


def decode_only(repeats: int = 20) -> tuple[float, float, float, float]:
    base = []
    for _ in range(repeats):
        t = time.perf_counter_ns()
        for line in CAPTURE:
            orjson.loads(line)
        base.append((time.perf_counter_ns() - t) / len(CAPTURE))
    per = []
    lat: list[int] = []
    for _ in range(repeats):
        p = KrakenBookProtocol(["BTC/USD"], ws_url="x", precision=PRECISION)
        p.on_open()
        t0 = time.perf_counter_ns()
        for line in CAPTURE:
            t = time.perf_counter_ns()
            p.on_frame(line, 1)
            lat.append(time.perf_counter_ns() - t)
        per.append((time.perf_counter_ns() - t0) / len(CAPTURE))
    return 1e9 / statistics.median(base), 1e9 / statistics.median(per), pct(lat, 0.5), pct(lat, 0.99)


def serve(port_q: multiprocessing.Queue, rounds: int) -> None:
    import websockets.asyncio.server as server

    async def handler(ws) -> None:
        await ws.recv()  # the subscribe
        for _ in range(rounds):
            for line in CAPTURE:
                await ws.send(line)
        await ws.send('{"channel":"done"}')
        await asyncio.sleep(5)

    async def main() -> None:
        async with server.serve(handler, "127.0.0.1", 0, compression=None) as srv:
            port_q.put(srv.sockets[0].getsockname()[1])
            await asyncio.sleep(600)

    asyncio.run(main())


def over_socket(rounds: int) -> tuple[float, float, float, int]:
    q: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=serve, args=(q, rounds), daemon=True)
    proc.start()
    port = q.get(timeout=30)
    lat: list[int] = []
    times: list[int] = []
    done = multiprocessing.Event()
    total = rounds * len(CAPTURE)
    state = {"best": 0}

    def on_book(symbol, snap, recv_ns) -> None:
        state["best"] = snap.bid_px  # the "algo": reads the book
        end = time.time_ns()
        lat.append(end - recv_ns)
        times.append(end)
        if len(lat) >= total:
            done.set()

    proto = KrakenBookProtocol(["BTC/USD"], ws_url=f"ws://127.0.0.1:{port}", precision=PRECISION)
    feed = FeedThread(proto, on_book=on_book)
    feed.start()
    done.wait(300)
    feed.stop()
    proc.terminate()
    n = len(lat)
    rate = (n - 1) / ((times[-1] - times[0]) / 1e9) if n > 1 else 0.0
    return pct(lat, 0.5), pct(lat, 0.99), rate, feed.status.resync_count


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    base_rate, rate, p50, p99 = decode_only()
    s50, s99, srate, resyncs = over_socket(args.rounds)
    print(f"Kraken feed bench ({platform.machine()}, Python {platform.python_version()})\n")
    print("| Measure | Value |\n|---|---|")
    print(f"| orjson.loads only (baseline), frames/s | {base_rate:,.0f} |")
    print(f"| on_frame (decode + book + checksum + snapshot), frames/s | {rate:,.0f} |")
    print(f"| on_frame p50 / p99, µs | {p50:.1f} / {p99:.1f} |")
    print(f"| over a WebSocket: frame read → on_book returned, p50 / p99, µs | {s50:.1f} / {s99:.1f} |")
    print(f"| over a WebSocket: book messages/s applied | {srate:,.0f} |")
    print(f"| checksum resyncs during the run | {resyncs} |")


if __name__ == "__main__":
    main()
