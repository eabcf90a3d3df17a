"""Every write of the trading app: submitting and cancelling execution graphs, and applying what
edges report (order acknowledgements, fills, cancels), which is also where child nodes activate.

A graph is validated completely before anything is written and then stored in one transaction:
nothing is ever half-submitted. Root nodes get their orders at submit; a child gets its order in
the same transaction that records the parent fill firing its trigger. Orders are desired state;
the venue's edge picks them up on its next reconcile pass (nudged on commit, so within tens of
milliseconds) and reports back through `orders_report`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from edges.models import Edge
from sequence_site.errors import InvalidInput, InvalidTransition, Unavailable, VenueNotConnected
from sequence_site.realtime import nudge_edges_on_commit
from sequence_site.scope import Scope
from trading.credentials import NoLiveConnector
from trading.lifecycle import (
    GRAPH_DONE,
    NODE_DONE,
    ORDER_DONE,
    ORDER_MOVES,
    GraphStatus,
    NodeStatus,
    OrderDesired,
    OrderStatus,
    Trigger,
    graph_transition,
    node_transition,
)
from trading.models import (
    Fill,
    Graph,
    GraphEdge,
    InstrumentType,
    Node,
    Order,
    Position,
    Side,
    Urgency,
    VenueCredential,
    new_client_order_id,
)
from trading.risk import Proposed, RiskBreach, risk_check
from venues.accounting import average_cost_fill
from venues.instruments import (
    PREDICTION_VENUES,
    PRICE_SCALE,
    QTY_SCALE,
    VENUES,
    Instrument,
)

MAX_NODES = 100
MAX_EDGES = 500
# prediction prices lie strictly between 0 and 1; the market's own tick and bounds apply after
_PRED_MIN = Decimal(0)
_PRED_MAX = Decimal(1)
_TRIGGER_ALIASES = {
    "filled": Trigger.FILLED,
    "fill": Trigger.FILLED,
    "on_fill": Trigger.FILLED,
    "completed": Trigger.COMPLETED,
    "complete": Trigger.COMPLETED,
    "on_complete": Trigger.COMPLETED,
}


def live_connector_configured(venue: str) -> bool:
    """Whether live orders for `venue` are sent: this build has the venue's order half
    (`venues.order_clients.ORDER_CLIENTS`) and the operator switched it on (`LIVE_TRADING_VENUES`:
    by default the venues whose live path runs end to end against the fakes, Kraken and Coinbase)."""
    from venues.order_clients import ORDER_CLIENTS

    return venue in ORDER_CLIENTS and venue in settings.LIVE_TRADING_VENUES


# --------------------------------------------------------------------------------------------------
# Validation


@dataclass(slots=True)
class NodeSpec:
    node_id: str
    instrument: Instrument
    side: str
    qty_1e8: int
    limit_price_1e9: int
    urgency: str
    dormant: bool


@dataclass(slots=True)
class EdgeSpec:
    parent: str
    child: str
    trigger: str


@dataclass(slots=True)
class GraphSpec:
    nodes: list[NodeSpec]
    edges: list[EdgeSpec]
    warnings: list[str] = field(default_factory=list)


def _decimal(value: Any, *, what: str, node_id: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise InvalidInput(f"node {node_id!r}: {what} must be a number, got {value!r}")
    if isinstance(value, float) and math.isfinite(value):
        # A JSON number computed in floating point (0.56 + 0.01 is 0.5700000000000001) means the
        # decimal a few ulps away: read it at 9 decimals. A value truly finer than that stays as
        # sent, and is refused below with the reason.
        rounded = round(value, 9)
        if abs(rounded - value) <= 4 * math.ulp(value):
            value = rounded
    try:
        number = Decimal(str(value).strip()) if isinstance(value, (int, float, str)) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise InvalidInput(f"node {node_id!r}: {what} must be a number, got {value!r}")
    return number


def _fmt(value_1e9: int, scale: int = PRICE_SCALE) -> str:
    return format((Decimal(value_1e9) / scale).normalize(), "f")


def _node_spec(raw: Any, index: int, *, live: bool = False) -> NodeSpec:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"nodes[{index}] must be an object")
    node_id = raw.get("node_id")
    if not isinstance(node_id, str) or not node_id.strip() or len(node_id) > 64:
        raise InvalidInput(f"nodes[{index}].node_id must be a non-empty string of at most 64 characters")
    node_id = node_id.strip()
    venue = raw.get("venue")
    if not isinstance(venue, str) or not venue.strip():
        raise InvalidInput(f"node {node_id!r}: venue is required (one of {', '.join(VENUES)})")
    venue = venue.strip().lower()
    if venue not in VENUES:
        raise InvalidInput(
            f"node {node_id!r}: unknown venue {raw.get('venue')!r}; known: {', '.join(VENUES)}"
        )
    itype = raw.get("instrument_type")
    if itype is None or itype == "":
        if venue in PREDICTION_VENUES:
            raise InvalidInput(
                f"node {node_id!r}: instrument_type='prediction' is required for {venue} "
                "(kalshi and polymarket): without it the graph engine assumes spot and cannot route "
                f"the order to the {venue} edge."
            )
        itype = InstrumentType.SPOT
    if itype not in InstrumentType.values:
        raise InvalidInput(f"node {node_id!r}: instrument_type must be 'spot' or 'prediction', not {itype!r}")
    expected = InstrumentType.PREDICTION if venue in PREDICTION_VENUES else InstrumentType.SPOT
    if itype != expected:
        raise InvalidInput(
            f"node {node_id!r}: {venue} trades {expected} instruments, not {itype} "
            f"(set instrument_type={expected.value!r})"
        )
    symbol = raw.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise InvalidInput(f"node {node_id!r}: symbol is required")
    from trading.selectors import venue_instrument

    inst = venue_instrument(venue, symbol.strip(), live=live)
    if inst is None:
        hint = (
            "a market's yes_token_id or no_token_id from /v1/markets"
            if venue in PREDICTION_VENUES
            else "e.g. BTC-USD"
        )
        raise InvalidInput(f"node {node_id!r}: unknown symbol {symbol!r} on {venue} ({hint})")
    if not inst.active:
        raise InvalidInput(f"node {node_id!r}: {symbol} on {venue} is closed (inactive market)")
    side = raw.get("side")
    side = side.strip().lower() if isinstance(side, str) else side
    if side not in Side.values:
        raise InvalidInput(f"node {node_id!r}: side must be 'buy' or 'sell', not {raw.get('side')!r}")

    qty = _decimal(raw.get("qty"), what="qty", node_id=node_id)
    if qty <= 0:
        raise InvalidInput(f"node {node_id!r}: qty must be > 0, got {raw.get('qty')!r}")
    qty_scaled = qty * QTY_SCALE
    if qty_scaled != qty_scaled.to_integral_value():
        raise InvalidInput(f"node {node_id!r}: qty {raw.get('qty')!r} has more than 8 decimals")
    qty_1e8 = int(qty_scaled)
    if qty_1e8 % inst.lot_1e8:
        raise InvalidInput(
            f"node {node_id!r}: qty {_fmt(qty_1e8, QTY_SCALE)} is not a multiple of {venue}'s lot size "
            f"{_fmt(inst.lot_1e8, QTY_SCALE)} for {symbol}"
        )
    if qty_1e8 < inst.min_qty_1e8 or qty_1e8 > inst.max_qty_1e8:
        raise InvalidInput(
            f"node {node_id!r}: qty {_fmt(qty_1e8, QTY_SCALE)} is outside {venue}'s limits "
            f"{_fmt(inst.min_qty_1e8, QTY_SCALE)}..{_fmt(inst.max_qty_1e8, QTY_SCALE)}"
        )

    if raw.get("limit_price") is None:
        raise InvalidInput(
            f"node {node_id!r}: limit_price is required (market orders are not supported: to take "
            "liquidity, cross the spread by a tick with urgency='high')"
        )
    price = _decimal(raw.get("limit_price"), what="limit_price", node_id=node_id)
    if inst.is_prediction and not _PRED_MIN < price < _PRED_MAX:
        raise InvalidInput(
            f"node {node_id!r}: limit_price {raw.get('limit_price')!r} is outside 0..1: prediction "
            "prices are probabilities in the venue's natural units (0.01..0.99 on a 1-cent tick, "
            "0.001..0.999 on a 0.001 one)"
        )
    price_scaled = price * PRICE_SCALE
    if price <= 0 or price_scaled != price_scaled.to_integral_value():
        raise InvalidInput(
            f"node {node_id!r}: limit_price {raw.get('limit_price')!r} must be > 0 with at most 9 decimals"
        )
    price_1e9 = int(price_scaled)
    if price_1e9 % inst.tick_1e9:
        below = price_1e9 // inst.tick_1e9 * inst.tick_1e9
        raise InvalidInput(
            f"node {node_id!r}: limit_price {_fmt(price_1e9)} is off {venue}'s tick grid for {symbol} "
            f"(tick {_fmt(inst.tick_1e9)}; nearest below {_fmt(below)}, above {_fmt(below + inst.tick_1e9)})"
        )
    if not inst.min_price_1e9 <= price_1e9 <= inst.max_price_1e9:
        raise InvalidInput(
            f"node {node_id!r}: limit_price {_fmt(price_1e9)} is outside {venue}'s price bounds for "
            f"{symbol} ({_fmt(inst.min_price_1e9)}..{_fmt(inst.max_price_1e9)})"
        )
    urgency = raw.get("urgency") or Urgency.NORMAL
    if urgency not in Urgency.values:
        raise InvalidInput(f"node {node_id!r}: urgency must be low, normal or high, not {urgency!r}")
    below_minimum = price_1e9 * qty_1e8 < inst.min_notional_1e9 * QTY_SCALE
    if below_minimum and not inst.min_notional_rests:
        # Kraken (costmin) and Coinbase (quote_min_size) refuse such an order outright.
        raise InvalidInput(
            f"node {node_id!r}: notional {_fmt(qty_1e8 * price_1e9 // QTY_SCALE)} (qty x limit_price) "
            f"is under {venue}'s minimum order value {_fmt(inst.min_notional_1e9)} for {symbol}"
        )
    dormant = below_minimum  # Polymarket's $1: accepted, rests, never fills (a warning says so)
    return NodeSpec(node_id, inst, side, qty_1e8, price_1e9, urgency, dormant)


def _edge_spec(raw: Any, index: int) -> EdgeSpec:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"edges[{index}] must be an object with parent, child and trigger")
    parent = raw.get("parent", raw.get("from", raw.get("source")))
    child = raw.get("child", raw.get("to", raw.get("target")))
    if not isinstance(parent, str) or not isinstance(child, str):
        raise InvalidInput(f"edges[{index}] needs 'parent' and 'child' node ids")
    trigger = _TRIGGER_ALIASES.get(str(raw.get("trigger") or "filled").lower())
    if trigger is None:
        raise InvalidInput(
            f"edges[{index}].trigger must be 'filled' or 'completed', not {raw.get('trigger')!r}"
        )
    return EdgeSpec(parent, child, trigger)


def graph_validate(*, nodes: Any, edges: Any, live: bool = False) -> GraphSpec:
    """Check a whole graph; raise `InvalidInput` naming the first problem. Writes nothing.
    `live`: its orders go to the venues (symbols from their synced catalogues)."""
    if not isinstance(nodes, list) or not nodes:
        raise InvalidInput("nodes must be a non-empty list")
    if len(nodes) > MAX_NODES:
        raise InvalidInput(f"a graph has at most {MAX_NODES} nodes")
    edges = [] if edges is None else edges
    if not isinstance(edges, list):
        raise InvalidInput("edges must be a list")
    if len(edges) > MAX_EDGES:
        raise InvalidInput(f"a graph has at most {MAX_EDGES} edges")
    specs = [_node_spec(raw, i, live=live) for i, raw in enumerate(nodes)]
    ids = [s.node_id for s in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InvalidInput(f"duplicate node_id: {', '.join(duplicates)}")
    known = set(ids)
    edge_specs = [_edge_spec(raw, i) for i, raw in enumerate(edges)]
    seen: set[tuple[str, str]] = set()
    for i, e in enumerate(edge_specs):
        missing = [n for n in (e.parent, e.child) if n not in known]
        if missing:
            raise InvalidInput(f"edges[{i}] names a node that is not in the graph: {', '.join(missing)}")
        if e.parent == e.child:
            raise InvalidInput(f"edges[{i}]: node {e.parent!r} cannot trigger itself (cycle)")
        if (e.parent, e.child) in seen:
            raise InvalidInput(f"edges[{i}] repeats {e.parent} -> {e.child}")
        seen.add((e.parent, e.child))
    # Kahn: whatever cannot be ordered sits on a cycle.
    indegree = {n: 0 for n in ids}
    children: dict[str, list[str]] = defaultdict(list)
    for e in edge_specs:
        indegree[e.child] += 1
        children[e.parent].append(e.child)
    ready = [n for n, d in indegree.items() if d == 0]
    ordered = 0
    while ready:
        n = ready.pop()
        ordered += 1
        for c in children[n]:
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    if ordered != len(ids):
        cyclic = sorted(n for n, d in indegree.items() if d > 0)
        raise InvalidInput(f"the graph has a cycle through: {', '.join(cyclic)}")
    warnings = [
        f"node {s.node_id!r}: notional {_fmt(s.qty_1e8 * s.limit_price_1e9 // QTY_SCALE)} is under "
        f"{s.instrument.venue}'s $1 minimum: the order is accepted but rests and never fills"
        for s in specs
        if s.dormant
    ]
    return GraphSpec(specs, edge_specs, warnings)


# --------------------------------------------------------------------------------------------------
# Submit and cancel


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
        _wind_down(graph, reason="graph cancelled")
    return graph


def _wind_down(graph: Graph, *, reason: str, nudge: bool = True) -> set[str]:
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


# --------------------------------------------------------------------------------------------------
# What edges report


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order's new observed state: ``working`` (placed; `dormant` when it can never fill),
    ``rejected`` (`reason`), ``cancelled``."""

    order_pk: int
    status: str
    dormant: bool = False
    reason: str = ""
    # live orders: the venue's order id (ack or adoption), and for a refusal what it means and
    # the venue's own words
    venue_order_id: str = ""
    error_code: str = ""
    venue_message: str = ""


