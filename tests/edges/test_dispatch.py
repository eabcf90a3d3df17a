"""AlgoSlot: the edge's per-algo host and dispatch, on the simulated venue (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from edges.dispatch import AlgoSlot, CarriedPosition, SlotState
from edges.runtime import RuntimeLimits, load_module
from edges.runtime.abi import ERR_BAD_PRICE, ERR_BAD_QTY
from tests.edges.conftest import scripted_algo, wat
from venues.book import BookSnapshot
from venues.sim.adapter import SimVenueAdapter

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
    # No fill callback on the venue: the slot's core matches its paper orders and delivers fills.
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
    orders = slot.open_orders()  # (order_id, side, price_1e9, qty_1e8, leaves_1e8, dormant)
    assert {side for _, side, *_ in orders} == {0, 1}
    tick = venue.instrument("ETH/USD").tick_1e9
    assert all(price % tick == 0 for _, _, price, *_ in orders)
    # Both sides on (nearly) every update: a side is left out only while the position is at its limit.
    assert slot.positions.order_count >= 1.8 * slot.update_count
    assert slot.positions.reject_count == 0
    hello = [ts for _, ts, _, message in sink.logs if "market_maker hello" in message]
    assert hello == [START]  # on_init ran at the venue's event time, and its line says so
    assert slot.take_latency_p50() > 0


def test_stopped_algo_gets_no_updates_and_cannot_trade(venue, market_maker_wasm):
    slot, _ = make_slot(venue, market_maker_wasm)
    run(venue, [slot], 50)
    assert slot.state is SlotState.ACCEPTED and slot.update_count == 0
    assert slot.open_orders() == [] and slot.positions.order_count == 0


def test_stop_cancels_resting_orders_and_keeps_position(venue):
    slot, _ = make_slot(venue, scripted_algo())
    slot.start(START)
    run(venue, [slot], 5)
    position = slot.positions.position_1e8
    assert position == 1_000_000  # the taker buy filled at once
    slot.stop()
    assert slot.state is SlotState.ACCEPTED
    assert slot.open_orders() == []
    slot.start(START)
    assert slot.positions.position_1e8 == position


def test_stop_cancels_the_market_makers_resting_quotes(venue, market_maker_wasm):
    slot, _ = make_slot(venue, market_maker_wasm)
    slot.start(START)
    run(venue, [slot], 20)
    resting = len(slot.open_orders())
    assert resting > 0
    cancels = slot.positions.cancel_count
    slot.stop()
    assert slot.open_orders() == []
    assert slot.positions.cancel_count == cancels + resting
    run(venue, [slot], 20)  # a stopped algo is neither called nor filled
    assert slot.open_orders() == [] and slot.positions.cancel_count == cancels + resting


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


def test_a_resting_fill_reaches_on_fill_with_the_update_that_filled_it(venue):
    """A resting order is matched against the new book before on_book: its on_fill already sees
    that update (now_ns), and what on_fill's own orders cause is delivered before on_book runs."""
    algo = wat("""
    (module
      (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
      (import "seq" "now_ns" (func $now (result i64)))
      (import "seq" "log" (func $log (param i32 i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "fresh stale book  taker")
      (global $sent (mut i32) (i32.const 0))
      (global $last (mut i64) (i64.const 0))
      (func (export "on_book") (param i64 i64 i64 i64 i64)
        (global.set $last (local.get 4))
        (call $log (i32.const 1) (i32.const 12) (i32.const 4))
        (if (i32.eqz (global.get $sent))
          (then (global.set $sent (i32.const 1))
                (drop (call $place (i32.const 0) (local.get 0) (i64.const 1000000))))))
      (func (export "on_fill") (param $id i64) (param i32 i64 i64) (param $ts i64)
        (if (i64.eq (local.get $id) (i64.const 1))
          (then
            (if (i32.and (i64.gt_s (call $now) (global.get $last)) (i64.eq (call $now) (local.get $ts)))
              (then (call $log (i32.const 1) (i32.const 0) (i32.const 5)))
              (else (call $log (i32.const 1) (i32.const 6) (i32.const 5))))
            ;; a taker sell far below the bid: it fills at once, and its on_fill is queued
            (drop (call $place (i32.const 1) (i64.const 10000000) (i64.const 1000000))))
          (else (call $log (i32.const 1) (i32.const 18) (i32.const 5))))))
    """)
    slot, sink = make_slot(venue, algo)
    slot.start(START)
    for _ in range(3000):
        run(venue, [slot], 1)
        if slot.positions.fill_count >= 2:
            break
    lines = [(ts, message) for _, ts, _, message in sink.logs]
    messages = [message for _, message in lines]
    assert "stale" not in messages
    at = next(i for i, m in enumerate(messages) if m.startswith("BUY FILL: order=1 "))
    assert "maker" in messages[at]
    assert messages[at + 1 : at + 5] == ["fresh", messages[at + 2], "taker", "book"], messages[at:]
    assert messages[at + 2].startswith("SELL FILL: order=2 ") and "taker" in messages[at + 2]
    assert len({ts for ts, _ in lines[at : at + 5]}) == 1  # all within the update that filled order 1
    assert lines[at - 1] == (lines[at - 1][0], "book") and lines[at - 1][0] < lines[at][0]
    assert slot.positions.position_1e8 == 0 and slot.positions.fill_count == 2


