"""The I/O loop that runs a `FeedProtocol` over a real WebSocket, in a thread of its own.

`FeedThread(protocol)` is a daemon thread with its own asyncio loop. It connects to
`protocol.url()` with `protocol.handshake_headers()`, sends `protocol.on_open()`'s frames, hands
every received frame to `protocol.on_frame(data, recv_ns)` and acts on the events:

- `BookChanged` → published to a `LatestBooks` (coalesced per symbol: a slow consumer sees the
  latest book, never a growing queue) and to the optional `on_book` callback (called in the feed
  thread for every book);
- `Send` → written to the socket; `Resync` → counted by reason; `Reconnect` → the connection is
  closed and opened again.

Once every frame of one read from the socket has been applied, the optional `on_batch()` is called
in the feed thread: a consumer that drains `LatestBooks` there (the edge) gets each book without a
thread hop, and a burst that arrived together reaches it once, as the latest book of each symbol.

The WebSocket is picows' (a Cython frame parser that calls us once per frame straight from the
socket's read, about 1 µs a frame against about 10 µs for `websockets`' asyncio client here; see
docs/benchmarks.md); it answers the venue's pings itself.

It sends `protocol.ping_frame()` every `protocol.ping_interval_s`, declares the connection dead when
no frame arrives for `protocol.silence_s`, and reconnects with jittered exponential backoff
(`Backoff`: 0.5 s doubling to 30 s, reset once a connection has stayed up `healthy_after_s`).
`stop()` closes the socket and joins the thread. `FeedStatus` is what the edge shows: the state,
connects/reconnects by reason, resyncs by reason, the last frame's time and each symbol's last
change (for stale-book detection).

No Django here; times are wall-clock nanoseconds (`time.time_ns()`), the `recv_ns` the protocol
gets and the `ts_ns` a consumer compares against.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import selectors
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import picows

from venues.book import BookSnapshot
from venues.live.protocol import (
    BookChanged,
    FeedEvent,
    FeedProtocol,
    Reconnect,
    Resync,
    Send,
    TickSizeChanged,
)

__all__ = ["Backoff", "FeedStatus", "FeedThread", "LatestBooks"]

log = logging.getLogger(__name__)

_TEXT, _BINARY = picows.WSMsgType.TEXT, picows.WSMsgType.BINARY
_CONTINUATION, _CLOSE = picows.WSMsgType.CONTINUATION, picows.WSMsgType.CLOSE
_PING = picows.WSMsgType.PING

#: A long read (a burst that arrived at once) is handed to `on_batch` every this many frames.
BATCH_FRAMES = 32
#: A book the feed dropped (a resync, a lost connection) and still has not had again after this
#: long is stale (its algos pause). A resync's fresh snapshot normally comes well within it.
DROPPED_STALE_S = 2.0

#: on_book(symbol, snapshot, recv_ns), called in the feed thread after the book is published.
BookCallback = Callable[[str, BookSnapshot, int], None]


class Backoff:
    """Jittered exponential backoff: attempt n waits a uniform draw in [d/2, d] where
    d = min(maximum, initial·factor^n) ("equal jitter": never zero, never in lock-step with the
    other clients that lost the same venue). `reset()` after a healthy connection."""

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        factor: float = 2.0,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError("backoff needs 0 < initial <= maximum and factor >= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.attempts = 0
        self._rng = rng or random.Random()

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        return min(self.maximum, self.initial * self.factor**self.attempts)

    def next(self) -> float:
        """The next delay in seconds (and count the attempt)."""
        top = self.ceiling()
        self.attempts += 1
        return self._rng.uniform(top / 2, top)

    def reset(self) -> None:
        self.attempts = 0


class LatestBooks:
    """The latest book per symbol, for one consumer, coalesced.

    The feed `publish()`es every change; the consumer `drain()`s what changed since its last drain
    — one entry per symbol, the latest — and `wait()`s for the next change. Memory is bounded by
    the number of symbols however slow the consumer is; `coalesced` counts the book states a
    consumer never saw because a newer one replaced them. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, BookSnapshot] = {}
        self._latest: dict[str, BookSnapshot] = {}
        # Set only while somebody wait()s: an Event's set() and clear() cost a microsecond or two of
        # Python on every frame, and the edge's consumer is called instead of waiting.
        self._event = threading.Event()
        self._waiters = 0
        self._listeners: list[Callable[[], None]] = []
        self.published = 0
        self.coalesced = 0

    def publish(self, symbol: str, snapshot: BookSnapshot) -> None:
        with self._lock:
            if symbol in self._pending:
                self.coalesced += 1
            self._pending[symbol] = snapshot
            self._latest[symbol] = snapshot
            self.published += 1
            waiting = self._waiters
        if waiting and not self._event.is_set():  # set() takes the event's lock even when already set
            self._event.set()
        for listener in self._listeners:
            listener()

    def drain(self) -> list[tuple[str, BookSnapshot]]:
        """What changed since the last drain: (symbol, latest snapshot), at most one per symbol."""
        with self._lock:
            if not self._pending:
                return []
            items = list(self._pending.items())
            self._pending.clear()
        return items

    def wait(self, timeout: float | None = None) -> bool:
        """Block until something was published since the last drain (True) or `timeout` (False)."""
        with self._lock:
            if self._pending:
                return True
            self._event.clear()  # a publish from here on sets it: it sees _waiters > 0
            self._waiters += 1
        try:
            return self._event.wait(timeout)
        finally:
            with self._lock:
                self._waiters -= 1

    def latest(self, symbol: str) -> BookSnapshot | None:
        """The newest book of `symbol` (drained or not), None before its first."""
        return self._latest.get(symbol)

    def forget(self, symbols: Iterable[str]) -> None:
        """Drop symbols no longer subscribed."""
        with self._lock:
            for s in symbols:
                self._pending.pop(s, None)
                self._latest.pop(s, None)

    def add_listener(self, fn: Callable[[], None]) -> None:
        """Call `fn()` (from the publishing thread) after every publish: a wakeup for a consumer
        that waits on something else than `wait()` (an asyncio loop's call_soon_threadsafe)."""
        self._listeners.append(fn)

    @property
    def pending(self) -> int:
        return len(self._pending)