@dataclass(frozen=True, slots=True)
class FillReport:
    """One fill. `filled_after_1e8` is the order's cumulative filled quantity after it, which
    makes the fill id stable when an edge reports the same fill twice (after a restart)."""

    order_pk: int
    side: str
    price_1e9: int
    qty_1e8: int
    fee_1e9: int
    liquidity: str
    ts_ns: int
    filled_after_1e8: int
    # A live fill's id: the venue's own (``<venue>:<venue_fill_id>``), which counts it once however
    # often the venue reports it. Empty for paper fills (then derived from `filled_after_1e8`).
    fill_id: str = ""


def _position_apply(pos: Position, side: str, price_1e9: int, qty_1e8: int, fee_1e9: int) -> int:
    """Average cost, as `venues.accounting.PositionBook`, on the row's exact raw sums. Returns the
    realized PnL of this fill, ×1e9."""
    signed = qty_1e8 if side == Side.BUY else -qty_1e8
    position, cost, realized = average_cost_fill(pos.position_1e8, int(pos.cost_raw), signed, price_1e9)
    pos.fill_count += 1
    pos.fees_1e9 += fee_1e9
    pos.position_1e8 = position
    pos.cost_raw = Decimal(cost)
    pos.realized_raw = Decimal(int(pos.realized_raw) + realized)
    return realized // QTY_SCALE


