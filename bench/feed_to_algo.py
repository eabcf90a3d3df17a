"""Live venue feed → wasm algo, per venue: frame read → the algo's on_book returned, and book
messages/s through one venue's feed on one core, against the fake venue servers.

    .venv/bin/python bench/feed_to_algo.py [--venues kraken,coinbase,kalshi,polymarket]
                                           [--paced 2000] [--burst 20000] [--rounds 3]

Per venue, the strict fake (tests/fakevenues) runs in a child process (its own core and GIL) and
this process runs what a live-fed sandbox edge runs: the venue's `FeedProtocol` in a `FeedThread`,
a `LiveVenueAdapter` (coalesced latest books, paper matching) and, in a second thread, the edge
loop of `EdgeWorker.step` (wake on a published book, `adapter.poll`, `AlgoSlot.on_book` into the
algo's core): the example C market maker (examples/algos/market_maker, built for the venue's tick;
on every book it cancels and requotes both sides, 8 imports, with its fills and on_timer).

- paced: the fake sends `--paced` book updates about 1 ms apart; every book reaches the algo alone.
  Latency = from the frame's bytes being read (`recv_ns`, the book's event time) to the algo's
  `on_book` (through seqcore: matching, fills, on_book, timer) returning in the edge loop thread.
  The wake-up from the socket to the read is the machine's share (FINDINGS.md) and is not in it.
- burst: the fake sends `--burst` updates back to back. Reported: frames/s received, this
  process's CPU per frame (all threads: WebSocket framing, protocol, book, the edge loop and the
  algo on the books it saw), so frames/s one core takes whatever the fake's own pace, and how many
  books the algo saw (a slow consumer sees the latest book per symbol; `coalesced` counts the rest).
- burst latency: the same window for the books the consumer got during the burst (warm caches;
  on the edge loop's path it includes the wait for the loop, the price of coalescing).
- baseline, same run: the same path with a no-op Python consumer in place of the algo; and the
  algo called in the feed thread itself (FeedThread's on_book), without the edge loop's thread.

Prints Markdown for docs/benchmarks.md. No Django, no database.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from edges.dispatch import AlgoSlot  # noqa: E402
from edges.runtime import load_module  # noqa: E402
from sequence_markets.algo_build import build_c  # noqa: E402
from venues.instruments import Instrument, live_instrument  # noqa: E402
from venues.live.adapter import LiveVenueAdapter  # noqa: E402
from venues.live.connection import Backoff, FeedThread  # noqa: E402
from venues.live.factory import FeedConfig  # noqa: E402
from venues.live.protocol import FeedProtocol  # noqa: E402

GAP_S = 0.001  # paced mode: between two updates


class QuietSink:
    def log(self, slot: Any, ts_ns: int, level: str, message: str) -> None:
        pass

    def trace(self, slot: Any, record: dict[str, Any]) -> None:
        pass


def market_maker(tick_1e9: int, qty_1e8: int) -> bytes:
    out = Path(tempfile.mkdtemp()) / "mm.wasm"
    build_c(
        REPO / "examples/algos/market_maker/market_maker.c",
        out,
        include_dirs=[REPO / "examples/algos/include"],
        extra_args=[
            f"-DMM_TICK_1E9={tick_1e9}",
            f"-DMM_ORDER_QTY_1E8={qty_1e8}",
            f"-DMM_MAX_POS_1E8={qty_1e8 * 50}",
        ],
    )
    return out.read_bytes()


def pct(values: list[int], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] / 1000.0 if values else float("nan")


# -- the venues: a fake in a child process that sends n updates on request, and our protocol ----------


def _serve(venue: str, conn: Any, frames_needed: int) -> None:
    """The child: start `venue`'s fake, tell the parent where it is, send updates on request."""
    if venue == "kraken":
        from tests.fakevenues.kraken import KrakenFake

        fake: Any = KrakenFake(heartbeat_s=1.0).start()
        pair = fake.pairs["BTC/USD"]

        async def one(i: int) -> None:
            px = max(pair.bids)
            await fake._update("BTC/USD", [(str(px), f"{1 + i % 97}.5")], [])

    elif venue == "coinbase":
        from tests.fakevenues.coinbase import FakeCoinbase

        fake = FakeCoinbase(heartbeat_interval_s=1.0).start()
        best = max(fake.books["BTC-USD"]["bid"], key=float)

        async def one(i: int) -> None:
            await fake._update("BTC-USD", [("bid", best, f"0.{1 + i % 97:08d}")])

    elif venue == "kalshi":
        from tests.fakevenues.kalshi import FakeKalshi

        fake = FakeKalshi().start()
        ticker = "FED-23DEC-T3.00"
        at = max(fake.books[ticker]["yes"])

        async def one(i: int) -> None:
            await fake._publish_delta(ticker, "yes", at, Decimal(1 if i % 2 == 0 else -1), True)

    else:
        from polymarket_feed import _generate

        from tests.fakevenues.polymarket import FakePolymarket

        fake = FakePolymarket.from_fixtures()
        _, frames = _generate(fake, frames_needed)
        fake.start()

        async def one(i: int) -> None:
            for ws in list(fake.clients):
                await ws.send_str(frames[i % len(frames)])

    conn.send(fake.url)
    sent = 0
    while True:
        cmd, n = conn.recv()
        if cmd == "stop":
            fake.stop()
            return

        async def run(n: int = n, paced: bool = cmd == "paced") -> None:
            nonlocal sent
            for _ in range(n):
                await one(sent)
                sent += 1
                if paced:
                    await asyncio.sleep(GAP_S)

        fake.call(run, timeout=900)
        conn.send("sent")


