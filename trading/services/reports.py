"""What edges report, applied in one transaction per batch: order acknowledgements, refusals and
cancels, fills (idempotent by fill id) and the positions they move; a graph whose node ended
advances in the same transaction (`graph_advance`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from sequence_site.realtime import nudge_edges_on_commit
from trading.lifecycle import ORDER_DONE, ORDER_MOVES, NodeStatus, OrderStatus, node_transition
from trading.models import Fill, Graph, Node, Order, Position, Side
from trading.services.graphs import graph_advance
from venues.accounting import average_cost_fill
from venues.instruments import QTY_SCALE


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
            if u.order_pk not in orders:
                continue
            order = orders[u.order_pk]
            if u.venue_order_id and not order.venue_order_id:
                # an order that filled completely in the batch that acknowledges (or adopts) it
                # keeps its venue order id all the same
                order.venue_order_id = u.venue_order_id[:128]
            if order.status in ORDER_DONE:
                continue
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
            result.orders_created += graph_advance(locked[graph_pk], nudge=nudge)
        if nudge:
            nudge_edges_on_commit(venues=nudge, is_sandbox=paper)
    return result
