"""Algos deployed through the HTTP API on a real `run_edge` process reading the fake Kraken's live
books: the paper matching applies Kraken's own rules from its AssetPairs list (tick size, minimum
order size, minimum order value `costmin`) and refuses with the named reason, while an order on the
rules fills at the live ask."""

from __future__ import annotations

import base64

import pytest

from algo_studio.models import AlgoLog, Deployment, DeploymentEdge
from tests.edges.conftest import wait_for, wat
from tests.edges.test_live_feed_edge import LiveKrakenEdge
from tests.fakevenues.kraken import KrakenFake

pytestmark = pytest.mark.slow


def two_order_algo(*, first_qty_1e8: int, first_px_add_1e9: int, second_qty_1e8: int = 0) -> bytes:
    """On its first book: a buy of `first_qty_1e8` at twice the ask plus `first_px_add_1e9`, then
    (when `second_qty_1e8`) a buy of that size at exactly twice the ask."""
    second = (
        f"(drop (call $place (i32.const 0) (i64.mul (local.get $ap) (i64.const 2)) (i64.const {second_qty_1e8})))"
        if second_qty_1e8
        else ""
    )
    return wat(f"""
    (module
      (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
      (memory (export "memory") 1)
      (global $n (mut i64) (i64.const 0))
      (func (export "on_book") (param $bp i64) (param $bq i64) (param $ap i64) (param $aq i64) (param $ts i64)
        (global.set $n (i64.add (global.get $n) (i64.const 1)))
        (if (i64.eq (global.get $n) (i64.const 1))
          (then
            (drop (call $place (i32.const 0)
              (i64.add (i64.mul (local.get $ap) (i64.const 2)) (i64.const {first_px_add_1e9}))
              (i64.const {first_qty_1e8})))
            {second}))))
    """)


def under_costmin_then_on_it_algo(*, qty_1e8: int, low_px_1e9: int) -> bytes:
    """On its first book: a buy of `qty_1e8` at `low_px_1e9` (a value under Kraken's costmin), then
    the same quantity at twice the ask (over it: a taker fill at the live ask)."""
    return wat(f"""
    (module
      (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
      (memory (export "memory") 1)
      (global $n (mut i64) (i64.const 0))
      (func (export "on_book") (param $bp i64) (param $bq i64) (param $ap i64) (param $aq i64) (param $ts i64)
        (global.set $n (i64.add (global.get $n) (i64.const 1)))
        (if (i64.eq (global.get $n) (i64.const 1))
          (then
            (drop (call $place (i32.const 0) (i64.const {low_px_1e9}) (i64.const {qty_1e8})))
            (drop (call $place (i32.const 0) (i64.mul (local.get $ap) (i64.const 2)) (i64.const {qty_1e8})))))))
    """)


@pytest.fixture
def fake():
    with KrakenFake(heartbeat_s=0.2) as srv:
        yield srv


def deploy(api, symbol: str, wasm: bytes) -> Deployment:
    status, body = api.post(
        "/v1/deployments",
        json={
            "symbols": [symbol],
            "name": f"rules {symbol}",
            "wasm_base64": base64.b64encode(wasm).decode(),
            "venue": "kraken",
            "start_immediately": True,
        },
    )
    assert status == 201, body
    return Deployment.objects.get(pk=body["deployment_id"].removeprefix("dep_"))


def rejects(deployment: Deployment) -> list[str]:
    return list(
        AlgoLog.objects.filter(deployment=deployment, level="WARN", message__contains=" REJECT: ")
        .order_by("id")
        .values_list("message", flat=True)
    )


def row(deployment: Deployment) -> DeploymentEdge:
    return DeploymentEdge.objects.get(deployment=deployment, removed=False)


