"""A fill that reaches the venue between the edge's read of the fills and its cancel (the cancel
crossed the fill on the way) is still counted: the order ended by our cancel stays watched for its
late fills, and the position moves. Coinbase's private stream carries no fill id, so its fills come
only through `recent_fills()`; here the private stream is down (polling only, as for a venue
without one), so nothing but the edge's reads of the fills can bring this one back."""

from __future__ import annotations

import pytest

from tests.live.conftest import Venue, order_of, submit
from tests.waiting import wait_until
from trading.models import Fill, Position

pytestmark = pytest.mark.slow


def test_a_fill_that_crossed_the_cancel_is_counted(live_api, coinbase, connect, live_edge):
    c = Venue("coinbase", coinbase, connect)
    # the private stream cannot connect (nothing listens there): the passes every 0.3 s only
    live_edge("coinbase", env={"VENUE_ORDERS_COINBASE_WS_URL": "ws://127.0.0.1:9/"})
    status, out = submit(live_api, c.node(qty="0.01"))
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(lambda: order_of(gid).venue_order_id != "", timeout=30, what="the order at the venue")

    # half of it fills at the venue right before our cancel gets there
    coinbase.trade_before_next_cancel("BTC-USD", "SELL", c.rest_price, "0.005")
    status, out = live_api.post(f"/v1/graphs/{gid}/cancel")
    assert status == 200, out
    wait_until(lambda: order_of(gid).status == "cancelled", timeout=30, what="the order cancelled")
    wait_until(
        lambda: Fill.objects.filter(order__graph__graph_id=gid).exists(),
        timeout=30,
        what="the fill that crossed the cancel",
    )
    (fill,) = Fill.objects.filter(order__graph__graph_id=gid)
    assert fill.qty_1e8 == 500_000
    assert order_of(gid).filled_qty_1e8 == 500_000
    pos = Position.objects.get(venue="coinbase", paper=False)
    assert pos.position_1e8 == 500_000 and pos.fill_count == 1