class FeedStatus:
    """The health of one feed, written by the feed thread and read by anyone (`as_dict()`).

    `state` is "idle" (not started), "connecting", "connected", "backoff" (waiting to reconnect)
    or "stopped". Counters only grow. Times are wall-clock ns; 0 means "never".
    """

    def __init__(self, venue: str, symbols: Iterable[str] = ()) -> None:
        self.venue = venue
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.state = "idle"
        self.started_ns = 0
        self.connected_ns = 0  # when the current connection opened (0 when down)
        self.connects = 0  # connections opened
        self.reconnects = 0  # connections lost (by any cause but stop())
        self.reconnect_reasons: dict[str, int] = {}
        self.resyncs: dict[str, int] = {}
        self.frames = 0
        self.books = 0  # BookChanged events
        self.tick_changes = 0  # TickSizeChanged events (the venue moved a price grid)
        self.last_frame_ns = 0
        self.last_change_ns: dict[str, int] = {}
        # Symbols whose book the feed no longer keeps → when it was dropped: the protocol dropped it
        # (a gap, a checksum mismatch, a crossed book) or the connection was lost. Cleared by the
        # symbol's next book; stale once it has lasted DROPPED_STALE_S.
        self.invalid: dict[str, int] = {}
        self.last_error = ""
        self.backoff_s = 0.0  # the delay of the current/last backoff

    # -- written by the feed thread ----------------------------------------------------------------
    def _count(self, table: dict[str, int], reason: str) -> None:
        table[reason] = table.get(reason, 0) + 1

    # -- read by anyone ----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.state == "connected"

    @property
    def resync_count(self) -> int:
        return sum(self.resyncs.values())

    def last_message_age_s(self, now_ns: int | None = None) -> float | None:
        if not self.last_frame_ns:
            return None
        return max(0.0, ((now_ns or time.time_ns()) - self.last_frame_ns) / 1e9)

    def stale_symbols(self, stale_after_s: float, now_ns: int | None = None) -> list[str]:
        """Subscribed symbols whose book has not changed for `stale_after_s` (a symbol that never
        had a book counts from the feed's start), and those whose book the feed dropped
        (`invalid`) at least `DROPPED_STALE_S` ago and has not had again."""
        now = now_ns or time.time_ns()
        limit = int(stale_after_s * 1e9)
        dropped_limit = int(DROPPED_STALE_S * 1e9)
        changes = dict(self.last_change_ns)
        invalid = dict(self.invalid)
        out = []
        for s in self.symbols:
            since = changes.get(s) or self.started_ns
            dropped = invalid.get(s)
            if (dropped is not None and now - dropped >= dropped_limit) or (since and now - since > limit):
                out.append(s)
        return out

    def as_dict(self, now_ns: int | None = None) -> dict[str, Any]:
        """JSON-ready status (what the edge reports and the dashboard shows)."""
        now = now_ns or time.time_ns()
        return {
            "venue": self.venue,
            "state": self.state,
            "connected": self.connected,
            "connects": self.connects,
            "reconnects": self.reconnects,
            "reconnect_reasons": dict(self.reconnect_reasons),
            "resyncs": dict(self.resyncs),
            "tick_changes": self.tick_changes,
            "frames": self.frames,
            "books": self.books,
            "last_message_age_s": self.last_message_age_s(now),
            "last_change_age_s": {s: round((now - t) / 1e9, 3) for s, t in dict(self.last_change_ns).items()},
            "last_error": self.last_error,
            "backoff_s": round(self.backoff_s, 3),
        }