def _case(venue: str, base_url: str) -> tuple[FeedProtocol, list[Instrument], list[str], bytes]:
    """Our protocol pointed at the fake, the instruments (the venue's rules), the followed symbols and
    the market maker built for the venue's tick."""
    ws = base_url.replace("http://", "ws://")
    spot = {"kind": "spot", "max_qty": "1000000", "max_price": "10000000"}
    if venue == "kraken":
        from venues.kraken.feed import KrakenBookProtocol

        proto: FeedProtocol = KrakenBookProtocol(
            ["BTC/USD"], ws_url=ws + "/v2", precision={"BTC/USD": (1, 8)}
        )
        rules = {"tick": "0.1", "lot": "0.00000001", "min_qty": "0.0001", "min_notional": "0.5"}
        insts = [live_instrument(venue=venue, symbol="BTC/USD", fees_bps=(16, 26), **rules, **spot)]
        return proto, insts, ["BTC/USD"], market_maker(100_000_000, 100_000)
    if venue == "coinbase":
        from venues.coinbase.feed import CoinbaseFeed

        proto = CoinbaseFeed(["BTC/USD"], ws_url=ws)
        rules = {"tick": "0.01", "lot": "0.00000001", "min_qty": "0.00000001", "min_notional": "1"}
        insts = [live_instrument(venue=venue, symbol="BTC/USD", fees_bps=(40, 60), **rules, **spot)]
        return proto, insts, ["BTC/USD"], market_maker(10_000_000, 100_000)
    pred = {"kind": "prediction", "tick": "0.01", "max_qty": "1000000", "max_price": "0.99"}
    if venue == "kalshi":
        from tests.fakevenues.kalshi import KEY_ID, private_key_pem
        from venues.kalshi.auth import KalshiSigner
        from venues.kalshi.feed import KalshiFeed

        ticker = "FED-23DEC-T3.00"
        symbols = [f"{ticker}-YES", f"{ticker}-NO"]
        proto = KalshiFeed(
            symbols, ws_url=ws + "/trade-api/ws/v2", signer=KalshiSigner.from_pem(KEY_ID, private_key_pem())
        )
        insts = [
            live_instrument(venue=venue, symbol=s, lot="1", min_qty="1", fee_model="kalshi", **pred)
            for s in symbols
        ]
        return proto, insts, symbols, market_maker(10_000_000, 100_000_000)
    from tests.fakevenues.polymarket import FakePolymarket
    from venues.polymarket.feed import PolymarketFeed

    symbols = [FakePolymarket.BURST_A, FakePolymarket.BURST_B]
    proto = PolymarketFeed(symbols, ws_url=ws + "/ws/market")
    insts = [live_instrument(venue=venue, symbol=s, lot="0.01", min_qty="5", min_notional="1",
                             min_notional_rests=True, **pred) for s in symbols]  # fmt: skip
    return proto, insts, symbols, market_maker(10_000_000, 1_000_000_000)


