"""Edge callback latency and throughput of the C market maker inside the edge's dispatch loop.

    .venv/bin/python bench/edge_callback.py [--updates 100000]

Measures, in one run on one core:
  1. `on_book` latency (p50/p99) of the example C market maker (examples/algos/market_maker) in an
     AlgoSlot on the simulated Coinbase ETH/USD book: the wasm call plus every host call it makes
     (cancel_all, position_1e8, book_level x6, place_order x2 into the paper matching engine);
  2. the same module driven through wasmtime-py's convenient `Func.__call__` with Python host
     functions (the naive path), same host work, as the baseline;
  3. book updates per second through one algo, end to end: the venue steps (matching the algo's
     resting orders), the slot dispatches, the algo quotes;
  4. where the time of one update goes (a separate, instrumented pass: its timers cost a little):
     the venue step (simulator + matching the resting orders), fill delivery (accounting, the fill
     log line, the algo's on_fill with its log call), and slot.on_book (the on_book callback, plus
     on_timer about every other update); and the floor: the same module with a host whose methods
     do nothing, i.e. what the wasm calls and host-call crossings cost by themselves.
Prints Markdown tables for docs/benchmarks.md. No Django needed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import wasmtime  # noqa: E402

from edges.dispatch import AlgoSlot  # noqa: E402
from edges.runtime import AlgoInstance, get_engine, load_module  # noqa: E402
from edges.venues.adapter import SimVenueAdapter  # noqa: E402
from sequence_markets.algo_build import build_c  # noqa: E402

START = 1_767_225_600_000_000_000
MM_ARGS = ["-DMM_TICK_1E9=10000000", "-DMM_ORDER_QTY_1E8=50000000"]
if "--depth1" in sys.argv:
    MM_ARGS.append("-DMM_DEPTH_LEVELS=1")
    sys.argv.remove("--depth1")


class QuietSink:
    def __init__(self) -> None:
        self.lines = 0

    def log(self, slot: Any, ts_ns: int, level: str, message: str) -> None:
        self.lines += 1

    def trace(self, slot: Any, record: dict[str, Any]) -> None:
        pass


def build() -> bytes:
    out = Path(tempfile.mkdtemp()) / "mm.wasm"
    build_c(
        REPO / "examples/algos/market_maker/market_maker.c",
        out,
        include_dirs=[REPO / "examples/algos/include"],
        extra_args=MM_ARGS,
    )
    return out.read_bytes()


def percentile(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def fast_path(wasm: bytes, n: int) -> tuple[list[int], float, int]:
    """Latency samples (ns) of slot.on_book's wasm call, and end-to-end updates/s."""
    venue = SimVenueAdapter("coinbase", seed=42, start_ns=START, symbols=["ETH/USD"])
    sink = QuietSink()
    # trace_every_ns huge: tracing samples 1/s of event time on a real edge; keep it out of the figure.
    slot = AlgoSlot(
        key="bench",
        symbol="ETH/USD",
        venue=venue,
        account="bench",
        compiled=load_module(wasm),
        sink=sink,
        trace_every_ns=10**18,
    )
    venue.set_fill_callback(lambda account, symbol, fill: slot.on_venue_fill(fill))
    slot.start(START)
    samples: list[int] = []
    updates = venue.updates()
    # warm up
    for _ in range(2000):
        slot.on_book(next(updates)[1])
    slot.latencies = []
    t0 = time.perf_counter()
    for done, (_symbol, snap) in enumerate(updates, 1):
        slot.on_book(snap)
        if len(slot.latencies) >= 4000:
            samples.extend(slot.latencies)
            slot.latencies = []
        if done == n:
            break
    elapsed = time.perf_counter() - t0
    samples.extend(slot.latencies)
    return samples, n / elapsed, slot.positions.order_count


class TrivialHost:
    """A host that does nothing (but hand out order ids): the floor under the real host work."""

    def __init__(self) -> None:
        self.next_id = 0

    def place_order(self, side: int, price_1e9: int, qty_1e8: int) -> int:
        self.next_id += 1
        return self.next_id

    def cancel_order(self, order_id: int) -> int:
        return 0

    def cancel_all(self) -> None:
        return None

    def log(self, level: int, message: str) -> None:
        return None

    def position_1e8(self) -> int:
        return 0

    def open_order_count(self) -> int:
        return 0

    def book_level(self, side: int, index: int, which: int) -> int:
        return 100_000_000

    def now_ns(self) -> int:
        return 0


def split_path(wasm: bytes, n: int) -> dict[str, float]:
    """Where one update's time goes: medians (µs) of each part, timed around each part."""
    venue = SimVenueAdapter("coinbase", seed=42, start_ns=START, symbols=["ETH/USD"])
    slot = AlgoSlot(
        key="split",
        symbol="ETH/USD",
        venue=venue,
        account="split",
        compiled=load_module(wasm),
        sink=QuietSink(),
        trace_every_ns=10**18,
    )
    clock = time.perf_counter_ns
    fill_ns: list[int] = []

    def on_fill(account: str, symbol: str, fill: Any) -> None:
        t0 = clock()
        slot.on_venue_fill(fill)
        fill_ns.append(clock() - t0)

    venue.set_fill_callback(on_fill)
    slot.start(START)
    updates = venue.updates()
    for _ in range(2000):
        slot.on_book(next(updates)[1])
    fill_ns.clear()
    step_ns, book_ns = [], []
    for _ in range(n):
        before = len(fill_ns)
        t0 = clock()
        _symbol, snap = next(updates)
        t1 = clock()
        slot.on_book(snap)
        book_ns.append(clock() - t1)
        step_ns.append(t1 - t0 - sum(fill_ns[before:]))
    return {
        "venue step: simulator + matching resting orders": percentile(step_ns, 0.5),
        "fill delivery, per fill: accounting, log line, on_fill + its 2 host calls": percentile(fill_ns, 0.5),
        "fills per update": len(fill_ns) / n,
        "slot.on_book: on_book + its 8 host calls (+ on_timer on ~1/2 of updates)": percentile(book_ns, 0.5),
    }


