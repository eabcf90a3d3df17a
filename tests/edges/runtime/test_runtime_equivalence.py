"""The fast raw path and wasmtime-py's Func.__call__ path run the same module identically."""

from __future__ import annotations

import random
from typing import Any

import wasmtime

from edges.runtime import AlgoInstance, get_engine

FUEL = 5_000_000

# A small market maker touching every import, with state in globals and linear memory.
MARKET_MAKER = """
  (global $ticks (mut i64) (i64.const 0))
  (data (i32.const 64) "quote big fill")
  (func (export "on_init") (call $log (i32.const 1) (i32.const 64) (i32.const 5)))
  (func (export "on_book") (param $bp i64) (param $bq i64) (param $ap i64) (param $aq i64) (param $ts i64)
    (local $mid i64) (local $skew i64) (local $notional i64)
    (global.set $ticks (i64.add (global.get $ticks) (i64.const 1)))
    (if (i64.eqz (local.get $bp)) (then return))  ;; one-sided book: stand aside
    (if (i64.eqz (local.get $ap)) (then return))
    (call $cancel_all)
    (local.set $mid (i64.div_s (i64.add (local.get $bp) (local.get $ap)) (i64.const 2)))
    ;; skew quotes by 0.01 per 1.0 of position
    (local.set $skew
      (i64.mul (i64.div_s (call $position_1e8) (i64.const 100000000)) (i64.const 10000000)))
    (i64.store (i32.const 0)
      (call $place_order (i32.const 0)
        (i64.sub (i64.sub (local.get $mid) (i64.const 50000000)) (local.get $skew))
        (i64.const 100000000)))
    (drop (call $place_order (i32.const 1)
      (i64.sub (i64.add (local.get $mid) (i64.const 50000000)) (local.get $skew))
      (local.get $aq)))
    ;; notional without overflow: price_1e9 / 10 * qty_1e8 / 1e7 (in 1e9 units of quote currency)
    (local.set $notional
      (i64.div_s (i64.mul (i64.div_s (local.get $bp) (i64.const 10)) (local.get $bq)) (i64.const 10000000)))
    (if (i64.gt_s (local.get $notional) (i64.const 100000000000000))
      (then (call $log (i32.const 2) (i32.const 70) (i32.const 3))))
    (drop (call $book_level
      (i32.const 1) (i32.wrap_i64 (i64.rem_u (global.get $ticks) (i64.const 3))) (i32.const 0)))
    (if (i32.gt_s (call $open_order_count) (i32.const 4))
      (then (call $echo (i64.load (i32.const 0)))))
    (if (i64.eqz (i64.rem_u (global.get $ticks) (i64.const 3)))
      (then (call $echo (i64.load (i32.const 0))))))
  (func (export "on_fill") (param $id i64) (param $side i32) (param $px i64) (param $qty i64) (param $ts i64)
    (i64.store (i32.const 8)
      (i64.add (i64.load (i32.const 8))
        (select (local.get $qty) (i64.sub (i64.const 0) (local.get $qty)) (i32.eqz (local.get $side)))))
    (call $echo (i64.load (i32.const 8)))
    (call $log (i32.const 1) (i32.const 74) (i32.const 4)))
  (func (export "on_reject") (param $id i64) (param $reason i32)
    (call $echo (i64.add (local.get $id) (i64.extend_i32_u (local.get $reason)))))
  (func (export "on_timer") (param $ts i64)
    (call $echo (i64.sub (call $now_ns) (local.get $ts))))
"""


class SlowAlgo:
    """The reference path: wasmtime-py's convenient API, Func.__call__ and Python host functions."""

    def __init__(self, wasm_bytes: bytes, host: Any) -> None:
        engine = get_engine()
        self.store = wasmtime.Store(engine)
        self.store.set_limits(memory_size=16 * 1024 * 1024)
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        linker = wasmtime.Linker(engine)

        def log(caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
            memory = caller["memory"]
            assert isinstance(memory, wasmtime.Memory)
            host.log(level, memory.read(caller, ptr, ptr + min(length, 1024)).decode("utf-8", "replace"))

        for name, params, results, fn in [
            ("place_order", [i32, i64, i64], [i64], host.place_order),
            ("cancel_order", [i64], [i32], host.cancel_order),
            ("cancel_all", [], [], host.cancel_all),
            ("position_1e8", [], [i64], host.position_1e8),
            ("open_order_count", [], [i32], host.open_order_count),
            ("book_level", [i32, i32, i32], [i64], host.book_level),
            ("now_ns", [], [i64], host.now_ns),
            ("log_enabled", [i32], [i32], lambda level: 1),  # the algo here logs within its budget
        ]:
            linker.define_func("seq", name, wasmtime.FuncType(params, results), fn)
        linker.define_func("seq", "log", wasmtime.FuncType([i32, i32, i32], []), log, access_caller=True)
        self.store.set_fuel(FUEL)
        self.exports = linker.instantiate(self.store, wasmtime.Module(engine, wasm_bytes)).exports(self.store)
        self.last_fuel_used = 0

    def call(self, name: str, *args: int) -> None:
        self.store.set_fuel(FUEL)
        func = self.exports[name]
        assert isinstance(func, wasmtime.Func)
        func(self.store, *args)
        self.last_fuel_used = FUEL - self.store.get_fuel()


def events(seed: int, n: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    out: list[tuple[Any, ...]] = [("on_init",)]
    mid = 100_000_000_000
    for i in range(n):
        ts = 1_700_000_000_000_000_000 + i * 1_000_000
        mid += rng.randint(-5, 5) * 10_000_000
        kind = rng.random()
        if kind < 0.7:
            bid = 0 if rng.random() < 0.05 else mid - 10_000_000
            ask = 0 if rng.random() < 0.05 else mid + 10_000_000
            out.append(("on_book", bid, rng.randint(1, 10**9), ask, rng.randint(1, 10**9), ts))
        elif kind < 0.85:
            out.append(("on_fill", 1000 + i, rng.randint(0, 1), mid, rng.randint(1, 10**8), ts))
        elif kind < 0.9:
            out.append(("on_reject", 1000 + i, rng.randint(1, 7)))
        else:
            out.append(("on_timer", ts))
    return out


def test_fast_and_slow_paths_agree(algo_wat, make_host) -> None:
    wasm_bytes = algo_wat(MARKET_MAKER)
    fast_host, slow_host = make_host(), make_host()
    fast = AlgoInstance(wasm_bytes, fast_host)
    slow = SlowAlgo(wasm_bytes, slow_host)
    fast_fuel, slow_fuel = [], []

    for event in events(seed=7, n=400):
        name, args = event[0], event[1:]
        for host in (fast_host, slow_host):
            # The hosts evolve identically: position follows fills, book depth follows time.
            if name == "on_fill":
                host.position += args[3] if args[1] == 0 else -args[3]
            if name in ("on_book", "on_timer"):
                host.now = args[-1] + 17
                host.open_orders = len(host.named("place_order")) % 7
                host.book = {(1, 1, 0): args[-1] % 1000}
        getattr(fast, name)(*args)
        slow.call(name, *args)
        fast_fuel.append(fast.last_fuel_used)
        slow_fuel.append(slow.last_fuel_used)

    assert len(fast_host.calls) > 1000
    assert {c[0] for c in fast_host.calls} == {
        "place_order",
        "cancel_order",
        "cancel_all",
        "log",
        "position_1e8",
        "open_order_count",
        "book_level",
        "now_ns",
    }
    assert fast_host.calls == slow_host.calls
    assert fast_fuel == slow_fuel