# -- this process: the edge's path ----------------------------------------------------------------------


class EdgePath:
    """A `LiveVenueAdapter` on `protocol` and the edge loop (`EdgeWorker.step`) in a thread, with the
    algo on every symbol, or (`wasm` None) a no-op consumer. `direct`: the algo is called in the feed
    thread itself (FeedThread's on_book callback), without the hop to the edge loop's thread."""

    def __init__(self, venue: str, protocol: FeedProtocol, insts: list[Instrument], symbols: list[str],
                 wasm: bytes | None, *, direct: bool = False) -> None:  # fmt: skip
        self.adapter = LiveVenueAdapter(venue, FeedConfig(), instruments=insts)
        self.direct = direct
        self.feed = FeedThread(
            protocol,
            backoff=Backoff(0.05, 0.2),
            name=f"bench-{venue}",
            on_book=self._on_book_in_feed_thread if direct else None,
        )
        self.adapter.feed = self.feed  # what subscribe() does, with our protocol instead of a factory's
        self.adapter._symbols = list(symbols)
        self.feed.books.add_listener(self.adapter.wakeup.set)
        self.slots: dict[str, list[AlgoSlot]] = {}
        if wasm is not None:
            compiled = load_module(wasm)
            for s in symbols:
                slot = AlgoSlot(key=s, symbol=s, venue=self.adapter, account=f"bench-{s}", compiled=compiled,
                                sink=QuietSink(), trace_every_ns=10**18)  # fmt: skip
                slot.start(time.time_ns())
                self.slots[s] = [slot]
        self.lat: list[int] = []
        self.books = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-edge-loop", daemon=True)

    def start(self) -> EdgePath:
        self.feed.start()
        if not self.direct:
            self._thread.start()
        return self

    def _on_book_in_feed_thread(self, symbol: str, snap: Any, recv_ns: int) -> None:
        for slot in self.slots.get(symbol, ()):
            slot.on_book(snap)
        self.lat.append(time.time_ns() - recv_ns)
        self.books += 1

    def _loop(self) -> None:
        adapter, slots, lat, wake, time_ns = (
            self.adapter,
            self.slots,
            self.lat,
            self.adapter.wakeup,
            time.time_ns,
        )
        while not self._stop.is_set():
            wake.wait(0.05)
            wake.clear()
            for symbol, snap in adapter.poll(time_ns()):
                for slot in slots.get(symbol, ()):
                    slot.on_book(snap)
                lat.append(time_ns() - snap.ts_ns)
                self.books += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.feed.stop()

    def fills(self) -> int:
        return sum(s.positions.fill_count for ss in self.slots.values() for s in ss)

    def orders(self) -> int:
        return sum(s.positions.order_count for ss in self.slots.values() for s in ss)


def _wait(cond: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.002)


