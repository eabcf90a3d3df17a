"""PolymarketFeed through the real connection loop (FeedThread) against the strict fake venue, and
the fake's own strictness (what it refuses the way the real venue does)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import websockets

from tests.fakevenues.polymarket import INVALID_PAYLOAD, FakePolymarket
from tests.waiting import wait_until
from venues.live.connection import Backoff, FeedThread
from venues.polymarket.feed import PolymarketFeed, parse_price_1e9, parse_qty_1e8

A, B = FakePolymarket.BURST_A, FakePolymarket.BURST_B


def expected(fake: FakePolymarket, token: str, depth: int = 10) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The fake venue's own book for `token`, in our units, best first."""
    book = fake.books[token]
    bids = sorted(((parse_price_1e9(p), parse_qty_1e8(s)) for p, s in book.bids.items()), reverse=True)
    asks = sorted((parse_price_1e9(p), parse_qty_1e8(s)) for p, s in book.asks.items())
    return tuple(bids[:depth]), tuple(asks[:depth])


def book_is_right(feed: FeedThread, fake: FakePolymarket, token: str) -> bool:
    snap = feed.books.latest(token)
    return snap is not None and (snap.bids, snap.asks) == expected(fake, token)


@pytest.fixture
def fake() -> Iterator[FakePolymarket]:
    with FakePolymarket.from_fixtures(idle_timeout_s=60.0) as srv:
        yield srv  # type: ignore[misc]


def start(fake: FakePolymarket, *tokens: str, **attrs: Any) -> FeedThread:
    proto = PolymarketFeed(list(tokens or (A, B)), ws_url=fake.ws_url)
    for k, v in attrs.items():
        setattr(proto, k, v)
    thread = FeedThread(proto, backoff=Backoff(0.05, 0.2)).start()
    for t in tokens or (A, B):
        wait_until(lambda t=t: book_is_right(thread, fake, t), what=f"first book of {t[:6]}")
    return thread


def test_subscribe_snapshot_updates_and_both_tokens(fake: FakePolymarket) -> None:
    feed = start(fake)
    try:
        assert fake.subscribed() == [{A, B}]
        snap_b = feed.books.latest(B)
        assert snap_b is not None and snap_b.best_bid == (
            603_000_000,
            10_009_000_000,
        )  # mirror of A's 0.397 ask
        fake.complementary(A, "BUY", "0.301", "1000")  # the captured pattern: BUY p on A, SELL 1-p on B
        wait_until(lambda: feed.books.latest(A).bid_px == 301_000_000, what="A's new bid")
        wait_until(lambda: feed.books.latest(B).ask_px == 699_000_000, what="B's new ask")
        assert book_is_right(feed, fake, A) and book_is_right(feed, fake, B)
        fake.complementary(A, "SELL", "0.397", "0")  # a level removed on both sides
        wait_until(lambda: book_is_right(feed, fake, A) and book_is_right(feed, fake, B), what="removal")
        assert feed.books.latest(A).ask_px == 398_000_000
        assert feed.status.resync_count == 0 and feed.status.reconnects == 0
        fake.tick_size_change(A, "0.0001")
        wait_until(lambda: feed.protocol.tick_1e9(A) == 100_000, what="tick size change")  # type: ignore[attr-defined]
    finally:
        feed.stop()


def test_pings_keep_the_connection_and_silence_from_us_gets_dropped(fake: FakePolymarket) -> None:
    # Generous against a loaded machine: the venue's idle limit is 15 pings long.
    fake.idle_timeout_s = 3.0
    feed = start(fake, A, ping_interval_s=0.2)
    try:
        wait_until(lambda: fake.pings >= 45, what="45 PINGs (3 idle limits)")
        assert feed.status.connects == 1 and feed.status.reconnects == 0
        assert feed.protocol.pongs >= 10  # type: ignore[attr-defined]
    finally:
        feed.stop()
    quiet = start(fake, A, ping_interval_s=None)  # a client that never pings is dropped
    try:
        wait_until(lambda: quiet.status.reconnects >= 1, what="the venue dropping a silent client")
        assert (1001, "idle") in fake.closed_with
        wait_until(lambda: quiet.status.connects >= 2 and book_is_right(quiet, fake, A), what="reconnect")
    finally:
        quiet.stop()


