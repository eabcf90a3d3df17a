"""The kill switch with resting live orders at both fake venues: `POST /v1/kill` answers what it
cancelled per venue, the fakes hold no open order of the client afterwards, the graphs are
stopped and their orders end cancelled."""

from __future__ import annotations

import pytest

from tests.live.conftest import Venue, submit
from tests.waiting import wait_until
from trading.models import Order

pytestmark = pytest.mark.slow


def test_kill_cancels_everything_at_every_venue(live_api, kraken, coinbase, connect, live_edge):
    k = Venue("kraken", kraken, connect)
    c = Venue("coinbase", coinbase, connect)
    # the edge acts on nudges and its venues' private streams only: the kill's own venue calls
    # are then what cancels (the edge is nudged after them), so its answer is exact
    live_edge("kraken", "coinbase", env={"LIVE_ORDER_POLL_SECONDS": "3600", "EDGE_RECONCILE_SECONDS": "3600"})
    graphs = []
    for nodes in (
        [k.node()],
        [c.node()],
        [k.node(node_id="k2", price="2990.00"), c.node(node_id="c2", price="59000.00")],
    ):
        status, out = submit(live_api, *nodes)
        assert status == 201, out
        graphs.append(out["graph_id"])
    wait_until(
        lambda: len(k.open_orders()) == 2 and len(c.open_orders()) == 2,
        timeout=30,
        what="four resting orders",
    )
    wait_until(
        lambda: not Order.objects.filter(paper=False, venue_order_id="").exists(),
        timeout=30,
        what="their venue ids recorded",
    )
    kraken_ids = sorted(k.void(o) for o in k.open_orders())
    coinbase_ids = sorted(c.void(o) for o in c.open_orders())

    status, out = live_api.post("/v1/kill")
    assert status == 200, out
    assert sorted(out["graphs_cancelled"]) == sorted(graphs)
    by_venue = {v["venue"]: v for v in out["venues"]}
    assert sorted(by_venue["kraken"]["cancelled"]) == kraken_ids and by_venue["kraken"]["error"] is None
    assert sorted(by_venue["coinbase"]["cancelled"]) == coinbase_ids and by_venue["coinbase"]["error"] is None
    assert k.open_orders() == [] and c.open_orders() == []

    for gid in graphs:
        status, got = live_api.get(f"/v1/graphs/{gid}")
        assert got["status"] == "cancelled", got
    wait_until(
        lambda: set(Order.objects.filter(paper=False).values_list("status", flat=True)) == {"cancelled"},
        timeout=30,
        what="every live order cancelled",
    )
    # nothing was placed again after the kill
    assert k.sends() == 2 and c.sends() == 2 and k.open_orders() == [] and c.open_orders() == []
