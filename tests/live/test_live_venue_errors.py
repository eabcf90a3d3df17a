"""The venue's refusals reach the order, the node and the API with what they mean and the venue's
own words: insufficient funds and below the minimum notional, on Kraken and on Coinbase."""

from __future__ import annotations

import pytest

from tests.live.conftest import node, node_of, order_of, submit
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
