"""The execution-graph state machines: graphs, nodes and orders, one table of moves each.

- A graph is ``active`` from submit until every node is done: ``completed`` when every node
  filled, ``cancelled`` when the client cancelled it (or its unfilled nodes ended cancelled),
  ``failed`` when a node was rejected by the venue (its other nodes are then cancelled).
- A node is ``pending`` until its trigger fires (roots fire at submit), ``working`` while its order
  is on the venue, then ``filled``, ``cancelled`` or ``rejected``.
- An order (what an edge works) is ``new`` until the edge has placed it, ``working`` while it rests,
  then ``filled``, ``cancelled`` or ``rejected``. Its desired state is ``working`` or ``cancel``:
  a cancel is a wish the edge applies on its next pass, like every other desired state here.

`transition()` moves one row with a conditional update and writes a `GraphEvent` row, so the
history is there for the UI and for tests; it raises `InvalidTransition` when the move is not
allowed or the row already moved.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from sequence_site.errors import InvalidTransition
from trading.models import Graph, GraphEvent, Node
from trading.states import GraphStatus, NodeStatus, OrderDesired, OrderStatus, Trigger

__all__ = [
    "GRAPH_DONE",
    "GRAPH_MOVES",
    "NODE_DONE",
    "NODE_MOVES",
    "ORDER_MOVES",
    "ORDER_DONE",
    "GraphStatus",
    "NodeStatus",
    "OrderDesired",
    "OrderStatus",
    "Trigger",
    "graph_transition",
    "node_transition",
]


GRAPH_DONE = {GraphStatus.COMPLETED, GraphStatus.CANCELLED, GraphStatus.FAILED}
NODE_DONE = {NodeStatus.FILLED, NodeStatus.CANCELLED, NodeStatus.REJECTED}
ORDER_DONE = {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED}

GRAPH_MOVES = {
    GraphStatus.ACTIVE: {GraphStatus.COMPLETED, GraphStatus.CANCELLED, GraphStatus.FAILED},
}
NODE_MOVES = {
    # pending -> rejected: a live child refused by the risk checks when its trigger fired
    NodeStatus.PENDING: {NodeStatus.WORKING, NodeStatus.CANCELLED, NodeStatus.REJECTED},
    NodeStatus.WORKING: {NodeStatus.FILLED, NodeStatus.CANCELLED, NodeStatus.REJECTED},
}
# Orders move as their edge reports them (trading.services.orders_report, in batches).
ORDER_MOVES: dict[str, set[str]] = {
    OrderStatus.NEW: {OrderStatus.WORKING, OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED},
    OrderStatus.WORKING: {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED},
    # The last fill crossed the cancel on the way: a cancelled order whose fills complete it is filled.
    OrderStatus.CANCELLED: {OrderStatus.FILLED},
}


def _move(model: type[models.Model], row: Any, moves: dict[Any, set[Any]], to: str, **fields: Any) -> None:
    old = row.status
    if to not in moves.get(old, set()):
        raise InvalidTransition(
            f"{model.__name__.lower()} {getattr(row, 'node_id', '')} cannot go {old} -> {to}"
        )
    changed = model._default_manager.filter(pk=row.pk, status=old).update(status=to, **fields)
    if changed != 1:
        raise InvalidTransition(f"{model.__name__.lower()} moved under us (was {old})")
    row.status = to
    for name, value in fields.items():
        setattr(row, name, value)


def graph_transition(graph: Any, *, to: GraphStatus, reason: str = "") -> None:
    """Move a graph (conditional update) and record it."""
    old = graph.status
    _move(Graph, graph, GRAPH_MOVES, to)
    GraphEvent.objects.create(graph=graph, node_id="", from_status=old, to_status=to, reason=reason[:200])


def node_transition(node: Any, *, to: NodeStatus, reason: str = "", **fields: Any) -> None:
    """Move a node (conditional update) and record it; `fields` are updated in the same statement."""
    old = node.status
    if reason:
        fields.setdefault("reason", reason[:200])
    _move(Node, node, NODE_MOVES, to, **fields)
    GraphEvent.objects.create(
        graph_id=node.graph_id, node_id=node.node_id, from_status=old, to_status=to, reason=reason[:200]
    )
