"""A live graph end to end on Kraken and on Coinbase: a `seq_live_` key connects its venue account
through the API, submits `sandbox=false` graphs; a real `run_edge --live` sends them with the
client's credentials; the order rests in the fake venue's book (asserted at the fake), the market
trades through it (the fake makes the fill), a crossing order takes the book; the fills come back
to the node, the order, the fills and the position with its PnL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.live.conftest import (
    coinbase_orders,
    fills_of,
    kraken_orders,
    node,
    node_of,
    order_of,
    submit,
)
from tests.waiting import wait_until
from trading.models import Fill

pytestmark = pytest.mark.slow


def position(api, venue: str, symbol: str) -> dict:
    status, out = api.get("/v1/positions")
    assert status == 200, out
    symbol = symbol.replace("/", "-")  # the API answers spot pairs in hyphen form
    return next((p for p in out["positions"] if p["venue"] == venue and p["symbol"] == symbol), {})


def graph(api, graph_id: str) -> dict:
    status, out = api.get(f"/v1/graphs/{graph_id}")
    assert status == 200, out
    return out


def test_kraken_live_graph_rests_fills_and_moves_the_position(live_api, kraken, connect, live_edge):
    key = connect("kraken", {"USD": "10000", "ETH": "1"})
    live_edge("kraken")

    # 1. a resting buy below the book: it reaches Kraken's book with our client order id
    status, out = submit(live_api, node("kraken", "ETH/USD", "buy", "0.01", "3000.00"))
    assert status == 201 and out["sandbox"] is False, out
    gid = out["graph_id"]
    order = order_of(gid)
    wait_until(lambda: len(kraken_orders(kraken, key)) == 1, timeout=30, what="the order at Kraken")
    (resting,) = kraken_orders(kraken, key)
    assert resting.cl_ord_id == order.client_order_id
    assert (resting.side, resting.price, resting.vol) == ("buy", Decimal("3000.00"), Decimal("0.01"))
    wait_until(lambda: order_of(gid).venue_order_id == resting.txid, timeout=30, what="the venue order id")
    assert order_of(gid).status == "working" and node_of(gid).status == "working"

    # 2. the market trades through it: Kraken fills it (maker), the fill comes back
    assert kraken.trade("ETH/USD", "3000.00", "0.01") == 1
    wait_until(lambda: node_of(gid).status == "filled", timeout=30, what="the node filled")
    (fill,) = fills_of(gid)
    assert fill.fill_id.startswith("kraken:T") and fill.qty_1e8 == 1_000_000
    assert fill.price_1e9 == 3000 * 10**9 and fill.liquidity == "maker" and fill.fee_1e9 > 0
    assert order_of(gid).status == "filled" and graph(live_api, gid)["status"] == "completed"
    pos = position(live_api, "kraken", "ETH/USD")
    assert pos["position_1e8"] == 1_000_000 and pos["sandbox"] is False and pos["fill_count"] == 1
    assert kraken_orders(kraken, key) == []

    # 3. a crossing sell takes Kraken's best bid (3399.95) at once: taker, and the PnL is realized
    status, out = submit(live_api, node("kraken", "ETH/USD", "sell", "0.01", "3300.00"))
    assert status == 201, out
    sell = out["graph_id"]
    wait_until(lambda: node_of(sell).status == "filled", timeout=30, what="the crossing sell filled")
    (taken,) = fills_of(sell)
    assert taken.price_1e9 == 339995 * 10**7 and taken.liquidity == "taker"
    pos = position(live_api, "kraken", "ETH/USD")
    assert pos["position_1e8"] == 0 and pos["fill_count"] == 2
    fees = fill.fee_1e9 + taken.fee_1e9
    assert pos["realized_pnl_1e9"] == (339995 - 300000) * 10**7 // 100 - fees
    assert Fill.objects.filter(venue="kraken", paper=False).count() == 2


def test_coinbase_live_graph_rests_fills_and_moves_the_position(live_api, coinbase, connect, live_edge):
    key = connect("coinbase", {"USD": "10000", "BTC": "0"})
    live_edge("coinbase")

    status, out = submit(live_api, node("coinbase", "BTC/USD", "buy", "0.01", "60000.00"))
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(lambda: len(coinbase_orders(coinbase, key)) == 1, timeout=30, what="the order at Coinbase")
    (resting,) = coinbase_orders(coinbase, key)
    assert resting.client_order_id == order_of(gid).client_order_id
    assert (resting.side, resting.price, resting.size) == ("BUY", Decimal("60000.00"), Decimal("0.01"))
    wait_until(
        lambda: order_of(gid).venue_order_id == resting.order_id, timeout=30, what="the venue order id"
    )

    # another participant sells into it: a maker fill at 60000
    assert len(coinbase.trade("BTC-USD", "SELL", "60000.00", "0.01")) == 1
    wait_until(lambda: node_of(gid).status == "filled", timeout=30, what="the node filled")
    (fill,) = fills_of(gid)
    assert fill.fill_id.startswith("coinbase:") and fill.liquidity == "maker"
    assert fill.price_1e9 == 60000 * 10**9 and fill.fee_1e9 == 2_400_000_000  # 0.40% of 600
    pos = position(live_api, "coinbase", "BTC/USD")
    assert pos["position_1e8"] == 1_000_000 and pos["fill_count"] == 1

    # a crossing sell takes the best bid (68900.00): taker 0.60%
    status, out = submit(live_api, node("coinbase", "BTC/USD", "sell", "0.01", "68000.00"))
    assert status == 201, out
    sell = out["graph_id"]
    wait_until(lambda: node_of(sell).status == "filled", timeout=30, what="the crossing sell filled")
    (taken,) = fills_of(sell)
    assert taken.price_1e9 == 68900 * 10**9 and taken.liquidity == "taker"
    pos = position(live_api, "coinbase", "BTC/USD")
    assert pos["position_1e8"] == 0 and pos["fill_count"] == 2
    assert pos["realized_pnl_1e9"] == 89 * 10**9 - fill.fee_1e9 - taken.fee_1e9
    assert coinbase_orders(coinbase, key) == []


def test_a_live_graph_with_a_child_and_a_live_cancel(live_api, venue, live_edge):
    """A parent's fill fires its child (created with its risk check in the fill's transaction and
    sent by the nudged edge); a resting graph cancelled through the API leaves the venue."""
    live_edge(venue.name)
    parent = venue.node(node_id="parent")
    child = venue.node("sell", price=venue.cross_sell_price, node_id="child")
    status, out = live_api.post(
        "/v1/graphs",
        json={"nodes": [parent, child], "edges": [{"parent": "parent", "child": "child"}], "sandbox": False},
    )
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(
        lambda: order_of(gid, "parent").venue_order_id != "", timeout=30, what="the parent at the venue"
    )
    assert node_of(gid, "child").status == "pending" and len(venue.open_orders()) == 1
    assert venue.trade_through(venue.rest_price, "0.01") == 1
    wait_until(lambda: graph(live_api, gid)["status"] == "completed", timeout=30, what="the child filled")
    assert [n["status"] for n in graph(live_api, gid)["nodes"]] == ["filled", "filled"]
    assert position(live_api, venue.name, venue.symbol)["position_1e8"] == 0
    assert venue.sends() == 2

    status, out = submit(live_api, venue.node())
    assert status == 201, out
    resting = out["graph_id"]
    wait_until(lambda: order_of(resting).venue_order_id != "", timeout=30, what="the resting order")
    # partly filled first: the node keeps working with what it got
    assert venue.trade_through(venue.rest_price, "0.004") == 1
    wait_until(lambda: node_of(resting).filled_qty_1e8 == 400_000, timeout=30, what="the partial fill")
    assert node_of(resting).status == "working" and order_of(resting).leaves_qty_1e8 == 600_000
    status, out = live_api.delete(f"/v1/graphs/{resting}")
    assert status == 200 and out["status"] == "cancelled", out
    wait_until(lambda: node_of(resting).status == "cancelled", timeout=30, what="the cancel at the venue")
    assert venue.open_orders() == [] and order_of(resting).status == "cancelled"
    assert position(live_api, venue.name, venue.symbol)["position_1e8"] == 400_000
    assert len(fills_of(resting)) == 1