@dataclass(slots=True)
class ReportResult:
    fills_recorded: int = 0
    orders_created: int = 0
    # The fills of this batch that were new (recorded now): a live algo's edge hands exactly these
    # to the algo's core, so a fill reported twice reaches on_fill once.
    new_fills: list[FillReport] = field(default_factory=list)


def orders_report(
    *, venue: str, paper: bool, updates: Sequence[OrderUpdate] = (), fills: Sequence[FillReport] = ()
) -> ReportResult:
    """Apply one batch of an edge's observations, in one transaction: fills (idempotent by fill id),
    order states, node states, positions, triggers (children's orders are created here) and graph
    states. Orders of other venues or modes are ignored."""
    result = ReportResult()
    pks = sorted({u.order_pk for u in updates} | {f.order_pk for f in fills})
    if not pks:
        return result
    nudge: set[str] = set()
    with transaction.atomic():
        # Lock order: graphs, then orders (as graph_cancel does), so the two never deadlock.
        graph_pks = Order.objects.filter(pk__in=pks, graph__isnull=False).values_list("graph_id", flat=True)
        locked = {g.pk: g for g in Graph.objects.select_for_update().filter(pk__in=graph_pks).order_by("pk")}
        orders = {
            o.pk: o
            for o in Order.objects.select_for_update(of=("self",))
            .select_related("graph", "node")
            .filter(pk__in=pks, venue=venue, paper=paper)
            .order_by("pk")
        }
        fill_ids = {
            f.fill_id or f"fill_{f.order_pk}_{f.filled_after_1e8}": f for f in fills if f.order_pk in orders
        }
        existing = set(Fill.objects.filter(fill_id__in=list(fill_ids)).values_list("fill_id", flat=True))
        touched_nodes: dict[int, Node] = {}
        new_fills: list[Fill] = []
        positions: dict[tuple[int, bool, bool, str, str], Position] = {}
        for fill_id, f in fill_ids.items():
            if fill_id in existing or f.qty_1e8 <= 0:
                continue
            order = orders[f.order_pk]
            node = order.node  # None for a live algo's order
            order.filled_qty_1e8 += f.qty_1e8
            order.leaves_qty_1e8 = max(0, order.qty_1e8 - order.filled_qty_1e8)
            if node is not None:
                node.filled_qty_1e8 += f.qty_1e8
                node.filled_notional_raw = Decimal(int(node.filled_notional_raw) + f.price_1e9 * f.qty_1e8)
                node.fees_1e9 += f.fee_1e9
                touched_nodes[node.pk] = node
            result.new_fills.append(f)
            new_fills.append(
                Fill(
                    fill_id=fill_id,
                    order=order,
                    client_id=order.client_id,
                    is_sandbox=order.is_sandbox,
                    paper=order.paper,
                    node_order_id=order.node_order_id,
                    venue=order.venue,
                    symbol=order.symbol,
                    side=order.side,
                    price_1e9=f.price_1e9,
                    qty_1e8=f.qty_1e8,
                    fee_1e9=f.fee_1e9,
                    liquidity=f.liquidity,
                    ts_ns=f.ts_ns,
                )
            )
            key = (order.client_id, order.is_sandbox, order.paper, order.venue, order.symbol)
            pos = positions.get(key)
            if pos is None:
                pos, _ = Position.objects.select_for_update().get_or_create(
                    client_id=order.client_id,
                    is_sandbox=order.is_sandbox,
                    paper=order.paper,
                    venue=order.venue,
                    symbol=order.symbol,
                )
                positions[key] = pos
            new_fills[-1].realized_1e9 = _position_apply(pos, order.side, f.price_1e9, f.qty_1e8, f.fee_1e9)
        Fill.objects.bulk_create(new_fills)
        result.fills_recorded = len(new_fills)
        for pos in positions.values():
            pos.save()

        for order in orders.values():
            if order.leaves_qty_1e8 == 0 and OrderStatus.FILLED in ORDER_MOVES.get(order.status, ()):
                order.status = OrderStatus.FILLED
        for u in updates:
            if u.order_pk not in orders or orders[u.order_pk].status in ORDER_DONE:
                continue
            order = orders[u.order_pk]
            if u.status != order.status and u.status not in ORDER_MOVES[order.status]:
                continue
            if u.venue_order_id:
                order.venue_order_id = u.venue_order_id[:128]
            if u.status == OrderStatus.WORKING:
                order.status = OrderStatus.WORKING
                order.dormant = u.dormant
            elif u.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
                order.status = u.status
                order.reject_reason = u.reason[:200]
                order.error_code = u.error_code[:32]
                order.venue_message = u.venue_message[:500]
            if order.node is not None:
                touched_nodes.setdefault(order.node.pk, order.node)
        for order in orders.values():
            order.save(
                update_fields=[
                    "status",
                    "dormant",
                    "reject_reason",
                    "filled_qty_1e8",
                    "leaves_qty_1e8",
                    "venue_order_id",
                    "error_code",
                    "venue_message",
                    "updated_at",
                ]
            )

        graphs: dict[int, Graph] = {}
        for order in orders.values():
            node = order.node
            if node is None or node.pk not in touched_nodes:
                continue
            Node.objects.filter(pk=node.pk).update(
                filled_qty_1e8=node.filled_qty_1e8,
                filled_notional_raw=node.filled_notional_raw,
                fees_1e9=node.fees_1e9,
            )
            if node.status == NodeStatus.WORKING:
                if order.status == OrderStatus.FILLED:
                    node_transition(node, to=NodeStatus.FILLED)
                elif order.status == OrderStatus.CANCELLED:
                    node_transition(node, to=NodeStatus.CANCELLED, reason=order.reject_reason or "cancelled")
                elif order.status == OrderStatus.REJECTED:
                    node_transition(node, to=NodeStatus.REJECTED, reason=order.reject_reason)
            graph = order.graph
            if graph is not None:  # always, for an order with a node
                graphs[graph.pk] = graph

        for graph_pk in sorted(graphs):
            result.orders_created += _advance(locked[graph_pk], nudge=nudge)
        if nudge:
            nudge_edges_on_commit(venues=nudge, is_sandbox=paper)
    return result


