"""Kalshi end to end: `KalshiFeed` run by the shared loop (`venues.live.connection.FeedThread`) over a
real WebSocket to the strict fake Kalshi: the signed handshake, YES/NO books equal to the venue's
true book, and every injected fault ending in a correct book again, counted.

No timing is asserted: waits poll a condition with a generous ceiling; the short silence/ping
settings only make the machinery move quickly.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from tests.fakevenues.kalshi import KEY_ID, FakeKalshi, private_key_pem
from venues.instruments import to_price_1e9, to_qty_1e8
from venues.kalshi.auth import KalshiSigner
from venues.kalshi.feed import KalshiFeed
from venues.live.connection import Backoff, FeedThread

CEILING = 30.0
FED = "FED-23DEC-T3.00"
BTC = "KXBTC-25MAR15-B100000"


def wait_for(pred: Callable[[], object], what: str, timeout: float = CEILING) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fake() -> Iterator[FakeKalshi]:
    with FakeKalshi() as srv:
        yield srv  # type: ignore[misc]


def start_feed(
    fake: FakeKalshi, symbols=(f"{FED}-YES", f"{FED}-NO"), *, signed=True, **overrides
) -> FeedThread:
    signer = KalshiSigner.from_pem(KEY_ID, private_key_pem()) if signed else None
    proto = KalshiFeed(symbols, ws_url=fake.ws_url, signer=signer)
    for name, value in overrides.items():
        setattr(proto, name, value)  # per-instance limits, as venues.live.factory applies them
    return FeedThread(proto, backoff=Backoff(0.02, 0.2, rng=random.Random(3))).start()


def truth(fake: FakeKalshi, ticker: str) -> dict[str, tuple]:
    """The YES and NO books the fake's true bid ladders imply, best first."""
    levels = fake.book_levels(ticker)

    def conv(p: Decimal, q: Decimal) -> tuple[int, int]:
        return to_price_1e9(p), to_qty_1e8(q)

    yes_bids = tuple(conv(p, q) for p, q in reversed(levels["yes"]))
    no_bids = tuple(conv(p, q) for p, q in reversed(levels["no"]))
    return {
        f"{ticker}-YES": (yes_bids, tuple((1_000_000_000 - p, q) for p, q in no_bids)),
        f"{ticker}-NO": (no_bids, tuple((1_000_000_000 - p, q) for p, q in yes_bids)),
    }


def matches(feed: FeedThread, fake: FakeKalshi, ticker: str = FED) -> bool:
    for symbol, (bids, asks) in truth(fake, ticker).items():
        book = feed.books.latest(symbol)
        if book is None or book.bids != bids or book.asks != asks:
            return False
    return True


def test_signed_feed_follows_the_venue_book_on_both_sides(fake):
    feed = start_feed(fake, (f"{FED}-YES", f"{FED}-NO", BTC))
    try:
        wait_for(lambda: matches(feed, fake) and matches(feed, fake, BTC), "both markets' snapshots")
        yes = feed.books.latest(f"{FED}-YES")
        assert (yes.bid_px, yes.ask_px) == (to_price_1e9("0.22"), to_price_1e9("0.44"))  # YES ask = 1 - 0.56
        no = feed.books.latest(f"{FED}-NO")
        assert (no.bid_px, no.ask_px) == (to_price_1e9("0.56"), to_price_1e9("0.78"))  # NO ask = 1 - 0.22
        fake.delta(FED, "no", "0.57", "40")  # a better NO bid: the YES ask drops to 0.43
        fake.delta(FED, "yes", "0.22", "-333")  # the best YES bid goes: the NO ask rises to 0.92
        wait_for(lambda: matches(feed, fake), "the deltas")
        assert feed.books.latest(f"{FED}-YES").ask_px == to_price_1e9("0.43")
        assert feed.books.latest(f"{FED}-NO").ask_px == to_price_1e9("0.92")
        hs = fake.handshakes[0]
        assert hs["KALSHI-ACCESS-KEY"] == KEY_ID and hs["KALSHI-ACCESS-SIGNATURE"]
        assert fake.refusals == [] and feed.status.connects == 1 and feed.status.resyncs == {}
        subscribes = [c for c in fake.received if c.get("cmd") == "subscribe"]
        assert [c["params"]["market_ticker"] for c in subscribes] == [FED, BTC]
    finally:
        feed.stop()


def test_an_unsigned_feed_is_refused_and_keeps_backing_off(fake):
    feed = start_feed(fake, signed=False)
    try:
        wait_for(lambda: feed.status.reconnect_reasons.get("connect_failed", 0) >= 3, "three refusals")
        assert "401" in feed.status.last_error and feed.status.connects == 0
        assert set(fake.refusals) == {"missing headers"} and fake.connections == 0
    finally:
        feed.stop()


@pytest.mark.parametrize("fault", ["lost_delta", "seq_jump"])
def test_a_seq_gap_resubscribes_and_the_book_is_right_again(fake, fault):
    feed = start_feed(fake)
    try:
        wait_for(lambda: matches(feed, fake), "the snapshot")
        if fault == "lost_delta":
            fake.lose_next(1)  # the venue's book moves but the message never arrives
            fake.delta(FED, "yes", "0.25", "10")
        else:
            fake.skip_seq(3)
        fake.delta(FED, "no", "0.54", "5")  # the next delta shows the gap
        wait_for(lambda: feed.status.resyncs.get("gap") == 1 and matches(feed, fake), "a resubscribe")
        assert feed.status.reconnects == 0  # the connection was kept
        assert [c["cmd"] for c in fake.received[-2:]] == ["unsubscribe", "subscribe"]
        assert len(fake.subscriptions()[0]) == 1  # the old sid is gone on the venue too
        fake.delta(FED, "yes", "0.21", "7")
        wait_for(lambda: matches(feed, fake), "deltas on the new subscription")
    finally:
        feed.stop()


