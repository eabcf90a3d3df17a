"""What an edge reports, applied by `orders_report`: fills, triggers, graph states, positions."""

from __future__ import annotations

from trading import services
from trading.lifecycle import GraphStatus, NodeStatus, OrderDesired, OrderStatus
from trading.models import Fill, Graph, Node, Order, Position
from trading.services import FillReport, OrderUpdate

from .test_graphs_api import OKC, node


def submit(api, body):
    status, out = api.post("/v1/graphs", json=body)
    assert status == 201, out
    return Graph.objects.get(graph_id=out["graph_id"])


def fill(order: Order, qty_1e8: int, price_1e9: int = 330_000_000, *, after: int | None = None) -> FillReport:
    return FillReport(order_pk=order.pk, side=order.side, price_1e9=price_1e9, qty_1e8=qty_1e8, fee_1e9=10_000_000,
                      liquidity="taker", ts_ns=1, filled_after_1e8=after if after is not None else qty_1e8)  # fmt: skip


def test_fill_completes_the_node_fires_the_child_and_counts_once(api, sandbox_edges):
    graph = submit(api, {"nodes": [node("a", qty=2), node("b", side="sell", limit_price=0.9)],
                         "edges": [{"parent": "a", "child": "b", "trigger": "completed"}]})  # fmt: skip
    a = Order.objects.get(graph=graph)
    services.orders_report(venue="kalshi", paper=True, updates=[OrderUpdate(order_pk=a.pk, status="working")],
                           fills=[fill(a, 100_000_000)])  # fmt: skip
    a.refresh_from_db()
    assert (a.status, a.filled_qty_1e8, a.leaves_qty_1e8) == (OrderStatus.WORKING, 100_000_000, 100_000_000)
    assert Node.objects.get(graph=graph, node_id="b").status == NodeStatus.PENDING  # "completed" waits
    # The same fill again (edge restart) changes nothing; the second one completes the node.
    services.orders_report(venue="kalshi", paper=True, fills=[fill(a, 100_000_000)])
    assert Fill.objects.count() == 1
    result = services.orders_report(
        venue="kalshi", paper=True, fills=[fill(a, 100_000_000, after=200_000_000)]
    )
    assert result.orders_created == 1
    assert Node.objects.get(graph=graph, node_id="a").status == NodeStatus.FILLED
    b = Order.objects.get(graph=graph, node__node_id="b")
    assert b.side == "sell" and b.status == OrderStatus.NEW
    f = Fill.objects.order_by("pk").first()
    assert f.node_order_id == f"graph:{graph.graph_id}:a:1" and f.qty_1e8 == 100_000_000
    pos = Position.objects.get(venue="kalshi", symbol=OKC)
    assert pos.position_1e8 == 200_000_000 and pos.fees_1e9 == 20_000_000

    services.orders_report(venue="kalshi", paper=True, fills=[fill(b, 100_000_000, 400_000_000)])
    graph.refresh_from_db()
    assert graph.status == GraphStatus.COMPLETED
    pos.refresh_from_db()
    assert pos.position_1e8 == 100_000_000
    status, positions = api.get("/v1/positions")
    row = positions["positions"][0]
    # bought 2 @ 0.33, sold 1 @ 0.40: +0.07 gross, 0.03 of fees
    assert row["position_1e8"] == 100_000_000 and row["realized_pnl_1e9"] == 70_000_000 - 30_000_000
    status, fills = api.get(f"/v1/fills?symbol={OKC}&limit=10")
    assert [x["qty_1e8"] for x in fills["fills"]] == [100_000_000] * 3
    assert all(x["node_order_id"].startswith(f"graph:{graph.graph_id}:") for x in fills["fills"])


def test_filled_trigger_fires_on_the_first_partial_fill(api, sandbox_edges):
    graph = submit(
        api,
        {
            "nodes": [node("a", qty=3), node("b")],
            "edges": [{"parent": "a", "child": "b", "trigger": "filled"}],
        },
    )
    a = Order.objects.get(graph=graph)
    services.orders_report(venue="kalshi", paper=True, fills=[fill(a, 100_000_000)])
    assert Node.objects.get(graph=graph, node_id="b").status == NodeStatus.WORKING


def test_a_rejection_fails_the_graph_and_winds_it_down(api, sandbox_edges):
    graph = submit(
        api, {"nodes": [node("a"), node("x"), node("b")], "edges": [{"parent": "a", "child": "b"}]}
    )
    a = Order.objects.get(graph=graph, node__node_id="a")
    services.orders_report(
        venue="kalshi",
        paper=True,
        updates=[OrderUpdate(order_pk=a.pk, status="rejected", reason="risk limit")],
    )
    graph.refresh_from_db()
    assert graph.status == GraphStatus.FAILED
    assert Node.objects.get(graph=graph, node_id="a").status == NodeStatus.REJECTED
    assert Node.objects.get(graph=graph, node_id="b").status == NodeStatus.CANCELLED
    assert Order.objects.get(graph=graph, node__node_id="x").desired_state == OrderDesired.CANCEL
    _, detail = api.get(f"/v1/graphs/{graph.graph_id}")
    assert next(n for n in detail["nodes"] if n["node_id"] == "a")["reason"] == "risk limit"


def test_reports_for_another_venue_are_ignored(api, sandbox_edges):
    graph = submit(api, {"nodes": [node("a")]})
    a = Order.objects.get(graph=graph)
    services.orders_report(venue="polymarket", paper=True, fills=[fill(a, 100_000_000)])
    assert not Fill.objects.exists()