def test_quiet_books_are_refreshed_so_they_do_not_go_stale(fake: FakePolymarket) -> None:
    feed = start(fake, A, refresh_after_s=0.5)
    try:
        first = feed.status.last_change_ns[A]
        wait_until(lambda: feed.status.last_change_ns[A] > first, what="a refreshed snapshot")
        assert feed.status.stale_symbols(stale_after_s=5.0) == []
        assert feed.status.resync_count == 0 and feed.protocol.refreshes >= 1  # type: ignore[attr-defined]
        assert book_is_right(feed, fake, A)
        # The refresh cycled the subscription (a duplicate subscribe would bring no book) and the
        # token is still followed: updates keep arriving on the same connection. (No more refreshes
        # from here: one caught between its unsubscribe and its subscribe follows nothing.)
        feed.protocol.refresh_after_s = 3600.0  # type: ignore[attr-defined]
        assert fake.ignored_subscribes == 0 and feed.status.reconnects == 0
        wait_until(lambda: fake.subscribed() == [{A}], what="the token followed after the cycles")
        fake.price_change([(A, "BUY", "0.305", "8")])
        wait_until(lambda: feed.books.latest(A).bid_px == 305_000_000, what="an update after refreshes")
        assert book_is_right(feed, fake, A)
    finally:
        feed.stop()


def test_reconnect_after_a_dropped_connection(fake: FakePolymarket) -> None:
    feed = start(fake)
    try:
        fake.disconnect_all()
        wait_until(lambda: feed.status.connects >= 2, what="reconnect")
        fake.complementary(A, "BUY", "0.31", "7")
        wait_until(
            lambda: book_is_right(feed, fake, A) and book_is_right(feed, fake, B),
            what="books after reconnect",
        )
        assert feed.status.reconnects >= 1
    finally:
        feed.stop()


def test_a_lost_update_ends_in_a_fresh_snapshot(fake: FakePolymarket) -> None:
    """The fake ignores a subscribe of a token the connection already follows (as the venue is
    reported to): the fresh snapshot comes on the same connection only because the feed cycles the
    subscription (unsubscribe, then subscribe), and updates keep flowing after it."""
    feed = start(fake)
    try:
        fake.complementary(A, "BUY", "0.305", "50", deliver=False)  # the venue moved; we never heard
        fake.complementary(A, "BUY", "0.2", "1")  # this one disagrees with our top: a gap
        wait_until(lambda: feed.status.resyncs.get("gap", 0) >= 1, what="gap detected")
        wait_until(lambda: book_is_right(feed, fake, A) and book_is_right(feed, fake, B), what="resnapshot")
        assert feed.books.latest(A).bid_px == 305_000_000
        assert feed.status.reconnects == 0 and feed.status.connects == 1
        updates = [m for m in fake.received if isinstance(m, dict) and "operation" in m]
        assert [m["operation"] for m in updates[:2]] == ["unsubscribe", "subscribe"]
        assert updates[1]["initial_dump"] is True and updates[0]["assets_ids"] == updates[1]["assets_ids"]
        assert fake.ignored_subscribes == 0 and fake.subscribed() == [{A, B}]
        fake.complementary(A, "BUY", "0.306", "4")  # still subscribed after the cycle
        wait_until(lambda: feed.books.latest(A).bid_px == 306_000_000, what="an update after the cycle")
        assert book_is_right(feed, fake, A) and book_is_right(feed, fake, B)
        assert feed.status.reconnects == 0
    finally:
        feed.stop()


def test_out_of_order_delivery_is_caught(fake: FakePolymarket) -> None:
    feed = start(fake, A)
    try:
        fake.price_change([(A, "BUY", "0.306", "5")], hold=True)
        fake.price_change([(A, "BUY", "0.306", "9")])
        wait_until(lambda: feed.books.latest(A).bid_qty == 900_000_000, what="the newer update")
        fake.release_held()  # the older message arrives last: it would set size 5 over 9
        wait_until(lambda: feed.status.resyncs.get("out_of_order", 0) >= 1, what="out of order")
        wait_until(lambda: book_is_right(feed, fake, A), what="resnapshot")
        assert feed.books.latest(A).bid_qty == 900_000_000
        assert feed.status.reconnects == 0 and fake.ignored_subscribes == 0
    finally:
        feed.stop()


