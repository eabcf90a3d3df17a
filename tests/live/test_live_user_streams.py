"""The private user streams in the live edge: with polling set to an hour (and the periodic
reconcile too), a fill still comes back at once, because the venue's private stream (Kraken
`executions`, Coinbase `user`) tells the edge, which then reconciles that client (Coinbase's
channel carries no fill id, so the fill itself is read with `recent_fills()`)."""

from __future__ import annotations

import pytest

from edges.models import Edge
from tests.live.conftest import fills_of, node_of, order_of, submit
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

HOUR = {"LIVE_ORDER_POLL_SECONDS": "3600", "EDGE_RECONCILE_SECONDS": "3600"}


def stream_subscribed(venue) -> bool:
    fake = venue.fake

    async def read() -> bool:
        if venue.name == "kraken":
            return any(acct.key == venue.key for acct in fake.private_subs.values())
        return any(conn.user_key == venue.key for conn in fake.conns.values() if not conn.ws.closed)

    return fake.call(read)


def test_a_fill_arrives_through_the_private_stream_with_polling_off(live_api, venue, live_edge):
    live_edge(venue.name, env=HOUR)
    wait_until(lambda: stream_subscribed(venue), timeout=30, what="the private stream subscribed")
    # the edge's report says so (counts only)
    wait_until(
        lambda: (
            (Edge.objects.get(venue=venue.name, is_sandbox=False).feed_status.get("user_streams") or {}).get(
                "connected"
            )
            == 1
        ),
        timeout=30,
        what="the stream in the edge's report",
    )
    status, out = submit(live_api, venue.node())  # sent on the submit's nudge
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(lambda: order_of(gid).venue_order_id != "", timeout=30, what="the order at the venue")

    assert venue.trade_through(venue.rest_price, "0.01") == 1
    wait_until(lambda: node_of(gid).status == "filled", timeout=30, what="the fill through the stream")
    (fill,) = fills_of(gid)
    assert fill.qty_1e8 == 1_000_000 and fill.liquidity == "maker"
