from __future__ import annotations

from typing import Any

import pytest

from trading.lifecycle import GraphStatus, NodeStatus, OrderDesired, OrderStatus
from trading.models import Graph, GraphEvent, Node, Order
from venues.instruments import get_market

OKC = "KXNBA-26-OKC-YES"
SPAIN = get_market("polymarket", "will-spain-win-the-2026-fifa-world-cup").yes_token_id
PORTUGAL = get_market("polymarket", "will-portugal-win-the-2026-fifa-world-cup").yes_token_id  # 0.001 tick


def node(node_id: str = "leg", **overrides: Any) -> dict[str, Any]:
    base = {"node_id": node_id, "symbol": OKC, "side": "buy", "qty": 1.0, "venue": "kalshi",
            "instrument_type": "prediction", "limit_price": 0.1}  # fmt: skip
    base.update(overrides)
    return base


def test_submit_stores_the_graph_and_fires_only_roots(api, sandbox_edges):
    body = {
        "nodes": [
            node("a"),
            node("b", side="sell", limit_price=0.9),
            node(
                "c",
                symbol="BTC-USD",
                venue="kraken",
                instrument_type=None,
                qty="0.001",
                limit_price="50000.1",
            ),
        ],  # fmt: skip
        "edges": [
            {"parent": "a", "child": "b", "trigger": "filled"},
            {"parent": "b", "child": "c", "trigger": "completed"},
        ],
    }
    body["nodes"][2].pop("instrument_type")
    status, out = api.post("/v1/graphs", json=body)
    assert status == 201, out
    assert out["graph_id"].startswith("graph_") and out["status"] == "active"
    assert out["node_count"] == 3 and out["edge_count"] == 2 and out["sandbox"] is True
    graph = Graph.objects.get(graph_id=out["graph_id"])
    assert {n.node_id: n.status for n in graph.nodes.all()} == {
        "a": "working",
        "b": "pending",
        "c": "pending",
    }
    order = Order.objects.get(graph=graph)
    assert (order.node.node_id, order.price_1e9, order.qty_1e8, order.paper) == (
        "a",
        100_000_000,
        100_000_000,
        True,
    )
    assert GraphEvent.objects.filter(graph=graph, node_id="a", to_status="working").exists()

    status, detail = api.get(f"/v1/graphs/{out['graph_id']}")
    assert status == 200
    assert detail["status"] == "active"
    a = next(n for n in detail["nodes"] if n["node_id"] == "a")
    assert a["activation"] == "root" and a["node_order_id"] == f"graph:{out['graph_id']}:a:1"
    c = next(n for n in detail["nodes"] if n["node_id"] == "c")
    assert c["symbol"] == "BTC-USD" and c["instrument_type"] == "spot" and c["activation"] == "edge"
    assert detail["edges"][1] == {"parent": "b", "child": "c", "trigger": "completed", "fired": False}


def test_cancel_cancels_pending_nodes_and_asks_the_edge_for_working_orders(api, sandbox_edges):
    _, out = api.post(
        "/v1/graphs", json={"nodes": [node("a"), node("b")], "edges": [{"parent": "a", "child": "b"}]}
    )
    gid = out["graph_id"]
    status, body = api.post(f"/v1/graphs/{gid}/cancel")
    assert status == 200 and body == {"graph_id": gid, "status": "cancelled"}
    graph = Graph.objects.get(graph_id=gid)
    assert graph.status == GraphStatus.CANCELLED
    assert Node.objects.get(graph=graph, node_id="b").status == NodeStatus.CANCELLED
    order = Order.objects.get(graph=graph)
    assert order.desired_state == OrderDesired.CANCEL and order.status == OrderStatus.NEW
    # again: idempotent; DELETE is the same action
    assert api.post(f"/v1/graphs/{gid}/cancel")[0] == 200
    assert api.delete(f"/v1/graphs/{gid}")[1]["status"] == "cancelled"
    assert GraphEvent.objects.filter(graph=graph, node_id="", to_status="cancelled").count() == 1


def test_cancel_of_a_completed_graph_is_a_conflict(api, sandbox_edges):
    _, out = api.post("/v1/graphs", json={"nodes": [node()]})
    Graph.objects.filter(graph_id=out["graph_id"]).update(status=GraphStatus.COMPLETED)
    status, body = api.post(f"/v1/graphs/{out['graph_id']}/cancel")
    assert status == 409 and body["error"] == "invalid_transition"


def test_graphs_are_private_to_client_and_mode(api, sandbox_edges, stranger_sandbox_key, live_key):
    _, out = api.post("/v1/graphs", json={"nodes": [node()]})
    for key in (stranger_sandbox_key, live_key):
        assert api.get(f"/v1/graphs/{out['graph_id']}", key=key.plaintext)[0] == 404
        assert api.post(f"/v1/graphs/{out['graph_id']}/cancel", key=key.plaintext)[0] == 404
    assert api.get("/v1/graphs/graph_nope")[0] == 404
    assert api.get("/v1/graphs")[1]["graphs"][0]["graph_id"] == out["graph_id"]


def test_sandbox_key_forces_paper_whatever_the_flag(api, sandbox_edges):
    status, out = api.post("/v1/graphs", json={"nodes": [node()], "sandbox": False})
    assert status == 201 and out["sandbox"] is True
    assert Order.objects.get(graph__graph_id=out["graph_id"]).paper is True


def test_live_key_without_live_connector_is_refused(api, sandbox_edges, live_key):
    status, body = api.post("/v1/graphs", json={"nodes": [node()]}, key=live_key.plaintext)
    assert status == 422 and body["error"] == "no_live_connector"
    assert "no live connector for venue kalshi" in body["message"]
    assert not Graph.objects.exists()
    # ... and paper-trades when it asks for it
    status, out = api.post("/v1/graphs", json={"nodes": [node()], "sandbox": True}, key=live_key.plaintext)
    assert status == 201 and out["sandbox"] is True
    assert Graph.objects.get(graph_id=out["graph_id"]).is_sandbox is False