def test_on_fill_traces_carry_the_fill(venue):
    algo = wat("""
    (module
      (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
      (memory (export "memory") 1)
      (global $sent (mut i32) (i32.const 0))
      (func (export "on_book") (param i64 i64 i64 i64 i64)
        (if (i32.eqz (global.get $sent))
          (then (global.set $sent (i32.const 1))
                (drop (call $place (i32.const 0) (i64.mul (local.get 2) (i64.const 2)) (i64.const 1000000))))))
      (func (export "on_fill") (param i64 i32 i64 i64 i64)))
    """)
    slot, sink = make_slot(venue, algo, trace_every_ns=0)
    slot.start(START)
    run(venue, [slot], 3)
    trace = next(t for t in sink.traces if t["callback_type"] == "on_fill")
    fill = trace["input"].get("fill")
    assert fill is not None and fill["order_id"] == 1 and fill["side"] == "buy"
    assert fill["qty_1e8"] == 1_000_000 and float(fill["price"]) > 0


PING_PONG = """
    (module
      (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
      (memory (export "memory") 1)
      (global $sent (mut i32) (i32.const 0))
      (func (export "on_book") (param i64 i64 i64 i64 i64)
        (if (i32.eqz (global.get $sent))
          (then (global.set $sent (i32.const 1))
                (drop (call $place (i32.const 0) (i64.mul (local.get 2) (i64.const 2)) (i64.const 1000000))))))
      ;; every fill sends a taker order the other way: it fills at once, and so on
      (func (export "on_fill") (param i64 i32 i64 i64 i64)
        (if (i32.eqz (local.get 1))
          (then (drop (call $place (i32.const 1) (i64.const 10000000) (i64.const 1000000))))
          (else (drop (call $place (i32.const 0) (i64.const 300000000000000) (i64.const 1000000)))))))
"""


def test_an_algo_trading_with_itself_is_paused_once(venue):
    slot, sink = make_slot(venue, wat(PING_PONG))
    slot.start(START)
    run(venue, [slot], 20)
    assert slot.state is SlotState.PAUSED and "trading with itself" in slot.pause_reason
    assert slot.update_count == 1 and slot.open_orders() == []
    assert sum("algo paused" in message for *_, message in sink.logs) == 1


def test_an_order_cancelled_in_on_fill_is_not_filled_afterwards():
    venue = SimVenueAdapter(
        "coinbase", seed=7, start_ns=START, symbols=["ETH/USD"], engine_defaults={"fill_prob_at_touch": 1.0}
    )
    # Two bids at the touch (both fill on the same update); on_fill of order 1 cancels order 2;
    # on the next update two more bids far below (orders 3 and 4) rest.
    algo = wat("""
    (module
      (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
      (import "seq" "cancel_order" (func $cancel (param i64) (result i32)))
      (import "seq" "log" (func $log (param i32 i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "cancel ok cancel unknown")
      (global $step (mut i32) (i32.const 0))
      (func (export "on_book") (param i64 i64 i64 i64 i64)
        (if (i32.eqz (global.get $step))
          (then (global.set $step (i32.const 1))
                (drop (call $place (i32.const 0) (local.get 0) (i64.const 1000000)))
                (drop (call $place (i32.const 0) (local.get 0) (i64.const 1000000)))))
        (if (i32.eq (global.get $step) (i32.const 2))
          (then (global.set $step (i32.const 3))
                (drop (call $place (i32.const 0) (i64.const 1000000000000) (i64.const 1000000)))
                (drop (call $place (i32.const 0) (i64.const 1100000000000) (i64.const 1000000))))))
      (func (export "on_fill") (param $id i64) (param i32 i64 i64 i64)
        (global.set $step (i32.const 2))
        (if (i64.eq (local.get $id) (i64.const 1))
          (then (if (i32.eqz (call $cancel (i64.const 2)))
                  (then (call $log (i32.const 1) (i32.const 0) (i32.const 9)))
                  (else (call $log (i32.const 1) (i32.const 10) (i32.const 14))))))))
    """)
    slot, sink = make_slot(venue, algo)
    slot.start(START)
    for _ in range(200):
        run(venue, [slot], 1)
        if slot.positions.fill_count:
            break
    run(venue, [slot], 3)
    messages = [message for *_, message in sink.logs]
    assert any(m.startswith("BUY FILL: order=1 ") for m in messages)
    order_2_filled = any(m.startswith("BUY FILL: order=2 ") for m in messages)
    assert ("cancel ok" in messages) != order_2_filled, messages  # cancelled or filled, not both
    assert slot.positions.position_1e8 == 1_000_000 * slot.positions.fill_count
    assert sorted(order_id for order_id, *_ in slot.open_orders()) == [3, 4]


