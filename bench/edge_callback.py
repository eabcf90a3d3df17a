"""Edge callback latency and throughput of the C market maker inside the edge's dispatch loop.

    .venv/bin/python bench/edge_callback.py [--updates 100000] [--rounds 3] [--depth1]

Measures, in one run on one core:
  1. `slot.on_book` latency (p50/p99) of the example C market maker (examples/algos/market_maker)
     in an AlgoSlot on the simulated Coinbase ETH/USD book. One call into the algo's core
     (edges/core): matching its resting orders against the update (their fills reach on_fill at
     once), on_book with its imports served by the core (cancel_all, position_1e8, book_level x4,
     place_order x2 into the paper matching), the queued fills, on_timer when due;
  2. the same module driven through wasmtime-py's convenient `Func.__call__` with Python host
     functions and the Python paper matching engine (the naive path), on_book only, as the baseline;
  3. book updates per second through one algo, end to end: the venue simulator steps, the slot
     dispatches (the core matches and calls the algo), the algo quotes;
  4. where the time of one update goes (a separate, instrumented pass: its timers cost a little):
     the venue step (the simulator: the algo's orders are matched in its core, not by the venue),
     the core call (slot.last_latency_ns) and the slot's Python work around it (depth shapes, the
     fill log lines); and the floor: the core call with a do-nothing algo, and with one that makes
     the market maker's calls except place_order (cancel_all, position_1e8, 4x book_level).
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

from edges.core.instance import CORE_WASM  # noqa: E402
from edges.dispatch import AlgoSlot, format_price  # noqa: E402
from edges.runtime import get_engine, load_module  # noqa: E402
from sequence_markets.algo_build import build_c  # noqa: E402
from venues.accounting import PositionBook  # noqa: E402
from venues.book import BookSnapshot  # noqa: E402
from venues.sim.adapter import SimVenueAdapter  # noqa: E402

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


def make_slot(venue: SimVenueAdapter, wasm: bytes, key: str) -> AlgoSlot:
    # trace_every_ns huge: tracing samples 1/s of event time on a real edge; keep it out of the figure.
    slot = AlgoSlot(
        key=key,
        symbol="ETH/USD",
        venue=venue,
        account=key,
        compiled=load_module(wasm),
        sink=QuietSink(),
        trace_every_ns=10**18,
    )
    slot.start(START)
    return slot


def fast_path(wasm: bytes, n: int) -> tuple[list[int], float, int, float]:
    """Latency samples (ns) of slot.on_book's core call, end-to-end updates/s, orders sent and
    fills per update."""
    venue = SimVenueAdapter("coinbase", seed=42, start_ns=START, symbols=["ETH/USD"])
    slot = make_slot(venue, wasm, "bench")
    samples: list[int] = []
    updates = venue.updates()
    # warm up
    for _ in range(2000):
        slot.on_book(next(updates)[1])
    slot.latencies = []
    orders0, fills0 = slot.positions.order_count, slot.positions.fill_count
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
    assert slot.state.value == "running", slot.pause_reason
    fills = (slot.positions.fill_count - fills0) / n
    return samples, n / elapsed, slot.positions.order_count - orders0, fills


def split_path(wasm: bytes, n: int) -> dict[str, float]:
    """Where one update's time goes: medians (µs) of each part, timed around each part."""
    venue = SimVenueAdapter("coinbase", seed=42, start_ns=START, symbols=["ETH/USD"])
    slot = make_slot(venue, wasm, "split")
    clock = time.perf_counter_ns
    updates = venue.updates()
    for _ in range(2000):
        slot.on_book(next(updates)[1])
    step_ns, core_ns, python_ns = [], [], []
    fills0 = slot.positions.fill_count
    for _ in range(n):
        t0 = clock()
        _symbol, snap = next(updates)
        t1 = clock()
        slot.on_book(snap)
        t2 = clock()
        core = slot.last_latency_ns  # the core call alone, timed inside slot.on_book
        step_ns.append(t1 - t0)
        core_ns.append(core)
        python_ns.append(t2 - t1 - core)
    return {
        "venue step: the simulator (the algo's orders are matched in its core)": percentile(step_ns, 0.5),
        "core call: matching + on_fill per fill + on_book + queued fills (+ on_timer on ~1/2)": percentile(
            core_ns, 0.5
        ),
        "slot.on_book around the core call: depth shape, fill log lines, latency sample": percentile(
            python_ns, 0.5
        ),
        "fills per update": (slot.positions.fill_count - fills0) / n,
    }


