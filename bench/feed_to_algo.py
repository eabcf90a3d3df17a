"""Live venue feed → wasm algo, per venue: frame read → the algo's on_book returned, and book
messages/s through one venue's feed on one core, against the fake venue servers.

    .venv/bin/python bench/feed_to_algo.py [--venues kraken,coinbase,kalshi,polymarket]
        [--paced 1000] [--groups 16000] [--burst 20000] [--rounds 3] [--busy-poll-us 2000]

Per venue, the strict fake (tests/fakevenues) runs in a child process (its own core and GIL) and
this process runs what a live-fed sandbox edge runs: the venue's `FeedProtocol` in a `FeedThread`
(picows), a `LiveVenueAdapter` (coalesced latest books, paper matching) and the edge's delivery:
after each read from the socket the feed thread itself polls the adapter and calls
`AlgoSlot.on_book` into the algo's core, under the lock the edge loop holds for its passes
(`EdgeRunner._feed_step`; a loop thread here takes what the feed could not deliver). The algo is
the example C market maker (examples/algos/market_maker, built for the venue's tick; on every book
it cancels and requotes both sides, 8 imports, with its fills and on_timer).

The fake's own frames (every sequence number and checksum as the venue would send them) are used
throughout. They are generated first and then written raw, so the sender is never the limit and its
work (the fake's book, checksum and JSON) is not done on the other core just as each frame leaves.

- paced: `--paced` updates about 1 ms apart, one frame a write (a quiet market: the thread sleeps or
  spins between frames, caches go cold).
- bursts: `--groups` frames in writes of 16 every millisecond (a busy market, 16,000 a second): the
  consumer gets the latest book of each read.
- latency (paced, bursts) = from the read of the frame's bytes (`recv_ns`: every frame of one read
  carries the read's time) to the algo's `on_book` (matching, fills, on_book, timer) returning, for
  each book the algo got. The wake-up from the socket to the read is the machine's share
  (FINDINGS.md) and is not in it.
- blast: `--burst` frames back to back, as fast as the socket takes them. Reported: frames/s
  received, this process's CPU per frame (all threads: framing, protocol, book, delivery, the algo
  on the books it got) → frames/s one core takes, and how many books reached the algo (the rest
  coalesced into them).
- same run, interleaved: a no-op consumer in place of the algo (baseline); both with the feed
  thread busy-polling (`--busy-poll-us`, VENUE_FEED_BUSY_POLL_US); the machine's floor (busy
  polling, every frame only decoded by `orjson.loads`, no book, no delivery: what any Python feed
  pays per frame on this machine as it is during the run); and, with `--modes ...,hop`, the previous
  design, the edge loop's thread woken after each read to poll and step (the hop this path removed).

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

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from edges.dispatch import AlgoSlot  # noqa: E402
from edges.runtime import load_module  # noqa: E402
from sequence_markets.algo_build import build_c  # noqa: E402
from venues.instruments import Instrument, live_instrument  # noqa: E402
from venues.live.adapter import LiveVenueAdapter  # noqa: E402
from venues.live.book import snapshot_of  # noqa: E402
from venues.live.connection import Backoff, FeedThread  # noqa: E402
from venues.live.factory import FeedConfig  # noqa: E402
from venues.live.protocol import BookChanged, FeedProtocol  # noqa: E402

GAP_S = 0.001  # paced mode: between two updates; bursts mode: between two bursts
GROUP = 16  # bursts mode: frames in one write


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

        # no heartbeats: they are numbered in the same sequence as the captured burst (a gap)
        fake = FakeCoinbase(heartbeat_interval_s=3600.0).start()
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
    prepared: list[tuple[Any, list[str]]] = []
    while True:
        cmd, n = conn.recv()
        if cmd == "stop":
            fake.stop()
            return
        if cmd == "prepare":
            # The fake's own next `n` updates, captured per connection instead of sent (every
            # sequence number and checksum as the venue would send them), for `blast`.
            from aiohttp import web

            captured: dict[Any, list[str]] = {}
            real = web.WebSocketResponse.send_str

            async def capture(self: Any, data: str, compress: Any = None, captured: Any = captured) -> None:
                captured.setdefault(self, []).append(data)

            async def gen(n: int = n, real: Any = real) -> None:
                nonlocal sent
                web.WebSocketResponse.send_str = capture  # type: ignore[method-assign]
                try:
                    for _ in range(n):
                        await one(sent)
                        sent += 1
                finally:
                    web.WebSocketResponse.send_str = real  # type: ignore[method-assign]

            fake.call(gen, timeout=900)
            prepared = list(captured.items())
            conn.send("prepared")
            continue
        if cmd == "write":
            # Prepared frames [start, start + count) written as server frames (unmasked): `group`
            # frames per write with `gap` seconds between writes, or (group 0) back to back in
            # 64 KB writes, as fast as the socket takes them.
            start, count, group, gap = n

            async def write(
                prepared: list[tuple[Any, list[str]]] = prepared,
                start: int = start,
                count: int = count,
                group: int = group,
                gap: float = gap,
            ) -> None:
                for ws, texts in prepared:
                    transport = ws._writer.transport
                    chunk: list[bytes] = []
                    size = 0
                    for t in texts[start : start + count]:
                        f = _ws_frame(t.encode())
                        chunk.append(f)
                        size += len(f)
                        if (group and len(chunk) >= group) or (not group and size >= 65536):
                            transport.write(b"".join(chunk))
                            chunk, size = [], 0
                            await ws._writer.protocol._drain_helper()
                            if gap:
                                await asyncio.sleep(gap)
                    if chunk:
                        transport.write(b"".join(chunk))

            fake.call(write, timeout=900)
            conn.send("sent")
            continue

        raise ValueError(f"unknown command {cmd!r}")


def _ws_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


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


class FloorProtocol(FeedProtocol):
    """The machine's share of a frame, in the same run: the venue's own protocol until the first
    books (subscribe, snapshots), then every frame is only decoded (`orjson.loads`, what any Python
    feed does first) and its latency taken from the same `recv_ns`. No book, no delivery, no algo:
    the least a Python feed thread can do per frame on this machine, as it is at that moment.

    With `ready` books (symbol, bids, asks), every decoded frame then hands on those books as they
    were at the switch, stamped with the frame's time: the path as if the venue's decoding and book
    cost nothing (what compiled protocols could at best remove), delivery and algo included. The
    same levels every time, so the core's depth is not even rewritten: a lower bound."""

    def __init__(self, inner: FeedProtocol) -> None:
        self.inner = inner
        self.venue = inner.venue  # type: ignore[misc]
        self.ping_interval_s = inner.ping_interval_s  # type: ignore[misc]
        self.silence_s = inner.silence_s  # type: ignore[misc]
        self.stale_after_s = inner.stale_after_s  # type: ignore[misc]
        self.symbols = inner.symbols
        self.floor = False  # True: decode only
        self.lat: list[int] = []
        self.ready: list[tuple[str, Any, Any]] = []

    def url(self) -> str:
        return self.inner.url()

    def handshake_headers(self) -> dict[str, str]:
        return self.inner.handshake_headers()

    def on_open(self) -> list[str]:
        return self.inner.on_open()

    def ping_frame(self) -> str | None:
        return self.inner.ping_frame()

    def on_frame(self, data: str | bytes, recv_ns: int) -> list[Any]:
        if not self.floor:
            return self.inner.on_frame(data, recv_ns)
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError:  # a venue's text heartbeat (Polymarket's PONG)
            return []
        if self.ready:
            return [BookChanged(sym, snapshot_of(recv_ns, bids, asks)) for sym, bids, asks in self.ready]
        self.lat.append(time.time_ns() - recv_ns)
        return []


