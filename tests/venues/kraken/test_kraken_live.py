"""The Kraken feed end to end: FeedThread + KrakenBookProtocol (built by the factory from AssetPairs)
against the fake Kraken on 127.0.0.1, with every injected fault ending in a correct book again."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from tests.fakevenues.kraken import KrakenFake
from venues.live.connection import Backoff, FeedThread
from venues.live.factory import FeedConfig, build_protocol

CEILING = 30.0


def wait_for(pred: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + CEILING
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fake() -> Iterator[KrakenFake]:
    with KrakenFake(heartbeat_s=0.05) as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def feed(fake: KrakenFake) -> Iterator[FeedThread]:
    proto = build_protocol(
        "kraken", ["BTC/USD", "ETH/USD"], FeedConfig(ws_url=fake.ws_url, rest_url=fake.url, silence_s=2.0)
    )
    with FeedThread(proto, backoff=Backoff(0.02, 0.2, rng=random.Random(5))) as f:
        wait_for(lambda: f.books.latest("BTC/USD") and f.books.latest("ETH/USD"), "both snapshots")
        yield f


def fake_top(fake: KrakenFake, sym: str):
    """The fake's own top 10, in ABI units, for comparison with the client's book."""
    bids, asks = fake.pairs[sym].top(10)
    conv = lambda lv: tuple((int(p * 10**9), int(q * 10**8)) for p, q in lv)  # noqa: E731
    return conv(bids), conv(asks)


def client_top(feed: FeedThread, sym: str):
    b = feed.books.latest(sym)
    return (b.bids, b.asks) if b is not None else None


def test_subscribes_and_follows_the_real_capture(fake: KrakenFake, feed: FeedThread) -> None:
    assert [m["method"] for m in fake.received if isinstance(m, dict)] == ["subscribe"]
    assert fake.received[0]["params"] == {
        "channel": "book",
        "symbol": ["BTC/USD", "ETH/USD"],
        "depth": 10,
        "snapshot": True,
    }
    assert ("GET", "/0/public/AssetPairs") in fake.http_requests
    assert fake.play_capture(509) == 509
    wait_for(lambda: client_top(feed, "BTC/USD") == fake_top(fake, "BTC/USD"), "the end of the capture")
    assert feed.status.resyncs == {} and feed.status.reconnects == 0
    assert feed.status.books >= 511
    # the fake's checksums are the capture's own, line for line: its book and formatting are Kraken's
    assert fake.capture_checksums_rewritten == 0


def test_the_capture_after_a_change_to_the_book_carries_the_fakes_own_checksum(
    fake: KrakenFake, feed: FeedThread
) -> None:
    # A test changes the book, then plays the capture on: Kraken's checksum is always of its own book,
    # so the fake sends its own (not the capture's, which is of another book now) and nothing resyncs.
    fake.play_capture(20)
    wait_for(lambda: client_top(feed, "BTC/USD") == fake_top(fake, "BTC/USD"), "the capture's start")
    bids, _ = fake.pairs["BTC/USD"].top(1)
    px, qty = bids[0]
    fake.update("BTC/USD", bids=[(str(px), str(qty + 1))])
    assert fake.play_capture(100) == 100
    wait_for(lambda: client_top(feed, "BTC/USD") == fake_top(fake, "BTC/USD"), "the capture played on")
    assert feed.status.resyncs == {} and feed.status.reconnects == 0
    assert fake.capture_checksums_rewritten > 0


def test_a_bad_checksum_resubscribes_and_heals(fake: KrakenFake, feed: FeedThread) -> None:
    fake.play_capture(50)
    fake.corrupt_next_checksum("BTC/USD")
    fake.play_capture(1)
    wait_for(lambda: feed.status.resyncs.get("checksum") == 1, "the checksum resync")
    wait_for(
        lambda: (
            fake.subscribed("BTC/USD") == 1
            and any(isinstance(m, dict) and m.get("method") == "unsubscribe" for m in fake.received)
        ),
        "the resubscribe",
    )
    wait_for(lambda: client_top(feed, "BTC/USD") == fake_top(fake, "BTC/USD"), "a fresh snapshot")
    fake.play_capture(100)  # the rest of the capture applies cleanly on the new snapshot
    wait_for(lambda: client_top(feed, "BTC/USD") == fake_top(fake, "BTC/USD"), "the following updates")
    assert feed.status.resyncs == {"checksum": 1} and feed.status.reconnects == 0


def test_generated_updates_and_a_crossed_book(fake: KrakenFake, feed: FeedThread) -> None:
    bids, _ = fake.pairs["ETH/USD"].top(10)
    fake.update("ETH/USD", bids=[(str(bids[0][0]), "0"), ("3399.97", "2.5")], asks=[("3400.03", "1.25")])
    wait_for(lambda: client_top(feed, "ETH/USD") == fake_top(fake, "ETH/USD"), "the update")
    assert feed.books.latest("ETH/USD").ask_px == int(Decimal("3400.03") * 10**9)
    fake.send_crossed("ETH/USD")
    wait_for(lambda: feed.status.resyncs.get("crossed") == 1, "the crossed-book resync")
    wait_for(lambda: fake.subscribed("ETH/USD") == 1, "the resubscribe")
    wait_for(lambda: client_top(feed, "ETH/USD") == fake_top(fake, "ETH/USD"), "a sane book again")
    b = feed.books.latest("ETH/USD")
    assert b.bid_px < b.ask_px


def test_malformed_disconnect_and_silence_all_heal(fake: KrakenFake, feed: FeedThread) -> None:
    fake.inject("{this is not json")
    wait_for(lambda: feed.status.resyncs.get("malformed") == 1, "the malformed resync")
    fake.play_capture(10)
    wait_for(lambda: client_top(feed, "BTC/USD") == fake_top(fake, "BTC/USD"), "the book after it")

    fake.disconnect_all()
    wait_for(
        lambda: feed.status.reconnect_reasons.get("closed") == 1 and feed.status.connects == 2, "a reconnect"
    )
    fake.play_capture(10)
    wait_for(lambda: client_top(feed, "BTC/USD") == fake_top(fake, "BTC/USD"), "the book after the reconnect")

    fake.set_silent(True)  # no heartbeat, nothing
    wait_for(lambda: feed.status.reconnect_reasons.get("silence", 0) >= 1, "silence detected")
    fake.set_silent(False)
    fake.play_capture(10)
    wait_for(
        lambda: feed.status.connected and client_top(feed, "BTC/USD") == fake_top(fake, "BTC/USD"),
        "the book after the silence",
    )


def test_heartbeats_keep_a_quiet_book_alive(fake: KrakenFake, feed: FeedThread) -> None:
    # nothing but heartbeats for 60 heartbeat periods (1.5 silence limits): still the first connection
    start = feed.status.frames
    wait_for(lambda: feed.status.frames >= start + 60, "sixty heartbeats")
    assert feed.status.connects == 1 and feed.status.reconnects == 0


def test_an_unknown_pair_gets_no_book_and_no_reconnect_loop(fake: KrakenFake) -> None:
    proto = build_protocol(
        "kraken", ["BTC/USD", "DOGE/USD"], FeedConfig(ws_url=fake.ws_url, rest_url=fake.url)
    )
    with FeedThread(proto) as f:
        wait_for(lambda: f.books.latest("BTC/USD"), "BTC/USD")
        assert "DOGE/USD" in proto.errors and f.books.latest("DOGE/USD") is None
        assert f.status.reconnects == 0
