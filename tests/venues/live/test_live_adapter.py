"""LiveVenueAdapter on the fake Kraken: the venue's rules from AssetPairs, books drained from the
feed, and paper fills against the live book through the simulator's order half."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from tests.fakevenues.kraken import KrakenFake
from tests.waiting import wait_until
from venues.adapter import VenueAdapter
from venues.instruments import to_price_1e9, to_qty_1e8
from venues.live.adapter import LiveVenueAdapter
from venues.live.connection import Backoff
from venues.live.factory import FeedConfig
from venues.matching import BUY, REJECT_BAD_PRICE, REJECT_BAD_QTY


@pytest.fixture
def fake() -> Iterator[KrakenFake]:
    with KrakenFake(heartbeat_s=0.05) as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def adapter(fake: KrakenFake) -> Iterator[LiveVenueAdapter]:
    ad = LiveVenueAdapter(
        "kraken",
        FeedConfig(ws_url=fake.ws_url, rest_url=fake.url),
        symbols=["BTC-USD"],
        backoff=Backoff(0.02, 0.2, rng=random.Random(1)),
    )
    yield ad
    ad.close()


def test_rules_books_and_paper_fills(fake: KrakenFake, adapter: LiveVenueAdapter) -> None:
    assert isinstance(adapter, VenueAdapter)
    inst = adapter.instrument("BTC/USD")
    assert inst.tick_1e9 == to_price_1e9("0.1") and inst.min_qty_1e8 == to_qty_1e8("0.0001")
    with pytest.raises(KeyError):
        adapter.subscribe(["DOGE/USD"])
    got = wait_until(lambda: adapter.poll(time.time_ns()), what="the first book")
    sym, snap = got[0]
    assert sym == "BTC/USD" and snap.ask_px == to_price_1e9("29430.3")
    assert adapter.book("BTC-USD") is snap and adapter.next_ts() is None
    assert adapter.wakeup.is_set()

    fills = []
    adapter.set_fill_callback(lambda account, symbol, fill: fills.append((account, symbol, fill)))
    # off the 0.1 tick, under the 0.0001 minimum: refused by Kraken's own rules
    assert adapter.submit("BTC/USD", BUY, to_price_1e9("29430.35"), 10_000, 1).reason == REJECT_BAD_PRICE
    assert adapter.submit("BTC/USD", BUY, to_price_1e9("29430.3"), 100, 2).reason == REJECT_BAD_QTY
    # a crossing buy fills at once against the live ask
    res = adapter.submit("BTC/USD", BUY, to_price_1e9("29430.3"), to_qty_1e8("0.01"), 3)
    assert res.accepted and fills and fills[0][2].price_1e9 == to_price_1e9("29430.3")
    # a resting bid fills when the live book comes to it
    adapter.submit("BTC/USD", BUY, to_price_1e9("29420.0"), to_qty_1e8("0.01"), 4, account="b")
    fake.update(
        "BTC/USD",
        asks=[("29420.0", "0.5")],
        bids=[
            ("29430.2", "0"),
            ("29429.6", "0"),
            ("29427.4", "0"),
            ("29426.7", "0"),
            ("29425.7", "0"),
            ("29423.5", "0"),
            ("29422.1", "0"),
            ("29421.8", "0"),
            ("29421.7", "0"),
            ("29421.5", "0"),
        ],
    )
    wait_until(
        lambda: adapter.poll(time.time_ns()) and any(a == "b" for a, _, _ in fills), what="the resting fill"
    )

    status = adapter.feed_status()
    assert status["feed"] == "live" and status["state"] == "connected" and status["stale_symbols"] == []


def test_subscribe_more_later(fake: KrakenFake, adapter: LiveVenueAdapter) -> None:
    wait_until(lambda: adapter.book("BTC/USD"), what="BTC/USD")
    adapter.subscribe(["ETH/USD"])
    wait_until(
        lambda: (adapter.poll(time.time_ns()), adapter.book("ETH/USD"))[1], what="ETH/USD after resubscribing"
    )
    assert adapter.symbols == ["BTC/USD", "ETH/USD"]


def test_a_consumer_takes_the_books_in_the_feed_thread_or_leaves_them_to_the_loop(
    fake: KrakenFake, adapter: LiveVenueAdapter
) -> None:
    wait_until(lambda: adapter.poll(time.time_ns()), what="the first book")
    took: list[tuple[str, str, int]] = []
    busy = threading.Event()  # the edge's loop holds the workers: the consumer declines

    def consumer() -> bool:
        if busy.is_set():
            return False
        took.extend((threading.current_thread().name, s, b.bid_qty) for s, b in adapter.poll(time.time_ns()))
        return True

    adapter.set_consumer(consumer)
    adapter.wakeup.clear()
    bid = max(fake.pairs["BTC/USD"].bids)
    fake.update("BTC/USD", bids=[(str(bid), "3.5")])
    wait_until(lambda: took, what="the consumer's book")
    assert took == [("feed-kraken", "BTC/USD", to_qty_1e8("3.5"))]  # in the feed's own thread
    assert not adapter.wakeup.is_set()  # nobody else was woken

    busy.set()
    fake.update("BTC/USD", bids=[(str(bid), "4.5")])
    wait_until(adapter.wakeup.is_set, what="the loop's wakeup")
    assert len(took) == 1
    # the book waits, coalesced, for the loop's own poll
    assert [(s, b.bid_qty) for s, b in adapter.poll(time.time_ns())] == [("BTC/USD", to_qty_1e8("4.5"))]