# -- this process: the edge's path ----------------------------------------------------------------------


class EdgePath:
    """A `LiveVenueAdapter` on `protocol` with the algo on every symbol (or, `wasm` None, a no-op
    consumer), delivered as the edge delivers (`hop` False): the feed thread steps the books itself
    after each read, under the lock the edge loop holds for its own passes (what
    `EdgeRunner._feed_step` does: `adapter.poll`, then `AlgoSlot.on_book`); the loop thread takes
    whatever the feed could not deliver. `hop` True: the previous design, the edge loop's thread
    woken after each read to poll and step."""

    def __init__(self, venue: str, protocol: FeedProtocol, insts: list[Instrument], symbols: list[str],
                 wasm: bytes | None, *, hop: bool = False, busy_poll_us: int = 0) -> None:  # fmt: skip
        self.adapter = LiveVenueAdapter(venue, FeedConfig(), instruments=insts)
        self.hop = hop
        self.feed = FeedThread(
            protocol,
            backoff=Backoff(0.05, 0.2),
            name=f"bench-{venue}",
            on_batch=self.adapter._on_batch,
            busy_poll_us=busy_poll_us,
        )
        self.adapter.feed = self.feed  # what subscribe() does, with our protocol instead of a factory's
        self.adapter._symbols = list(symbols)
        self.lock = threading.Lock()
        if not hop:
            self.adapter.set_consumer(self._feed_step)
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
        self.fed_by_loop = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-edge-loop", daemon=True)

    def start(self) -> EdgePath:
        self.feed.start()
        self._thread.start()
        return self

    def _step(self) -> int:
        n = 0
        slots, lat, time_ns = self.slots, self.lat, time.time_ns
        for symbol, snap in self.adapter.poll(time_ns()):
            for slot in slots.get(symbol, ()):
                slot.on_book(snap)
            lat.append(time_ns() - snap.ts_ns)
            n += 1
        self.books += n
        return n

    def _feed_step(self) -> bool:
        if not self.lock.acquire(blocking=False):
            return False
        try:
            self._step()
        finally:
            self.lock.release()
        return True

    def _loop(self) -> None:
        wake = self.adapter.wakeup
        while not self._stop.is_set():
            wake.wait(0.02)  # the edge loop's passes: at least every 20 ms (its log flush)
            wake.clear()
            with self.lock:
                self.fed_by_loop += self._step()

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