def test_paper_orders_follow_krakens_tick_and_minimum_size_on_the_live_book(transactional_db, api, fake):
    edge = LiveKrakenEdge(fake).start()
    try:
        wait_for(lambda: fake.subscribed("BTC/USD") == 1, timeout=30, what=f"the subscribe ({edge.output()})")
        # Kraken's AssetPairs: XBT/USD ordermin 0.0001 (lot 1e-8, tick 0.1); ETH/USD tick 0.01.
        small = deploy(api, "BTC-USD", two_order_algo(first_qty_1e8=5_000, first_px_add_1e9=0))
        # ETH/USD: first off Kraken's 0.01 tick by half a cent (refused), then 0.01 ETH on the tick.
        eth = deploy(
            api,
            "ETH-USD",
            two_order_algo(first_qty_1e8=1_000_000, first_px_add_1e9=5_000_000, second_qty_1e8=1_000_000),
        )

        def nudged(cond, what):  # keep both live books changing until the algos have acted
            def step():
                for sym in ("BTC/USD", "ETH/USD"):
                    _, asks = fake.pairs[sym].top(1)
                    px, qty = asks[0]
                    fake.update(sym, asks=[(str(px), str(qty + 1))])
                return cond()

            wait_for(step, timeout=90, what=f"{what} ({edge.output()})")

        nudged(lambda: rejects(small) and row(eth).fill_count == 1, "the refusal and the fill")

        (refusal,) = rejects(small)
        assert "reason=BELOW_MIN_QTY: 0.00005 < kraken min 0.0001" in refusal
        assert row(small).fill_count == 0 and row(small).position_1e8 == 0

        (off_tick,) = rejects(eth)
        assert "reason=PRICE_OFF_TICK:" in off_tick and "not on kraken tick 0.01" in off_tick
        r = row(eth)
        assert r.fill_count == 1 and r.position_1e8 == 1_000_000  # the on-tick order, at the live ask

        # The API tells the user the same: the counts per edge and the refusal's named reason.
        status, body = api.get(f"/v1/deployments/{small.deployment_id}")
        assert status == 200, body
        (detail,) = body["edges"]
        assert (detail["venue"], detail["reject_count"], detail["fill_count"]) == ("kraken", 1, 0)
        status, body = api.get("/v1/algos/BTC-USD/logs")
        assert status == 200, body
        assert any("BELOW_MIN_QTY: 0.00005 < kraken min 0.0001" in line["message"] for line in body["logs"])
    finally:
        assert edge.stop() == 0


def test_an_order_under_krakens_costmin_is_refused_and_one_over_it_fills(transactional_db, api, fake):
    edge = LiveKrakenEdge(fake).start()
    try:
        wait_for(lambda: fake.subscribed("BTC/USD") == 1, timeout=30, what=f"the subscribe ({edge.output()})")
        # 0.0001 BTC (Kraken's ordermin for XBT/USD) at 1000.0 is 0.1 USD, under its costmin 0.5:
        # refused; the same size at the live ask (~29,000 USD) is over it and fills.
        cost = deploy(api, "BTC-USD", under_costmin_then_on_it_algo(qty_1e8=10_000, low_px_1e9=1000 * 10**9))

        def step():  # keep the live book changing until the algo has acted
            _, asks = fake.pairs["BTC/USD"].top(1)
            px, qty = asks[0]
            fake.update("BTC/USD", asks=[(str(px), str(qty + 1))])
            return rejects(cost) and row(cost).fill_count == 1

        wait_for(step, timeout=90, what=f"the refusal and the fill ({edge.output()})")
        (under_costmin,) = rejects(cost)
        assert "reason=BELOW_MIN_NOTIONAL: 0.0001 @ 1000 = 0.1 < kraken min notional 0.5" in under_costmin
        r = row(cost)
        assert (r.fill_count, r.reject_count, r.position_1e8) == (1, 1, 10_000)
        status, body = api.get("/v1/algos/BTC-USD/logs")
        assert status == 200, body
        assert any("BELOW_MIN_NOTIONAL" in line["message"] for line in body["logs"])
    finally:
        assert edge.stop() == 0
