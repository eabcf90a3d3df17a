"""/v1/quotes (depth) and the `prices:{symbol}` stream for a synced Kalshi ticker and a synced
Polymarket token, answered from a real `run_edge --feed live` sandbox edge's books on the fake
venues: level for level what the fake venue's book holds, and a change at the venue shows in the
next quote and in the stream (issue 12)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from edges.catalogue import sync_catalogue
from sequence_markets import Sequence
from tests.e2e.conftest import running_daphne
from tests.fakevenues.kalshi import FakeKalshi
from tests.fakevenues.polymarket import FakePolymarket
from tests.trading.prediction_live import (
    KALSHI_SYMBOL,
    KALSHI_TICKER,
    POLY_YES,
    feed_env,
    live_feed_settings,
    quotes_published,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

KALSHI_NO = f"{KALSHI_TICKER}-NO"


@pytest.fixture
def fakes():
    with FakeKalshi() as kalshi, FakePolymarket.from_fixtures() as poly:
        poly.book_gamma_markets()
        yield kalshi, poly


def kalshi_levels(kalshi: FakeKalshi, symbol: str, depth: int) -> tuple[list, list]:
    """The fake's true book of a Kalshi outcome as (price, size) floats: bids are that outcome's
    bids, asks are 1 - the other outcome's bids (Kalshi books hold bids only)."""
    book = kalshi.books[KALSHI_TICKER]
    own, other = (book["yes"], book["no"]) if symbol.endswith("-YES") else (book["no"], book["yes"])
    bids = sorted(own.items(), reverse=True)[:depth]
    asks = sorted(((Decimal(1) - p, q) for p, q in other.items()))[:depth]
    return [(float(p), float(q)) for p, q in bids], [(float(p), float(q)) for p, q in asks]


def poly_levels(poly: FakePolymarket, token: str, depth: int) -> tuple[list, list]:
    book = poly.books[token]
    bids = sorted(((Decimal(p), Decimal(q)) for p, q in book.bids.items()), reverse=True)[:depth]
    asks = sorted((Decimal(p), Decimal(q)) for p, q in book.asks.items())[:depth]
    return [(float(p), float(q)) for p, q in bids], [(float(p), float(q)) for p, q in asks]


def quoted(api, symbol: str, venue: str, depth: int = 5) -> tuple[list, list, dict[str, Any]]:
    status, body = api.get(f"/v1/quotes?symbol={symbol}&venue={venue}&depth={depth}")
    assert status == 200, body
    assert {lv["venue"] for lv in body["bids"] + body["asks"]} == {venue}
    bids = [(lv["price"], lv["size"]) for lv in body["bids"]]
    asks = [(lv["price"], lv["size"]) for lv in body["asks"]]
    return bids, asks, body


def test_quotes_and_the_price_stream_answer_from_the_live_edges_books(
    fakes, settings, prediction_edges, api, sandbox_key
):
    kalshi, poly = fakes
    live_feed_settings(settings, kalshi, poly)
    assert sync_catalogue("kalshi") and sync_catalogue("polymarket")
    env = feed_env(kalshi, poly)
    edge = prediction_edges(env)
    symbols = [("kalshi", KALSHI_SYMBOL), ("kalshi", KALSHI_NO), ("polymarket", POLY_YES)]
    wait_until(quotes_published(True, symbols), timeout=60, what=f"the live books ({edge.output()})")

    # Depth, level for level the fake venues' books (Kalshi's NO side derived from YES bids).
    for symbol in (KALSHI_SYMBOL, KALSHI_NO):
        bids, asks, body = quoted(api, symbol, "kalshi")
        assert (bids, asks) == kalshi_levels(kalshi, symbol, 5), symbol
        assert body["nbbo"]["bid"] == bids[0][0] and body["nbbo"]["ask"] == asks[0][0]
        assert body["instrument_type"] == "prediction" and body["tick_size"] == "0.01"
    bids, asks, body = quoted(api, POLY_YES, "polymarket")
    assert (bids, asks) == poly_levels(poly, POLY_YES, 5)
    assert body["tick_size"] == poly.books[POLY_YES].tick_size
    # a bare spelling of the token works too (the venue is found from the synced catalogue)
    status, plain = api.get(f"/v1/quotes?symbol={POLY_YES}&depth=5")
    assert status == 200 and plain["nbbo"]["venue"] == "polymarket"

    # A change at the venue reaches the next quote: a new Kalshi YES bid, Polymarket's top bid size.
    kalshi.delta(KALSHI_TICKER, "yes", "0.23", "50")
    poly.price_change([(POLY_YES, "BUY", poly.books[POLY_YES].best_bid(), "750")])
    wait_until(
        lambda: (
            quoted(api, KALSHI_SYMBOL, "kalshi")[0][0] == (0.23, 50.0)
            and quoted(api, POLY_YES, "polymarket")[0][0][1] == 750.0
        ),
        timeout=60,
        what="the changed books in /v1/quotes",
    )
    for symbol in (KALSHI_SYMBOL, KALSHI_NO):
        assert quoted(api, symbol, "kalshi")[:2] == kalshi_levels(kalshi, symbol, 5)
    assert quoted(api, POLY_YES, "polymarket")[:2] == poly_levels(poly, POLY_YES, 5)

    # prices:{symbol}: the current book at once, then the venue's next change.
    with running_daphne(env) as url:
        seq = Sequence(sandbox_key.plaintext, url)
        channels = [f"prices:{KALSHI_SYMBOL}", f"prices:{POLY_YES}"]
        first: dict[str, dict[str, Any]] = {}
        changed = False
        for msg in seq.stream(channels, duration_s=60):
            data = msg["data"]
            if msg["channel"] not in first:
                first[msg["channel"]] = data
                if len(first) == 2 and not changed:
                    kalshi.delta(KALSHI_TICKER, "yes", "0.24", "7")
                    changed = True
                continue
            if msg["channel"] == f"prices:{KALSHI_SYMBOL}" and data["bid"] == 0.24:
                assert data["bid_size"] == 7.0 and data["venue"] == "kalshi"
                break
        else:
            raise AssertionError(f"the stream never showed the new bid: {first}")
    k, p = first[f"prices:{KALSHI_SYMBOL}"], first[f"prices:{POLY_YES}"]
    assert (k["bid"], k["bid_size"], k["ask"]) == (
        0.23,
        50.0,
        kalshi_levels(kalshi, KALSHI_SYMBOL, 1)[1][0][0],
    )
    assert (p["bid"], p["bid_size"], p["venue"]) == (
        poly_levels(poly, POLY_YES, 1)[0][0][0],
        750.0,
        "polymarket",
    )
    assert edge.stop() == 0


