"""The feed loop's WebSocket handling at the frame level, against a raw server that writes exactly
the bytes a test asks for: several frames in one write, a fragmented message with a ping between
its parts, a close frame from the venue, and the busy-polling loop.

No timing is asserted; every wait polls a condition with a generous ceiling.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
from collections.abc import Iterator

import orjson
import pytest

from venues.instruments import to_qty_1e8
from venues.live.connection import BATCH_FRAMES, DROPPED_STALE_S, Backoff, FeedThread

from .test_connection import wait_for
from .toyfeed import ToyProtocol

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CONT, CLOSE, PING, PONG = 0x1, 0x0, 0x8, 0x9, 0xA


def frame(payload: bytes, opcode: int = TEXT, fin: bool = True) -> bytes:
    """A server frame (unmasked, as RFC 6455 requires of a server)."""
    head = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", head, n) + payload
    if n < 65536:
        return struct.pack("!BBH", head, 126, n) + payload
    return struct.pack("!BBQ", head, 127, n) + payload


def snapshot(sym: str, qty: str = "1") -> bytes:
    return orjson.dumps({"type": "snapshot", "symbol": sym, "seq": 0, "bids": [["100", qty]], "asks": []})


def update(sym: str, seq: int, qty: str) -> bytes:
    return orjson.dumps({"type": "update", "symbol": sym, "seq": seq, "side": "bid", "px": "100", "qty": qty})


class RawServer:
    """One WebSocket peer at a time on 127.0.0.1: the upgrade, then the client's frames are read
    (unmasked) into `received` and the test writes whatever bytes it wants with `write()`."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"ws://127.0.0.1:{self.sock.getsockname()[1]}/ws"
        self.conn: socket.socket | None = None
        self.connections = 0
        self.received: list[tuple[int, bytes]] = []  # (opcode, payload) from the client
        self.greeting = b""  # frames sent in the same write as the upgrade's answer
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + GUID, usedforsecurity=False).digest())  # RFC 6455
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + self.greeting
            )
            self.conn = conn
            self.connections += 1
            self._read_frames(conn)

    def _read_frames(self, conn: socket.socket) -> None:
        buf = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 2:
                opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
                pos = 2
                if n == 126:
                    n, pos = struct.unpack("!H", buf[2:4])[0], 4
                elif n == 127:
                    n, pos = struct.unpack("!Q", buf[2:10])[0], 10
                if len(buf) < pos + 4 + n:
                    break
                mask = buf[pos : pos + 4]
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(buf[pos + 4 : pos + 4 + n]))
                self.received.append((opcode, payload))
                buf = buf[pos + 4 + n :]

    def write(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(data)

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        if self.conn is not None:
            self.conn.close()


@pytest.fixture
def raw() -> Iterator[RawServer]:
    srv = RawServer()
    yield srv
    srv.close()


def subscribed(raw: RawServer, connections: int = 1) -> None:
    wait_for(
        lambda: raw.connections >= connections and any(b"subscribe" in p for _, p in raw.received),
        "the subscribe",
    )


def test_a_read_of_many_frames_reaches_the_consumer_as_the_latest_books(raw: RawServer) -> None:
    batches: list[list[tuple[str, int]]] = []
    feed: FeedThread

    def consumer() -> None:
        batches.append([(s, b.bid_qty) for s, b in feed.books.drain()])

    feed = FeedThread(
        ToyProtocol(("AAA", "BBB"), ws_url=raw.url), on_batch=consumer, backoff=Backoff(0.02, 0.2)
    )
    with feed:
        subscribed(raw)
        n = 3 * BATCH_FRAMES + 5
        frames = [frame(snapshot("AAA")), frame(snapshot("BBB"))]
        frames += [frame(update("AAA", i, str(i))) for i in range(1, n + 1)]
        raw.write(b"".join(frames))  # one write; on loopback nearly always one or two reads
        wait_for(lambda: feed.status.frames == n + 2, "every frame")
        wait_for(lambda: batches and batches[-1][-1] == ("AAA", to_qty_1e8(str(n))), "the last book")
        # Every frame was applied, but the consumer was called once a read (or once BATCH_FRAMES
        # frames of a long read), each time with the latest book of each symbol that changed.
        assert feed.status.books == n + 2
        assert len(batches) < n // 4
        assert all(len(b) == len({s for s, _ in b}) for b in batches)
        assert feed.books.coalesced >= n + 2 - 2 * len(batches)
        seen = [q for b in batches for s, q in b if s == "AAA"]
        assert seen == sorted(seen)  # in order, never an older state after a newer one


def test_a_fragmented_message_with_a_ping_between_its_parts(raw: RawServer) -> None:
    with FeedThread(ToyProtocol(("AAA",), ws_url=raw.url), backoff=Backoff(0.02, 0.2)) as feed:
        subscribed(raw)
        raw.write(frame(snapshot("AAA")))
        wait_for(lambda: feed.books.latest("AAA"), "the snapshot")
        msg = update("AAA", 1, "7")
        raw.write(
            frame(msg[:10], TEXT, fin=False)
            + frame(b"are you there", PING)  # a control frame may come between the parts
            + frame(msg[10:20], CONT, fin=False)
        )
        wait_for(lambda: (PONG, b"are you there") in raw.received, "the pong")
        assert feed.books.latest("AAA").bid_qty == to_qty_1e8("1")  # nothing applied mid-message
        raw.write(frame(msg[20:], CONT, fin=True))
        wait_for(lambda: feed.books.latest("AAA").bid_qty == to_qty_1e8("7"), "the whole message")
        assert feed.status.frames == 2 and feed.status.reconnects == 0


def test_a_close_from_the_venue_is_reported_and_the_feed_reconnects(raw: RawServer) -> None:
    with FeedThread(ToyProtocol(("AAA",), ws_url=raw.url), backoff=Backoff(0.02, 0.2)) as feed:
        subscribed(raw)
        raw.write(frame(struct.pack("!H", 1013) + b"try again later", CLOSE))
        wait_for(lambda: feed.status.reconnects == 1, "the reconnect")
        assert feed.status.last_error == "closed by venue: 1013 try again later"
        assert feed.status.reconnect_reasons == {"closed": 1}
        assert (CLOSE, struct.pack("!H", 1013)) in raw.received  # the close was answered
        subscribed(raw, connections=2)
        raw.write(frame(snapshot("AAA", "3")))
        wait_for(
            lambda: feed.books.latest("AAA") and feed.books.latest("AAA").bid_qty == to_qty_1e8("3"), "books"
        )


def test_busy_polling_feed_applies_frames(raw: RawServer) -> None:
    got: list[int] = []
    feed: FeedThread

    def consumer() -> None:
        got.extend(b.bid_qty for _, b in feed.books.drain())

    feed = FeedThread(
        ToyProtocol(("AAA",), ws_url=raw.url),
        on_batch=consumer,
        busy_poll_us=2000,
        backoff=Backoff(0.02, 0.2),
    )
    with feed:
        subscribed(raw)
        raw.write(frame(snapshot("AAA")))
        wait_for(lambda: got, "the snapshot")
        for i in range(1, 4):
            raw.write(frame(update("AAA", i, str(10 * i))))
            wait_for(lambda i=i: got[-1] == to_qty_1e8(str(10 * i)), f"update {i}")
        assert feed.status.reconnects == 0 and feed.status.frames == 4
    assert feed.status.state == "stopped"


def test_a_venue_that_speaks_first_finds_the_protocol_reset_and_can_end_the_session(raw: RawServer) -> None:
    # Frames right behind the handshake (Kraken sends its status at once) reach a protocol already
    # opened for this connection; one that ends the session ends it, and the feed connects again.
    raw.greeting = frame(orjson.dumps({"type": "error", "message": "go away"}))
    proto = ToyProtocol(("AAA",), ws_url=raw.url)
    with FeedThread(proto, backoff=Backoff(0.02, 0.2)) as feed:
        wait_for(lambda: feed.status.reconnects >= 2, "two sessions ended by the venue")
        assert feed.status.reconnect_reasons.get("venue_error", 0) >= 2
        assert proto.opens >= 2
        raw.greeting = frame(snapshot("AAA", "4"))
        wait_for(lambda: feed.books.latest("AAA") is not None, "a book from the greeting")
        assert feed.books.latest("AAA").bid_qty == to_qty_1e8("4")


def test_a_ping_that_ends_a_read_still_ends_it(raw: RawServer) -> None:
    # The consumer takes a read's books when its last frame has been handled. A ping from the venue
    # can be that last frame: it is answered, and the read's books still reach the consumer now,
    # not with the next read.
    batches: list[list[tuple[str, int]]] = []
    feed: FeedThread

    def consumer() -> None:
        batches.append([(s, b.bid_qty) for s, b in feed.books.drain()])

    feed = FeedThread(ToyProtocol(("AAA",), ws_url=raw.url), on_batch=consumer, backoff=Backoff(0.02, 0.2))
    with feed:
        subscribed(raw)
        raw.write(frame(snapshot("AAA")))
        wait_for(lambda: batches, "the snapshot")
        raw.write(frame(update("AAA", 1, "7")) + frame(b"still there?", PING))  # one write, one read
        wait_for(lambda: (PONG, b"still there?") in raw.received, "the pong")
        wait_for(lambda: batches[-1] == [("AAA", to_qty_1e8("7"))], "the read's book at the consumer")
        assert feed.status.frames == 2 and feed.status.reconnects == 0


def test_a_dropped_book_is_forgotten_and_stale_until_its_fresh_snapshot(raw: RawServer) -> None:
    # A gap makes the protocol drop the book and ask for a new one: until it comes, nobody is handed
    # the old book, and once it has been missing DROPPED_STALE_S the symbol is stale (its algos
    # pause); the other symbol is untouched.
    with FeedThread(ToyProtocol(("AAA", "BBB"), ws_url=raw.url), backoff=Backoff(0.02, 0.2)) as feed:
        subscribed(raw)
        raw.write(frame(snapshot("AAA")) + frame(snapshot("BBB")))
        wait_for(lambda: feed.books.latest("AAA") and feed.books.latest("BBB"), "both snapshots")
        assert feed.status.stale_symbols(60.0) == []
        raw.write(frame(update("AAA", 5, "9")))  # seq 0 → 5: a gap
        wait_for(lambda: feed.status.resyncs == {"gap": 1}, "the resync")
        assert feed.books.latest("AAA") is None
        assert feed.books.latest("BBB") is not None
        dropped = feed.status.invalid["AAA"]
        grace = int(DROPPED_STALE_S * 1e9)
        assert feed.status.stale_symbols(60.0, dropped + grace - 1) == []  # a resync's round trip
        assert feed.status.stale_symbols(60.0, dropped + grace) == ["AAA"]
        wait_for(lambda: (TEXT, b'{"op":"subscribe","symbols":["AAA"]}') in raw.received, "the resubscribe")
        raw.write(frame(snapshot("AAA", "2")))
        wait_for(lambda: feed.books.latest("AAA") is not None, "the fresh snapshot")
        assert feed.books.latest("AAA").bid_qty == to_qty_1e8("2")
        assert feed.status.invalid == {}
        assert feed.status.stale_symbols(60.0, dropped + grace) == []
        assert feed.status.reconnects == 0


def test_a_lost_connection_makes_every_book_stale_until_the_new_snapshots(raw: RawServer) -> None:
    with FeedThread(ToyProtocol(("AAA", "BBB"), ws_url=raw.url), backoff=Backoff(0.02, 0.2)) as feed:
        subscribed(raw)
        raw.write(frame(snapshot("AAA")) + frame(snapshot("BBB")))
        wait_for(lambda: feed.books.latest("AAA") and feed.books.latest("BBB"), "both snapshots")
        assert raw.conn is not None
        raw.conn.shutdown(socket.SHUT_RDWR)  # the venue goes away
        wait_for(lambda: feed.status.reconnects == 1, "the reconnect")
        lost = max(feed.status.invalid.values())
        late = lost + int(DROPPED_STALE_S * 1e9)
        assert feed.status.stale_symbols(60.0, late) == ["AAA", "BBB"]
        assert feed.books.latest("AAA") is None and feed.books.latest("BBB") is None
        subscribed(raw, connections=2)
        raw.write(frame(snapshot("AAA", "3")))
        wait_for(lambda: feed.books.latest("AAA") is not None, "AAA's new snapshot")
        assert feed.status.stale_symbols(60.0, late) == ["BBB"]
        raw.write(frame(snapshot("BBB", "4")))
        wait_for(lambda: feed.status.stale_symbols(60.0, late) == [], "BBB's new snapshot")
