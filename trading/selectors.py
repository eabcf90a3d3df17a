"""Reads of the trading app: markets, quotes (from the edges' Redis hash), graphs, fills,
positions, and the open orders an edge must work."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis
from django.db import models

from edges.feeds import venue_feed_mode
from edges.models import Edge
from edges.quotes import quotes_key
from sequence_site.errors import InvalidInput, NotFound, Unavailable
from sequence_site.realtime import redis_client
from sequence_site.scope import Scope
from trading.lifecycle import OrderStatus
from trading.models import Fill, Graph, Node, Order, Position, node_order_id
from venues.accounting import average_entry_price_1e9, net_realized_pnl_1e9
from venues.instruments import (
    PREDICTION_VENUES,
    PRICE_SCALE,
    QTY_SCALE,
    VENUES,
    Instrument,
    decimal_text,
    get_instrument,
    market_rows,
    markets,
)
from venues.symbols import hyphen_symbol


def display_symbol(symbol: str) -> str:
    """Spot pairs answer in hyphen form (BTC-USD) like every non-algo endpoint; tokens as they are."""
    return hyphen_symbol(symbol)


def px(value_1e9: int | None) -> float | None:
    """A price as a JSON number (None for a missing side). Integer / 1e9 is correctly rounded, so
    0.33 prints as 0.33."""
    return value_1e9 / PRICE_SCALE if value_1e9 else None


def qty(value_1e8: int | None) -> float | None:
    return value_1e8 / QTY_SCALE if value_1e8 is not None else None


# --------------------------------------------------------------------------------------------------
# Markets


def market_list(
    *, venue: str, limit: int, order: str | None, active: bool | None, expand: str | None
) -> list[dict[str, Any]]:
    """/v1/markets rows. Prediction venues list their markets; spot venues list their pairs."""
    v = (venue or "").lower()
    if v not in VENUES:
        raise InvalidInput(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
    if order not in (None, "volume", "liquidity"):
        raise InvalidInput(f"order must be 'volume' or 'liquidity', not {order!r}")
    if expand not in (None, "", "outcomes"):
        raise InvalidInput(f"expand must be 'outcomes', not {expand!r}")
    if venue_feed_mode(v) == "live":
        return _live_market_list(v, limit=limit, order=order, active=active, expand=expand)
    if v in PREDICTION_VENUES:
        rows = markets(v, expand_outcomes=expand == "outcomes", active=active, order=order)  # type: ignore[arg-type]
        for row in rows:
            _decorate(row, v)
            for outcome in row.get("outcomes") or ():
                _decorate(outcome, v)
        return rows[:limit]
    from venues.instruments import instruments_for_venue

    rows = []
    for inst in instruments_for_venue(v):
        if active is not None and inst.active != active:
            continue
        rows.append(
            {
                "venue": v,
                "symbol": display_symbol(inst.symbol),
                "slug": display_symbol(inst.symbol).lower(),
                "instrument_type": "spot",
                "tick_size": decimal_text(inst.tick_1e9, PRICE_SCALE),
                "lot_size": decimal_text(inst.lot_1e8, QTY_SCALE),
                "min_qty": decimal_text(inst.min_qty_1e8, QTY_SCALE),
                "min_notional": decimal_text(inst.min_notional_1e9, PRICE_SCALE),
                "status": "active" if inst.active else "closed",
                "active": inst.active,
            }
        )
    return rows[:limit]


def _live_market_list(
    v: str, *, limit: int, order: str | None, active: bool | None, expand: str | None
) -> list[dict[str, Any]]:
    """/v1/markets for a venue whose feed is live: its catalogue as last synced (edges/catalogue.py)."""
    from edges import catalogue

    if v in PREDICTION_VENUES:
        stored = catalogue.stored_markets(v)
        if stored is None:
            raise Unavailable(f"{v}'s live catalogue has not been synced yet; try again shortly")
        rows = market_rows(v, stored, expand_outcomes=expand == "outcomes", active=active, order=order)  # type: ignore[arg-type]
        for row in rows:
            _decorate(row, v)
            for outcome in row.get("outcomes") or ():
                _decorate(outcome, v)
        return rows[:limit]
    pairs = catalogue.stored_pairs(v)
    if pairs is None:
        raise Unavailable(f"{v}'s live catalogue has not been synced yet; try again shortly")
    out = []
    for p in pairs:
        if active is not None and p["active"] != active:
            continue
        symbol = display_symbol(p["symbol"])
        out.append(
            {
                "venue": v,
                "symbol": symbol,
                "slug": symbol.lower(),
                "instrument_type": "spot",
                "tick_size": p["tick_size"],
                "lot_size": p["lot_size"],
                "min_qty": p["min_qty"],
                "min_notional": p["min_notional"],
                "status": "active" if p["active"] else "closed",
                "active": p["active"],
            }
        )
    return out[:limit]


def _decorate(row: dict[str, Any], venue: str) -> None:
    """The fields the spec's strategies use on top of the catalog's: symbol, instrument type,
    minimum notional, status."""
    row["symbol"] = row.get("yes_token_id")
    row["instrument_type"] = "prediction"
    row["min_notional"] = "1" if venue == "polymarket" else "0"
    row["status"] = "active" if row.get("active") else "closed"


# --------------------------------------------------------------------------------------------------
# Quotes


def resolve_symbol(symbol: str, venue: str | None = None) -> tuple[Instrument, ...]:
    """The instruments a user's symbol means (a spot pair is listed on several venues)."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise InvalidInput("symbol is required")
    symbol = symbol.strip()
    if venue:
        v = venue.lower()
        if v not in VENUES:
            raise InvalidInput(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
        inst = venue_instrument(v, symbol)
        if inst is None:
            raise NotFound(f"unknown symbol {symbol!r} on {v}")
        return (inst,)
    found = tuple(i for v in VENUES if (i := venue_instrument(v, symbol)) is not None)
    if not found:
        raise NotFound(
            f"unknown symbol {symbol!r}: use a spot pair (BTC-USD) or a prediction token id "
            "(yes_token_id / no_token_id from /v1/markets)"
        )
    return found


def venue_instrument(venue: str, symbol: str, *, live: bool = False) -> Instrument | None:
    """`symbol` on `venue`: from its synced live catalogue when its feed is live, else simulated.

    `live`: for a live (not paper) order, whose symbol must be one the venue really lists: the
    synced catalogue is read whatever the feed, falling back to the simulated catalogue only when
    the venue's catalogue was never synced (spot pairs are spelled the same in both)."""
    feed_live = venue_feed_mode(venue) == "live"
    if feed_live or live:
        from edges import catalogue

        found = catalogue.stored_instrument(venue, symbol)
        if found is not None or feed_live or catalogue.stored_synced(venue):
            return found
    try:
        return get_instrument(venue, symbol)
    except KeyError:
        return None


def raw_quotes(*, is_sandbox: bool, instruments: tuple[Instrument, ...]) -> list[dict[str, Any]]:
    """The edges' latest books (quote_payload dicts) for these instruments; missing ones skipped.

    Only venues whose edge is connected count: a dead edge's last book stays in Redis, and nobody
    should trade on it. (A book's own age says nothing: a quiet market's book can be old and true.)
    """
    live_venues = set(
        Edge.objects.connected()
        .filter(is_sandbox=is_sandbox, venue__in={i.venue for i in instruments})
        .values_list("venue", flat=True)
    )
    instruments = tuple(i for i in instruments if i.venue in live_venues)
    if not instruments:
        return []
    fields = [f"{i.venue}:{i.symbol}" for i in instruments]
    try:
        values = redis_client().hmget(quotes_key(is_sandbox=is_sandbox), fields)
    except redis.RedisError:
        raise Unavailable("the quote cache (Redis) is unreachable") from None
    return [json.loads(v) for v in values if v]


def quote_get(*, scope: Scope, symbol: str, depth: int = 5, venue: str | None = None) -> dict[str, Any]:
    """NBBO across the venues listing `symbol` plus the top `depth` levels per side (merged across
    venues, best first). Unavailable (503) when no edge has published the symbol in this mode."""
    instruments = resolve_symbol(symbol, venue)
    books = raw_quotes(is_sandbox=scope.is_sandbox, instruments=instruments)
    if not books:
        mode = "sandbox" if scope.is_sandbox else "live"
        following = Edge.objects.connected().filter(
            is_sandbox=scope.is_sandbox, venue__in={i.venue for i in instruments}
        )
        if following.exists() and not any(
            i.symbol in edge.symbols for edge in following for i in instruments if i.venue == edge.venue
        ):
            raise Unavailable(
                f"no {mode} quote for {symbol}: the {'/'.join(sorted({e.venue for e in following}))} edge "
                "does not follow it (a live Kalshi or Polymarket edge follows the VENUE_FEED_MAX_MARKETS "
                "most traded markets of the synced catalogue, chosen when it starts)"
            )
        raise Unavailable(
            f"no {mode} quote for {symbol}: no connected {'/'.join(i.venue for i in instruments)} edge "
            "has published it"
        )
    best_bid = max((b for b in books if b["bid_px_1e9"]), key=lambda b: b["bid_px_1e9"], default=None)
    best_ask = min((b for b in books if b["ask_px_1e9"]), key=lambda b: b["ask_px_1e9"], default=None)
    bids = sorted(((p, q, b["venue"]) for b in books for p, q in b["bids"]), key=lambda level: -level[0])[
        :depth
    ]
    asks = sorted(((p, q, b["venue"]) for b in books for p, q in b["asks"]), key=lambda level: level[0])[
        :depth
    ]
    bid = best_bid["bid_px_1e9"] if best_bid else 0
    ask = best_ask["ask_px_1e9"] if best_ask else 0
    inst = instruments[0]
    return {
        "symbol": display_symbol(inst.symbol),
        "instrument_type": inst.kind,
        "nbbo": {
            "bid": px(bid),
            "ask": px(ask),
            "bid_size": qty(best_bid["bid_qty_1e8"]) if best_bid else None,
            "ask_size": qty(best_ask["ask_qty_1e8"]) if best_ask else None,
            "mid": px((bid + ask) // 2) if bid and ask else None,
            # A published book may be empty on both sides (a halted market): name its venue then.
            "venue": (best_bid or best_ask or books[0])["venue"],
            "bid_venue": best_bid["venue"] if best_bid else None,
            "ask_venue": best_ask["venue"] if best_ask else None,
            "bid_px_1e9": bid,
            "ask_px_1e9": ask,
            "ts_ns": max(b["ts_ns"] for b in books),
        },
        "bids": [{"price": px(p), "size": qty(q), "venue": v} for p, q, v in bids],
        "asks": [{"price": px(p), "size": qty(q), "venue": v} for p, q, v in asks],
        "tick_size": decimal_text(inst.tick_1e9, PRICE_SCALE),
        "venues": sorted(b["venue"] for b in books),
    }


# --------------------------------------------------------------------------------------------------
# Graphs, fills, positions


def graph_get(*, scope: Scope, graph_id: str) -> Graph:
    graph = Graph.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox, graph_id=graph_id).first()
    if graph is None:
        raise NotFound(f"no graph {graph_id!r}")
    return graph


def _avg_price(node: Node) -> float | None:
    if not node.filled_qty_1e8:
        return None
    return px(int(node.filled_notional_raw) // node.filled_qty_1e8)


def graph_detail(*, graph: Graph) -> dict[str, Any]:
    nodes = list(graph.nodes.order_by("pk"))
    orders = {o.node_id: o for o in Order.objects.filter(graph=graph).order_by("seq")}
    by_pk = {n.pk: n.node_id for n in nodes}
    return {
        "graph_id": graph.graph_id,
        "status": graph.status,
        "sandbox": graph.paper,
        "node_count": graph.node_count,
        "edge_count": graph.edge_count,
        "created_at": graph.created_at,
        "updated_at": graph.updated_at,
        "nodes": [
            {
                "node_id": n.node_id,
                "symbol": display_symbol(n.symbol),
                "venue": n.venue,
                "instrument_type": n.instrument_type,
                "side": n.side,
                "qty": qty(n.qty_1e8),
                "qty_1e8": n.qty_1e8,
                "limit_price": px(n.limit_price_1e9),
                "limit_price_1e9": n.limit_price_1e9,
                "urgency": n.urgency,
                "activation": "root" if n.is_root else "edge",
                "status": n.status,
                "filled_qty_1e8": n.filled_qty_1e8,
                "avg_fill_price": _avg_price(n),
                "fees_1e9": n.fees_1e9,
                "reason": n.reason,
                "node_order_id": (
                    node_order_id(graph.graph_id, n.node_id, orders[n.pk].seq) if n.pk in orders else None
                ),
                "order_status": orders[n.pk].status if n.pk in orders else None,
                # a live order the venue refused: what it means (venues.orders.ERROR_CODES) and
                # the venue's own words ("" otherwise)
                "error_code": orders[n.pk].error_code if n.pk in orders else "",
                "venue_message": orders[n.pk].venue_message if n.pk in orders else "",
                "dormant": orders[n.pk].dormant if n.pk in orders else False,
            }
            for n in nodes
        ],
        "edges": [
            {"parent": by_pk[e.parent_id], "child": by_pk[e.child_id], "trigger": e.trigger, "fired": e.fired}
            for e in graph.edges.order_by("pk")
        ],
    }


def graph_list(*, scope: Scope, limit: int = 50) -> list[Graph]:
    return list(
        Graph.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox).order_by("-created_at")[:limit]
    )


def fill_list(*, scope: Scope, symbol: str | None, limit: int) -> list[dict[str, Any]]:
    rows = Fill.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox)
    if symbol:
        instruments = resolve_symbol(symbol)  # the live catalogue's tokens too
        rows = rows.filter(symbol=instruments[0].symbol)
    return [
        {
            "fill_id": f.fill_id,
            "node_order_id": f.node_order_id,
            "symbol": display_symbol(f.symbol),
            "venue": f.venue,
            "side": f.side,
            "price": px(f.price_1e9),
            "price_1e9": f.price_1e9,
            "qty": qty(f.qty_1e8),
            "qty_1e8": f.qty_1e8,
            "fee_1e9": f.fee_1e9,
            "liquidity": f.liquidity,
            "sandbox": f.paper,
            "ts_ns": f.ts_ns,
            "created_at": f.created_at,
        }
        for f in rows.order_by("-ts_ns", "-pk")[:limit]
    ]


