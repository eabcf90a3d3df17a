"""Live WASM algos end to end on the fake Kraken and Coinbase: a `seq_live_` key connects its
venue account and deploys an algo through `POST /v1/deployments`; a real `run_edge --live` runs
it with its core in routed mode, so its place_order calls become outbox orders (risk-checked,
persisted with a client order id) sent to the venue with the client's credentials, asserted at the
fake. The fake fills one; the fill comes back to the deployment's position (API), the algo's
on_fill (its log) and the client's positions. A risk breach refuses an order (on_reject) and
pauses the algo with `risk_limit`; the kill switch stops it and leaves nothing open at the venue."""

from __future__ import annotations

import base64
import signal
from decimal import Decimal
from typing import Any

import pytest
import wasmtime

from tests.live.conftest import coinbase_orders, kraken_orders
from tests.waiting import wait_until
from trading.models import Fill, Order

pytestmark = pytest.mark.slow

# On its first two-sided book: a buy of 0.01 at the best bid - 1.00 and one at the best bid - 2.00
# (resting: neither crosses). on_fill and on_reject log a line (what the test reads in the log).
ALGO = wasmtime.wat2wasm("""
(module
  (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
  (import "seq" "position_1e8" (func $position (result i64)))
  (import "seq" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "on_fill ran")
  (data (i32.const 16) "on_reject ran")
  (global $placed (mut i32) (i32.const 0))
  (func (export "on_book") (param $bid i64) (param $bq i64) (param $ask i64) (param $aq i64) (param $ts i64)
    (if (i64.eqz (local.get $bid)) (then return))
    (if (i64.eqz (local.get $ask)) (then return))
    (if (global.get $placed) (then return))
    (global.set $placed (i32.const 1))
    (drop (call $place (i32.const 0) (i64.sub (local.get $bid) (i64.const 1000000000)) (i64.const 1000000)))
    (drop (call $place (i32.const 0) (i64.sub (local.get $bid) (i64.const 2000000000)) (i64.const 1000000))))
  (func (export "on_fill") (param i64 i32 i64 i64 i64)
    (call $log (i32.const 1) (i32.const 0) (i32.const 11)))
  (func (export "on_reject") (param i64 i32)
    (call $log (i32.const 2) (i32.const 16) (i32.const 13))))
""")

SYMBOLS = {"kraken": ("ETH/USD", "ETH-USD"), "coinbase": ("ETH-USD", "ETH-USD")}  # fake's name, ours


def deploy(api, venue: str) -> str:
    status, out = api.post(
        "/v1/deployments",
        json={
            "symbols": [SYMBOLS[venue][1]],
            "wasm_base64": base64.b64encode(ALGO).decode(),
            "start_immediately": True,
            "venue": venue,
        },
    )
    assert status == 201, out
    return out["deployment_id"]


def edge_row(api, deployment_id: str) -> dict[str, Any]:
    status, out = api.get(f"/v1/deployments/{deployment_id}")
    assert status == 200, out
    (row,) = out["edges"]
    return row


def log_lines(api, deployment_id: str) -> list[str]:
    status, out = api.get(f"/v1/deployments/{deployment_id}/logs?limit=1000")
    assert status == 200, out
    return [line["message"] for line in out["logs"]]


def open_at_fake(venue: str, fake: Any, key: str) -> list[tuple[Decimal, Decimal, str]]:
    """(price, qty, client order id) of the account's open orders at the fake venue."""
    if venue == "kraken":
        return sorted((o.price, o.vol, o.cl_ord_id) for o in kraken_orders(fake, key))
    return sorted((o.price, o.size, o.client_order_id) for o in coinbase_orders(fake, key))


def fake_trade(venue: str, fake: Any, price: Decimal) -> int:
    """Another participant sells 0.01 at `price`: our resting buy there fills (maker)."""
    if venue == "kraken":
        return fake.trade("ETH/USD", str(price), "0.01")
    return len(fake.trade("ETH-USD", "SELL", str(price), "0.01"))


def algo_orders(deployment_id: str) -> list[Order]:
    return list(
        Order.objects.filter(deployment_id=deployment_id.removeprefix("dep_")).order_by("algo_order_id")
    )


