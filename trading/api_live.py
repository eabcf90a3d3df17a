"""Live trading: venue connections (/v1/venues), risk limits (/v1/venues/{venue}/limits) and the
kill switch (/v1/kill). Thin: parse, call a service (trading.credentials, trading.risk,
trading.services), shape the answer. Credentials go in and never come out."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from sequence_site.schemas import ErrorOut
from sequence_site.scope import Scope
from trading import credentials, risk, services
from trading.models import VenueCredential

router = Router(tags=["live trading"])
ERRORS: dict[int, type] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
    503: ErrorOut,
}


class ConnectIn(Schema):
    credentials: dict[str, str] = Field(description="the venue's fields (venues.orders.CREDENTIAL_FIELDS)")
    label: str = ""


class LimitsIn(Schema):
    max_order_notional: str | float | int | None = None
    max_position_notional: str | float | int | None = None
    max_open_orders: int | None = None
    max_orders_per_second: int | None = None
    daily_loss_limit: str | float | int | None = None


def _scope(request: HttpRequest) -> Scope:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def connection_out(cred: VenueCredential) -> dict[str, Any]:
    """What anyone may see of a connection: never the credentials."""
    return {
        "venue": cred.venue,
        "label": cred.label,
        "fields": cred.field_names,
        "created_at": cred.created_at,
        "last_verified_at": cred.last_verified_at,
        "unknown_orders": cred.unknown_orders,
        "reconciled_at": cred.reconciled_at,
    }


@router.post("/venues/{venue}/connect", response={201: dict, **ERRORS}, summary="Connect a venue")
def connect_venue(request: HttpRequest, venue: str, payload: ConnectIn) -> Status:
    """Store the client's API credentials for a venue after checking them with the venue at once
    (an authenticated balances read). Live keys only. The credentials are never returned."""
    done = credentials.venue_connect(
        scope=_scope(request), venue=venue, credentials=payload.credentials, label=payload.label
    )
    return Status(201, {**connection_out(done.credential), "balances": done.balances})


@router.get("/venues", response={200: dict, **ERRORS}, summary="List venue connections")
def list_connections(request: HttpRequest) -> dict[str, Any]:
    """The client's connections (never the credentials), and which fields each venue needs."""
    rows = credentials.venue_connection_list(scope=_scope(request))
    return {"connections": [connection_out(c) for c in rows], "venues": credentials.venue_fields()}


@router.delete("/venues/{venue}", response={200: dict, **ERRORS}, summary="Disconnect a venue")
def disconnect_venue(request: HttpRequest, venue: str) -> dict[str, Any]:
    credentials.venue_disconnect(scope=_scope(request), venue=venue)
    return {"venue": venue.strip().lower(), "disconnected": True}


@router.get("/venues/{venue}/limits", response={200: dict, **ERRORS}, summary="Risk limits at a venue")
def get_limits(request: HttpRequest, venue: str) -> dict[str, Any]:
    return risk.venue_limits_get(scope=_scope(request), venue=venue)


@router.patch("/venues/{venue}/limits", response={200: dict, **ERRORS}, summary="Set risk limits at a venue")
def set_limits(request: HttpRequest, venue: str, payload: LimitsIn) -> dict[str, Any]:
    """Only the fields sent change; ``null`` puts a limit back to its default."""
    return risk.venue_limits_set(
        scope=_scope(request), venue=venue, changes=payload.model_dump(exclude_unset=True)
    )


@router.post("/kill", response={200: dict, **ERRORS}, summary="Kill switch")
def kill(request: HttpRequest) -> dict[str, Any]:
    """Cancel every open live order of the client at every connected venue, and stop its live
    graphs and algos (a sandbox key: its sandbox graphs and algos, no venue is called)."""
    result = services.kill_switch(scope=_scope(request))
    return {
        "graphs_cancelled": result.graphs_cancelled,
        "algos_stopped": result.algos_stopped,
        "venues": result.venues,
    }