def test_no_running_edge_is_503_not_a_silent_drop(api):
    status, body = api.post("/v1/graphs", json={"nodes": [node()]})
    assert status == 503 and "no sandbox edge is running for kalshi" in body["message"]
    assert not Graph.objects.exists()


def test_polymarket_under_one_dollar_is_accepted_with_a_warning(api, sandbox_edges):
    status, out = api.post(
        "/v1/graphs", json={"nodes": [node(symbol=SPAIN, venue="polymarket", qty=5, limit_price=0.09)]}
    )
    assert status == 201 and "never fills" in out["warnings"][0]


def test_float_noise_in_a_json_price_is_read_as_the_decimal_meant(api, sandbox_edges):
    # What a strategy computes in floating point: 0.56 + 0.01 (a tick through the ask) is
    # 0.5700000000000001, and 98000.1 + 0.1 is 98000.20000000001. Both are read at 9 decimals.
    assert 0.56 + 0.01 != 0.57 and 98000.1 + 0.1 != 98000.2
    nodes = [
        node("k", limit_price=0.56 + 0.01),
        node(
            "s",
            symbol="BTC-USD",
            venue="kraken",
            instrument_type="spot",
            qty=0.001,
            limit_price=98000.1 + 0.1,
        ),
    ]
    status, out = api.post("/v1/graphs", json={"nodes": nodes})
    assert status == 201, out
    prices = {o.node.node_id: o.price_1e9 for o in Order.objects.select_related("node")}
    assert prices == {"k": 570_000_000, "s": 98_000_200_000_000}


BAD = [
    ({"venue": "nyse"}, "unknown venue"),
    ({"venue": None}, "venue is required"),
    ({"symbol": "KXNOPE-YES"}, "unknown symbol"),
    ({"instrument_type": None}, "instrument_type='prediction' is required for kalshi"),
    ({"instrument_type": "spot"}, "set instrument_type='prediction'"),
    ({"instrument_type": "future"}, "instrument_type must be"),
    ({"qty": 0}, "qty must be > 0"),
    ({"qty": -1}, "qty must be > 0"),
    ({"qty": "lots"}, "qty must be a number"),
    ({"qty": 1.5}, "lot size"),
    ({"limit_price": 1.2}, "outside 0..1"),
    ({"limit_price": 0}, "outside 0..1"),
    ({"limit_price": 0.005}, "off kalshi's tick grid"),  # a 1-cent market (0.001 is fine on 0.001 ones)
    ({"limit_price": 0.105}, "off kalshi's tick grid"),
    ({"limit_price": 0.5712345678912}, "at most 9 decimals"),  # finer than 9 decimals, not float noise
    ({"limit_price": None}, "limit_price is required"),
    ({"side": "hold"}, "side must be"),
    ({"urgency": "yesterday"}, "urgency"),
    ({"symbol": "KXSB-26-KC-YES"}, "closed"),
    (
        {"symbol": PORTUGAL, "venue": "polymarket", "limit_price": 0.0855, "qty": 20},
        "off polymarket's tick grid",
    ),
    (
        {
            "symbol": "BTC-USD",
            "venue": "kraken",
            "instrument_type": "spot",
            "qty": 0.001,
            "limit_price": 98000.05,
        },
        "tick grid",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_nodes_are_400_and_nothing_is_submitted(api, sandbox_edges, change, message):
    n = node(**change)
    if change.get("instrument_type", "") is None:
        n.pop("instrument_type")
    if "venue" in change and change["venue"] is None:
        n.pop("venue")
    status, body = api.post("/v1/graphs", json={"nodes": [node("ok"), n]})
    assert status == 400, body
    assert message in body["message"], body
    assert not Graph.objects.exists() and not Order.objects.exists()


@pytest.mark.parametrize(
    ("nodes", "edges", "message"),
    [
        (["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a")], "cycle through: a, b, c"),
        (["a"], [("a", "a")], "cannot trigger itself"),
        (["a", "b"], [("a", "zz")], "not in the graph: zz"),
        (["a", "a"], [], "duplicate node_id: a"),
        ([], [], "nodes must be a non-empty list"),
        (["a", "b"], [("a", "b"), ("a", "b")], "repeats"),
    ],
)
def test_bad_graph_shapes_are_400(api, sandbox_edges, nodes, edges, message):
    body = {"nodes": [node(n) for n in nodes], "edges": [{"parent": p, "child": c} for p, c in edges]}
    status, out = api.post("/v1/graphs", json=body)
    assert status == 400 and message in out["message"], out
    assert not Graph.objects.exists()


def test_bad_trigger_and_body_shapes(api, sandbox_edges):
    status, out = api.post(
        "/v1/graphs",
        json={
            "nodes": [node("a"), node("b")],
            "edges": [{"parent": "a", "child": "b", "trigger": "someday"}],
        },
    )
    assert status == 400 and "trigger" in out["message"]
    status, out = api.post("/v1/graphs", json={"nodes": "leg"})
    assert status == 400
    status, out = api.post("/v1/graphs", json={})
    assert status == 400


def test_fills_and_positions_start_empty_and_need_a_key(api, anon_api):
    assert api.get("/v1/fills")[1] == {"fills": []}
    assert api.get("/v1/positions")[1] == {"positions": []}
    assert api.get("/v1/fills?symbol=NOPE-NOPE-NOPE")[0] == 404
    assert anon_api.get("/v1/fills")[0] == 401
    assert anon_api.post("/v1/graphs", json={"nodes": [node()]})[0] == 401