class _Lost(Exception):
    """The session ended for `reason` (silence, a Reconnect event, the peer closing)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FeedThread:
    """Runs one `FeedProtocol` over a WebSocket in a daemon thread (see the module docstring)."""

    def __init__(
        self,
        protocol: FeedProtocol,
        books: LatestBooks | None = None,
        *,
        on_book: BookCallback | None = None,
        on_batch: Callable[[], None] | None = None,
        backoff: Backoff | None = None,
        healthy_after_s: float = 30.0,
        open_timeout_s: float = 10.0,
        max_frame_bytes: int = 16 * 1024 * 1024,
        busy_poll_us: int = 0,
        name: str | None = None,
    ) -> None:
        self.protocol = protocol
        self.books = books if books is not None else LatestBooks()
        self.on_book = on_book
        self.on_batch = on_batch
        # A consumer of every state (on_book) needs each frame's book; the others take the latest
        # book of each read, which the protocol may build once per read.
        protocol.defer_books = on_book is None
        self.backoff = backoff or Backoff()
        self.healthy_after_s = healthy_after_s
        self.open_timeout_s = open_timeout_s
        self.max_frame_bytes = max_frame_bytes
        self.busy_poll_us = busy_poll_us
        self.status = FeedStatus(protocol.venue, protocol.symbols)
        self._name = name or f"feed-{protocol.venue}"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ws: picows.WSTransport | None = None
        self._lost_reason: str | None = None
        self._last_frame_at = 0.0  # time.monotonic() of the last frame (the silence watchdog's)
        self._batch_pending = False  # books published since the consumer was last called
        self._batch_frames = 0  # frames applied since the consumer was last called
        self._read_ns = 0  # when the current read from the socket happened (0: between reads)
        self._fragments: list[bytes] | None = None  # a fragmented message's parts so far
        self._fragment_type = _TEXT
        self._ready = threading.Event()
        # TickSizeChanged events, oldest first, until the consumer takes them (`drain_tick_changes`).
        self._tick_changes: list[TickSizeChanged] = []
        self._tick_lock = threading.Lock()

    def drain_tick_changes(self) -> list[TickSizeChanged]:
        """The venue's price-grid changes since the last call (thread-safe)."""
        if not self._tick_changes:  # the usual case, read without the lock: a change appended
            return []  # meanwhile is taken by the next call
        with self._tick_lock:
            out, self._tick_changes = self._tick_changes, []
        return out

    # -- life --------------------------------------------------------------------------------------
    def start(self) -> FeedThread:
        if self._thread is not None:
            raise RuntimeError("feed already started")
        self.status.started_ns = time.time_ns()
        self._thread = threading.Thread(target=self._main, daemon=True, name=self._name)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Close the connection and end the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None and not loop.is_closed() and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(self._stop.set)
        thread.join(timeout)
        self._thread = None

    close = stop

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def set_symbols(self, symbols: Iterable[str]) -> None:
        """Change what the feed follows: the protocol gets the new symbols and the connection is
        opened again (every `on_open()` starts from scratch with fresh snapshots)."""
        new = tuple(dict.fromkeys(symbols))
        if new == self.protocol.symbols:
            return

        def apply() -> None:
            dropped = set(self.protocol.symbols) - set(new)
            self.protocol.symbols = new
            self.status.symbols = new
            for s in dropped:
                self.status.last_change_ns.pop(s, None)
                self.status.invalid.pop(s, None)
            self.books.forget(dropped)
            self._lose("resubscribe")

        if self._loop is not None and self.alive:
            self._loop.call_soon_threadsafe(apply)
        else:
            self.protocol.symbols = new
            self.status.symbols = new

    def __enter__(self) -> FeedThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the thread --------------------------------------------------------------------------------
    def _main(self) -> None:
        loop: asyncio.AbstractEventLoop
        if self.busy_poll_us > 0:
            loop = asyncio.SelectorEventLoop(_SpinningSelector(self.busy_poll_us / 1e6))
        else:
            loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._stop = asyncio.Event()
            self._ready.set()
            loop.run_until_complete(self._run())
        except Exception:  # never expected; the status says so instead of a silent dead thread
            log.exception("feed %s crashed", self._name)
            self.status.last_error = "feed loop crashed"
        finally:
            self.status.state = "stopped"
            self.status.connected_ns = 0
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _run(self) -> None:
        assert self._stop is not None
        status = self.status
        while not self._stop.is_set():
            status.state = "connecting"
            opened_at = 0.0
            reason = "closed"
            self._lost_reason = None
            self._last_frame_at = time.monotonic()
            try:
                # Before connecting: a venue may speak first (Kraken's status), and every frame
                # must find the protocol reset for the new connection.
                opening = self.protocol.on_open()
                transport, _ = await picows.ws_connect(
                    lambda: _Listener(self),
                    self.protocol.url(),
                    extra_headers=self.protocol.handshake_headers() or None,
                    websocket_handshake_timeout=self.open_timeout_s,
                    max_frame_size=self.max_frame_bytes,
                    # The venue's WebSocket pings (Kalshi's every 10 s) are answered in _on_frame:
                    # picows' own answer would swallow the frame, and with it the end of a read
                    # when the ping is the read's last frame (its books would wait for the next).
                    enable_auto_pong=False,
                    max_redirects=0,
                    logger_name=f"feed.{self.protocol.venue}",
                )
            except Exception as exc:  # refused, 401/429 handshake, DNS, timeout
                reason = "connect_failed"
                status.last_error = _describe(exc)
            else:
                opened_at = time.monotonic()
                reason = await self._session(transport, opening)
            status.state = "backoff"
            status.connected_ns = 0
            self._ws = None
            if self._stop.is_set():
                break
            if opened_at and time.monotonic() - opened_at >= self.healthy_after_s:
                self.backoff.reset()
            if reason == "resubscribe":  # our own doing (set_symbols): straight back, not counted
                delay = 0.0
            else:
                # Nobody keeps the books while the connection is down: none is the venue's now.
                self._invalidate(self.protocol.symbols)
                status.reconnects += 1
                status._count(status.reconnect_reasons, reason)
                delay = self.backoff.next()
                log.info("feed %s: connection ended (%s), again in %.2f s", self._name, reason, delay)
            status.backoff_s = delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _session(self, transport: picows.WSTransport, opening: list[str]) -> str:
        """One connection, from its opening frames to its end; returns why it ended."""
        protocol, status = self.protocol, self.status
        self._ws = transport
        tasks: list[asyncio.Task[None]] = []
        try:
            if self._lost_reason is not None:  # the venue spoke first, and it ended the session
                transport.disconnect(graceful=False)
            else:
                for frame in opening:
                    self._send(transport, frame)
                status.state = "connected"
                status.connects += 1
                status.connected_ns = time.time_ns()
                tasks.append(asyncio.ensure_future(self._watchdog()))
                tasks.append(asyncio.ensure_future(self._stop_watch()))
                if protocol.ping_interval_s:
                    tasks.append(asyncio.ensure_future(self._pinger(transport, protocol.ping_interval_s)))
            await transport.wait_disconnected()
        except Exception as exc:  # a send on a dying socket, an OS error, picows' own protocol error
            if self._lost_reason is None:
                status.last_error = _describe(exc)
                self._lost_reason = "error"
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(BaseException):
                    await t
            transport.disconnect(graceful=False)
        return self._lost_reason or "closed"

    # -- frames in (picows calls these from the loop, one frame at a time) -----------------------------
    def _on_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if self._ws is None:  # a frame right behind the handshake, before _session took over
            self._ws = transport
        msg_type = frame.msg_type
        if msg_type is _TEXT or msg_type is _BINARY or msg_type is _CONTINUATION:
            data: str | bytes | None
            if msg_type is _CONTINUATION or not frame.fin:
                data = self._assemble(frame)
            elif msg_type is _TEXT:
                try:
                    data = frame.get_payload_as_utf8_text()
                except UnicodeDecodeError:  # the protocol decides what an undecodable frame means
                    data = frame.get_payload_as_bytes()
            else:
                data = frame.get_payload_as_bytes()
            if data is not None:
                self._on_message(transport, data)
        elif msg_type is _PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif msg_type is _CLOSE:
            status = self.status
            if self._lost_reason is None:
                reason = (frame.get_close_message() or b"").decode("utf-8", "replace")
                status.last_error = f"closed by venue: {frame.get_close_code().value} {reason}"[:300]
                self._lost_reason = "closed"
            with contextlib.suppress(Exception):
                transport.send_close(frame.get_close_code())
            transport.disconnect()
        if frame.last_in_buffer:
            if self._batch_frames or self._batch_pending:
                self._end_batch(transport)
            self._read_ns = 0

    def _assemble(self, frame: picows.WSFrame) -> str | bytes | None:
        """A fragmented message: the parts until the final one, then the whole (None before that)."""
        if frame.msg_type is not _CONTINUATION:
            self._fragments = [frame.get_payload_as_bytes()]
            self._fragment_type = frame.msg_type
        elif self._fragments is None:  # a continuation of nothing: the venue broke the framing
            self._lose("protocol_error")
            return None
        else:
            self._fragments.append(frame.get_payload_as_bytes())
            if sum(map(len, self._fragments)) > self.max_frame_bytes:
                self.status.last_error = "message too big"
                self._lose("protocol_error")
                return None
        if not frame.fin:
            return None
        whole = b"".join(self._fragments)
        kind, self._fragments = self._fragment_type, None
        if kind is _TEXT:
            try:
                return whole.decode("utf-8")
            except UnicodeDecodeError:
                return whole
        return whole

    def _on_message(self, transport: picows.WSTransport, data: str | bytes) -> None:
        if self._lost_reason is not None:  # the session is ending: nothing more is applied
            return
        status = self.status
        # Every frame of one read from the socket was received when that read happened: the first
        # frame's time is the whole read's (and a book's latency is counted from it).
        recv_ns = self._read_ns
        if not recv_ns:
            recv_ns = self._read_ns = time.time_ns()
            self._last_frame_at = time.monotonic()
        self._batch_frames += 1
        status.frames += 1
        status.last_frame_ns = recv_ns
        try:
            events = self.protocol.on_frame(data, recv_ns)
        except Exception as exc:  # a protocol must not raise; if it does, start over
            log.exception("%s protocol failed on a frame", self.protocol.venue)
            status.last_error = f"protocol error: {type(exc).__name__}: {exc}"[:300]
            self._lose("protocol_error")
            return
        if events:
            self._apply(transport, events, recv_ns)
        if self._batch_frames >= BATCH_FRAMES:
            self._end_batch(transport)  # a long read: the consumer does not wait for all of it

    def _apply(self, transport: picows.WSTransport, events: list[FeedEvent], recv_ns: int) -> None:
        status, books, on_book, invalid = self.status, self.books, self.on_book, self.status.invalid
        for ev in events:
            if type(ev) is BookChanged:
                status.books += 1
                status.last_change_ns[ev.symbol] = recv_ns
                if invalid:
                    invalid.pop(ev.symbol, None)
                books.publish(ev.symbol, ev.snapshot)
                self._batch_pending = True
                if on_book is not None:
                    on_book(ev.symbol, ev.snapshot, recv_ns)
            elif type(ev) is Send:
                self._send(transport, ev.frame)
            elif type(ev) is Resync:
                self._invalidate(ev.symbols)  # first: whoever sees the count sees the books dropped
                status._count(status.resyncs, ev.reason)
            elif type(ev) is Reconnect:
                self._lose(ev.reason)
                break
            elif type(ev) is TickSizeChanged:
                status.tick_changes += 1
                with self._tick_lock:
                    self._tick_changes.append(ev)

    def _invalidate(self, symbols: Iterable[str]) -> None:
        """These books are no longer the venue's (dropped by the protocol, or the connection lost):
        nobody is handed them (`LatestBooks.latest` forgets them), and if no fresh book comes within
        `DROPPED_STALE_S` they are stale (`stale_symbols`), which pauses the algos trading them
        until it comes. A symbol dropped again before its fresh book keeps its first time."""
        symbols = list(symbols)
        invalid, now = self.status.invalid, time.time_ns()
        for s in symbols:
            invalid.setdefault(s, now)
        self.books.forget(symbols)

    def _end_batch(self, transport: picows.WSTransport) -> None:
        """Every frame that arrived together has been applied (or BATCH_FRAMES of a long read): the
        protocol's deferred books are built and the consumer takes the books now. A burst reaches it
        as the latest book of each symbol, not once per frame."""
        self._batch_frames = 0
        if self.protocol.defer_books and self._lost_reason is None:
            try:
                events = self.protocol.end_of_read(self._read_ns or time.time_ns())
            except Exception as exc:  # as in on_frame: a protocol must not raise
                log.exception("%s protocol failed at the end of a read", self.protocol.venue)
                self.status.last_error = f"protocol error: {type(exc).__name__}: {exc}"[:300]
                self._lose("protocol_error")
                events = []
            if events:
                self._apply(transport, events, self._read_ns or time.time_ns())
        if not self._batch_pending:
            return
        self._batch_pending = False
        on_batch = self.on_batch
        if on_batch is not None:
            try:
                on_batch()
            except Exception:  # the consumer's trouble must not end the feed
                log.exception("feed %s: the book consumer failed", self._name)

    def _send(self, transport: picows.WSTransport, frame: str | bytes) -> None:
        if isinstance(frame, str):
            transport.send(_TEXT, frame.encode())
        else:
            transport.send(_BINARY, frame)

    def _lose(self, reason: str) -> None:
        """End the current session from the loop (silence, stop, resubscribe, a Reconnect)."""
        if self._lost_reason is None:
            self._lost_reason = reason
        ws = self._ws
        if ws is not None:
            # not graceful: a silent peer would keep a closing handshake waiting
            ws.disconnect(graceful=False)

    async def _watchdog(self) -> None:
        silence = self.protocol.silence_s
        step = min(1.0, silence / 5)
        while True:
            await asyncio.sleep(step)
            if time.monotonic() - self._last_frame_at > silence:
                self._lose("silence")
                return

    async def _stop_watch(self) -> None:
        assert self._stop is not None
        await self._stop.wait()
        self._lose("stopped")

    async def _pinger(self, transport: picows.WSTransport, every: float) -> None:
        frame = self.protocol.ping_frame()
        if frame is None:
            return
        while True:
            await asyncio.sleep(every)
            self._send(transport, frame)