def test_crossed_book_resyncs(fake):
    feed = start_feed(fake)
    try:
        wait_for(lambda: matches(feed, fake), "the snapshot")
        fake.inject_crossed(FED)
        wait_for(lambda: feed.status.resyncs.get("crossed") == 1, "the crossed book to be noticed")
        wait_for(lambda: matches(feed, fake), "a fresh snapshot")
        assert not feed.books.latest(f"{FED}-YES").bid_px >= feed.books.latest(f"{FED}-YES").ask_px
    finally:
        feed.stop()


def test_malformed_frame_reconnects_and_the_book_comes_back(fake):
    feed = start_feed(fake)
    try:
        wait_for(lambda: matches(feed, fake), "the snapshot")
        fake.inject('{"type": "orderbook_delta", "sid": 1, ')
        wait_for(lambda: feed.status.reconnect_reasons.get("malformed") == 1, "the reconnect")
        fake.delta(FED, "yes", "0.23", "4")
        wait_for(lambda: feed.status.connects == 2 and matches(feed, fake), "the new connection's book")
        assert len(fake.handshakes) == 2 and fake.refusals == []  # signed afresh
    finally:
        feed.stop()


def test_disconnect_reconnects_with_a_fresh_signature_and_snapshot(fake):
    feed = start_feed(fake)
    try:
        wait_for(lambda: matches(feed, fake), "the snapshot")
        fake.disconnect_all()
        fake.delta(FED, "no", "0.55", "9")  # while we are away
        wait_for(lambda: feed.status.connects == 2 and matches(feed, fake), "the reconnect")
        assert feed.status.reconnect_reasons == {"closed": 1}
        ts = [h["KALSHI-ACCESS-TIMESTAMP"] for h in fake.handshakes]
        assert len(ts) == 2 and fake.refusals == []
    finally:
        feed.stop()


def test_silence_reconnects_and_pauses_until_a_fresh_snapshot(fake):
    feed = start_feed(fake, silence_s=1.0)
    try:
        wait_for(lambda: matches(feed, fake), "the snapshot")
        fake.set_silent(True)
        wait_for(lambda: feed.status.reconnect_reasons.get("silence", 0) >= 1, "the silence to be noticed")
        wait_for(lambda: feed.status.stale_symbols(1.0), "the books to go stale")
        fake.set_silent(False)
        fake.delta(FED, "yes", "0.20", "3")
        wait_for(lambda: matches(feed, fake) and not feed.status.stale_symbols(CEILING), "fresh books")
    finally:
        feed.stop()


def test_venue_error_ending_a_subscription_resubscribes(fake):
    feed = start_feed(fake)
    try:
        wait_for(lambda: matches(feed, fake), "the snapshot")
        fake.send_error(17, FED)  # internal error: Kalshi ended the subscription
        fake.delta(FED, "yes", "0.19", "2")  # not sent to us: no subscription any more
        wait_for(lambda: feed.status.resyncs.get("error_17") == 1 and matches(feed, fake), "the resubscribe")
        assert feed.status.reconnects == 0
    finally:
        feed.stop()


def test_a_subscribe_refused_for_its_rate_is_retried_at_the_heartbeat_without_reconnecting(fake):
    fake.throttle_subscribes(2)  # both markets' first subscribes get 27, Too many requests
    feed = start_feed(fake, symbols=(FED, BTC), ping_interval_s=0.2)
    try:
        wait_for(lambda: feed.status.resyncs.get("throttled") == 2, "both refusals")
        wait_for(lambda: matches(feed, fake, FED) and matches(feed, fake, BTC), "both markets' books")
        assert fake.errors_sent.count(27) == 2
        assert feed.status.reconnects == 0 and feed.status.connects == 1
        assert not feed.status.invalid  # the books came: nothing left marked dropped
    finally:
        feed.stop()


def test_heartbeat_finds_a_subscription_the_venue_lost(fake):
    feed = start_feed(fake, ping_interval_s=0.2)
    try:
        wait_for(lambda: matches(feed, fake), "the snapshot")
        fake.forget_subscription(FED)
        fake.delta(FED, "no", "0.53", "8")  # not sent: the subscription is gone
        wait_for(lambda: feed.status.resyncs.get("lost_subscription") == 1, "the heartbeat to notice")
        wait_for(lambda: matches(feed, fake), "the new subscription's snapshot")
        assert any(c.get("cmd") == "list_subscriptions" for c in fake.received)
    finally:
        feed.stop()


def test_a_burst_to_a_slow_consumer_is_coalesced_not_queued(fake):
    feed = start_feed(fake)
    try:
        wait_for(lambda: matches(feed, fake), "the snapshot")
        feed.books.drain()

        def coalesced() -> int:  # in LatestBooks, or within a read by the protocol
            return feed.books.coalesced + feed.protocol.coalesced

        before, frames, coalesced0 = feed.status.books, feed.status.frames, coalesced()
        fake.burst(FED, 2001)  # +1/-1 in turn on the best YES bid: ends one contract up
        wait_for(lambda: feed.status.frames == frames + 2001, "every delta of the burst")
        wait_for(lambda: matches(feed, fake), "the last state")
        assert feed.books.pending == 2  # one YES and one NO book, however many updates came
        # a YES and a NO book built per read from the socket (at most one per delta); every state
        # but the last two counted as coalesced, none queued
        books = feed.status.books - before
        assert 2 <= books <= 2 * 2001 and books % 2 == 0
        assert coalesced() - coalesced0 == 2 * 2001 - 2
        assert feed.status.resyncs == {} and feed.status.reconnects == 0
    finally:
        feed.stop()
