"""Polymarket market-channel feed: decode + book cost per message, and messages/s through a socket.

    .venv/bin/python bench/polymarket_feed.py [--messages 50000] [--rounds 3]

Measures, in one run:
  1. `PolymarketFeed.on_frame` alone (sans-I/O, one core) on current-form `price_change` frames
     (both outcome tokens per message, `best_bid`/`best_ask` checked, as the venue sends them),
     p50/p99 per message and messages/s; beside it a baseline decoder written the obvious way
     (json + Decimal + a dict book whose top is found by sorting) on the same frames;
  2. the same frames through a real WebSocket: the fake venue (tests/fakevenues/polymarket.py) in a
     child process sends them as fast as it can, `FeedThread` reads them here; messages/s and the
     frame-read → book-published latency (`recv_ns` to the `on_book` callback returning).
The frames come from the fake venue's own book (a random walk of complementary updates on the
2026 captured book), so every `best_bid`/`best_ask` agrees and no resync happens. Prints Markdown.
No Django needed.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import platform
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakevenues.polymarket import FakePolymarket  # noqa: E402
from venues.live.connection import Backoff, FeedThread  # noqa: E402
from venues.polymarket.feed import PolymarketFeed  # noqa: E402

A, B = FakePolymarket.BURST_A, FakePolymarket.BURST_B


def make_frames(n: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """(book frames for A and B, n price_change frames) from the fake venue's book logic."""
    return _generate(FakePolymarket.from_fixtures(), n, seed)


def _generate(fake: FakePolymarket, n: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """Snapshots first (older timestamps), then `n` updates; `fake` is left serving the snapshots."""
    rng = random.Random(seed)
    snapshots = {t: fake._book_event(fake.books[t]) for t in (A, B)}
    saved = copy.deepcopy(fake.books)
    books = [json.dumps(snapshots[t]) for t in (A, B)]
    frames = []
    for _ in range(n):
        # A's bids live at 0.200..0.390 and its asks at 0.397.. : never crossed.
        price = f"0.{rng.randrange(200, 391):03d}"
        size = "0" if rng.random() < 0.2 else f"{rng.randrange(1, 50000)}.{rng.randrange(100):02d}"
        other = format(Decimal(1) - Decimal(price), "f")
        _, frame = fake._price_change_frame([(A, "BUY", price, size), (B, "SELL", other, size)])
        frames.append(frame)
    fake.books = saved
    fake._book_event = lambda book: snapshots[book.token_id]  # type: ignore[method-assign]
    return books, frames


def pct(values: list[int], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] / 1000.0


class NaiveFeed:
    """The obvious decoder: json, Decimal, a dict per side, the top found by sorting."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}

    def on_frame(self, data: str) -> list[tuple[str, Any, Any]]:
        msg = json.loads(data)
        out = []
        if msg.get("event_type") == "book":
            self.books[msg["asset_id"]] = (
                {Decimal(lv["price"]): Decimal(lv["size"]) for lv in msg["bids"]},
                {Decimal(lv["price"]): Decimal(lv["size"]) for lv in msg["asks"]},
            )
            return out
        for ch in msg["price_changes"]:
            bids, asks = self.books[ch["asset_id"]]
            side = bids if ch["side"] == "BUY" else asks
            size = Decimal(ch["size"])
            if size:
                side[Decimal(ch["price"])] = size
            else:
                side.pop(Decimal(ch["price"]), None)
            top_bids = sorted(bids.items(), reverse=True)[:10]
            top_asks = sorted(asks.items())[:10]
            out.append((ch["asset_id"], top_bids, top_asks))
        return out


def bench_protocol(books: list[str], frames: list[str]) -> dict[str, float]:
    feed = PolymarketFeed([A, B], ws_url="ws://bench")
    feed.on_open()
    for b in books:
        feed.on_frame(b, 1)
    clock = time.perf_counter_ns
    lat = []
    resyncs = 0
    start = clock()
    for i, f in enumerate(frames):
        t0 = clock()
        evs = feed.on_frame(f, i)
        lat.append(clock() - t0)
        resyncs += sum(1 for e in evs if type(e).__name__ == "Resync")
    total = clock() - start
    if resyncs:
        raise SystemExit(f"benchmark frames caused {resyncs} resyncs")
    return {"p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "rate": len(frames) / (total / 1e9)}


def bench_naive(books: list[str], frames: list[str]) -> dict[str, float]:
    feed = NaiveFeed()
    for b in books:
        feed.on_frame(b)
    clock = time.perf_counter_ns
    lat = []
    start = clock()
    for f in frames:
        t0 = clock()
        feed.on_frame(f)
        lat.append(clock() - t0)
    total = clock() - start
    return {"p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "rate": len(frames) / (total / 1e9)}


def _serve(n: int, port_q: Any, go: Any) -> None:
    fake = FakePolymarket.from_fixtures()
    _, frames = _generate(fake, n)
    fake.start()
    port_q.put(fake.ws_url)
    go.wait()

    async def blast() -> None:
        for ws in list(fake.clients):
            for f in frames:
                await ws.send_str(f)

    fake.call(blast, timeout=600)
    time.sleep(600)  # the parent terminates us


def bench_socket(n: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    port_q, go = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve, args=(n, port_q, go), daemon=True)
    child.start()
    try:
        url = port_q.get(timeout=60)
        lat: list[int] = []
        clock = time.time_ns

        def on_book(symbol: str, snap: Any, recv_ns: int) -> None:
            lat.append(clock() - recv_ns)

        proto = PolymarketFeed([A, B], ws_url=url)
        feed = FeedThread(proto, on_book=on_book, backoff=Backoff(0.05, 0.2)).start()
        deadline = time.monotonic() + 60
        while proto.book(B).depth(0) == 0 or proto.book(A).depth(0) == 0:
            if time.monotonic() > deadline:
                raise SystemExit("no books from the fake venue")
            time.sleep(0.01)
        base_frames = feed.status.frames
        lat.clear()
        go.set()
        start = time.perf_counter()
        want = base_frames + n
        deadline = time.monotonic() + 600
        while feed.status.frames < want and time.monotonic() < deadline:
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        got = feed.status.frames - base_frames
        resyncs = feed.status.resync_count
        feed.stop()
    finally:
        child.terminate()
        child.join(10)
    if resyncs:
        raise SystemExit(f"socket run caused {resyncs} resyncs")
    return {"rate": got / elapsed, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "books": len(lat)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    books, frames = make_frames(args.messages)
    rows = []
    for r in range(args.rounds):
        ours = bench_protocol(books, frames)
        naive = bench_naive(books, frames)
        sock = bench_socket(len(frames))
        rows.append((r + 1, ours, naive, sock))
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {args.messages:,} price_change "
        "messages (2 tokens each) per round\n"
    )
    print(
        "| round | on_frame p50 µs | p99 µs | msgs/s | baseline p50 µs | p99 µs | msgs/s "
        "| socket msgs/s | read→book p50 µs | p99 µs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r, o, n, s in rows:
        print(
            f"| {r} | {o['p50']:.1f} | {o['p99']:.1f} | {o['rate']:,.0f} | {n['p50']:.1f} | {n['p99']:.1f} "
            f"| {n['rate']:,.0f} | {s['rate']:,.0f} | {s['p50']:.1f} | {s['p99']:.1f} |"
        )
    print()
    print(
        "median on_frame msgs/s:",
        f"{statistics.median(o['rate'] for _, o, _, _ in rows):,.0f};",
        "median socket msgs/s:",
        f"{statistics.median(s['rate'] for *_, s in rows):,.0f}",
    )


if __name__ == "__main__":
    main()
