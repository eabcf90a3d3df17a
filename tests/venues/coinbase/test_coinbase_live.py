"""The Coinbase protocol run by the shared feed loop (venues.live.connection.FeedThread) against the
fake Coinbase over a real WebSocket: books right, and every fault ends in a right book again,
counted. No timing is asserted: every wait polls a condition with a generous ceiling."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

import pytest

from tests.fakevenues.coinbase import FakeCoinbase
from venues.coinbase.feed import CoinbaseFeed
from venues.instruments import to_price_1e9, to_qty_1e8
from venues.live.connection import Backoff, FeedThread

CEILING = 30.0


def wait_for(pred: Callable[[], object], what: str, timeout: float = CEILING) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def venue() -> Iterator[FakeCoinbase]:
    with FakeCoinbase(heartbeat_interval_s=0.1) as srv:
        yield srv  # type: ignore[misc]


def feed_for(venue: FakeCoinbase, symbols=("BTC/USD",), **kw) -> FeedThread:
    proto = CoinbaseFeed(symbols, ws_url=venue.ws_url)
    if "silence_s" in kw:
        proto.silence_s = kw.pop("silence_s")  # type: ignore[misc]
    return FeedThread(proto, backoff=Backoff(0.02, 0.2, rng=random.Random(3)), **kw)


def bid(feed: FeedThread, symbol: str = "BTC/USD") -> tuple[int, int] | None:
    book = feed.books.latest(symbol)
    return book.best_bid if book is not None else None


def test_subscribe_snapshot_updates_and_nbbo(venue: FakeCoinbase) -> None:
    with feed_for(venue, ("BTC/USD", "BTC/USDC", "XRP/USD")) as feed:
        wait_for(lambda: all(feed.books.latest(s) for s in ("BTC/USD", "BTC/USDC", "XRP/USD")), "snapshots")
        assert venue.received[:2] == [
            {"type": "subscribe", "product_ids": [], "channel": "heartbeats"},
            {"type": "subscribe", "product_ids": ["BTC-USD", "XRP-USD"], "channel": "level2"},
        ]
        xrp = feed.books.latest("XRP/USD")
        assert xrp.best_bid == (to_price_1e9("2.2013"), to_qty_1e8("15000"))
        assert xrp.best_ask == (to_price_1e9("2.2014"), to_qty_1e8("9000"))
        venue.update("BTC-USD", [("bid", "68900.50", "0.25"), ("offer", "68901.00", "0")])
        want = (to_price_1e9("68900.50"), to_qty_1e8("0.25"))
        wait_for(lambda: bid(feed) == want and bid(feed, "BTC/USDC") == want, "the update")
        book = feed.books.latest("BTC/USD")
        assert book.best_ask == (to_price_1e9("68901.50"), to_qty_1e8("1.2"))
        wait_for(lambda: feed.protocol.heartbeat_counter, "a heartbeat")  # type: ignore[attr-defined]
        assert feed.status.reconnects == 0 and feed.status.resyncs == {}


def test_a_sequence_gap_resyncs_and_the_book_is_right_again(venue: FakeCoinbase) -> None:
    with feed_for(venue) as feed:
        wait_for(lambda: bid(feed), "the snapshot")
        venue.skip_sequence()
        venue.update("BTC-USD", [("bid", "68900.00", "7")])  # this update comes after a lost message
        wait_for(lambda: feed.status.resyncs.get("gap") == 1, "the gap resync")
        wait_for(lambda: venue.snapshots_sent.count("BTC-USD") == 2, "a fresh snapshot")
        wait_for(lambda: bid(feed) == (to_price_1e9("68900.00"), to_qty_1e8("7")), "the fresh book")
        assert {"type": "unsubscribe", "product_ids": ["BTC-USD"], "channel": "level2"} in venue.received
        venue.update("BTC-USD", [("bid", "68900.00", "8")])
        wait_for(lambda: bid(feed) == (to_price_1e9("68900.00"), to_qty_1e8("8")), "updates again")
        assert feed.status.reconnects == 0


def test_a_dropped_connection_reconnects_with_a_fresh_snapshot(venue: FakeCoinbase) -> None:
    with feed_for(venue) as feed:
        wait_for(lambda: bid(feed), "the snapshot")
        venue.disconnect_all()
        venue.update("BTC-USD", [("bid", "68900.00", "9")])  # while nobody listens
        wait_for(lambda: feed.status.connects == 2 and feed.status.connected, "the reconnect")
        wait_for(lambda: bid(feed) == (to_price_1e9("68900.00"), to_qty_1e8("9")), "the fresh book")
        assert feed.status.reconnects == 1 and venue.connections == 2


def test_malformed_crossed_and_error_frames_end_in_a_right_book(venue: FakeCoinbase) -> None:
    with feed_for(venue) as feed:
        wait_for(lambda: bid(feed), "the snapshot")
        venue.inject("{not json")
        wait_for(lambda: feed.status.resyncs.get("malformed") == 1, "the malformed resync")
        wait_for(lambda: venue.snapshots_sent.count("BTC-USD") == 2 and bid(feed), "the fresh snapshot")
        venue.update("BTC-USD", [("bid", "68905.00", "1")])  # a bid above the best offer
        # while the venue's book stays crossed every fresh snapshot is crossed too (and after a few
        # the feed reconnects): only that it was seen is certain here
        wait_for(lambda: feed.status.resyncs.get("crossed", 0) >= 1, "the crossed resync")
        right = (to_price_1e9("68900.00"), to_qty_1e8("1.5"))
        published = feed.books.published  # a crossed book is never published: wait for a new one
        venue.update("BTC-USD", [("bid", "68905.00", "0")])  # the venue's book is right again
        wait_for(
            lambda: feed.books.published > published and bid(feed) == right and feed.status.connected,
            "a right book",
        )
        connects, published = feed.status.connects, feed.books.published
        errors_before = len(venue.errors_sent)
        venue_errors = feed.status.reconnect_reasons.get("venue_error", 0)
        venue.send_error("authentication failure")
        wait_for(lambda: feed.status.reconnect_reasons.get("venue_error", 0) > venue_errors, "the reconnect")
        wait_for(lambda: feed.status.connected and feed.status.connects > connects, "connected again")
        # The feed keeps the venue's message. Under load the resubscribes of the crossed phase can
        # also have drawn the fake's "rate limit exceeded" (more than 8 messages a second), so the
        # kept message is one the venue sent, and the authentication failure was sent.
        assert "authentication failure" in venue.errors_sent[errors_before:]
        assert feed.protocol.last_error in venue.errors_sent  # type: ignore[attr-defined]
        # the new connection's snapshot
        wait_for(lambda: feed.books.published > published and bid(feed) == right, "the book after it")
        assert feed.alive


def test_silence_reconnects(venue: FakeCoinbase) -> None:
    with feed_for(venue, silence_s=0.5) as feed:
        wait_for(lambda: bid(feed), "the snapshot")
        venue.set_silent(True)
        wait_for(lambda: feed.status.reconnect_reasons.get("silence"), "the silence watchdog")
        venue.set_silent(False)
        wait_for(lambda: feed.status.connected and feed.status.connects >= 2, "connected again")
        venue.update("BTC-USD", [("bid", "68900.00", "4")])
        wait_for(lambda: bid(feed) == (to_price_1e9("68900.00"), to_qty_1e8("4")), "the book after it")


def test_a_burst_is_coalesced_and_ends_on_the_last_state(venue: FakeCoinbase) -> None:
    with feed_for(venue) as feed:
        wait_for(lambda: bid(feed), "the snapshot")
        feed.books.drain()
        coalesced0 = feed.books.coalesced + feed.protocol.coalesced
        venue.burst("BTC-USD", 500, price="68900.00")
        wait_for(lambda: bid(feed) == (to_price_1e9("68900.00"), to_qty_1e8("500")), "the last update")
        drained = feed.books.drain()
        assert [s for s, _ in drained] == ["BTC/USD"]  # one entry, however many updates
        assert feed.status.frames >= 501 and feed.status.resyncs == {}
        # every update applied; a book built once per read from the socket, not once per frame
        assert 1 <= feed.books.published <= feed.status.frames
        # every state but the last counted as coalesced (in LatestBooks or within a read)
        assert feed.books.coalesced + feed.protocol.coalesced - coalesced0 == 499