def _advance(graph: Graph, *, nudge: set[str]) -> int:
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
            _wind_down(graph, reason=f"graph failed (node {rejected.node_id} rejected)")
        elif all(s in NODE_DONE for s in statuses):
            done = (
                GraphStatus.COMPLETED
                if all(s == NodeStatus.FILLED for s in statuses)
                else GraphStatus.CANCELLED
            )
            graph_transition(graph, to=done, reason="every node is done")
    return created


# --------------------------------------------------------------------------------------------------
# Live orders: the live edge's outbox writes, and the kill switch


def live_order_mark_sending(*, order_pk: int) -> bool:
    """Claim a live order for sending, just before the venue call (a conditional update, as
    healthchecks claims work): True when this call claimed it. False when it was cancelled in the
    meantime (the kill switch, a graph cancel) or was claimed before: then it must not be sent."""
    return bool(
        Order.objects.filter(
            pk=order_pk,
            paper=False,
            status=OrderStatus.NEW,
            desired_state=OrderDesired.WORKING,
            sent_at__isnull=True,
        ).update(sent_at=timezone.now())
    )


def live_algo_order_create(
    *,
    client_id: int,
    deployment_id: Any,
    venue: str,
    symbol: str,
    side: str,
    price_1e9: int,
    qty_1e8: int,
    algo_order_id: int,
) -> Order:
    """Persist a live algo's place_order (the outbox row, with its client order id) after the
    risk checks, in one transaction; the live edge sends it right after. Raises `RiskBreach`
    (nothing written) when a limit refuses it."""
    with transaction.atomic():
        risk_check(
            client_id=client_id,
            order=Proposed(venue=venue, symbol=symbol, side=side, price_1e9=price_1e9, qty_1e8=qty_1e8),
        )
        return Order.objects.create(
            deployment_id=deployment_id,
            algo_order_id=algo_order_id,
            client_id=client_id,
            is_sandbox=False,
            paper=False,
            venue=venue,
            symbol=symbol,
            side=side,
            price_1e9=price_1e9,
            qty_1e8=qty_1e8,
            leaves_qty_1e8=qty_1e8,
            client_order_id=new_client_order_id(),
        )


