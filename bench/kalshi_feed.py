"""Kalshi market data: frame → YES/NO books → on_book, in one process, against the fake venue.

    .venv/bin/python bench/kalshi_feed.py [--messages 50000] [--rounds 3]

1. Protocol alone (no socket): `--messages` pre-encoded `orderbook_delta` frames of one market,
   shaped like the fake's (and Kalshi's documented) messages, through `KalshiFeed.on_frame` and a
   do-nothing on_book per BookChanged (two per frame: YES and NO). Per-frame latency (p50/p99,
   perf_counter_ns around one frame, the on_book calls included) and frames/s on one core.
   Baselines in the same run: `orjson.loads` alone (the floor: decoding the frame), and a plain
   client (json + Decimal + a dict book + a sort for the top of book each time), what one would
   write without thinking about it.
2. End to end: the strict fake Kalshi in a separate process (so it does not share this process's
   core or GIL) bursts `--messages` deltas to a signed `FeedThread`. Reported: messages/s received,
   this process's CPU time per message (so messages/s one core can take, whatever the fake's own
   pace), and the time from the frame's bytes being read (`recv_ns` in the loop) to on_book
   returning, p50/p99. The WebSocket framing and the wake-up are outside that window; they are the
   machine's share (FINDINGS.md).

No Django, no database. Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

from venues.kalshi.auth import KalshiSigner  # noqa: E402
from venues.kalshi.feed import KalshiFeed  # noqa: E402
from venues.live.connection import FeedThread  # noqa: E402
from venues.live.protocol import BookChanged  # noqa: E402

TICKER = "FED-23DEC-T3.00"
SNAPSHOT = {
    "type": "orderbook_snapshot",
    "sid": 1,
    "seq": 1,
    "msg": {
        "market_ticker": TICKER,
        "market_id": "9b0f6b43-5b68-4f9f-9f02-9a2d1b8ac1a1",
        "yes_dollars_fp": [[f"0.{p:02d}00", "300.00"] for p in range(5, 23)],
        "no_dollars_fp": [[f"0.{p:02d}00", "146.00"] for p in range(40, 57)],
    },
}


def delta_frames(n: int) -> list[bytes]:
    """+/- changes walking over both ladders, seq 2.. (never crossing: YES <= 0.30, NO <= 0.60)."""
    out = []
    for i in range(n):
        side = "yes" if i % 2 == 0 else "no"
        price = f"0.{(10 + i % 20) if side == 'yes' else (40 + i % 20):02d}00"
        change = "5.00" if (i // 40) % 2 == 0 else "-5.00"
        msg = {
            "market_ticker": TICKER,
            "market_id": SNAPSHOT["msg"]["market_id"],
            "price_dollars": price,
            "delta_fp": change,
            "side": side,
            "ts_ms": 1_700_000_000_000 + i,
        }
        out.append(orjson.dumps({"type": "orderbook_delta", "sid": 1, "seq": 2 + i, "msg": msg}))
    return out


def pct(values: list[int], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] / 1000.0


def run_protocol(frames: list[bytes]) -> tuple[float, float, float]:
    feed = KalshiFeed([f"{TICKER}-YES", f"{TICKER}-NO"], ws_url="ws://x/trade-api/ws/v2")
    sub_id = json.loads(feed.on_open()[0])["id"]
    feed.on_frame(
        orjson.dumps({"id": sub_id, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}}), 0
    )
    feed.on_frame(orjson.dumps(SNAPSHOT), 0)
    on_frame, clock = feed.on_frame, time.perf_counter_ns
    lat = []
    books = 0

    def on_book(symbol, snapshot) -> None:
        nonlocal books
        books += 1

    t0 = clock()
    for i, f in enumerate(frames):
        a = clock()
        for ev in on_frame(f, i):
            if type(ev) is BookChanged:
                on_book(ev.symbol, ev.snapshot)
            else:
                raise RuntimeError(f"unexpected {ev}")
        lat.append(clock() - a)
    total = clock() - t0
    assert books == 2 * len(frames)
    return pct(lat, 0.5), pct(lat, 0.99), len(frames) / (total / 1e9)


def run_orjson_floor(frames: list[bytes]) -> tuple[float, float, float]:
    loads, clock = orjson.loads, time.perf_counter_ns
    lat = []
    t0 = clock()
    for f in frames:
        a = clock()
        loads(f)
        lat.append(clock() - a)
    return pct(lat, 0.5), pct(lat, 0.99), len(frames) / ((clock() - t0) / 1e9)


def run_plain_client(frames: list[bytes]) -> tuple[float, float, float]:
    """json + Decimal + dict book, top of book by sorting: the unconsidered way."""
    yes = {Decimal(p): Decimal(c) for p, c in SNAPSHOT["msg"]["yes_dollars_fp"]}
    no = {Decimal(p): Decimal(c) for p, c in SNAPSHOT["msg"]["no_dollars_fp"]}
    clock = time.perf_counter_ns
    lat = []
    t0 = clock()
    for f in frames:
        a = clock()
        m = json.loads(f)["msg"]
        book = yes if m["side"] == "yes" else no
        px = Decimal(m["price_dollars"])
        new = book.get(px, Decimal(0)) + Decimal(m["delta_fp"])
        if new > 0:
            book[px] = new
        else:
            book.pop(px, None)
        yb, nb = sorted(yes, reverse=True)[:10], sorted(no, reverse=True)[:10]
        _ = ([(p, yes[p]) for p in yb], [(1 - p, no[p]) for p in nb])  # YES book
        _ = ([(p, no[p]) for p in nb], [(1 - p, yes[p]) for p in yb])  # NO book
        lat.append(clock() - a)
    return pct(lat, 0.5), pct(lat, 0.99), len(frames) / ((clock() - t0) / 1e9)


# -- end to end ----------------------------------------------------------------------------------------


def serve(conn) -> None:
    """The fake Kalshi in its own process; bursts on request."""
    from tests.fakevenues.kalshi import FakeKalshi

    fake = FakeKalshi().start()
    conn.send(fake.port)
    while True:
        cmd, n = conn.recv()
        if cmd == "stop":
            fake.stop()
            return
        fake.burst(TICKER, n, price="0.2200")
        conn.send("done")


def run_end_to_end(n: int) -> dict[str, float]:
    from tests.fakevenues.kalshi import KEY_ID, private_key_pem

    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=serve, args=(child,), daemon=True)
    proc.start()
    port = parent.recv()
    lat: list[int] = []
    time_ns = time.time_ns

    def on_book(symbol, snapshot, recv_ns) -> None:
        lat.append(time_ns() - recv_ns)

    signer = KalshiSigner.from_pem(KEY_ID, private_key_pem())
    proto = KalshiFeed(
        [f"{TICKER}-YES", f"{TICKER}-NO"], ws_url=f"ws://127.0.0.1:{port}/trade-api/ws/v2", signer=signer
    )
    feed = FeedThread(proto, on_book=on_book).start()
    try:
        deadline = time.monotonic() + 60
        while feed.status.books < 2:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no snapshot: {feed.status.as_dict()}")
            time.sleep(0.01)
        lat.clear()
        start_books = feed.status.books
        cpu0, wall0 = time.process_time(), time.perf_counter()
        parent.send(("burst", n))
        deadline = time.monotonic() + 300
        while feed.status.books < start_books + 2 * n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"burst incomplete: {feed.status.as_dict()}")
            time.sleep(0.001)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        parent.recv()
        assert feed.status.resyncs == {} and feed.status.reconnects == 0, feed.status.as_dict()
    finally:
        feed.stop()
        parent.send(("stop", 0))
        proc.join(30)
    per_frame = [lat[i + 1] for i in range(0, len(lat) - 1, 2)]  # the NO book's on_book: both done
    return {
        "msgs_per_s": n / wall,
        "cpu_us_per_msg": cpu / n * 1e6,
        "p50_us": pct(per_frame, 0.5),
        "p99_us": pct(per_frame, 0.99),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    frames = delta_frames(args.messages)
    rows: dict[str, list[tuple[float, float, float]]] = {"kalshi": [], "floor": [], "plain": []}
    e2e: list[dict[str, float]] = []
    for _ in range(args.rounds):  # interleaved, so load changes hit every variant alike
        rows["floor"].append(run_orjson_floor(frames))
        rows["kalshi"].append(run_protocol(frames))
        rows["plain"].append(run_plain_client(frames))
        e2e.append(run_end_to_end(args.messages))

    def med(rs, i):
        return statistics.median(r[i] for r in rs)

    machine = f"{platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs"
    print(
        f"Machine: {machine}, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.2f}; {args.messages} deltas, "
        f"medians of {args.rounds} rounds.\n"
    )
    print(
        "| path (one frame: decode, book, YES + NO snapshots, 2 on_book) | p50 | p99 | frames/s, one core |"
    )
    print("|---|---|---|---|")
    for name, label in (
        ("kalshi", "`KalshiFeed.on_frame` (orjson, fixed-point text parse, L2Book, mirrored NO book)"),
        ("plain", "baseline: json + Decimal + dict book sorted per message"),
        ("floor", "floor: `orjson.loads` of the frame alone"),
    ):
        rs = rows[name]
        print(f"| {label} | {med(rs, 0):.2f} µs | {med(rs, 1):.2f} µs | {med(rs, 2):,.0f} |")
    print()
    print("| end to end (fake Kalshi in another process, signed FeedThread) | median of rounds |")
    print("|---|---|")
    for key, label, fmt in (
        ("msgs_per_s", "deltas/s received (the fake's send pace bounds it)", "{:,.0f}"),
        ("cpu_us_per_msg", "client CPU per delta (µs; all threads of this process)", "{:.1f}"),
        ("p50_us", "frame read → on_book returned, p50 (µs)", "{:.1f}"),
        ("p99_us", "frame read → on_book returned, p99 (µs)", "{:.1f}"),
    ):
        print(f"| {label} | {fmt.format(statistics.median(r[key] for r in e2e))} |")
    cap = 1e6 / statistics.median(r["cpu_us_per_msg"] for r in e2e)
    print(f"\nOne core's capacity from the client's CPU time: {cap:,.0f} deltas/s.")


if __name__ == "__main__":
    main()
