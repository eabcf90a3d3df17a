"""Sandbox orders paper-fill in a real `run_edge` process, with the matching engine's venue rules."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tests.edges.conftest import wait_for
from trading.lifecycle import GraphStatus, NodeStatus, OrderStatus
from trading.models import Fill, Graph, Node, Order
from venues.instruments import get_market

pytestmark = pytest.mark.slow

OKC = "KXNBA-26-OKC-YES"
SPAIN = get_market("polymarket", "will-spain-win-the-2026-fifa-world-cup").yes_token_id
PORTUGAL = get_market("polymarket", "will-portugal-win-the-2026-fifa-world-cup").yes_token_id  # 0.001 tick


@pytest.fixture
def edges(edge_process):
    return edge_process("kalshi", "polymarket")


def quote(api, symbol):
    def two_sided():
        status, body = api.get(f"/v1/quotes?symbol={symbol}")
        return body if status == 200 and body["nbbo"]["bid"] and body["nbbo"]["ask"] else None

    return wait_for(two_sided, timeout=60, what=f"a two-sided quote for {symbol[:20]}")["nbbo"]


def submit(api, *nodes, edges=None):
    status, out = api.post("/v1/graphs", json={"nodes": list(nodes), "edges": edges or []})
    assert status == 201, out
    return out["graph_id"]


def leg(node_id, symbol, venue, side, qty, price):
    return {"node_id": node_id, "symbol": symbol, "venue": venue, "instrument_type": "prediction",
            "side": side, "qty": qty, "limit_price": price}  # fmt: skip


def cents(value: float, tick: str = "0.01") -> str:
    return str((Decimal(str(value)) / Decimal(tick)).to_integral_value() * Decimal(tick))


def test_resting_below_the_bid_never_fills_and_cancel_takes_it_off(api, edge_process):
    # The periodic reconcile pass is an hour away in these edges: only the nudge sent with the cancel
    # can take the order off (a mechanism, not a speed).
    edge_process("kalshi", "polymarket", env={"EDGE_RECONCILE_SECONDS": "3600"})
    bid = quote(api, OKC)["bid"]
    gid = submit(api, leg("leg", OKC, "kalshi", "buy", 1, cents(max(0.01, bid / 2))))
    order = wait_for(lambda: Order.objects.filter(graph__graph_id=gid, status=OrderStatus.WORKING).first(),
                     timeout=60, what="the edge to place the order")  # fmt: skip
    time.sleep(3)  # a dwell: nothing fills while it rests (not a wait for anything)
    assert not Fill.objects.exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.WORKING and order.filled_qty_1e8 == 0
    assert api.get(f"/v1/graphs/{gid}")[1]["status"] == "active"

    assert api.post(f"/v1/graphs/{gid}/cancel")[0] == 200
    wait_for(lambda: Node.objects.get(graph__graph_id=gid).status == NodeStatus.CANCELLED, timeout=60,
             what="the nudged edge to confirm the cancel")  # fmt: skip
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED


def test_crossing_by_a_tick_fills_as_taker_and_fires_the_child(api, edges):
    nbbo = quote(api, OKC)
    ask = nbbo["ask"]
    gid = submit(
        api,
        leg("take", OKC, "kalshi", "buy", 1, cents(min(0.99, ask + 0.01))),
        leg("rest", OKC, "kalshi", "buy", 1, "0.01"),
        edges=[{"parent": "take", "child": "rest", "trigger": "filled"}],
    )
    fill = wait_for(
        lambda: Fill.objects.filter(node_order_id=f"graph:{gid}:take:1").first(), timeout=60, what="a fill"
    )
    assert fill.liquidity == "taker" and fill.qty_1e8 == 100_000_000
    assert fill.price_1e9 <= round((ask + 0.01) * 1e9)
    wait_for(lambda: Node.objects.get(graph__graph_id=gid, node_id="rest").status == NodeStatus.WORKING, timeout=60,
             what="the child to activate")  # fmt: skip
    _, fills = api.get(f"/v1/fills?symbol={OKC}")
    assert fills["fills"][0]["node_order_id"].startswith(f"graph:{gid}:")
    _, positions = api.get("/v1/positions")
    assert positions["positions"][0]["position_1e8"] == 100_000_000
    api.post(f"/v1/graphs/{gid}/cancel")


def test_polymarket_under_one_dollar_rests_forever_even_when_crossing(api, edges):
    ask = quote(api, SPAIN)["ask"]
    price = cents(min(0.99, ask + 0.01))
    small = submit(api, leg("small", SPAIN, "polymarket", "buy", 1, price))  # ~$0.2 notional
    big = submit(api, leg("big", SPAIN, "polymarket", "buy", int(1 / float(price)) + 2, price))
    wait_for(
        lambda: Graph.objects.get(graph_id=big).status == GraphStatus.COMPLETED,
        timeout=60,
        what="the $1+ order to fill",
    )
    order = wait_for(lambda: Order.objects.filter(graph__graph_id=small, status=OrderStatus.WORKING).first(), timeout=60,
                     what="the small order to be placed")  # fmt: skip
    assert order.dormant is True
    time.sleep(2)  # a dwell: the dormant order stays unfilled (not a wait for anything)
    assert not Fill.objects.filter(order=order).exists()
    assert Graph.objects.get(graph_id=small).status == GraphStatus.ACTIVE
    _, detail = api.get(f"/v1/graphs/{small}")
    assert detail["nodes"][0]["dormant"] is True


def test_a_thousandth_tick_market_fills_on_its_own_grid(api, edges):
    ask = quote(api, PORTUGAL)["ask"]
    price = cents(min(0.99, ask + 0.001), "0.001")
    gid = submit(api, leg("leg", PORTUGAL, "polymarket", "buy", 20, price))
    wait_for(
        lambda: Graph.objects.get(graph_id=gid).status == GraphStatus.COMPLETED, timeout=60, what="a fill"
    )
    # ... while half a tick off the grid is refused before it reaches the edge
    status, body = api.post(
        "/v1/graphs",
        # half a 0.001 tick off the grid, whatever number of decimals `price` prints with
        json={
            "nodes": [leg("x", PORTUGAL, "polymarket", "buy", 20, str(Decimal(price) - Decimal("0.0005")))]
        },
    )
    assert status == 400 and "tick grid" in body["message"]