@pytest.mark.parametrize("fault", ["crossed", "malformed", "burst"])
def test_venue_faults_end_in_a_correct_book(fake: FakePolymarket, fault: str) -> None:
    feed = start(fake)
    try:
        if fault == "crossed":
            fake.send_crossed_book(A)
        elif fault == "malformed":
            fake.inject('{"event_type": "price_change", "price_changes": [')
        else:
            for i in range(300):
                fake.complementary(A, "BUY", f"0.{200 + i % 90}", str(i + 1))
        if fault != "burst":
            wait_until(lambda: feed.status.resyncs.get(fault, 0) >= 1, what=f"{fault} counted")
        wait_until(
            lambda: book_is_right(feed, fake, A) and book_is_right(feed, fake, B), what="correct books"
        )
        assert feed.status.reconnects == 0 and fake.ignored_subscribes == 0
        if fault == "burst":
            assert feed.status.resync_count == 0
    finally:
        feed.stop()


def test_silence_from_the_venue_reconnects(fake: FakePolymarket) -> None:
    feed = start(fake, A, silence_s=1.0, ping_interval_s=0.2)
    try:
        fake.set_silent(True)
        wait_until(lambda: feed.status.reconnect_reasons.get("silence", 0) >= 1, what="silence noticed")
        fake.set_silent(False)
        fake.price_change([(A, "BUY", "0.29", "3")])
        wait_until(lambda: feed.status.connected and book_is_right(feed, fake, A), what="back after silence")
    finally:
        feed.stop()


# -- the fake's strictness ----------------------------------------------------------------------------


async def _session(url: str, *frames: str, reads: int = 1) -> list[Any]:
    got: list[Any] = []
    async with websockets.connect(url) as ws:
        for f in frames:
            await ws.send(f)
        try:
            for _ in range(reads):
                got.append(await asyncio.wait_for(ws.recv(), 30))
        except websockets.ConnectionClosed as exc:
            got.append(("closed", exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else ""))
    return got


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_fake_refuses_what_the_venue_refuses(fake: FakePolymarket) -> None:
    sub = json.dumps({"assets_ids": [A], "type": "market"})
    # A PING (or anything else) before the initial subscription: closed, 1008.
    assert run(_session(fake.ws_url, "PING")) == [("closed", 1008, INVALID_PAYLOAD)]
    for bad in (
        "{nope",
        json.dumps({"assets_ids": A, "type": "market"}),
        json.dumps({"assets_ids": [A]}),
        json.dumps({"assets_ids": ["0xabc"], "type": "market"}),
        json.dumps({"assets_ids": [A], "operation": "subscribe"}),
    ):
        assert run(_session(fake.ws_url, bad)) == [("closed", 1008, INVALID_PAYLOAD)], bad
    # A second initial subscription is an INVALID OPERATION; the connection stays open.
    got = run(_session(fake.ws_url, sub, sub, "PING", reads=3))
    assert json.loads(got[0])["event_type"] == "book" and got[1:] == ["INVALID OPERATION", "PONG"]
    # Unknown (well-formed) token ids: nothing at all for them, the known one gets its book.
    got = run(
        _session(fake.ws_url, json.dumps({"assets_ids": ["1" * 70, A], "type": "market"}), "PING", reads=2)
    )
    assert json.loads(got[0])["asset_id"] == A and got[1] == "PONG"
    # initial_dump false: no snapshot; operation subscribe later: the snapshot; unsubscribe: silence.
    upd = json.dumps({"assets_ids": [B], "operation": "subscribe"})
    got = run(
        _session(
            fake.ws_url,
            json.dumps({"assets_ids": [A], "type": "market", "initial_dump": False}),
            "PING",
            upd,
            reads=2,
        )
    )
    assert got[0] == "PONG" and json.loads(got[1])["asset_id"] == B