def test_trap_pauses_only_that_algo(venue):
    bad, bad_sink = make_slot(venue, scripted_algo(trap_after=3), key="bad")
    good, _ = make_slot(venue, scripted_algo(), key="good", symbol="ETH/USD")
    bad.start(START)
    good.start(START)
    run(venue, [bad, good], 40)
    assert bad.state is SlotState.PAUSED
    assert "unreachable" in bad.pause_reason
    assert any(level == "ERROR" and "algo paused" in message for _, _, level, message in bad_sink.logs)
    assert bad.open_orders() == []
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


def place_once_algo(price_1e9: int, qty_1e8: int, expected: int) -> bytes:
    """Places one buy on its first update and logs "code ok" when place_order returned `expected`."""
    return wat(f"""
    (module
      (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
      (import "seq" "log" (func $log (param i32 i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "code ok code unexpected")
      (global $sent (mut i32) (i32.const 0))
      (func (export "on_book") (param i64 i64 i64 i64 i64)
        (if (i32.eqz (global.get $sent))
          (then (global.set $sent (i32.const 1))
                (if (i64.eq (call $place (i32.const 0) (i64.const {price_1e9}) (i64.const {qty_1e8}))
                            (i64.const {expected}))
                  (then (call $log (i32.const 1) (i32.const 0) (i32.const 7)))
                  (else (call $log (i32.const 1) (i32.const 8) (i32.const 15))))))))
    """)


@pytest.mark.parametrize(
    ("price", "qty", "code", "reaches_matching"),
    [
        (-5, 1_000_000, ERR_BAD_PRICE, False),  # refused before an order id is spent
        (1, 1_000_000, ERR_BAD_PRICE, True),
        (2_000_000_000_000, 0, ERR_BAD_QTY, False),
        (2_000_000_000_000, 10**17, ERR_BAD_QTY, True),
    ],
)
def test_absurd_orders_are_refused_with_a_code(venue, price, qty, code, reaches_matching):
    slot, sink = make_slot(venue, place_once_algo(price, qty, code), trace_every_ns=0)
    slot.start(START)
    run(venue, [slot], 3)
    messages = [message for *_, message in sink.logs]
    assert "code ok" in messages, messages
    assert slot.state is SlotState.RUNNING
    rejects = [message for *_, level, message in sink.logs if level == "WARN" and "REJECT" in message]
    if reaches_matching:
        assert len(rejects) == 1 and rejects[0].startswith(f"BUY REJECT: order=1 qty={qty} @$")
        # The named reason with the venue's rule (venues/rejects.py), not a bare code.
        named = (
            "reason=PRICE_OUT_OF_RANGE: 0.000000001 outside "
            if price == 1
            else "reason=ABOVE_MAX_QTY: 1000000000 > "
        )
        assert named in rejects[0], rejects[0]
        # The trace of the callback that placed it says the same, instead of "rejected(-3)".
        actions = [a for t in sink.traces for a in t["output"]["actions"] if "rejected" in a]
        assert len(actions) == 1 and f"rejected: {named.removeprefix('reason=')}" in actions[0], actions
        assert slot.positions.order_count == 1 and slot.positions.reject_count == 1
    else:
        assert rejects == [] and slot.positions.order_count == 0


def test_restart_after_a_trap_rebuilds_the_instance(venue):
    slot, _ = make_slot(venue, scripted_algo(trap_after=2))
    slot.start(START)
    run(venue, [slot], 5)
    assert slot.state is SlotState.PAUSED
    slot.start(START)
    assert slot.state is SlotState.RUNNING and slot.pause_reason is None
    assert slot.core is not None and not slot.core.trapped


