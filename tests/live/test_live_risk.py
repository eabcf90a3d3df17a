"""Each risk rule refuses a live order through the API with its 422, naming the rule, the limit and
the figure, and nothing of the refused graph reaches the venue (counted at the fake)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.live.conftest import node_of, order_of, submit
from tests.waiting import wait_until
from trading.models import Fill, Graph

pytestmark = pytest.mark.slow


def refused(api, venue, *nodes, rule: str, limit: str, value: str) -> None:
    graphs, sends = Graph.objects.count(), venue.sends()
    status, out = submit(api, *nodes)
    assert status == 422 and out["error"] == "risk_limit", out
    assert out["details"]["rule"] == rule and out["details"]["venue"] == venue.name, out
    assert (out["details"]["limit"], out["details"]["value"]) == (limit, value), out
    assert rule in out["message"] and limit in out["message"] and value in out["message"], out
    assert Graph.objects.count() == graphs  # nothing stored, so nothing for the edge to send
    assert venue.sends() == sends


def limits(api, venue, **changes) -> None:
    status, out = api.patch(f"/v1/venues/{venue.name}/limits", json=changes)
    assert status == 200, out


def test_every_risk_rule_refuses_with_its_422_and_nothing_reaches_the_venue(live_api, venue, live_edge):
    live_edge(venue.name)
    v = venue
    # first, while no live order exists (the figure counts the orders of the last second)
    limits(live_api, v, max_orders_per_second=0)
    refused(live_api, v, v.node(), rule="max_orders_per_second", limit="0", value="1")
    limits(live_api, v, max_orders_per_second=None)

    # a resting order that is allowed: it reaches the venue (one send)
    status, out = submit(live_api, v.node())
    assert status == 201, out
    first = out["graph_id"]
    wait_until(lambda: order_of(first).venue_order_id != "", timeout=30, what="the allowed order")
    assert v.sends() == 1

    limits(live_api, v, max_order_notional="20")
    notional = "30.00" if v.name == "kraken" else "600.00"
    refused(live_api, v, v.node(), rule="max_order_notional", limit="20.00", value=notional)
    limits(live_api, v, max_order_notional=None)

    limits(live_api, v, max_position_notional="50")  # 0.01 open + 0.01 more
    refused(
        live_api,
        v,
        v.node(),
        rule="max_position_notional",
        limit="50.00",
        value="60.00" if v.name == "kraken" else "1200.00",
    )
    limits(live_api, v, max_position_notional=None)

    limits(live_api, v, max_open_orders=1)  # the resting one is open
    refused(live_api, v, v.node(), rule="max_open_orders", limit="1", value="2")
    limits(live_api, v, max_open_orders=None)

    # a realized loss today: a crossing buy takes the ask, a crossing sell the bid below it
    for side, price in (
        ("buy", "3500.00" if v.name == "kraken" else "70000.00"),
        ("sell", v.cross_sell_price),
    ):
        status, out = submit(live_api, v.node(side, price=price, node_id=side))
        assert status == 201, out
        gid = out["graph_id"]
        wait_until(
            lambda g=gid, s=side: node_of(g, s).status == "filled", timeout=30, what=f"the crossing {side}"
        )
    fills = Fill.objects.filter(venue=v.name, paper=False)
    assert fills.count() == 2
    loss = -(sum(f.realized_1e9 for f in fills) - sum(f.fee_1e9 for f in fills))
    assert loss > 0
    limits(live_api, v, daily_loss_limit="0.01")
    figure = str((Decimal(loss) / 10**9).quantize(Decimal("0.01")))
    refused(live_api, v, v.node(), rule="daily_loss_limit", limit="0.01", value=figure)
