"""AlgoSlot in routed (live) mode, on the simulated venue's books (no database): the algo's
place/cancel actions are handed to a router instead of paper-matched in its core, and the venue's
fills and refusals come back through route_fill/route_end to on_fill/on_reject and the positions."""

from __future__ import annotations

from typing import Any

import pytest

from edges.dispatch import AlgoSlot, SlotState
from edges.runtime import load_module
from tests.edges.conftest import wat
from tests.edges.test_dispatch import START, Sink, run
from venues.sim.adapter import SimVenueAdapter

# On its first update: a buy at the best ask (it would fill on paper at once) and a buy at the bid.
# on_fill and on_reject log a word; on_reject also places a new buy 10 ticks lower.
ALGO = """
(module
  (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
  (import "seq" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "filledrejected")
  (global $n (mut i32) (i32.const 0))
  (global $bid (mut i64) (i64.const 0))
  (func (export "on_book") (param i64 i64 i64 i64 i64)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (global.set $bid (local.get 0))
    (if (i32.eq (global.get $n) (i32.const 1))
      (then (drop (call $place (i32.const 0) (local.get 2) (i64.const 1000000)))
            (drop (call $place (i32.const 0) (local.get 0) (i64.const 1000000))))))
  (func (export "on_fill") (param i64 i32 i64 i64 i64)
    (call $log (i32.const 1) (i32.const 0) (i32.const 6)))
  (func (export "on_reject") (param i64 i32)
    (call $log (i32.const 1) (i32.const 6) (i32.const 8))
    (drop (call $place (i32.const 0) (i64.sub (global.get $bid) (i64.const 100000000)) (i64.const 1000000)))))
"""


class Router:
    def __init__(self) -> None:
        self.places: list[tuple[Any, int, int, int, int]] = []
        self.cancels: list[tuple[Any, int]] = []

    def place(
        self, slot: AlgoSlot, order_id: int, side: int, price_1e9: int, qty_1e8: int, ts_ns: int
    ) -> None:
        self.places.append((slot.key, order_id, side, price_1e9, qty_1e8))

    def cancel(self, slot: AlgoSlot, order_id: int, ts_ns: int) -> None:
        self.cancels.append((slot.key, order_id))


@pytest.fixture
def venue() -> SimVenueAdapter:
    return SimVenueAdapter("coinbase", seed=7, start_ns=START, symbols=["ETH/USD"])


def routed_slot(venue: SimVenueAdapter, router: Router) -> tuple[AlgoSlot, Sink]:
    sink = Sink()
    slot = AlgoSlot(
        key="live", symbol="ETH/USD", venue=venue, account="live", compiled=load_module(wat(ALGO)),
        sink=sink, router=router,
    )  # fmt: skip
    slot.start(START)
    return slot, sink


def messages(sink: Sink) -> list[str]:
    return [m for *_, m in sink.logs]


def test_orders_are_handed_out_not_matched_and_fills_come_back(venue):
    router = Router()
    slot, sink = routed_slot(venue, router)
    run(venue, [slot], 1)
    ((_, ask_id, side, ask, qty), (_, bid_id, _, bid, _)) = router.places
    assert (ask_id, bid_id, side, qty) == (1, 2, 0, 1_000_000) and ask > bid
    # a crossing order is not filled on paper: it waits for the venue
    run(venue, [slot], 30)
    assert slot.positions.position_1e8 == 0 and slot.positions.fill_count == 0
    assert [o[0] for o in slot.open_orders()] == [1, 2]

    slot.route_fill(1, 0, ask, 400_000, 5, True, START + 10)
    assert slot.positions.position_1e8 == 400_000 and slot.positions.fill_count == 1
    assert slot.open_orders()[0][4] == 600_000  # leaves
    slot.route_fill(1, 0, ask, 600_000, 7, True, START + 11)
    assert slot.positions.position_1e8 == 1_000_000 and slot.positions.fees_1e9 == 12
    assert [o[0] for o in slot.open_orders()] == [2]
    logs = messages(sink)
    assert sum(m.startswith("BUY FILL: order=1 qty=") and "taker" in m for m in logs) == 2
    assert logs.count("filled") == 2  # the algo's own on_fill ran for each

    # the venue refuses order 2: on_reject runs (and places again, routed too); nothing is left of 2
    slot.route_end(2, 3, START + 12)
    assert "rejected" in messages(sink) and slot.positions.reject_count == 1
    assert any(m.startswith("BUY REJECT: order=2") and "RISK_LIMIT" in m for m in messages(sink))
    assert [o[0] for o in slot.open_orders()] == [3] and router.places[-1][1] == 3
    slot.route_end(2, 3, START + 13)  # told twice: nothing more happens
    assert slot.positions.reject_count == 1 and messages(sink).count("rejected") == 1


def test_stop_and_pause_hand_out_cancels_and_late_fills_still_count(venue):
    router = Router()
    slot, sink = routed_slot(venue, router)
    run(venue, [slot], 1)
    ask = router.places[0][3]
    slot.stop()
    assert router.cancels == [("live", 1), ("live", 2)] and slot.open_orders() == []
    # a fill that was on its way when the cancel went out still moves the position (no on_fill:
    # the algo is stopped)
    slot.route_fill(1, 0, ask, 1_000_000, 0, True, START + 20)
    assert slot.positions.position_1e8 == 1_000_000 and "filled" not in messages(sink)

    slot.start(START + 30)
    run(venue, [slot], 1)  # on_book's counter is past 1: no new orders
    slot.route_end(7, 3, START + 31)
    assert slot.positions.reject_count == 0
    slot.pause("risk_limit")
    assert slot.state is SlotState.PAUSED and slot.pause_reason == "risk_limit"


def test_cancel_all_hands_out_one_cancel_per_open_order(venue):
    algo = wat("""
    (module
      (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
      (import "seq" "cancel_all" (func $cancel_all))
      (memory (export "memory") 1)
      (func (export "on_book") (param i64 i64 i64 i64 i64)
        (call $cancel_all)
        (drop (call $place (i32.const 0) (local.get 0) (i64.const 1000000)))))
    """)
    router = Router()
    sink = Sink()
    slot = AlgoSlot(
        key="q", symbol="ETH/USD", venue=venue, account="q", compiled=load_module(algo), sink=sink,
        router=router,
    )  # fmt: skip
    slot.start(START)
    run(venue, [slot], 3)
    assert [p[1] for p in router.places] == [1, 2, 3]
    assert router.cancels == [("q", 1), ("q", 2)]
    assert [o[0] for o in slot.open_orders()] == [3]
