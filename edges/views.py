"""The edge registry page: every venue edge of each mode, connected or not, and its heartbeat age."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from edges.models import Edge
from edges.selectors import edge_list
from sequence_site.dashboard import dashboard_view
from sequence_site.scope import Scope


def _edge_view(edge: Edge, now: Any) -> dict[str, Any]:
    age = (now - edge.last_heartbeat).total_seconds() if edge.last_heartbeat else None
    return {
        "edge_id": edge.edge_id,
        "venue": edge.venue,
        "algo_capable": edge.algo_capable,
        "connected": edge.is_connected,
        "heartbeat_age": "never" if age is None else (f"{age:.1f} s" if age < 120 else f"{age / 60:.0f} min"),
        "symbols": edge.symbols,
        "host": edge.host,
        "pid": edge.pid,
        "version": edge.version,
        "started_at": edge.started_at,
        "feed": edge.feed,
        "feed_health": _feed_health(edge),
    }


def _feed_health(edge: Edge) -> str:
    """One line for the page: the live feed's state, message age, reconnects, resyncs, stale books."""
    st = edge.feed_status or {}
    if edge.feed != "live" or not st:
        return "simulated" if edge.feed != "live" else "no report yet"
    age = st.get("last_message_age_s")
    parts = [str(st.get("state", "?"))]
    parts.append("no message yet" if age is None else f"last message {age:.1f} s ago")
    parts.append(f"{st.get('reconnects', 0)} reconnects")
    parts.append(f"{sum((st.get('resyncs') or {}).values())} resnapshots")
    parts.append(f"{st.get('coalesced', 0)} coalesced")
    stale = st.get("stale_symbols") or []
    if stale:
        parts.append("stale: " + ", ".join(stale))
    return " · ".join(parts)


def _context(scope: Scope) -> dict[str, Any]:
    now = timezone.now()
    # The session's mode first: that is where its algos run.
    modes = [scope.is_sandbox, not scope.is_sandbox]
    return {
        "modes": [
            {
                "is_sandbox": is_sandbox,
                "label": "Sandbox" if is_sandbox else "Live",
                "edges": [_edge_view(e, now) for e in edge_list(is_sandbox=is_sandbox)],
            }
            for is_sandbox in modes
        ]
    }


@dashboard_view
def edge_registry(request: HttpRequest) -> HttpResponse:
    return render(request, "edges/list.html", _context(request.client_scope))  # type: ignore[attr-defined]


@require_GET
@dashboard_view
def edge_registry_live(request: HttpRequest) -> HttpResponse:
    return render(request, "edges/_live.html", _context(request.client_scope))  # type: ignore[attr-defined]