@pytest.mark.parametrize("venue", ["kraken", "coinbase"])
def test_live_algo_orders_reach_the_venue_and_its_fills_come_back(
    venue, live_api, connect, live_edge, kraken, coinbase
):
    fake = kraken if venue == "kraken" else coinbase
    key = connect(venue, {"USD": "10000", "ETH": "1"})
    live_edge(venue)
    dep = deploy(live_api, venue)

    # the algo's two orders rest at the venue, each the outbox row persisted before it was sent
    wait_until(lambda: len(open_at_fake(venue, fake, key)) == 2, timeout=30, what=f"two orders at {venue}")
    resting = open_at_fake(venue, fake, key)
    rows = algo_orders(dep)
    assert len(rows) == 2 and all(r.graph_id is None and r.paper is False for r in rows)
    assert sorted(r.client_order_id for r in rows) == sorted(c for *_, c in resting)
    (low, _, _), (high, _, _) = resting
    assert high - low == 1 and all(qty == Decimal("0.01") for _, qty, _ in resting)
    wait_until(lambda: all(o.status == "working" and o.venue_order_id for o in algo_orders(dep)), timeout=30,
               what="the venue's acks on the rows")  # fmt: skip
    row = edge_row(live_api, dep)
    assert row["status"] == "running" and row["position_1e8"] == 0 and row["order_count"] == 2

    # the market trades through the higher buy: the venue fills it, the fill comes back once
    assert fake_trade(venue, fake, high) == 1
    wait_until(lambda: edge_row(live_api, dep)["position_1e8"] == 1_000_000, timeout=30,
               what="the fill in the deployment's position")  # fmt: skip
    wait_until(lambda: "on_fill ran" in log_lines(live_api, dep), timeout=30, what="the algo's on_fill")
    lines = log_lines(live_api, dep)
    assert sum(line.startswith("BUY FILL: order=") and "maker" in line for line in lines) == 1
    (fill,) = Fill.objects.filter(order__deployment_id=dep.removeprefix("dep_"))
    assert (
        fill.fill_id.startswith(f"{venue}:")
        and fill.qty_1e8 == 1_000_000
        and fill.price_1e9 == int(high * 10**9)
    )
    assert fill.node_order_id.startswith(f"algo:{dep}:")
    filled = next(o for o in algo_orders(dep) if o.price_1e9 == int(high * 10**9))
    assert filled.status == "filled"
    status, out = live_api.get("/v1/positions")
    assert status == 200, out
    (pos,) = [p for p in out["positions"] if p["venue"] == venue]
    assert pos["position_1e8"] == 1_000_000 and pos["sandbox"] is False
    assert open_at_fake(venue, fake, key) == [(low, Decimal("0.01"), resting[0][2])]
    row = edge_row(live_api, dep)
    wait_until(lambda: edge_row(live_api, dep)["fill_count"] == 1, timeout=30, what="the fill count")
    assert row["status"] == "running"

    # the kill switch: the algo stops, nothing of it stays open at the venue
    status, out = live_api.post("/v1/kill")
    assert status == 200, out
    assert dep in out["algos_stopped"]
    wait_until(lambda: open_at_fake(venue, fake, key) == [], timeout=30, what=f"nothing open at {venue}")
    wait_until(lambda: edge_row(live_api, dep)["status"] != "running", timeout=30, what="the algo stopped")
    wait_until(lambda: all(o.status in ("filled", "cancelled") for o in algo_orders(dep)), timeout=30,
               what="every algo order ended")  # fmt: skip
    assert edge_row(live_api, dep)["position_1e8"] == 1_000_000  # the position stays: it is real


def test_a_risk_breach_refuses_the_order_and_pauses_the_algo(live_api, connect, live_edge, coinbase):
    key = connect("coinbase", {"USD": "10000"})
    status, out = live_api.patch("/v1/venues/coinbase/limits", json={"max_open_orders": 1})
    assert status == 200, out
    live_edge("coinbase")
    dep = deploy(live_api, "coinbase")

    wait_until(lambda: edge_row(live_api, dep)["status"] == "paused", timeout=30, what="the algo paused")
    row = edge_row(live_api, dep)
    assert row["pause_reason"] == "risk_limit"
    wait_until(lambda: "on_reject ran" in log_lines(live_api, dep), timeout=30, what="the algo's on_reject")
    lines = log_lines(live_api, dep)
    assert any("refused: risk limit max_open_orders at coinbase" in line for line in lines), lines
    assert any(line.startswith("BUY REJECT: order=") and "RISK_LIMIT" in line for line in lines), lines
    # only the first order was ever persisted and sent; pausing cancelled it at the venue
    (first,) = algo_orders(dep)
    wait_until(lambda: coinbase_orders(coinbase, key) == [], timeout=30, what="nothing open at coinbase")
    wait_until(
        lambda: Order.objects.get(pk=first.pk).status == "cancelled", timeout=30, what="the order cancelled"
    )
    assert coinbase_orders(coinbase, key, status=None)[0].client_order_id == first.client_order_id