def run_venue(
    venue: str,
    paced: int,
    groups: int,
    burst: int,
    algo: bool,
    hop: bool = False,
    busy_poll_us: int = 0,
    floor: bool = False,
    ready: bool = False,
) -> dict[str, float]:
    parent, child = mp.Pipe()
    frames = paced + groups + burst
    proc = mp.get_context("spawn").Process(target=_serve, args=(venue, child, frames), daemon=True)
    proc.start()
    try:
        url = parent.recv()
        proto, insts, symbols, wasm = _case(venue, url)
        consumer = wasm if algo else None
        if floor or ready:
            proto = FloorProtocol(proto)
        path = EdgePath(venue, proto, insts, symbols, consumer, hop=hop, busy_poll_us=busy_poll_us).start()
        try:
            _wait(lambda: all(path.adapter.book(s) is not None for s in symbols), f"{venue}'s first books")
            _wait(lambda: path.books >= len(symbols), f"{venue}'s books at the edge loop")
            if isinstance(proto, FloorProtocol):  # from now on every frame is only decoded
                proto.floor = True
                if ready:  # ... and hands on the books as they are now
                    for sym in symbols:
                        snap = path.adapter.book(sym)
                        proto.ready.append((sym, snap._bids, snap._asks))
                else:
                    path.lat = proto.lat  # the frames' latencies instead of the books'
            # The fake's own next frames, generated first and then written raw (paced, bursts and
            # blast alike): the sender's work (the fake's book, checksum, JSON) is done before the
            # measurement instead of on the other core just as each frame leaves.
            parent.send(("prepare", paced + groups + burst))
            parent.recv()
            time.sleep(0.1)
            path.lat.clear()
            # paced: one frame a write, a millisecond apart (a quiet market)
            parent.send(("write", (0, paced, 1, GAP_S)))
            parent.recv()
            time.sleep(0.2)
            paced_lat = list(path.lat)
            path.lat.clear()
            # bursts: GROUP frames in one write every millisecond (a busy market's bursts)
            parent.send(("write", (paced, groups, GROUP, GAP_S)))
            parent.recv()
            time.sleep(0.2)
            group_lat = list(path.lat)
            # blast: the rest back to back, for the frames one core takes
            frames0, books0 = path.feed.status.frames, path.books
            coalesced0 = path.feed.books.coalesced + path.feed.protocol.coalesced
            cpu0, wall0 = time.process_time(), time.perf_counter()
            parent.send(("write", (paced + groups, burst, 0, 0.0)))
            _wait(lambda: path.feed.status.frames - frames0 >= burst, f"{venue}'s burst", timeout=900)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            parent.recv()
            time.sleep(0.2)
            status = path.feed.status
            assert status.resync_count == 0 and status.reconnects == 0, status.as_dict()
            out = {
                "p50": pct(paced_lat, 0.5),
                "p99": pct(paced_lat, 0.99),
                "paced_books": len(paced_lat),
                "burst_p50": pct(group_lat, 0.5),
                "burst_p99": pct(group_lat, 0.99),
                "recv_per_s": burst / wall,
                "cpu_us": cpu / burst * 1e6,
                "per_core": burst / cpu,
                "algo_books": path.books - books0,
                "coalesced": path.feed.books.coalesced + path.feed.protocol.coalesced - coalesced0,
                "by_loop": path.fed_by_loop,
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
    ap.add_argument("--groups", type=int, default=16000, help="frames sent in bursts of 16 a millisecond")
    ap.add_argument("--burst", type=int, default=20000, help="frames blasted back to back")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--busy-poll-us", type=int, default=2000, help="the feed thread's busy polling (µs)")
    ap.add_argument(
        "--modes",
        default="algo,baseline,spin,spin_baseline,floor",
        help="paths to run; also: ready, ready_baseline (decode, then ready books: the path as if decoding "
        "and book cost nothing), hop (the previous design: the edge loop's thread woken after each read)",
    )
    ap.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval (s)")
    args = ap.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    venues = args.venues.split(",")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    bp = args.busy_poll_us
    all_modes = {  # algo, hop, busy polling, floor, ready books
        "algo": (True, False, 0, False, False),
        "baseline": (False, False, 0, False, False),
        "spin": (True, False, bp, False, False),
        "spin_baseline": (False, False, bp, False, False),
        "floor": (False, False, bp, True, False),
        "ready": (True, False, bp, False, True),
        "ready_baseline": (False, False, bp, False, True),
        "hop": (True, True, 0, False, False),
    }
    modes = {m: all_modes[m] for m in args.modes.split(",")}
    for _ in range(args.rounds):  # interleaved: load changes hit the algo and the baseline alike
        for venue in venues:
            for mode, (algo, hop, spin, floor, ready) in modes.items():
                results.setdefault((venue, mode), []).append(
                    run_venue(venue, args.paced, args.groups, args.burst, algo, hop, spin, floor, ready)
                )

    def med(venue: str, mode: str, key: str) -> float:
        return statistics.median(r[key] for r in results[(venue, mode)])

    print(
        f"Machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{os.getloadavg()[0]:.2f}; {args.paced} paced, {args.groups} in bursts of {GROUP} a ms and "
        f"{args.burst} blasted updates per venue and round, "
        f"medians of {args.rounds} rounds.\n"
    )
    print(
        "| venue | path | paced: frame read → on_book returned, p50 / p99 µs | bursts: same, p50 / p99 µs "
        "| blast: frames/s received "
        "| client CPU µs/frame | frames/s on one core | books to the consumer / coalesced "
        "| algo orders / fills |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    labels = {
        "algo": "feed thread → wasm algo (the edge)",
        "baseline": "feed thread → no-op (baseline)",
        "spin": f"feed thread busy-polling {bp} µs → wasm algo",
        "spin_baseline": f"feed thread busy-polling {bp} µs → no-op (baseline)",
        "floor": f"feed thread busy-polling {bp} µs → frame decoded, nothing else (the machine's floor)",
        "ready": f"busy-polling {bp} µs → frame decoded, a ready book (no protocol) → wasm algo",
        "ready_baseline": f"busy-polling {bp} µs → frame decoded, a ready book (no protocol) → no-op",
        "hop": "edge loop thread → wasm algo (the previous edge)",
    }
    for v in venues:
        for mode in modes:
            label = labels[mode]
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