def floor_path(wasm: bytes, n: int) -> tuple[float, float]:
    """p50 (µs) of on_book and on_fill with a do-nothing host: wasm + crossings + runtime only."""
    venue = SimVenueAdapter("coinbase", seed=42, start_ns=START, symbols=["ETH/USD"])
    instance = AlgoInstance(load_module(wasm), TrivialHost())
    instance.on_init()
    clock = time.perf_counter_ns
    books, fills = [], []
    for i, (_symbol, snap) in enumerate(venue.updates()):
        if i == n:
            break
        t0 = clock()
        instance.on_book(snap.bid_px, snap.bid_qty, snap.ask_px, snap.ask_qty, snap.ts_ns)
        t1 = clock()
        instance.on_fill(i + 1, i & 1, snap.bid_px, 50_000_000, snap.ts_ns)
        t2 = clock()
        books.append(t1 - t0)
        fills.append(t2 - t1)
    return percentile(books[n // 10 :], 0.5), percentile(fills[n // 10 :], 0.5)


def naive_path(wasm: bytes, n: int) -> list[int]:
    """The same algo, host work and book, through Func.__call__ and wasmtime-py host functions."""
    venue = SimVenueAdapter("coinbase", seed=42, start_ns=START, symbols=["ETH/USD"])
    slot = AlgoSlot(
        key="naive",
        symbol="ETH/USD",
        venue=venue,
        account="naive",
        compiled=load_module(wasm),
        sink=QuietSink(),
        trace_every_ns=10**18,
    )
    slot.start(START)  # the slot is only the host here: its own instance is not called
    engine = get_engine()
    store = wasmtime.Store(engine)
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    linker = wasmtime.Linker(engine)

    def log(caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
        memory = caller["memory"]
        slot.log(level, memory.read(caller, ptr, ptr + min(length, 1024)).decode("utf-8", "replace"))

    for name, params, results, fn in [
        ("place_order", [i32, i64, i64], [i64], slot.place_order),
        ("cancel_order", [i64], [i32], slot.cancel_order),
        ("cancel_all", [], [], slot.cancel_all),
        ("position_1e8", [], [i64], slot.position_1e8),
        ("open_order_count", [], [i32], slot.open_order_count),
        ("book_level", [i32, i32, i32], [i64], slot.book_level),
        ("now_ns", [], [i64], slot.now_ns),
    ]:
        linker.define_func("seq", name, wasmtime.FuncType(params, results), fn)
    linker.define_func("seq", "log", wasmtime.FuncType([i32, i32, i32], []), log, access_caller=True)
    store.set_fuel(10**12)
    exports = linker.instantiate(store, wasmtime.Module(engine, wasm)).exports(store)
    on_book = exports["on_book"]
    samples = []
    updates = venue.updates()
    for i, (_symbol, snap) in enumerate(updates):
        slot._book, slot._now = snap, snap.ts_ns  # what AlgoSlot.on_book sets before the call
        store.set_fuel(5_000_000)
        t0 = time.perf_counter_ns()
        on_book(store, snap.bid_px, snap.bid_qty, snap.ask_px, snap.ask_qty, snap.ts_ns)
        samples.append(time.perf_counter_ns() - t0)
        if i == n:
            break
    return samples[min(200, n // 10) :]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--naive-updates", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wasm = build()
    rounds = []
    splits: list[dict[str, float]] = []
    floors = []
    for _ in range(args.rounds):
        fast, rate, orders = fast_path(wasm, args.updates)
        naive = naive_path(wasm, args.naive_updates)
        fast_p50, fast_p99 = percentile(fast, 0.5), percentile(fast, 0.99)
        rounds.append((fast_p50, fast_p99, rate, percentile(naive, 0.5), percentile(naive, 0.99)))
        splits.append(split_path(wasm, min(args.updates, 20_000)))
        floors.append(floor_path(wasm, min(args.updates, 20_000)))
    med = [statistics.median(r[i] for r in rounds) for i in range(5)]
    print(
        f"machine: {platform.node()} {platform.machine()} Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}, wasm {len(wasm)} B, {args.rounds} rounds (medians)"
    )
    print("| path | on_book p50 | on_book p99 | updates/s through one algo |")
    print("|---|---|---|---|")
    print(f"| edge dispatch (raw fast path) | {med[0]:.1f} µs | {med[1]:.1f} µs | {med[2]:,.0f} |")
    print(f"| naive `Func.__call__` (baseline) | {med[3]:.1f} µs | {med[4]:.1f} µs | — |")
    print(f"speed-up at p50: {med[3] / med[0]:.1f}x; orders sent in the last fast round: {orders:,}")
    print()
    print("| one update, part by part (instrumented pass; medians) | µs |")
    print("|---|---|")
    for key in splits[0]:
        value = statistics.median(s[key] for s in splits)
        print(f"| {key} | {value:.2f} |" if key == "fills per update" else f"| {key} | {value:.1f} |")
    floor_book = statistics.median(f[0] for f in floors)
    floor_fill = statistics.median(f[1] for f in floors)
    print(f"| floor: on_book p50 with a do-nothing host (8 host calls) | {floor_book:.1f} |")
    print(f"| floor: on_fill p50 with a do-nothing host (2 host calls) | {floor_fill:.1f} |")


if __name__ == "__main__":
    main()
