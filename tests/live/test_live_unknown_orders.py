"""An order resting at the venue that no order of ours explains (placed by hand on the venue's
site, say) is reported on the connection when the live edge reconciles after its start, and is
neither adopted nor cancelled."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from tests.live.conftest import order_of, submit
from tests.waiting import wait_until
from trading.credentials import order_client
from trading.models import Order
from venues.orders import OrderRequest

pytestmark = pytest.mark.slow


def test_a_venue_order_that_is_not_ours_is_reported_never_adopted(live_api, venue, live_edge):
    by_hand = order_client(venue.name, venue.credentials)
    try:
        placed = by_hand.place(
            OrderRequest(str(uuid.uuid4()), venue.symbol, "buy", Decimal(venue.rest_price), Decimal("0.01"))
        )
    finally:
        by_hand.close()
    live_edge(venue.name)

    def unknown() -> list:
        status, out = live_api.get("/v1/venues")
        assert status == 200, out
        (conn,) = [c for c in out["connections"] if c["venue"] == venue.name]
        return conn["unknown_orders"]

    wait_until(lambda: unknown() != [], timeout=30, what="the unknown order reported")
    (reported,) = unknown()
    assert reported["venue_order_id"] == placed.venue_order_id and reported["side"] == "buy"

    # our own order beside it is ours, and the one placed by hand stays as it was
    status, out = submit(live_api, venue.node(price="2990.00" if venue.name == "kraken" else "59000.00"))
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(lambda: order_of(gid).venue_order_id != "", timeout=30, what="our order at the venue")
    assert sorted(venue.void(o) for o in venue.open_orders()) == sorted(
        [placed.venue_order_id, order_of(gid).venue_order_id]
    )
    assert Order.objects.count() == 1
    assert [o["venue_order_id"] for o in unknown()] == [placed.venue_order_id]