# Floors: the core call of algos that do (almost) nothing.
EMPTY_ALGO = wasmtime.wat2wasm(
    '(module (memory (export "memory") 1) (func (export "on_book") (param i64 i64 i64 i64 i64)))'
)
READS_ALGO = wasmtime.wat2wasm("""
(module
  (import "seq" "cancel_all" (func $cancel_all))
  (import "seq" "position_1e8" (func $pos (result i64)))
  (import "seq" "book_level" (func $level (param i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "on_book") (param i64 i64 i64 i64 i64)
    (call $cancel_all)
    (drop (call $pos))
    (drop (call $level (i32.const 0) (i32.const 1) (i32.const 1)))
    (drop (call $level (i32.const 1) (i32.const 1) (i32.const 1)))
    (drop (call $level (i32.const 0) (i32.const 2) (i32.const 1)))
    (drop (call $level (i32.const 1) (i32.const 2) (i32.const 1)))))
""")


def floor_path(wasm: bytes, n: int) -> float:
    """p50 (µs) of the core call (slot.last_latency_ns) with this algo."""
    venue = SimVenueAdapter("coinbase", seed=42, start_ns=START, symbols=["ETH/USD"])
    slot = make_slot(venue, wasm, "floor")
    samples = []
    for i, (_symbol, snap) in enumerate(venue.updates()):
        if i == n:
            break
        slot.on_book(snap)
        samples.append(slot.last_latency_ns)
    return percentile(samples[n // 10 :], 0.5)


class NaiveHost:
    """The algo's imports as Python functions over the Python paper matching engine and position
    book (what the edge did before the core): the naive path's host work."""

    def __init__(self, venue: SimVenueAdapter) -> None:
        self.orders = venue.engine("ETH/USD", account="naive")
        self.positions = PositionBook(algo="naive", symbol="ETH/USD")
        self.book: BookSnapshot | None = None
        self.now = 0
        self.next_id = 1
        self.lines = 0
        venue.set_fill_callback(lambda account, symbol, fill: self.on_fill(fill))

    def on_fill(self, fill: Any) -> None:
        self.positions.on_fill(fill.side, fill.price_1e9, fill.qty_1e8, fill.fee_1e9)
        self.log(
            1,
            f"{'BUY' if fill.side == 0 else 'SELL'} FILL: order={fill.order_id} qty={fill.qty_1e8} "
            f"@${format_price(fill.price_1e9)} {fill.liquidity} fee={format_price(fill.fee_1e9)} "
            f"pos={self.positions.position_1e8}",
        )

    def place_order(self, side: int, price_1e9: int, qty_1e8: int) -> int:
        order_id = self.next_id
        self.next_id += 1
        self.positions.order_count += 1
        result = self.orders.submit(side, price_1e9, qty_1e8, self.now, order_id)
        if result.accepted:
            for fill in result.fills:
                self.on_fill(fill)
            return order_id
        self.positions.on_reject()
        self.log(2, f"REJECT: order={order_id} reason={result.reason}")
        return int(result.error) if result.error else order_id

    def cancel_order(self, order_id: int) -> int:
        if self.orders.cancel(order_id):
            self.positions.on_cancel(1)
            return 0
        return -1

    def cancel_all(self) -> None:
        cancelled = self.orders.cancel_all()
        if cancelled:
            self.positions.cancel_count += len(cancelled)

    def log(self, level: int, message: str) -> None:
        self.lines += 1

    def position_1e8(self) -> int:
        return self.positions.position_1e8

    def open_order_count(self) -> int:
        return int(self.orders.open_order_count)

    def book_level(self, side: int, index: int, which: int) -> int:
        book = self.book
        return book.level(side, index, which) if book is not None else 0

    def now_ns(self) -> int:
        return self.now


def naive_path(wasm: bytes, n: int) -> list[int]:
    """The same algo, host work and book, through Func.__call__ and wasmtime-py host functions."""
    venue = SimVenueAdapter("coinbase", seed=42, start_ns=START, symbols=["ETH/USD"])
    host = NaiveHost(venue)
    engine = get_engine()
    store = wasmtime.Store(engine)
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    linker = wasmtime.Linker(engine)

    def log(caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
        memory = caller["memory"]
        host.log(level, memory.read(caller, ptr, ptr + min(length, 1024)).decode("utf-8", "replace"))

    for name, params, results, fn in [
        ("place_order", [i32, i64, i64], [i64], host.place_order),
        ("cancel_order", [i64], [i32], host.cancel_order),
        ("cancel_all", [], [], host.cancel_all),
        ("position_1e8", [], [i64], host.position_1e8),
        ("open_order_count", [], [i32], host.open_order_count),
        ("book_level", [i32, i32, i32], [i64], host.book_level),
        ("now_ns", [], [i64], host.now_ns),
        ("log_enabled", [i32], [i32], lambda level: 1),  # this host reads every line
    ]:
        linker.define_func("seq", name, wasmtime.FuncType(params, results), fn)
    linker.define_func("seq", "log", wasmtime.FuncType([i32, i32, i32], []), log, access_caller=True)
    store.set_fuel(10**12)
    exports = linker.instantiate(store, wasmtime.Module(engine, wasm)).exports(store)
    on_book = exports["on_book"]
    samples = []
    updates = venue.updates()  # the venue matches the naive account's resting orders
    for i, (_symbol, snap) in enumerate(updates):
        host.book, host.now = snap, snap.ts_ns
        store.set_fuel(5_000_000)
        t0 = time.perf_counter_ns()
        on_book(store, snap.bid_px, snap.bid_qty, snap.ask_px, snap.ask_qty, snap.ts_ns)
        samples.append(time.perf_counter_ns() - t0)
        if i == n:
            break
    assert host.positions.order_count > 0
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
    orders, fills = 0, 0.0
    for _ in range(args.rounds):
        fast, rate, orders, fills = fast_path(wasm, args.updates)
        naive = naive_path(wasm, args.naive_updates)
        fast_p50, fast_p99 = percentile(fast, 0.5), percentile(fast, 0.99)
        rounds.append((fast_p50, fast_p99, rate, percentile(naive, 0.5), percentile(naive, 0.99)))
        splits.append(split_path(wasm, min(args.updates, 20_000)))
        floor_n = min(args.updates, 20_000)
        floors.append((floor_path(EMPTY_ALGO, floor_n), floor_path(READS_ALGO, floor_n)))
    med = [statistics.median(r[i] for r in rounds) for i in range(5)]
    print(
        f"machine: {platform.node()} {platform.machine()} Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}, algo wasm {len(wasm)} B, core wasm {CORE_WASM.stat().st_size} B, "
        f"{args.rounds} rounds (medians)"
    )
    print("| path | on_book p50 | on_book p99 | updates/s through one algo |")
    print("|---|---|---|---|")
    print(
        f"| edge dispatch (`slot.on_book`: one core call) | {med[0]:.1f} µs | {med[1]:.1f} µs "
        f"| {med[2]:,.0f} |"
    )
    print(f"| naive `Func.__call__` (baseline, on_book only) | {med[3]:.1f} µs | {med[4]:.1f} µs | — |")
    print(
        f"speed-up at p50: {med[3] / med[0]:.1f}x; in the last fast round: {orders:,} orders sent, "
        f"{fills:.2f} fills per update"
    )
    print()
    print("| one update, part by part (instrumented pass; medians) | µs |")
    print("|---|---|")
    for key in splits[0]:
        value = statistics.median(s[key] for s in splits)
        print(f"| {key} | {value:.2f} |" if key == "fills per update" else f"| {key} | {value:.1f} |")
    print(f"| floor: core call with a do-nothing algo | {statistics.median(f[0] for f in floors):.1f} |")
    print(
        "| floor: core call, an algo making the market maker's cancel_all, position_1e8 and "
        "4× book_level calls, no orders | "
        f"{statistics.median(f[1] for f in floors):.1f} |"
    )


if __name__ == "__main__":
    main()
