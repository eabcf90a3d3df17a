"""AlgoSlot: the edge's per-algo host and dispatch, on the simulated venue (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from edges.dispatch import AlgoSlot, SlotState
from edges.runtime import RuntimeLimits, load_module
from edges.runtime.abi import ERR_BAD_PRICE, ERR_BAD_QTY, ERR_HALTED
from edges.venues.adapter import SimVenueAdapter
from tests.edges.conftest import scripted_algo, wat

START = 1_767_225_600_000_000_000  # 2026-01-01


class Sink:
    def __init__(self) -> None:
        self.logs: list[tuple[Any, int, str, str]] = []
        self.traces: list[dict[str, Any]] = []

    def log(self, slot: AlgoSlot, ts_ns: int, level: str, message: str) -> None:
        self.logs.append((slot.key, ts_ns, level, message))

    def trace(self, slot: AlgoSlot, record: dict[str, Any]) -> None:
        self.traces.append(record)


@pytest.fixture
def venue() -> SimVenueAdapter:
    return SimVenueAdapter("coinbase", seed=7, start_ns=START, symbols=["ETH/USD", "BTC/USD"])


def make_slot(venue: SimVenueAdapter, wasm: bytes, *, key: str = "a", symbol: str = "ETH/USD", **kw: Any):
    sink = Sink()
    slot = AlgoSlot(
        key=key, symbol=symbol, venue=venue, account=key, compiled=load_module(wasm), sink=sink, **kw
    )
    venue.set_fill_callback(lambda account, sym, fill: slot.on_venue_fill(fill) if account == key else None)
    return slot, sink


def run(venue: SimVenueAdapter, slots: list[AlgoSlot], n: int) -> None:
    for symbol, snap in venue.updates():
        for slot in slots:
            if slot.symbol == symbol:
                slot.on_book(snap)
        n -= 1
        if n == 0:
            return


def test_market_maker_quotes_both_sides_on_the_grid(venue, market_maker_wasm):
    slot, sink = make_slot(venue, market_maker_wasm)
    slot.start(START)
    run(venue, [slot], 200)
    assert slot.update_count > 0
    engine = venue.engine("ETH/USD", account="a")
    orders = engine.open_orders()
    assert {o.side for o in orders} == {0, 1}
    tick = engine.instrument.tick_1e9
    assert all(o.price_1e9 % tick == 0 for o in orders)
    assert slot.positions.order_count >= 2 * slot.update_count
    assert slot.positions.reject_count == 0
    assert any("hello" in message.lower() or "market maker" in message.lower() for *_, message in sink.logs)
    assert slot.take_latency_p50() > 0


def test_stopped_algo_gets_no_updates_and_cannot_trade(venue, market_maker_wasm):
    slot, _ = make_slot(venue, market_maker_wasm)
    run(venue, [slot], 50)
    assert slot.state is SlotState.ACCEPTED and slot.update_count == 0
    assert slot.place_order(0, 1_000_000_000, 1) == ERR_HALTED


def test_stop_cancels_resting_orders_and_keeps_position(venue):
    slot, _ = make_slot(venue, scripted_algo())
    slot.start(START)
    run(venue, [slot], 5)
    position = slot.positions.position_1e8
    assert position == 1_000_000  # the taker buy filled at once
    slot.stop()
    assert slot.state is SlotState.ACCEPTED
    assert venue.engine("ETH/USD", account="a").open_order_count == 0
    slot.start(START)
    assert slot.positions.position_1e8 == position


def test_immediate_fill_is_delivered_after_the_callback(venue):
    algo = wat("""
    (module
      (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
      (import "seq" "log" (func $log (param i32 i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "filled")
      (global $sent (mut i32) (i32.const 0))
      (func (export "on_book") (param i64 i64 i64 i64 i64)
        (if (i32.eqz (global.get $sent))
          (then (global.set $sent (i32.const 1))
                (drop (call $place (i32.const 0) (i64.mul (local.get 2) (i64.const 2)) (i64.const 1000000))))))
      (func (export "on_fill") (param i64 i32 i64 i64 i64)
        (call $log (i32.const 1) (i32.const 0) (i32.const 6))))
    """)
    slot, sink = make_slot(venue, algo)
    slot.start(START)
    run(venue, [slot], 3)
    messages = [m for *_, m in sink.logs]
    assert any(m.startswith("BUY FILL: order=1 qty=1000000 @$") and "taker" in m for m in messages)
    assert "filled" in messages  # the algo's own on_fill ran, after on_book returned
    assert slot.positions.fill_count == 1
    assert any(t["callback_type"] == "on_fill" for t in sink.traces)


def test_trap_pauses_only_that_algo(venue):
    bad, bad_sink = make_slot(venue, scripted_algo(trap_after=3), key="bad")
    good, _ = make_slot(venue, scripted_algo(), key="good", symbol="ETH/USD")
    venue.set_fill_callback(None)
    bad.start(START)
    good.start(START)
    run(venue, [bad, good], 40)
    assert bad.state is SlotState.PAUSED
    assert "unreachable" in bad.pause_reason
    assert any(level == "ERROR" and "algo paused" in message for _, _, level, message in bad_sink.logs)
    assert venue.engine("ETH/USD", account="bad").open_order_count == 0
    assert good.state is SlotState.RUNNING and good.update_count > bad.update_count


def test_infinite_loop_is_stopped_by_fuel(venue):
    loop = wat("""(module (memory (export "memory") 1)
      (func (export "on_book") (param i64 i64 i64 i64 i64) (loop $l (br $l))))""")
    slot, _ = make_slot(venue, loop)
    slot.start(START)
    run(venue, [slot], 2)
    assert slot.state is SlotState.PAUSED
    assert "fuel" in slot.pause_reason


def test_log_with_out_of_bounds_pointer_pauses(venue):
    algo = wat("""(module (import "seq" "log" (func $log (param i32 i32 i32))) (memory (export "memory") 1)
      (func (export "on_book") (param i64 i64 i64 i64 i64) (call $log (i32.const 1) (i32.const 65530) (i32.const 100))))""")
    slot, _ = make_slot(venue, algo)
    slot.start(START)
    run(venue, [slot], 2)
    assert slot.state is SlotState.PAUSED
    assert "out of bounds" in slot.pause_reason


def test_memory_grow_past_the_cap_is_refused_not_fatal(venue):
    algo = wat("""(module (import "seq" "log" (func $log (param i32 i32 i32))) (memory (export "memory") 1)
      (data (i32.const 0) "denied")
      (func (export "on_book") (param i64 i64 i64 i64 i64)
        (if (i32.eq (memory.grow (i32.const 1000)) (i32.const -1))
          (then (call $log (i32.const 2) (i32.const 0) (i32.const 6))))))""")
    slot, sink = make_slot(venue, algo, limits=RuntimeLimits(memory_limit_bytes=2 * 65536))
    slot.start(START)
    run(venue, [slot], 3)
    assert slot.state is SlotState.RUNNING
    assert ("a", sink.logs[0][1], "WARN", "denied") in sink.logs


@pytest.mark.parametrize(
    ("price", "qty", "code"),
    [
        (-5, 1_000_000, None),
        (1, 1_000_000, ERR_BAD_PRICE),
        (2_000_000_000_000, 0, None),
        (2_000_000_000_000, 10**17, ERR_BAD_QTY),
    ],
)
def test_absurd_orders_are_refused_with_a_code(venue, price, qty, code):
    slot, sink = make_slot(
        venue,
        wat('(module (memory (export "memory") 1) (func (export "on_book") (param i64 i64 i64 i64 i64)))'),
    )
    slot.start(START)
    run(venue, [slot], 1)
    if price <= 0 or qty <= 0:
        return  # the runtime refuses these before the host (covered in tests/edges/runtime)
    result = slot.place_order(0, price, qty)
    assert result == code
    assert slot.state is SlotState.RUNNING
    assert any(level == "WARN" and "REJECT" in message for *_, level, message in sink.logs)


def test_restart_after_a_trap_rebuilds_the_instance(venue):
    slot, _ = make_slot(venue, scripted_algo(trap_after=2))
    slot.start(START)
    run(venue, [slot], 5)
    assert slot.state is SlotState.PAUSED
    slot.start(START)
    assert slot.state is SlotState.RUNNING and slot.pause_reason is None
    assert slot.instance is not None and not slot.instance.trapped


def test_traces_are_sampled_with_inputs_and_actions(venue, market_maker_wasm):
    slot, sink = make_slot(venue, market_maker_wasm, trace_every_ns=0)
    slot.start(START)
    run(venue, [slot], 5)
    trace = next(t for t in sink.traces if t["callback_type"] == "on_book")
    assert trace["input"]["book"]["best_bid"] is not None
    assert trace["output"]["actions"][0] == "cancel_all"
    assert any(action.startswith("place_bid@") for action in trace["output"]["actions"])
    assert trace["latency_ns"] > 0
