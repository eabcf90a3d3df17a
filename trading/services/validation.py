"""Checking an execution graph before anything is written: each node's venue, instrument, side,
quantity and limit price against the venue's rules, the edges and their triggers, and that the graph
has no cycle. `graph_validate` raises `InvalidInput` naming the first problem."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sequence_site.errors import InvalidInput
from trading.lifecycle import Trigger
from trading.models import InstrumentType, Side, Urgency
from venues.instruments import PREDICTION_VENUES, PRICE_SCALE, QTY_SCALE, VENUES, Instrument

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