def run_venue(venue: str, paced: int, burst: int, algo: bool, direct: bool = False) -> dict[str, float]:
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_serve, args=(venue, child, paced + burst), daemon=True)
    proc.start()
    try:
        url = parent.recv()
        proto, insts, symbols, wasm = _case(venue, url)
        path = EdgePath(venue, proto, insts, symbols, wasm if algo else None, direct=direct).start()
        try:
            _wait(lambda: all(path.adapter.book(s) is not None for s in symbols), f"{venue}'s first books")
            _wait(lambda: path.books >= len(symbols), f"{venue}'s books at the edge loop")
            path.lat.clear()
            parent.send(("paced", paced))
            parent.recv()
            time.sleep(0.2)
            paced_lat = list(path.lat)
            path.lat.clear()
            frames0, books0, coalesced0 = path.feed.status.frames, path.books, path.feed.books.coalesced
            cpu0, wall0 = time.process_time(), time.perf_counter()
            parent.send(("burst", burst))
            _wait(lambda: path.feed.status.frames - frames0 >= burst, f"{venue}'s burst", timeout=900)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            parent.recv()
            time.sleep(0.2)
            burst_lat = list(path.lat)
            status = path.feed.status
            assert status.resync_count == 0 and status.reconnects == 0, status.as_dict()
            out = {
                "p50": pct(paced_lat, 0.5),
                "p99": pct(paced_lat, 0.99),
                "paced_books": len(paced_lat),
                "burst_p50": pct(burst_lat, 0.5),
                "burst_p99": pct(burst_lat, 0.99),
                "recv_per_s": burst / wall,
                "cpu_us": cpu / burst * 1e6,
                "per_core": burst / cpu,
                "algo_books": path.books - books0,
                # the feed thread's consumer sees every book: nothing is coalesced for it
                "coalesced": 0 if direct else path.feed.books.coalesced - coalesced0,
                "fills": path.fills(),
                "orders": path.orders(),
            }
        finally:
            path.stop()
    finally:
        parent.send(("stop", 0))
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--venues", default="kraken,coinbase,kalshi,polymarket")
    ap.add_argument("--paced", type=int, default=2000)
    ap.add_argument("--burst", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval (s)")
    args = ap.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    venues = args.venues.split(",")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    modes = {"algo": (True, False), "baseline": (False, False), "direct": (True, True)}
    for _ in range(args.rounds):  # interleaved: load changes hit the algo and the baseline alike
        for venue in venues:
            for mode, (algo, direct) in modes.items():
                results.setdefault((venue, mode), []).append(
                    run_venue(venue, args.paced, args.burst, algo, direct)
                )

    def med(venue: str, mode: str, key: str) -> float:
        return statistics.median(r[key] for r in results[(venue, mode)])

    print(
        f"Machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{os.getloadavg()[0]:.2f}; {args.paced} paced + {args.burst} burst updates per venue and round, "
        f"medians of {args.rounds} rounds.\n"
    )
    print(
        "| venue | path | paced: frame read → on_book returned, p50 / p99 µs | burst: same, p50 / p99 µs "
        "| burst frames/s received "
        "| client CPU µs/frame | frames/s on one core | books to the consumer / coalesced "
        "| algo orders / fills |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    labels = {
        "algo": "edge loop → wasm algo (the edge today)",
        "baseline": "edge loop → no-op (baseline)",
        "direct": "wasm algo in the feed thread",
    }
    for v in venues:
        for mode, label in labels.items():
            print(
                f"| {v} | {label} | {med(v, mode, 'p50'):.1f} / {med(v, mode, 'p99'):.1f} "
                f"| {med(v, mode, 'burst_p50'):.1f} / {med(v, mode, 'burst_p99'):.1f} "
                f"| {med(v, mode, 'recv_per_s'):,.0f} | {med(v, mode, 'cpu_us'):.1f} "
                f"| {med(v, mode, 'per_core'):,.0f} "
                f"| {med(v, mode, 'algo_books'):,.0f} / {med(v, mode, 'coalesced'):,.0f} "
                f"| {med(v, mode, 'orders'):,.0f} / {med(v, mode, 'fills'):,.0f} |"
            )


if __name__ == "__main__":
    main()
