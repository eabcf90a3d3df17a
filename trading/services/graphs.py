"""Submitting and cancelling execution graphs, and advancing one as its nodes end.

A graph is validated completely before anything is written and then stored in one transaction:
nothing is ever half-submitted. Root nodes get their orders at submit; a child gets its order in
the same transaction that records the parent fill firing its trigger (`graph_advance`, called by
`trading.services.reports.orders_report`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from edges.models import Edge
from sequence_site.errors import InvalidTransition, Unavailable, VenueNotConnected
from sequence_site.realtime import nudge_edges_on_commit
from sequence_site.scope import Scope
from trading.credentials import NoLiveConnector
from trading.lifecycle import (
    GRAPH_DONE,
    NODE_DONE,
    GraphStatus,
    NodeStatus,
    OrderDesired,
    OrderStatus,
    Trigger,
    graph_transition,
    node_transition,
)
from trading.models import Graph, GraphEdge, Node, Order, VenueCredential, new_client_order_id
from trading.risk import Proposed, RiskBreach, risk_check
from trading.services.live import live_connector_configured
from trading.services.validation import GraphSpec, graph_validate


@dataclass(frozen=True, slots=True)
class Submitted:
    graph: Graph
    warnings: list[str]


def _check_routing(spec: GraphSpec, *, paper: bool, client_id: int) -> None:
    venues = sorted({s.instrument.venue for s in spec.nodes})
    if not paper:
        for venue in venues:
            if not live_connector_configured(venue):
                raise NoLiveConnector(
                    f"no live connector for venue {venue}: live orders cannot be routed. Use a "
                    "seq_test_ key or sandbox=True to paper-trade against the simulated venue."
                )
        connected = set(
            VenueCredential.objects.filter(client_id=client_id, venue__in=venues).values_list(
                "venue", flat=True
            )
        )
        missing = [v for v in venues if v not in connected]
        if missing:
            raise VenueNotConnected(
                f"no credentials for {', '.join(missing)}: connect with `sequence connect {missing[0]}` "
                "before sending live orders there"
            )
        up = set(
            Edge.objects.connected()
            .filter(is_sandbox=False, venue__in=venues)
            .values_list("venue", flat=True)
        )
        down = [v for v in venues if v not in up]
        if down:
            raise Unavailable(f"no live edge is running for {', '.join(down)}: the order would never be sent")
        return
    up = set(
        Edge.objects.connected().filter(is_sandbox=True, venue__in=venues).values_list("venue", flat=True)
    )
    down = [v for v in venues if v not in up]
    if down:
        raise Unavailable(
            f"no sandbox edge is running for {', '.join(down)}: the order would never be worked"
        )


def _new_order(node: Node, graph: Graph) -> Order:
    return Order(
        node=node,
        graph=graph,
        client_id=graph.client_id,
        is_sandbox=graph.is_sandbox,
        paper=graph.paper,
        venue=node.venue,
        symbol=node.symbol,
        side=node.side,
        price_1e9=node.limit_price_1e9,
        qty_1e8=node.qty_1e8,
        leaves_qty_1e8=node.qty_1e8,
        # A live order's id at the venue, stored with the row before the edge sends anything.
        client_order_id=None if graph.paper else new_client_order_id(),
    )


def _activate(node: Node, graph: Graph, reason: str) -> Order:
    """Give `node` its order. A live order passes the risk checks first (`RiskBreach` when not)."""
    if not graph.paper:
        risk_check(
            client_id=graph.client_id,
            order=Proposed(
                venue=node.venue,
                symbol=node.symbol,
                side=node.side,
                price_1e9=node.limit_price_1e9,
                qty_1e8=node.qty_1e8,
            ),
        )
    node_transition(node, to=NodeStatus.WORKING, reason=reason, activated_at=timezone.now())
    order = _new_order(node, graph)
    order.save()
    return order


def graph_submit(*, scope: Scope, nodes: Any, edges: Any = None, sandbox: bool | None = None) -> Submitted:
    """Validate and store a graph; roots' orders are created now. A ``seq_test_`` key always
    paper-trades whatever ``sandbox`` says; a live key paper-trades only with ``sandbox=True``."""
    paper = scope.is_sandbox or bool(sandbox)
    spec = graph_validate(nodes=nodes, edges=edges, live=not paper)
    _check_routing(spec, paper=paper, client_id=scope.client.pk)
    targets = {e.child for e in spec.edges}
    with transaction.atomic():
        graph = Graph.objects.create(
            client=scope.client,
            is_sandbox=scope.is_sandbox,
            paper=paper,
            node_count=len(spec.nodes),
            edge_count=len(spec.edges),
        )
        by_id: dict[str, Node] = {}
        for s in spec.nodes:
            by_id[s.node_id] = Node(
                graph=graph,
                node_id=s.node_id,
                symbol=s.instrument.symbol,
                venue=s.instrument.venue,
                instrument_type=s.instrument.kind,
                side=s.side,
                qty_1e8=s.qty_1e8,
                limit_price_1e9=s.limit_price_1e9,
                urgency=s.urgency,
                is_root=s.node_id not in targets,
            )
        Node.objects.bulk_create(by_id.values())
        GraphEdge.objects.bulk_create(
            GraphEdge(graph=graph, parent=by_id[e.parent], child=by_id[e.child], trigger=e.trigger)
            for e in spec.edges
        )
        for node in by_id.values():
            if node.is_root:
                _activate(node, graph, "root: fired at submit")
        nudge_edges_on_commit(venues={s.instrument.venue for s in spec.nodes}, is_sandbox=paper)
    return Submitted(graph=graph, warnings=spec.warnings)


def graph_cancel(*, graph: Graph) -> Graph:
    """Cancel an active graph: pending nodes at once, working orders through their edge (the node
    turns ``cancelled`` when the edge confirms, or ``filled`` if a fill got there first).
    Cancelling a cancelled graph changes nothing; a completed or failed one is a conflict."""
    with transaction.atomic():
        graph = Graph.objects.select_for_update().get(pk=graph.pk)
        if graph.status == GraphStatus.CANCELLED:
            return graph
        if graph.status != GraphStatus.ACTIVE:
            raise InvalidTransition(f"graph {graph.graph_id} is {graph.status}: nothing to cancel")
        graph_transition(graph, to=GraphStatus.CANCELLED, reason="cancelled by client")
        graph_wind_down(graph, reason="graph cancelled")
    return graph


def graph_wind_down(graph: Graph, *, reason: str, nudge: bool = True) -> set[str]:
    """Cancel what is left of a graph that is no longer active: pending nodes now, open orders by
    asking their edges (nudged on commit unless `nudge` is False: then the caller nudges the
    venues returned)."""
    for node in Node.objects.select_for_update().filter(graph=graph, status=NodeStatus.PENDING):
        node_transition(node, to=NodeStatus.CANCELLED, reason=reason)
    open_orders = Order.objects.filter(graph=graph, status__in=[OrderStatus.NEW, OrderStatus.WORKING])
    venues = set(open_orders.values_list("venue", flat=True))
    if open_orders.update(desired_state=OrderDesired.CANCEL) and nudge:
        nudge_edges_on_commit(venues=venues, is_sandbox=graph.paper)
    return venues


def graph_advance(graph: Graph, *, nudge: set[str]) -> int:
    """Fire triggers, activate children whose parents all fired, cancel children that can no
    longer fire, and settle the graph's status. Returns how many orders it created."""
    created = 0
    nodes = {n.pk: n for n in Node.objects.select_for_update().filter(graph=graph).order_by("pk")}
    edges = list(GraphEdge.objects.select_for_update().filter(graph=graph))
    changed = True
    while changed:
        changed = False
        for e in edges:
            parent = nodes[e.parent_id]
            if e.fired:
                continue
            fires = (
                parent.status == NodeStatus.FILLED
                if e.trigger == Trigger.COMPLETED
                else parent.filled_qty_1e8 > 0
            )
            if fires:
                e.fired = True
                GraphEdge.objects.filter(pk=e.pk).update(fired=True)
                changed = True
        for child in nodes.values():
            if child.status != NodeStatus.PENDING:
                continue
            incoming = [e for e in edges if e.child_id == child.pk]
            if not incoming:
                continue
            # A parent that ended without firing this edge: it never will.
            dead = next(
                (
                    nodes[e.parent_id]
                    for e in incoming
                    if not e.fired and nodes[e.parent_id].status in NODE_DONE
                ),
                None,
            )
            if graph.status == GraphStatus.ACTIVE and all(e.fired for e in incoming):
                parents = ", ".join(nodes[e.parent_id].node_id for e in incoming)
                try:
                    _activate(child, graph, f"triggered by {parents}")
                except RiskBreach as breach:
                    # Nothing was written for it: the child is refused, the graph fails below.
                    node_transition(child, to=NodeStatus.REJECTED, reason=f"risk_limit: {breach.message}")
                    changed = True
                    continue
                nudge.add(child.venue)
                created += 1
                changed = True
            elif dead is not None:
                node_transition(
                    child, to=NodeStatus.CANCELLED, reason=f"parent {dead.node_id} ended {dead.status}"
                )
                changed = True
    if graph.status not in GRAPH_DONE:
        statuses = [n.status for n in nodes.values()]
        if NodeStatus.REJECTED in statuses:
            rejected = next(n for n in nodes.values() if n.status == NodeStatus.REJECTED)
            graph_transition(
                graph, to=GraphStatus.FAILED, reason=f"node {rejected.node_id} rejected: {rejected.reason}"
            )
            graph_wind_down(graph, reason=f"graph failed (node {rejected.node_id} rejected)")
        elif all(s in NODE_DONE for s in statuses):
            done = (
                GraphStatus.COMPLETED
                if all(s == NodeStatus.FILLED for s in statuses)
                else GraphStatus.CANCELLED
            )
            graph_transition(graph, to=done, reason="every node is done")
    return created
