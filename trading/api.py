"""Markets, quotes, execution graphs, fills and positions: /v1/markets, /v1/quotes, /v1/graphs,
/v1/fills, /v1/positions. Thin: parse, fetch through a selector (client and mode), call a service."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from sequence_site.schemas import ErrorOut
from sequence_site.scope import Scope
from trading import selectors, services
from trading.schemas import GraphCancelledOut, GraphIn, GraphSubmittedOut

router = Router(tags=["trading"])
ERRORS: dict[int, type] = {
    400: ErrorOut,
    401: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
    503: ErrorOut,
}


def _scope(request: HttpRequest) -> Scope:
    return request.auth  # type: ignore[attr-defined,no-any-return]


@router.get("/markets", summary="List markets of a venue")
def list_markets(
    request: HttpRequest,
    venue: str,
    limit: int = Query(50, ge=1, le=1000),
    order: str | None = None,
    active: bool | None = None,
    expand: str | None = None,
) -> dict[str, Any]:
    """Prediction venues (kalshi, polymarket): one row per market, ``expand=outcomes`` flattens
    multi-outcome Polymarket events into one row per outcome. Spot venues: their pairs. A venue whose
    feed is live answers from its real catalogue as last synced (503 until the first sync)."""
    rows = selectors.market_list(venue=venue, limit=limit, order=order, active=active, expand=expand)
    return {"venue": venue.lower(), "count": len(rows), "markets": rows}


@router.get(
    "/quotes",
    response={200: dict[str, Any], 404: ErrorOut, 503: ErrorOut},
    summary="NBBO and book levels of a symbol",
)
def get_quote(
    request: HttpRequest,
    symbol: str,
    depth: int = Query(5, ge=1, le=50),
    venue: str | None = None,
) -> dict[str, Any]:
    """From the edges' live books in the key's mode; 404 for a symbol no venue lists, 503 when no
    edge has published the symbol."""
    return selectors.quote_get(scope=_scope(request), symbol=symbol, depth=depth, venue=venue)


@router.post("/graphs", response={201: GraphSubmittedOut, **ERRORS}, summary="Submit an execution graph")
def submit_graph(request: HttpRequest, payload: GraphIn) -> Status:
    submitted = services.graph_submit(
        scope=_scope(request), nodes=payload.nodes, edges=payload.edges, sandbox=payload.sandbox
    )
    graph = submitted.graph
    return Status(
        201,
        {
            "graph_id": graph.graph_id,
            "status": graph.status,
            "node_count": graph.node_count,
            "edge_count": graph.edge_count,
            "sandbox": graph.paper,
            "warnings": submitted.warnings,
        },
    )


@router.get("/graphs", summary="Recent graphs")
def list_graphs(request: HttpRequest, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    graphs = selectors.graph_list(scope=_scope(request), limit=limit)
    return {
        "graphs": [
            {
                "graph_id": g.graph_id,
                "status": g.status,
                "node_count": g.node_count,
                "edge_count": g.edge_count,
                "sandbox": g.paper,
                "created_at": g.created_at,
            }
            for g in graphs
        ]
    }


@router.get("/graphs/{graph_id}", summary="Status of a graph and its nodes")
def get_graph(request: HttpRequest, graph_id: str) -> dict[str, Any]:
    return selectors.graph_detail(graph=selectors.graph_get(scope=_scope(request), graph_id=graph_id))


def _cancel(request: HttpRequest, graph_id: str) -> dict[str, Any]:
    graph = services.graph_cancel(graph=selectors.graph_get(scope=_scope(request), graph_id=graph_id))
    return {"graph_id": graph.graph_id, "status": graph.status}


@router.post(
    "/graphs/{graph_id}/cancel", response={200: GraphCancelledOut, **ERRORS}, summary="Cancel a graph"
)
def cancel_graph(request: HttpRequest, graph_id: str) -> dict[str, Any]:
    return _cancel(request, graph_id)


@router.delete("/graphs/{graph_id}", response={200: GraphCancelledOut, **ERRORS}, summary="Cancel a graph")
def delete_graph(request: HttpRequest, graph_id: str) -> dict[str, Any]:
    return _cancel(request, graph_id)


@router.get("/fills", response={200: dict[str, Any], 404: ErrorOut}, summary="Recent fills, newest first")
def list_fills(
    request: HttpRequest, symbol: str | None = None, limit: int = Query(50, ge=1, le=1000)
) -> dict[str, Any]:
    return {"fills": selectors.fill_list(scope=_scope(request), symbol=symbol, limit=limit)}


@router.get("/positions", summary="Net positions per venue and symbol")
def list_positions(request: HttpRequest) -> dict[str, Any]:
    return {"positions": selectors.position_list(scope=_scope(request))}