def live_algo_orders_cancel(
    *, order_pks: Sequence[int] = (), deployment_id: Any = None, symbol: str | None = None
) -> int:
    """Desire ``cancel`` for open live algo orders (these, or every one of a deployment, on one
    symbol if given): the live edge cancels them at the venue, or never sends one it has not sent.
    Returns how many."""
    rows = Order.objects.filter(
        paper=False, graph__isnull=True, status__in=[OrderStatus.NEW, OrderStatus.WORKING]
    ).exclude(desired_state=OrderDesired.CANCEL)
    if deployment_id is not None:
        rows = rows.filter(deployment_id=deployment_id)
        if symbol is not None:
            rows = rows.filter(symbol=symbol)
    else:
        rows = rows.filter(pk__in=list(order_pks))
    return rows.update(desired_state=OrderDesired.CANCEL)


@dataclass(slots=True)
class KillResult:
    graphs_cancelled: list[str] = field(default_factory=list)
    algos_stopped: list[str] = field(default_factory=list)
    # per venue: the venue order ids the venue cancelled, or the error that stopped it
    venues: list[dict[str, Any]] = field(default_factory=list)


def kill_switch(*, scope: Scope) -> KillResult:
    """Stop everything of the client in the key's mode: cancel its active graphs (their open
    orders turn desired ``cancel``, so the live edge will never send an unsent one), stop its
    algos, and (live keys only) ask every connected venue to cancel every open order of the
    client's account there (`OrderClient.cancel_all`), now, from this process, so the kill does not
    wait for an edge. Answers with what it cancelled and where it could not."""
    result = KillResult()
    # The graphs first (committed: no edge sends an unsent order of theirs after this), then the
    # venues are called from here, and only then are the edges nudged: a live edge woken at once
    # would race this process to the same cancels, and the answer would miss what it took.
    to_nudge: dict[bool, set[str]] = {True: set(), False: set()}
    with transaction.atomic():
        for graph in Graph.objects.select_for_update().filter(
            client=scope.client, is_sandbox=scope.is_sandbox, status=GraphStatus.ACTIVE
        ):
            graph_transition(graph, to=GraphStatus.CANCELLED, reason="kill switch")
            to_nudge[graph.paper] |= _wind_down(graph, reason="kill switch", nudge=False)
            result.graphs_cancelled.append(graph.graph_id)
    try:
        _kill_algos_and_venues(scope, result)
    finally:
        for paper, venues in to_nudge.items():
            if venues:
                nudge_edges_on_commit(venues=venues, is_sandbox=paper)  # outside a transaction: now
    return result