def test_fake_rest_errors_are_the_documented_bodies(fake: FakePolymarket) -> None:
    from venues.live.rest import RestClient, RestError

    clob = RestClient(fake.url)
    with pytest.raises(RestError) as err:
        clob.get_json("/book", {"token_id": "abc"})
    assert err.value.status == 400 and json.loads(err.value.body) == {"error": "Invalid token id"}
    with pytest.raises(RestError) as err:
        clob.get_json("/book", {"token_id": "1" * 10})
    assert err.value.status == 404 and "No orderbook exists" in err.value.body
    book = clob.get_json("/book", {"token_id": A})
    assert book["tick_size"] == "0.001" and isinstance(book["min_order_size"], str)
    assert [Decimal(lv["price"]) for lv in book["bids"]] == sorted(
        Decimal(lv["price"]) for lv in book["bids"]
    )
    assert clob.get_json("/tick-size", {"token_id": A}) == {"minimum_tick_size": 0.001}
    with pytest.raises(RestError) as err:
        clob.get_json("/markets", {"limit": "ten"})
    assert err.value.status == 400


def test_fake_ignores_a_duplicate_subscribe_and_unsubscribe_stops_updates(fake: FakePolymarket) -> None:
    """The venue is reported to ignore a subscribe of a token the connection already follows
    (NautilusTrader's adapter; the docs are silent): the fake sends nothing for it. An unsubscribe
    stops the token's updates; subscribing it again sends its book again."""
    initial = json.dumps({"assets_ids": [A], "type": "market"})
    sub = json.dumps({"assets_ids": [A], "operation": "subscribe", "initial_dump": True})
    unsub = json.dumps({"assets_ids": [A], "operation": "unsubscribe"})

    async def session() -> list[Any]:
        got: list[Any] = []
        async with websockets.connect(fake.ws_url) as ws:

            async def say(*frames: str) -> list[Any]:
                """Send `frames` then a PING, and read up to and including the PONG."""
                for f in (*frames, "PING"):
                    await ws.send(f)
                read: list[Any] = []
                while not read or read[-1] != "PONG":
                    read.append(await asyncio.wait_for(ws.recv(), 30))
                return [r if r == "PONG" else json.loads(r)["event_type"] for r in read]

            got.append(await say(initial))  # the first book
            got.append(await say(sub))  # a duplicate subscribe: nothing
            await asyncio.to_thread(fake.price_change, [(A, "BUY", "0.296", "8")])
            got.append(await say())  # still subscribed: the update
            got.append(await say(unsub))  # unsubscribed: nothing
            await asyncio.to_thread(fake.price_change, [(A, "BUY", "0.295", "8")])
            got.append(await say())  # no update for it any more
            got.append(await say(sub))  # subscribed again: its book again
            got.append(await say(unsub, sub))  # a real cycle: a fresh book
            got.append(await say(sub, sub))  # duplicates, twice: nothing
        return got

    assert run(session()) == [
        ["book", "PONG"],
        ["PONG"],
        ["price_change", "PONG"],
        ["PONG"],
        ["PONG"],
        ["book", "PONG"],
        ["book", "PONG"],
        ["PONG"],
    ]
    assert fake.ignored_subscribes == 3


def test_fake_refuses_a_malformed_unsubscribe_as_it_refuses_a_malformed_subscribe(
    fake: FakePolymarket,
) -> None:
    initial = json.dumps({"assets_ids": [A, B], "type": "market"})
    for bad in (
        json.dumps({"assets_ids": A, "operation": "unsubscribe"}),  # not a list
        json.dumps({"assets_ids": ["0xabc"], "operation": "unsubscribe"}),  # not a token id
        json.dumps({"assets_ids": [int(A)], "operation": "unsubscribe"}),  # a number, not a string
        json.dumps({"assets_ids": [A], "operation": "Unsubscribe"}),  # not exactly "unsubscribe"
        json.dumps({"assets_ids": [A], "operation": "unsubscribe", "type": "market"}),
        json.dumps({"assets_ids": [A], "operation": "unsubscribe", "initial_dump": "yes"}),
        json.dumps({"operation": "unsubscribe"}),  # no assets_ids
        json.dumps({"assets_ids": [A], "operation": "subscribe", "initial_dump": "yes"}),
        json.dumps({"assets_ids": A, "operation": "subscribe"}),
    ):
        before = fake.invalid_operations
        got = run(_session(fake.ws_url, initial, bad, "PING", reads=4))
        assert [json.loads(g)["event_type"] for g in got[:2]] == ["book", "book"], bad
        assert got[2:] == ["INVALID OPERATION", "PONG"], bad
        assert fake.invalid_operations == before + 1, bad
