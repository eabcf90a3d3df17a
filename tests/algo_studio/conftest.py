from __future__ import annotations

import base64

import pytest
from django.utils import timezone

from edges.models import Edge
from tests.edges.conftest import market_maker_wasm, scripted_algo  # noqa: F401  (fixture re-export)
from venues.instruments import instruments_for_venue


def _edge(venue: str, *, is_sandbox: bool, connected: bool = True) -> Edge:
    return Edge.objects.create(
        edge_id=f"venue-edge-{venue}",
        venue=venue,
        is_sandbox=is_sandbox,
        algo_capable=venue in ("kraken", "coinbase"),
        symbols=[i.symbol for i in instruments_for_venue(venue)],
        last_heartbeat=timezone.now() if connected else timezone.now() - timezone.timedelta(minutes=5),
    )


@pytest.fixture
def sandbox_edges(db) -> list[Edge]:
    """Connected sandbox edges for kraken and coinbase (spot) and kalshi (not algo-capable)."""
    return [_edge(v, is_sandbox=True) for v in ("kraken", "coinbase", "kalshi")]


@pytest.fixture
def live_edges(db, owner) -> list[Edge]:
    """Connected live edges for kraken and coinbase, and the owner's credentials there (a live
    deployment goes only to venues its client connected; these rows are never opened here)."""
    from trading.models import VenueCredential

    for venue in ("kraken", "coinbase"):
        VenueCredential.objects.create(client=owner, venue=venue, ciphertext=b"", nonce=b"")
    return [_edge(v, is_sandbox=False) for v in ("kraken", "coinbase")]


@pytest.fixture
def wasm() -> bytes:
    return scripted_algo()


@pytest.fixture
def wasm_b64(wasm) -> str:
    return base64.b64encode(wasm).decode()