class _SpinningSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """A selector that polls without sleeping for up to `spin_s` before it blocks (busy polling).

    The feed thread then sees a frame the moment it arrives, on a core that is awake with the feed's
    code and data in its caches, instead of paying the wake-up of a sleeping thread (tens of µs on a
    VM) on every frame. It costs a core while the venue speaks: `VENUE_FEED_BUSY_POLL_US` turns it
    on for an edge that has a core of its own (docs/venues.md)."""

    def __init__(self, spin_s: float) -> None:
        super().__init__()
        self._spin_s = spin_s

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return super().select(0)
        spin = self._spin_s if timeout is None else min(timeout, self._spin_s)
        clock = time.perf_counter
        end = clock() + spin
        poll = super().select
        while True:
            ready = poll(0)
            if ready or clock() >= end:
                break
        if ready or (timeout is not None and timeout <= spin):
            return ready
        return poll(None if timeout is None else timeout - spin)


class _Listener(picows.WSListener):  # type: ignore[misc]
    """picows' per-connection handler: every frame goes to the feed at once, in the loop's thread."""

    def __init__(self, feed: FeedThread) -> None:
        super().__init__()
        self._feed = feed

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        self._feed._on_frame(transport, frame)


def _describe(exc: BaseException) -> str:
    """An exception as the feed's `last_error` (a handshake refusal keeps the venue's status line)."""
    if isinstance(exc, picows.WSHandshakeError) and exc.response is not None:
        resp = exc.response
        text = f"handshake refused: HTTP {int(resp.status)} {getattr(resp.status, 'phrase', '')}"
        if exc.raw_body:
            text += f": {exc.raw_body[:200].decode('utf-8', 'replace')}"
        return text[:300]
    return f"{type(exc).__name__}: {exc}"[:300]
