"""GET /v1/edges: the venue edges of the key's mode, with where their market data comes from and
the health of their feed (a live feed's state, last message age, reconnects, resyncs, coalesced
updates and stale books, as the edge last reported it)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema

from edges.selectors import edge_list
from sequence_site.schemas import ErrorOut

router = Router(tags=["edges"])


class EdgeOut(Schema):
    edge_id: str
    venue: str
    mode: str
    connected: bool
    heartbeat_age_s: float | None
    algo_capable: bool
    symbols: list[str]
    feed: str
    feed_status: dict[str, Any]


class EdgeListOut(Schema):
    edges: list[EdgeOut]


@router.get("/edges", response={200: EdgeListOut, 401: ErrorOut}, summary="List venue edges and their feeds")
def list_edges(request: HttpRequest) -> dict[str, Any]:
    scope = request.auth  # type: ignore[attr-defined]
    now = timezone.now()
    return {
        "edges": [
            {
                "edge_id": e.edge_id,
                "venue": e.venue,
                "mode": "sandbox" if e.is_sandbox else "live",
                "connected": e.is_connected,
                "heartbeat_age_s": (now - e.last_heartbeat).total_seconds() if e.last_heartbeat else None,
                "algo_capable": e.algo_capable,
                "symbols": list(e.symbols),
                "feed": e.feed,
                "feed_status": e.feed_status or {},
            }
            for e in edge_list(is_sandbox=scope.is_sandbox)
        ]
    }