def test_polymarkets_one_dollar_minimum_on_the_live_book_rests_and_a_dollar_fills(
    fakes, settings, prediction_edges, api
):
    """A graph order on a live-fed Polymarket edge: under $1 it is accepted with a warning and rests
    (dormant) even though it crosses the live ask; $1 or more fills at the live ask; under the
    market's minimum size it is a 400 naming it."""
    from trading.lifecycle import GraphStatus
    from trading.models import Fill, Graph, Order

    kalshi, poly = fakes
    live_feed_settings(settings, kalshi, poly)
    assert sync_catalogue("polymarket")
    edge = prediction_edges(feed_env(kalshi, poly))
    wait_until(
        quotes_published(True, [("polymarket", POLY_YES)]), timeout=60, what=f"the book ({edge.output()})"
    )
    book = poly.books[POLY_YES]
    ask, tick = Decimal(book.best_ask()), Decimal(book.tick_size)
    through = str(ask + tick)  # one tick through the live ask

    def node(node_id: str, qty: str, price: str = through) -> dict[str, Any]:
        return {"node_id": node_id, "symbol": POLY_YES, "venue": "polymarket", "instrument_type": "prediction",
                "side": "buy", "qty": qty, "limit_price": price}  # fmt: skip

    small_qty = str(int(Decimal("0.9") / Decimal(through)))  # just under $1 at that price
    assert Decimal(small_qty) >= Decimal(book.min_order_size)
    status, small = api.post("/v1/graphs", json={"nodes": [node("small", small_qty)]})
    assert status == 201, small
    assert any("$1 minimum" in w and "never fills" in w for w in small["warnings"]), small
    big_qty = str(int(Decimal("1.2") / Decimal(through)) + 1)
    status, big = api.post("/v1/graphs", json={"nodes": [node("big", big_qty)]})
    assert status == 201 and not big.get("warnings"), big
    wait_until(
        lambda: Graph.objects.get(graph_id=big["graph_id"]).status == GraphStatus.COMPLETED,
        timeout=60,
        what=f"the $1+ order to fill on the live book ({edge.output()})",
    )
    (fill,) = Fill.objects.filter(order__graph__graph_id=big["graph_id"])
    assert fill.price_1e9 == int(ask * 10**9) and fill.liquidity == "taker"
    order = wait_until(
        lambda: Order.objects.filter(graph__graph_id=small["graph_id"], dormant=True).first(),
        timeout=60,
        what="the small order to rest, dormant",
    )
    # The book keeps changing at the venue; the dormant order still never fills.
    poly.price_change([(POLY_YES, "SELL", book.best_ask(), "600")])
    wait_until(lambda: quoted(api, POLY_YES, "polymarket")[1][0][1] == 600.0, timeout=60, what="the change")
    assert not Fill.objects.filter(order=order).exists()
    assert Graph.objects.get(graph_id=small["graph_id"]).status == GraphStatus.ACTIVE
    _, detail = api.get(f"/v1/graphs/{small['graph_id']}")
    assert detail["nodes"][0]["dormant"] is True

    # Under the market's minimum size: refused before anything is stored.
    tiny = str(Decimal(book.min_order_size) - 1)
    status, body = api.post("/v1/graphs", json={"nodes": [node("tiny", tiny)]})
    assert status == 400 and "outside polymarket's limits" in body["message"], body
    api.post(f"/v1/graphs/{small['graph_id']}/cancel")
    assert edge.stop() == 0
