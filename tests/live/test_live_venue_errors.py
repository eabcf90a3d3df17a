"""The venue's refusals reach the order, the node and the API with what they mean and the venue's
own words: insufficient funds and below the minimum notional, on Kraken and on Coinbase."""

from __future__ import annotations

import pytest

from tests.live.conftest import kraken_orders, node, node_of, order_of, submit
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

# per venue: (symbol, an order too big for the account, an order below the minimum notional, the
# venue's words for each)
CASES = {
    "kraken": (
        "ETH/USD",
        ("4", "3000.00"),
        ("0.002", "100.00"),
        "EOrder:Insufficient funds",
        "EOrder:Cost minimum not met",
    ),
    "coinbase": (
        "BTC/USD",
        ("0.2", "60000.00"),
        ("0.00001", "60000.00"),
        "Insufficient balance in source account",
        "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
    ),
}


def test_insufficient_funds_and_min_notional_end_to_end(live_api, venue, live_edge):
    symbol, big, tiny, funds_words, minimum_words = CASES[venue.name]
    live_edge(venue.name)
    # the account holds 10000 USD: our risk limits raised above that, so the venue is the one to refuse
    status, out = live_api.patch(
        f"/v1/venues/{venue.name}/limits",
        json={"max_order_notional": "50000", "max_position_notional": "50000"},
    )
    assert status == 200, out
    for (qty, price), code, words in (
        (big, "insufficient_funds", funds_words),
        (tiny, "below_minimum", minimum_words),
    ):
        status, out = submit(live_api, node(venue.name, symbol, "buy", qty, price))
        assert status == 201, out
        gid = out["graph_id"]
        wait_until(lambda g=gid: node_of(g).status == "rejected", timeout=30, what=f"the {code} refusal")
        order = order_of(gid)
        assert order.status == "rejected" and order.error_code == code, order.reject_reason
        assert words in order.venue_message and words in order.reject_reason
        status, got = live_api.get(f"/v1/graphs/{gid}")
        assert got["status"] == "failed", got
        (n,) = got["nodes"]
        assert n["status"] == "rejected" and n["order_status"] == "rejected"
        assert n["error_code"] == code and words in n["venue_message"] and words in n["reason"], n
    assert venue.open_orders() == []


def test_credentials_revoked_at_the_venue_reject_the_unsent_order_with_its_words(live_api, venue, live_edge):
    live_edge(venue.name)

    async def revoke() -> None:  # the key is deleted at the venue after it was connected
        if venue.name == "kraken":
            venue.fake.accounts.pop(venue.key)
        else:
            venue.fake.keys.pop(venue.key)

    venue.fake.call(revoke)
    sends = venue.sends()
    status, out = submit(live_api, venue.node())
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(lambda: node_of(gid).status == "rejected", timeout=30, what="the auth refusal on the order")
    order = order_of(gid)
    assert order.error_code == "auth_failed" and order.sent_at is None
    words = "EAPI:Invalid key" if venue.name == "kraken" else "HTTP 401"
    assert words in order.venue_message and f"sequence connect {venue.name}" in order.reject_reason
    assert venue.sends() == sends and venue.all_orders() == []


def test_kraken_rate_limit_on_the_order_and_on_the_read_after_it(live_api, kraken, connect, live_edge):
    """`EAPI:Rate limit exceeded` on AddOrder rejects the order with `rate_limited` and Kraken's
    words; the same answer to the state read that follows a placed order leaves that order working
    (it rests at Kraken: it was never a refusal)."""
    key = connect("kraken", {"USD": "10000"})
    live_edge("kraken")
    kraken.refuse_next("EAPI:Rate limit exceeded", method="AddOrder")
    status, out = submit(live_api, node("kraken", "ETH/USD", "buy", "0.01", "3000.00"))
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(lambda: node_of(gid).status == "rejected", timeout=30, what="the rate-limit refusal")
    order = order_of(gid)
    assert order.error_code == "rate_limited" and order.venue_message == "EAPI:Rate limit exceeded"

    kraken.refuse_next("EAPI:Rate limit exceeded", method="QueryOrders")
    status, out = submit(live_api, node("kraken", "ETH/USD", "buy", "0.01", "3000.00"))
    assert status == 201, out
    placed = out["graph_id"]
    wait_until(lambda: order_of(placed).venue_order_id != "", timeout=30, what="the placed order's id")
    (resting,) = kraken_orders(kraken, key)
    assert order_of(placed).venue_order_id == resting.txid and order_of(placed).status == "working"
