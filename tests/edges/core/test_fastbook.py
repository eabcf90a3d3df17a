"""edges.core._fastbook (native/fastbook.c): a live book handed to an algo's core in one C call.

It must do exactly what AlgoCore's Python path does (`set_levels`, then `on_book` with explicit
depth): the same XBOOK bytes, the same answer, the same events and orders, the same trap. Two cores
on the same algo, one per path, are fed the same random live books, and compared after every one.
"""

from __future__ import annotations

import functools
import random

import pytest
import wasmtime

from edges.core.instance import S_NACT, S_NEV, AlgoCore, native_book_calls
from edges.runtime import AlgoTrap, load_module
from venues.instruments import get_instrument

# Reads every level of both sides the core offers (and beyond), folds them into a global it places
# orders from: an algo whose orders differ as soon as one byte of the depth does. A book whose best
# bid size is 13 makes it trap (unreachable), and one of 17 makes it spin until its fuel runs out.
PROBE = wasmtime.wat2wasm(
    """(module
  (import "seq" "book_level" (func $lv (param i32 i32 i32) (result i64)))
  (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
  (import "seq" "cancel_all" (func $cancel_all))
  (memory (export "memory") 1)
  (global $acc (mut i64) (i64.const 0))
  (func (export "on_book") (param $bp i64) (param $bq i64) (param $ap i64) (param $aq i64) (param $ts i64)
    (local $i i32) (local $s i32)
    (if (i64.eq (local.get $bq) (i64.const 13)) (then unreachable))
    (if (i64.eq (local.get $bq) (i64.const 17)) (then (loop $spin (br $spin))))
    (local.set $s (i32.const 0))
    (loop $sides
      (local.set $i (i32.const 0))
      (loop $levels
        (global.set $acc (i64.add (i64.mul (global.get $acc) (i64.const 31))
          (i64.add (call $lv (local.get $s) (local.get $i) (i32.const 0))
                   (i64.mul (call $lv (local.get $s) (local.get $i) (i32.const 1)) (i64.const 7)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $levels (i32.lt_u (local.get $i) (i32.const 24))))
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      (br_if $sides (i32.lt_u (local.get $s) (i32.const 2))))
    (call $cancel_all)
    ;; a bid one to four ticks (0.1) under the best, sized by the fold: every level shows in it
    (drop (call $place (i32.const 0)
      (i64.sub (local.get $bp) (i64.mul (i64.const 100000000)
        (i64.add (i64.const 1) (i64.and (global.get $acc) (i64.const 3)))))
      (i64.add (i64.const 10000) (i64.and (global.get $acc) (i64.const 65535)))))))"""
)


def _core(monkeypatch: pytest.MonkeyPatch, native: bool) -> AlgoCore:
    monkeypatch.setenv("SEQUENCE_NATIVE_BOOK", "1" if native else "0")
    core = AlgoCore(
        load_module(PROBE),
        get_instrument("kraken", "BTC/USD"),
        rng_seed="fastbook",
        fill_prob_at_touch=0.5,
        log=lambda level, text: None,
        on_events=lambda n: None,
        on_trace=lambda kind, phase: None,
    )
    core.start(1)
    return core


def _call(core: AlgoCore, ts: int, bids, asks) -> int | str:  # type: ignore[no-untyped-def]
    bid = bids[0] if bids else (0, 0)
    ask = asks[0] if asks else (0, 0)
    try:
        r = core.on_book_levels(ts, bid[0], bid[1], ask[0], ask[1], bids, asks)
        if type(r) is tuple:
            raise core.book_failure(r)
    except AlgoTrap as trap:
        return f"trap {trap.kind} {trap.callback}: {trap.reason}"
    return r


def _state(core: AlgoCore) -> tuple[bytes, list[int], list[int]]:
    """XBOOK, the update's events and the actions the algo queued (its orders)."""
    events = [int(v) for v in core.EV[: int(core.G[S_NEV]) * core.ev_words]]
    actions = [int(v) for v in core.ACT[: int(core.G[S_NACT]) * core.act_words]]
    return bytes(core._xbook_bytes), events, actions


def test_the_extension_is_built_and_used() -> None:
    # make test installs the project (pip install -e .), which compiles it: a checkout where the
    # live path silently fell back to Python would fail here.
    assert native_book_calls()


def test_one_c_call_does_what_set_levels_and_on_book_do(monkeypatch: pytest.MonkeyPatch) -> None:
    native, python = _core(monkeypatch, True), _core(monkeypatch, False)
    # the two paths, really: the C function (bound to this core's environment) and the Python method
    assert isinstance(native.on_book_levels, functools.partial)
    assert python.on_book_levels == python._on_book_levels
    d = native.max_depth
    rng = random.Random(5)
    tick, lot = 10**8, 10**4
    mid = 600_000
    bids: tuple | list = ()
    asks: tuple | list = ()
    placed = traps = 0
    for step in range(3000):
        mid += rng.randint(-2, 2)
        kind = rng.random()
        if kind < 0.2 and bids:
            pass  # the same bid tuple again (a live book's side no update reached), new asks
        else:
            n = rng.choice([0, 1, 3, d - 1, d, d + 5])
            bids = tuple(((mid - 1 - k) * tick, lot * rng.randint(1, 500)) for k in range(n))
            if bids and rng.random() < 0.03:
                bids = ((bids[0][0], rng.choice([13, 17])), *bids[1:])  # trap, or out of fuel
        n = rng.choice([0, 2, d, d + 1])
        asks = tuple(((mid + 1 + k) * tick, lot * rng.randint(1, 500)) for k in range(n))
        if rng.random() < 0.1:
            asks = list(asks)  # a list is written every time
        for core in (native, python):
            if step % 500 == 0:
                core.open_orders()  # writes its scratch over XBOOK's tail
        answers = [_call(core, 1000 + step, bids, asks) for core in (native, python)]
        assert answers[0] == answers[1], f"step {step}"
        traps += type(answers[0]) is str
        state = _state(native)
        assert state == _state(python), f"step {step}"
        placed += len(state[2]) > 0
    assert placed > 2000, "the probe placed an order on most books"
    assert traps > 10, "traps and fuel running out, on both paths alike"


@pytest.mark.parametrize(("size", "kind"), [(13, "trap"), (17, "out_of_fuel")])
def test_a_trap_in_one_c_call_is_the_same_algo_trap(
    monkeypatch: pytest.MonkeyPatch, size: int, kind: str
) -> None:
    bids = ((10**13, size),)
    asks = ((10**13 + 10**8, 5),)
    answers = [_call(_core(monkeypatch, native), 7, bids, asks) for native in (True, False)]
    assert answers[0] == answers[1]
    assert answers[0].startswith(f"trap {kind} on_book"), answers[0]


def test_a_level_that_is_not_a_pair_of_ints_is_refused_before_the_core_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    core = _core(monkeypatch, True)
    good = ((10**13, 10**4),)
    assert type(_call(core, 1, good, good)) is int
    nev = int(core.G[S_NEV])
    for bad in (((10**13, "1"),), ((10**13,),), ((2**64, 1),), "xy", (None,)):
        with pytest.raises((TypeError, OverflowError)):
            core.on_book_levels(2, 10**13, 1, 10**13, 1, bad, good)
        assert core._xbook_held[0] is None  # not held: written again next time
    assert int(core.G[S_NEV]) == nev  # the core was not called
    assert type(_call(core, 3, good, good)) is int
    assert _state(core)[0][16:32] == (10**13).to_bytes(8, "little") + (10**4).to_bytes(8, "little")