def position_list(*, scope: Scope) -> list[dict[str, Any]]:
    out = []
    for p in Position.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox).order_by(
        "venue", "symbol"
    ):
        out.append(
            {
                "symbol": display_symbol(p.symbol),
                "venue": p.venue,
                "sandbox": p.paper,
                "position_1e8": p.position_1e8,
                "position": qty(p.position_1e8),
                "avg_entry_price_1e9": average_entry_price_1e9(p.position_1e8, int(p.cost_raw)),
                "realized_pnl_1e9": net_realized_pnl_1e9(int(p.realized_raw), p.fees_1e9),
                "fees_1e9": p.fees_1e9,
                "fill_count": p.fill_count,
                "updated_at": p.updated_at,
            }
        )
    return out


# --------------------------------------------------------------------------------------------------
# What an edge works


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An order an edge must hold (desired ``working``) or take down (desired ``cancel``)."""

    pk: int
    symbol: str
    side: str
    price_1e9: int
    leaves_qty_1e8: int
    filled_qty_1e8: int
    desired_state: str
    status: str


def edge_open_orders(*, venue: str, paper: bool) -> list[OpenOrder]:
    """Every non-terminal order of `venue` in this mode (one indexed query per reconcile pass)."""
    rows = Order.objects.filter(
        venue=venue, paper=paper, status__in=[OrderStatus.NEW, OrderStatus.WORKING]
    ).values_list(
        "pk", "symbol", "side", "price_1e9", "leaves_qty_1e8", "filled_qty_1e8", "desired_state", "status"
    )
    return [OpenOrder(*row) for row in rows.order_by("pk")]


@dataclass(frozen=True, slots=True)
class LiveOpenOrder:
    """A live order the live edge must send, hold, or cancel (`edges.live_orders`)."""

    pk: int
    client_id: int
    client_order_id: str
    symbol: str
    side: str
    price_1e9: int
    qty_1e8: int
    leaves_qty_1e8: int
    filled_qty_1e8: int
    desired_state: str
    status: str
    venue_order_id: str
    sent_at_ns: int | None  # when the edge claimed it for sending (None: never sent)
    created_at_ns: int


def live_open_orders(*, venue: str) -> list[LiveOpenOrder]:
    """Every non-terminal live order of `venue`, every client (one indexed query per pass)."""
    rows = Order.objects.filter(
        venue=venue, paper=False, status__in=[OrderStatus.NEW, OrderStatus.WORKING]
    ).order_by("pk")
    return [
        LiveOpenOrder(
            pk=o.pk,
            client_id=o.client_id,
            client_order_id=o.client_order_id or "",
            symbol=o.symbol,
            side=o.side,
            price_1e9=o.price_1e9,
            qty_1e8=o.qty_1e8,
            leaves_qty_1e8=o.leaves_qty_1e8,
            filled_qty_1e8=o.filled_qty_1e8,
            desired_state=o.desired_state,
            status=o.status,
            venue_order_id=o.venue_order_id,
            sent_at_ns=int(o.sent_at.timestamp() * 1e9) if o.sent_at else None,
            created_at_ns=int(o.created_at.timestamp() * 1e9),
        )
        for o in rows
    ]


def live_order_ids(*, venue: str, client_id: int, ids: list[str]) -> dict[str, int]:
    """client_order_id or venue_order_id -> order pk, for the ids given (matching venue fills)."""
    out: dict[str, int] = {}
    found = Order.objects.filter(venue=venue, client_id=client_id, paper=False).filter(
        models.Q(client_order_id__in=ids) | models.Q(venue_order_id__in=ids)
    )
    for pk, coid, void in found.values_list("pk", "client_order_id", "venue_order_id"):
        if coid:
            out[coid] = pk
        if void:
            out[void] = pk
    return out


@dataclass(frozen=True, slots=True)
class LiveAlgoOrderRef:
    """Whose a live algo's order is: its deployment (uuid), symbol and the core's order id."""

    deployment_id: Any
    symbol: str
    algo_order_id: int


def live_algo_order_refs(*, pks: list[int]) -> dict[int, LiveAlgoOrderRef]:
    """The live algo orders among `pks` (graph orders are left out)."""
    rows = Order.objects.filter(pk__in=pks, graph__isnull=True, algo_order_id__isnull=False).values_list(
        "pk", "deployment_id", "symbol", "algo_order_id"
    )
    return {pk: LiveAlgoOrderRef(dep, symbol, oid) for pk, dep, symbol, oid in rows if oid is not None}


def live_algo_fills(*, deployment_id: Any, venue: str, symbol: str) -> list[tuple[str, int, int, int]]:
    """(side, price_1e9, qty_1e8, fee_1e9) of every venue fill of a live algo's orders on one
    symbol, oldest first: a live algo's position and PnL are these fills'."""
    return list(
        Fill.objects.filter(order__deployment_id=deployment_id, venue=venue, symbol=symbol, paper=False)
        .order_by("ts_ns", "pk")
        .values_list("side", "price_1e9", "qty_1e8", "fee_1e9")
    )
