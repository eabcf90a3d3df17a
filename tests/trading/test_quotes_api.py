from __future__ import annotations

import pytest

from venues.instruments import get_market

OKC = "KXNBA-26-OKC-YES"


def test_quote_answers_nbbo_and_depth_as_decimals(api, publish_quote):
    publish_quote("kalshi", OKC, [("0.32", "800"), ("0.31", "500"), ("0.29", "100")],
                  [("0.34", "700"), ("0.35", "300")])  # fmt: skip
    status, body = api.get(f"/v1/quotes?symbol={OKC}&depth=2")
    assert status == 200, body
    nbbo = body["nbbo"]
    assert nbbo["bid"] == 0.32 and nbbo["ask"] == 0.34
    assert nbbo["bid_size"] == 800.0 and nbbo["ask_size"] == 700.0
    assert nbbo["venue"] == "kalshi" and nbbo["mid"] == 0.33
    assert body["bids"] == [
        {"price": 0.32, "size": 800.0, "venue": "kalshi"},
        {"price": 0.31, "size": 500.0, "venue": "kalshi"},
    ]
    assert [lvl["price"] for lvl in body["asks"]] == [0.34, 0.35]
    assert body["instrument_type"] == "prediction" and body["tick_size"] == "0.01"


def test_one_sided_book_has_no_bid(api, publish_quote):
    token = get_market("polymarket", "will-ethereum-reach-10000-in-2026").yes_token_id
    publish_quote("polymarket", token, [], [("0.036", "2500")])
    status, body = api.get(f"/v1/quotes?symbol={token}")
    assert status == 200
    assert body["nbbo"]["bid"] is None and body["nbbo"]["ask"] == 0.036 and body["bids"] == []


def test_spot_nbbo_across_venues(api, publish_quote):
    publish_quote("kraken", "BTC/USD", [("98000.1", "0.5")], [("98000.5", "0.4")])
    publish_quote("coinbase", "BTC/USD", [("98000.2", "0.3")], [("98000.9", "0.2")])
    status, body = api.get("/v1/quotes?symbol=BTC-USD&depth=5")
    assert status == 200
    assert body["symbol"] == "BTC-USD"
    assert body["nbbo"]["bid"] == 98000.2 and body["nbbo"]["bid_venue"] == "coinbase"
    assert body["nbbo"]["ask"] == 98000.5 and body["nbbo"]["ask_venue"] == "kraken"
    assert [lvl["venue"] for lvl in body["bids"]] == ["coinbase", "kraken"]
    status, only = api.get("/v1/quotes?symbol=BTC-USD&venue=kraken")
    assert only["nbbo"]["bid"] == 98000.1


def test_quotes_are_per_mode(api, publish_quote, live_key):
    publish_quote("kalshi", OKC, [("0.32", "1")], [("0.34", "1")], sandbox=True)
    status, body = api.get(f"/v1/quotes?symbol={OKC}", key=live_key.plaintext)
    assert status == 503 and "no live quote" in body["message"]


@pytest.mark.parametrize(
    ("query", "status", "text"),
    [
        ("symbol=NOPE-XYZ-123", 404, "unknown symbol"),
        ("symbol=KXNBA-26-OKC-YES&venue=polymarket", 404, "unknown symbol"),
        ("symbol=BTC-USD&venue=nyse", 400, "unknown venue"),
        ("symbol=KXNBA-26-OKC-YES&depth=0", 400, "depth"),
        ("", 400, "symbol"),
    ],
)
def test_bad_quote_queries(api, query, status, text):
    got, body = api.get(f"/v1/quotes?{query}")
    assert got == status and text in body["message"], body


def test_no_edge_published_is_503(api):
    status, body = api.get(f"/v1/quotes?symbol={OKC}")
    assert status == 503 and body["error"] == "unavailable" and "kalshi" in body["message"]


def test_a_disconnected_edge_s_last_book_is_not_served(api, publish_quote):
    """A dead edge's book stays in Redis; nobody may trade on it."""
    from datetime import timedelta

    from django.utils import timezone

    from edges.models import Edge

    publish_quote("kalshi", OKC, [("0.32", "800")], [("0.34", "700")])
    assert api.get(f"/v1/quotes?symbol={OKC}")[0] == 200
    Edge.objects.filter(venue="kalshi", is_sandbox=True).update(
        last_heartbeat=timezone.now() - timedelta(minutes=1)
    )
    status, body = api.get(f"/v1/quotes?symbol={OKC}")
    assert status == 503 and "no connected kalshi edge" in body["message"]


def test_a_symbol_the_connected_edge_does_not_follow_is_said_so(api, db):
    """A live Kalshi/Polymarket edge follows only the most traded markets: a quote of another one
    says that, not that no edge is connected."""
    from edges import services as edge_services

    edge_services.edge_register(
        edge_id="venue-edge-kalshi",
        venue="kalshi",
        is_sandbox=True,
        symbols=["KXOTHER-YES"],
        algo_capable=False,
    )
    status, body = api.get(f"/v1/quotes?symbol={OKC}")
    assert status == 503 and "does not follow it" in body["message"], body
    edge_services.edge_register(
        edge_id="venue-edge-kalshi", venue="kalshi", is_sandbox=True, symbols=[OKC], algo_capable=False
    )
    status, body = api.get(f"/v1/quotes?symbol={OKC}")
    assert status == 503 and "has published it" in body["message"], body