def _kill_algos_and_venues(scope: Scope, result: KillResult) -> None:
    from algo_studio.models import Deployment
    from algo_studio.services import deployment_stop

    deployments = (
        Deployment.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox, deleted_at__isnull=True)
        .filter(edge_rows__removed=False, edge_rows__desired_state="running")
        .distinct()
    )
    for deployment in deployments:
        if deployment_stop(deployment=deployment, actor="kill switch"):
            result.algos_stopped.append(deployment.deployment_id)
    if not scope.is_sandbox:
        # Live algos' open orders: never sent if not sent yet, cancelled by the live edge (the
        # cancel_all below is the immediate half; the edge's pass records each order's end).
        with transaction.atomic():
            algo_orders = Order.objects.filter(
                client=scope.client,
                paper=False,
                graph__isnull=True,
                status__in=[OrderStatus.NEW, OrderStatus.WORKING],
            )
            venues = set(algo_orders.values_list("venue", flat=True))
            if algo_orders.update(desired_state=OrderDesired.CANCEL):
                nudge_edges_on_commit(venues=venues, is_sandbox=False)
    if scope.is_sandbox:
        return  # a sandbox key never reaches a venue
    from trading.credentials import order_client, venue_credentials_open
    from venues.orders import OrderError

    for cred in VenueCredential.objects.filter(client=scope.client).order_by("venue"):
        entry: dict[str, Any] = {"venue": cred.venue, "cancelled": [], "error": None}
        opened = venue_credentials_open(client_id=scope.client.pk, venue=cred.venue)
        if opened is None:
            continue
        try:
            client = order_client(cred.venue, opened[0])
            try:
                entry["cancelled"] = client.cancel_all()
                # An order the live edge was sending while this ran may have landed after the
                # cancel: look once more, and say what is still open.
                left = client.open_orders()
                if left:
                    entry["cancelled"] += client.cancel_all()
                    left = client.open_orders()
                if left:
                    entry["still_open"] = [o.venue_order_id for o in left]
                    entry["error"] = f"{len(left)} order(s) still open; the live edge keeps cancelling"
            finally:
                client.close()
        except OrderError as exc:
            entry["error"] = f"{exc.code}: {exc.venue_message}"
        except (OSError, TimeoutError) as exc:
            entry["error"] = f"unreachable ({type(exc).__name__}); the live edge keeps cancelling"
        result.venues.append(entry)


__all__ = [
    "FillReport",
    "NoLiveConnector",
    "OrderUpdate",
    "Submitted",
    "graph_cancel",
    "graph_submit",
    "graph_validate",
    "orders_report",
]
