"""The same venue fill delivered twice (the venue repeats it on its private stream, and a restarted
edge reads the venue's fill history again) is counted once: one Fill row, the position moved once."""

from __future__ import annotations

import pytest

from tests.live.conftest import fills_of, node_of, order_of, submit
from tests.waiting import wait_until
from trading.models import Fill, Position

pytestmark = pytest.mark.slow


def test_a_repeated_fill_is_counted_once(live_api, venue, live_edge):
    edge = live_edge(venue.name)
    status, out = submit(live_api, venue.node())
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(lambda: order_of(gid).venue_order_id != "", timeout=30, what="the order at the venue")
    assert venue.trade_through(venue.rest_price, "0.01") == 1
    wait_until(lambda: node_of(gid).status == "filled", timeout=30, what="the fill")
    (fill,) = fills_of(gid)

    venue.repeat_last_fill()  # the venue sends it again
    assert edge.stop() == 0
    live_edge(venue.name)  # a fresh process: it reads the venue's fills again at its first pass

    # a later order's acknowledgement is reported after whatever that pass and the repeat reported
    status, out = submit(live_api, venue.node(node_id="later"))
    assert status == 201, out
    later = out["graph_id"]
    wait_until(lambda: order_of(later, "later").venue_order_id != "", timeout=30, what="the later order")

    assert [f.fill_id for f in Fill.objects.filter(venue=venue.name)] == [fill.fill_id]
    pos = Position.objects.get(venue=venue.name, paper=False)
    assert pos.position_1e8 == 1_000_000 and pos.fill_count == 1
    assert order_of(gid).filled_qty_1e8 == 1_000_000 and node_of(gid).filled_qty_1e8 == 1_000_000
