"""The shared feed loop (venues.live.connection) over a real WebSocket to a local fake venue.

No timing is asserted: every wait polls a condition with a generous ceiling. The short silence and
backoff settings only make the machinery move quickly; the assertions are about what happened.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from venues.book import BookSnapshot
from venues.instruments import to_price_1e9, to_qty_1e8
from venues.live.connection import Backoff, FeedThread, LatestBooks

from .toyfeed import ToyProtocol, ToyServer

CEILING = 30.0


def wait_for(pred: Callable[[], object], what: str, timeout: float = CEILING) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def server() -> Iterator[ToyServer]:
    with ToyServer() as srv:
        yield srv  # type: ignore[misc]


def fast_backoff() -> Backoff:
    return Backoff(0.02, 0.2, rng=random.Random(7))


def feed_for(server: ToyServer, symbols=("AAA",), **kw) -> FeedThread:
    proto = ToyProtocol(symbols, ws_url=server.ws_url, headers=kw.pop("headers", None))
    return FeedThread(proto, backoff=kw.pop("backoff", fast_backoff()), **kw)


def bid_qty(feed: FeedThread, sym: str = "AAA") -> int | None:
    book = feed.books.latest(sym)
    return book.bid_qty if book is not None else None


# -- the happy path ---------------------------------------------------------------------------------


def test_connects_subscribes_and_publishes_books(server: ToyServer) -> None:
    with feed_for(server, ("AAA", "BBB"), headers={"X-Toy-Key": "k1"}) as feed:
        wait_for(lambda: feed.books.latest("AAA") and feed.books.latest("BBB"), "both snapshots")
        assert server.received == [{"op": "subscribe", "symbols": ["AAA", "BBB"]}]
        assert server.handshake_headers[0].get("X-Toy-Key") == "k1"
        book = feed.books.latest("AAA")
        assert book.bids == (
            (to_price_1e9("100.0"), to_qty_1e8("1")),
            (to_price_1e9("99.5"), to_qty_1e8("2")),
        )
        assert book.asks == ((to_price_1e9("100.5"), to_qty_1e8("1.5")),)
        server.update("AAA", "bid", "100.0", "7")
        wait_for(lambda: bid_qty(feed) == to_qty_1e8("7"), "the update")
        st = feed.status
        assert st.state == "connected" and st.connected and st.connects == 1 and st.reconnects == 0
        assert st.books == 3 and st.frames == 3
        assert set(st.last_change_ns) == {"AAA", "BBB"}
        d = st.as_dict()
        assert d["venue"] == "toy" and d["state"] == "connected" and d["last_message_age_s"] is not None
    assert feed.status.state == "stopped"
    assert not feed.alive


def test_stop_closes_the_connection(server: ToyServer) -> None:
    feed = feed_for(server).start()
    wait_for(lambda: server.clients, "the connection")
    feed.stop()
    wait_for(lambda: not server.clients, "the server to see the close")
    assert feed.status.state == "stopped" and feed.status.reconnects == 0
    feed.stop()  # idempotent


# -- faults -----------------------------------------------------------------------------------------


def test_reconnects_after_the_server_drops(server: ToyServer) -> None:
    with feed_for(server) as feed:
        wait_for(lambda: feed.books.latest("AAA"), "the first snapshot")
        server.update("AAA", "bid", "100.0", "5")
        wait_for(lambda: bid_qty(feed) == to_qty_1e8("5"), "the update")
        server.disconnect_all()
        # the new connection subscribes again and the fresh snapshot replaces the old book
        wait_for(lambda: server.connections == 2 and bid_qty(feed) == to_qty_1e8("1"), "a fresh snapshot")
        assert feed.status.reconnects == 1
        assert feed.status.reconnect_reasons == {"closed": 1}
        assert feed.status.connects == 2
        assert feed.protocol.opens == 2
        assert server.received == [{"op": "subscribe", "symbols": ["AAA"]}] * 2


def test_refused_handshake_backs_off_then_connects(server: ToyServer) -> None:
    server.refuse = True
    backoff = Backoff(0.01, 0.05, rng=random.Random(1))
    with feed_for(server, backoff=backoff) as feed:
        wait_for(lambda: feed.status.reconnect_reasons.get("connect_failed", 0) >= 4, "four refusals")
        assert feed.status.connects == 0
        assert "401" in feed.status.last_error
        assert backoff.attempts >= 4
        server.refuse = False
        wait_for(lambda: feed.books.latest("AAA"), "the snapshot once the venue accepts")
        assert feed.status.state == "connected"


def test_backoff_grows_jittered_capped_and_resets() -> None:
    b = Backoff(0.5, 30.0, rng=random.Random(3))
    delays = [b.next() for _ in range(10)]
    tops = [min(30.0, 0.5 * 2**n) for n in range(10)]
    for d, top in zip(delays, tops, strict=True):
        assert top / 2 <= d <= top
    assert max(delays) <= 30.0 and delays[-1] >= 15.0
    assert len(set(delays)) == 10  # jittered, not a fixed ladder
    b.reset()
    assert b.attempts == 0 and b.next() <= 0.5
    # two clients losing the venue together do not retry in lock-step
    other = Backoff(0.5, 30.0, rng=random.Random(4))
    assert [round(other.next(), 6) for _ in range(5)] != [round(d, 6) for d in delays[:5]]
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_backoff_resets_after_a_healthy_connection(server: ToyServer) -> None:
    backoff = fast_backoff()
    with feed_for(server, backoff=backoff, healthy_after_s=0.0) as feed:
        wait_for(lambda: feed.books.latest("AAA"), "the snapshot")
        for n in range(2, 5):
            server.disconnect_all()
            wait_for(lambda n=n: feed.status.connects == n, f"connection {n}")
        # every connection lasted long enough to count as healthy: the ladder never climbs
        assert backoff.attempts == 1


def test_silence_is_a_dead_connection(server: ToyServer) -> None:
    class Quiet(ToyProtocol):
        silence_s = 0.3

    feed = FeedThread(Quiet(("AAA",), ws_url=server.ws_url), backoff=fast_backoff())
    with feed:
        wait_for(lambda: feed.books.latest("AAA"), "the snapshot")
        server.set_silent(True)  # the socket stays open, nothing arrives
        wait_for(lambda: feed.status.reconnect_reasons.get("silence", 0) >= 1, "silence detected")
        wait_for(lambda: server.connections >= 2, "a reconnect on its own")
        server.set_silent(False)
        before = feed.status.books
        wait_for(lambda: feed.status.books > before, "a fresh snapshot after the silence")
        assert feed.status.connected or feed.status.state in ("connecting", "backoff")


def test_gap_resyncs_and_is_counted(server: ToyServer) -> None:
    with feed_for(server, ("AAA", "BBB")) as feed:
        wait_for(lambda: feed.books.latest("AAA") and feed.books.latest("BBB"), "snapshots")
        server.update("AAA", "bid", "100.0", "3", skip=2)  # seq jumps by 3
        wait_for(lambda: len(server.received) == 2, "the resubscribe")
        assert server.received[1] == {"op": "subscribe", "symbols": ["AAA"]}
        assert feed.status.resyncs == {"gap": 1}
        assert feed.status.resync_count == 1
        assert feed.status.reconnects == 0  # a gap is not a reconnect
        server.update("AAA", "bid", "100.0", "9")
        wait_for(lambda: bid_qty(feed) == to_qty_1e8("9"), "updates after the resync")


def test_venue_error_and_malformed_frames_reconnect(server: ToyServer) -> None:
    with feed_for(server) as feed:
        wait_for(lambda: feed.books.latest("AAA"), "the snapshot")
        server.inject('{"type": "error", "message": "nope"}')
        wait_for(lambda: feed.status.reconnect_reasons.get("venue_error") == 1, "venue_error reconnect")
        wait_for(lambda: feed.status.connects == 2, "the second connection")
        server.inject("{not json")
        wait_for(lambda: feed.status.reconnect_reasons.get("malformed") == 1, "malformed reconnect")
        wait_for(lambda: feed.status.connects == 3, "the third connection")
        server.inject('{"type": "boom"}')  # the protocol itself raises: the loop survives it
        wait_for(lambda: feed.status.reconnect_reasons.get("protocol_error") == 1, "protocol_error")
        wait_for(lambda: feed.status.connects == 4 and feed.alive, "the fourth connection")
        assert "a protocol bug" in feed.status.last_error


def test_pings_are_sent_on_the_protocols_interval(server: ToyServer) -> None:
    class Pinging(ToyProtocol):
        ping_interval_s = 0.05

    with FeedThread(Pinging(("AAA",), ws_url=server.ws_url)) as feed:
        wait_for(lambda: server.pings >= 3, "three pings")
        assert feed.status.reconnects == 0


def test_set_symbols_resubscribes(server: ToyServer) -> None:
    with feed_for(server, ("AAA",)) as feed:
        wait_for(lambda: feed.books.latest("AAA"), "AAA")
        feed.set_symbols(["BBB", "CCC"])
        wait_for(lambda: feed.books.latest("BBB") and feed.books.latest("CCC"), "the new symbols")
        assert server.received[-1] == {"op": "subscribe", "symbols": ["BBB", "CCC"]}
        assert feed.books.latest("AAA") is None
        assert feed.status.symbols == ("BBB", "CCC")
        assert feed.status.reconnects == 0


# -- coalescing -------------------------------------------------------------------------------------


def test_latest_books_coalesces_per_symbol() -> None:
    books = LatestBooks()
    for i in range(1, 1001):
        books.publish("AAA", BookSnapshot(i, [(100, i)], []))
    books.publish("BBB", BookSnapshot(5, [(7, 1)], []))
    assert books.wait(0)
    drained = books.drain()
    assert [(s, b.bid_qty) for s, b in drained] == [("AAA", 1000), ("BBB", 1)]
    assert books.coalesced == 999 and books.published == 1001
    assert books.drain() == [] and not books.wait(0)
    assert books.latest("AAA").bid_qty == 1000  # still readable after the drain


def test_latest_books_wakes_a_waiting_consumer() -> None:
    books = LatestBooks()
    got: list[list] = []
    calls: list[int] = []
    books.add_listener(lambda: calls.append(1))

    def consumer() -> None:
        assert books.wait(CEILING)
        got.append(books.drain())

    t = threading.Thread(target=consumer)
    t.start()
    books.publish("AAA", BookSnapshot(1, [(1, 1)], []))
    t.join(CEILING)
    assert len(got) == 1 and got[0][0][0] == "AAA" and calls == [1]


def test_a_slow_consumer_sees_the_latest_book_not_a_queue(server: ToyServer) -> None:
    seen: list[tuple[str, int]] = []
    with feed_for(server, on_book=lambda s, b, ns: seen.append((s, b.bid_qty))) as feed:
        wait_for(lambda: feed.books.latest("AAA"), "the snapshot")
        feed.books.drain()
        server.burst("AAA", 500)  # nobody drains while it arrives
        wait_for(lambda: bid_qty(feed) == to_qty_1e8("500"), "the end of the burst")
        drained = feed.books.drain()
        assert [(s, b.bid_qty) for s, b in drained] == [("AAA", to_qty_1e8("500"))]
        assert feed.books.coalesced == 499
        assert feed.books.pending == 0
        # the in-thread callback saw every state, in order
        assert [q for _, q in seen[1:]] == [to_qty_1e8(str(i)) for i in range(1, 501)]


def test_stale_symbols_from_status(server: ToyServer) -> None:
    with feed_for(server, ("AAA", "BBB")) as feed:
        wait_for(lambda: feed.books.latest("AAA") and feed.books.latest("BBB"), "snapshots")
        now = time.time_ns()
        assert feed.status.stale_symbols(60.0, now) == []
        # an hour from now, both are stale; after an update of AAA "then", only BBB
        later = now + 3600 * 10**9
        assert feed.status.stale_symbols(60.0, later) == ["AAA", "BBB"]
        feed.status.last_change_ns["AAA"] = later
        assert feed.status.stale_symbols(60.0, later) == ["BBB"]
