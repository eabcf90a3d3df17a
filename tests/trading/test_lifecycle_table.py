"""The execution-graph transition tables, enumerated: every (from, to) of a graph and of a node moves
exactly when `lifecycle.GRAPH_MOVES` / `NODE_MOVES` list it, and writes its `GraphEvent` row; the
order table (`ORDER_MOVES`, consulted by `orders_report`) ends in final states."""

from __future__ import annotations

import itertools

import pytest

from sequence_site.errors import InvalidTransition
from trading.lifecycle import (
    GRAPH_MOVES,
    NODE_MOVES,
    ORDER_DONE,
    ORDER_MOVES,
    GraphStatus,
    NodeStatus,
    OrderStatus,
    graph_transition,
    node_transition,
)
from trading.models import Graph, GraphEvent, Node


def _graph(owner, status: str = GraphStatus.ACTIVE) -> Graph:
    return Graph.objects.create(
        client=owner, is_sandbox=True, paper=True, node_count=1, edge_count=0, status=status
    )


def _node(graph: Graph, status: str) -> Node:
    return Node.objects.create(
        graph=graph,
        node_id="n1",
        symbol="ETH/USDC",
        venue="kraken",
        instrument_type="spot",
        side="buy",
        qty_1e8=100_000_000,
        limit_price_1e9=2_000_000_000_000,
        is_root=True,
        status=status,
    )


@pytest.mark.parametrize(("old", "new"), list(itertools.product(GraphStatus.values, repeat=2)))
def test_a_graph_moves_exactly_as_the_table_says(owner, old, new):
    graph = _graph(owner, old)
    if new in GRAPH_MOVES.get(old, set()):
        graph_transition(graph, to=GraphStatus(new), reason="table test")
        assert Graph.objects.get(pk=graph.pk).status == new
        event = GraphEvent.objects.get(graph=graph)
        assert (event.node_id, event.from_status, event.to_status) == ("", old, new)
    else:
        with pytest.raises(InvalidTransition):
            graph_transition(graph, to=GraphStatus(new))
        assert Graph.objects.get(pk=graph.pk).status == old
        assert not GraphEvent.objects.filter(graph=graph).exists()


@pytest.mark.parametrize(("old", "new"), list(itertools.product(NodeStatus.values, repeat=2)))
def test_a_node_moves_exactly_as_the_table_says(owner, old, new):
    node = _node(_graph(owner), old)
    if new in NODE_MOVES.get(old, set()):
        node_transition(node, to=NodeStatus(new), reason="table test")
        assert Node.objects.get(pk=node.pk).status == new
        event = GraphEvent.objects.get(graph=node.graph)
        assert (event.node_id, event.from_status, event.to_status) == ("n1", old, new)
    else:
        with pytest.raises(InvalidTransition):
            node_transition(node, to=NodeStatus(new))
        assert Node.objects.get(pk=node.pk).status == old
        assert not GraphEvent.objects.filter(graph=node.graph).exists()


def test_the_order_table_ends_in_final_states():
    assert set(ORDER_MOVES) | ORDER_DONE == set(OrderStatus.values)
    for old, targets in ORDER_MOVES.items():
        assert targets <= set(OrderStatus.values)
        assert OrderStatus.NEW not in targets  # nothing goes back to "not yet placed"
        if old in ORDER_DONE:
            assert targets == {OrderStatus.FILLED}  # only a cancel the last fill crossed
    assert not ORDER_MOVES.get(OrderStatus.FILLED) and not ORDER_MOVES.get(OrderStatus.REJECTED)