def test_traces_are_sampled_with_inputs_and_actions(venue, market_maker_wasm):
    slot, sink = make_slot(venue, market_maker_wasm, trace_every_ns=0)
    slot.start(START)
    run(venue, [slot], 5)
    trace = next(t for t in sink.traces if t["callback_type"] == "on_book")
    assert trace["input"]["book"]["best_bid"] is not None
    assert trace["output"]["actions"][0] == "cancel_all"
    assert any(action.startswith("place_bid@") for action in trace["output"]["actions"])
    assert trace["latency_ns"] > 0


SELL_AT_BID_ONCE = """
(module
  (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
  (memory (export "memory") 1)
  (global $done (mut i32) (i32.const 0))
  (func (export "on_book") (param $bp i64) (param $bq i64) (param $ap i64) (param $aq i64) (param $ts i64)
    (if (i32.eqz (global.get $done))
      (then
        (global.set $done (i32.const 1))
        (drop (call $place (i32.const 1) (local.get $bp) (i64.const 100000000)))))))
"""


def test_a_restored_position_is_marked_and_closed_against_its_entry_price(venue):
    slot, _ = make_slot(venue, wat(SELL_AT_BID_ONCE))
    slot.restore_position(
        CarriedPosition(
            position_1e8=100_000_000,  # long 1 ETH
            avg_entry_price_1e9=3_000 * 10**9,
            realized_pnl_1e9=5 * 10**9,
            session_realized_pnl_1e9=2 * 10**9,
        )
    )
    book = slot.positions.as_dict()
    assert (book["position_1e8"], book["avg_entry_price_1e9"]) == (100_000_000, 3_000 * 10**9)
    assert (book["realized_pnl_1e9"], book["session_realized_pnl_1e9"]) == (5 * 10**9, 2 * 10**9)

    # Stopped, the update only marks it: mid 3100.5 -> 100.5 unrealized.
    slot.on_book(BookSnapshot(START, [(3_100 * 10**9, 10**9)], [(3_101 * 10**9, 10**9)]))
    assert slot.positions.unrealized_pnl_1e9 == 100_500_000_000

    # Running, the algo sells its 1 ETH at the bid: 100 realized against the restored entry, net of
    # the taker fee; flat afterwards.
    slot.start(START)
    slot.on_book(BookSnapshot(START + 1, [(3_100 * 10**9, 10**9)], [(3_101 * 10**9, 10**9)]))
    positions = slot.positions
    assert positions.position_1e8 == 0 and positions.fill_count == 1
    fee = positions.fees_1e9
    assert fee == 3_100 * 10**9 * 60 // 10_000  # coinbase taker, 60 bps of 3100
    assert positions.realized_pnl_1e9 == 5 * 10**9 + 100 * 10**9 - fee
    # start() opened a new session: only the fill counts in it.
    assert positions.session_realized_pnl_1e9 == 100 * 10**9 - fee


def test_an_accounts_configured_limits_apply_in_its_algos_core(venue):
    # configure_account's overrides reach the slot's own paper matching, not only the adapter's engine.
    venue.configure_account("capped", "ETH/USD", max_position_1e8=500_000)
    assert venue.engine_settings("ETH/USD", account="capped")["max_position_1e8"] == 500_000
    assert "max_position_1e8" not in venue.engine_settings("ETH/USD", account="other")
    capped, capped_sink = make_slot(venue, scripted_algo(qty_1e8=1_000_000), key="capped")
    free, _ = make_slot(venue, scripted_algo(qty_1e8=1_000_000), key="free")
    for slot in (capped, free):
        slot.start(START)
    run(venue, [capped, free], 5)
    assert (capped.positions.reject_count, capped.positions.position_1e8) == (1, 0)
    assert any("BUY REJECT: order=1" in message for *_, message in capped_sink.logs)
    assert (free.positions.reject_count, free.positions.position_1e8) == (0, 1_000_000)
    venue.release_account("capped", "ETH/USD")
    assert "max_position_1e8" not in venue.engine_settings("ETH/USD", account="capped")


def test_lines_logged_before_any_update_carry_the_venues_time(venue):
    # A start function and on_init log while the slot is being built, before any book: their lines
    # are stamped with the venue's event time, not 0 (1970).
    module = wat("""
    (module
      (import "seq" "log" (func $log (param i32 i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "from startfrom init")
      (func $start (call $log (i32.const 1) (i32.const 0) (i32.const 10)))
      (start $start)
      (func (export "on_init") (call $log (i32.const 1) (i32.const 10) (i32.const 9)))
      (func (export "on_book") (param i64 i64 i64 i64 i64)))
    """)
    venue.poll(START + 5_000_000_000)
    _, sink = make_slot(venue, module)
    assert [(ts, message) for _, ts, _, message in sink.logs] == [
        (START + 5_000_000_000, "from start"),
        (START + 5_000_000_000, "from init"),
    ]
