"""A sandbox key never reaches a live connector: it cannot connect a venue, its graphs paper-trade
whatever `sandbox` says, and its kill switch calls no venue, all while a live edge runs for the
venue. Asserted at the fakes: no request of any kind reached their private endpoints until a
live key's order did."""

from __future__ import annotations

import pytest

from edges import services as edge_services
from tests.conftest import ApiCaller
from tests.live.conftest import node, order_of, submit
from tests.waiting import wait_until
from trading.models import Order

pytestmark = pytest.mark.slow


def private_requests(kraken, coinbase) -> list:
    async def k():
        return list(kraken.private_calls)

    async def c():
        return [r for r in coinbase.http_requests if "/market/" not in r[1]]

    return kraken.call(k) + coinbase.call(c)


def test_a_sandbox_key_never_reaches_a_live_connector(
    client, sandbox_key, live_api, kraken, coinbase, live_edge
):
    live_edge("kraken", "coinbase")
    for v in ("kraken", "coinbase"):  # a sandbox edge row, so paper graphs are accepted
        edge_services.edge_register(
            edge_id=f"venue-edge-{v}", venue=v, is_sandbox=True, symbols=[], algo_capable=True
        )
    sandbox = ApiCaller(client, sandbox_key.plaintext)
    key, secret = kraken.add_account({"USD": "1000"})

    status, out = sandbox.post(
        "/v1/venues/kraken/connect", json={"credentials": {"api_key": key, "api_secret": secret}}
    )
    assert status == 403 and out["error"] == "live_key_required", out
    for venue, price in (("kraken", "3000.00"), ("coinbase", "60000.00")):
        symbol = "ETH/USD" if venue == "kraken" else "BTC/USD"
        status, out = submit(sandbox, node(venue, symbol, "buy", "0.01", price), sandbox=False)
        assert status == 201 and out["sandbox"] is True, out  # paper, whatever it asked
        order = order_of(out["graph_id"])
        assert order.paper and order.client_order_id is None
    status, out = sandbox.post("/v1/kill")
    assert status == 200 and out["venues"] == [], out
    assert private_requests(kraken, coinbase) == []

    # the live key's order is the first request the venue gets from us; when it has arrived, the
    # edge has run passes after every sandbox request above
    status, out = live_api.post(
        "/v1/venues/kraken/connect", json={"credentials": {"api_key": key, "api_secret": secret}}
    )
    assert status == 201, out
    status, out = submit(live_api, node("kraken", "ETH/USD", "buy", "0.01", "3000.00"))
    assert status == 201, out
    wait_until(lambda: order_of(out["graph_id"]).venue_order_id != "", timeout=30, what="the live order sent")
    added = [c for c in private_requests(kraken, coinbase) if c[0] == "AddOrder"]
    assert len(added) == 1
    assert Order.objects.filter(paper=False).count() == 1
    assert not [r for r in coinbase.http_requests if "/market/" not in r[1]]