def test_a_live_deploy_needs_the_venue_connected(live_api, live_edge):
    live_edge("kraken")
    status, out = live_api.post(
        "/v1/deployments",
        json={"symbols": ["ETH-USD"], "wasm_base64": base64.b64encode(ALGO).decode(), "venue": "kraken"},
    )
    assert status == 422 and out["error"] == "venue_not_connected", out


def test_a_restarted_edge_cancels_the_old_orders_and_keeps_the_position(live_api, connect, live_edge, kraken):
    """kill -9 of the live edge: its successor's new instance of the algo knows nothing of the old
    orders, so they are cancelled at the venue; the position continues from the recorded fills."""
    key = connect("kraken", {"USD": "10000", "ETH": "1"})
    edge = live_edge("kraken")
    dep = deploy(live_api, "kraken")
    wait_until(lambda: len(open_at_fake("kraken", kraken, key)) == 2, timeout=30, what="two orders at kraken")
    wait_until(lambda: all(o.venue_order_id for o in algo_orders(dep)), timeout=30, what="the acks recorded")
    (low, _, old_low), (high, _, _) = open_at_fake("kraken", kraken, key)
    assert fake_trade("kraken", kraken, high) == 1
    wait_until(
        lambda: edge_row(live_api, dep)["position_1e8"] == 1_000_000, timeout=30, what="the first fill"
    )

    first = {o.algo_order_id for o in algo_orders(dep)}
    edge.stop(signal.SIGKILL)
    live_edge("kraken")

    def new_orders() -> list[Order]:
        return [o for o in algo_orders(dep) if o.algo_order_id not in first]

    wait_until(lambda: len(new_orders()) == 2, timeout=30, what="the new instance's two orders")
    new_ids = {o.client_order_id for o in new_orders()}
    wait_until(lambda: {c for *_, c in open_at_fake("kraken", kraken, key)} == new_ids, timeout=30,
               what="only the new instance's orders open at kraken")  # fmt: skip
    assert min(o.algo_order_id for o in new_orders()) > max(first)  # ids are never reused
    old = Order.objects.get(client_order_id=old_low)
    wait_until(
        lambda: Order.objects.get(pk=old.pk).status == "cancelled", timeout=30, what="the old order ended"
    )
    # the position continues: the new instance's fill adds to the one before the crash
    assert fake_trade("kraken", kraken, high) == 1
    wait_until(
        lambda: edge_row(live_api, dep)["position_1e8"] == 2_000_000, timeout=30, what="the second fill"
    )
    assert Fill.objects.filter(order__deployment_id=dep.removeprefix("dep_")).count() == 2


def test_a_venue_refusal_reaches_on_reject_without_pausing(live_api, connect, live_edge, coinbase):
    """The venue refuses the algo's orders (the account holds 5 USD): each refusal runs on_reject
    with VENUE_REJECT and the venue's words in the log; a venue refusal is not a risk breach, so
    the algo keeps running."""
    connect("coinbase", {"USD": "5"})
    live_edge("coinbase")
    dep = deploy(live_api, "coinbase")
    wait_until(lambda: log_lines(live_api, dep).count("on_reject ran") == 2, timeout=30, what="two on_reject")
    lines = log_lines(live_api, dep)
    assert sum("refused by coinbase: insufficient_funds" in line for line in lines) == 2, lines
    assert sum(line.startswith("BUY REJECT: order=") and "VENUE_REJECT" in line for line in lines) == 2, lines
    assert all(o.status == "rejected" and o.error_code == "insufficient_funds" for o in algo_orders(dep))
    wait_until(lambda: edge_row(live_api, dep)["reject_count"] == 2, timeout=30, what="the reject count")
    row = edge_row(live_api, dep)
    assert row["status"] == "running" and row["pause_reason"] is None and row["position_1e8"] == 0
