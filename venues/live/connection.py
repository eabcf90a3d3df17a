"""The I/O loop that runs a `FeedProtocol` over a real WebSocket, in a thread of its own.

`FeedThread(protocol)` is a daemon thread with its own asyncio loop. It connects to
`protocol.url()` with `protocol.handshake_headers()`, sends `protocol.on_open()`'s frames, hands
every received frame to `protocol.on_frame(data, recv_ns)` and acts on the events:

- `BookChanged` → published to a `LatestBooks` (coalesced per symbol: a slow consumer sees the
  latest book, never a growing queue) and to the optional `on_book` callback (called in the feed
  thread, for a consumer that wants the book without a thread hop);
- `Send` → written to the socket; `Resync` → counted by reason; `Reconnect` → the connection is
  closed and opened again.

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
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from venues.book import BookSnapshot
from venues.live.protocol import BookChanged, FeedProtocol, Reconnect, Resync, Send, TickSizeChanged

__all__ = ["Backoff", "FeedStatus", "FeedThread", "LatestBooks"]

log = logging.getLogger(__name__)

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
        self._event = threading.Event()
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
        self._event.set()
        for listener in self._listeners:
            listener()

    def drain(self) -> list[tuple[str, BookSnapshot]]:
        """What changed since the last drain: (symbol, latest snapshot), at most one per symbol."""
        with self._lock:
            if not self._pending:
                self._event.clear()
                return []
            items = list(self._pending.items())
            self._pending.clear()
            self._event.clear()
        return items

    def wait(self, timeout: float | None = None) -> bool:
        """Block until something was published since the last drain (True) or `timeout` (False)."""
        return self._event.wait(timeout)

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
        had a book counts from the feed's start)."""
        now = now_ns or time.time_ns()
        limit = int(stale_after_s * 1e9)
        changes = dict(self.last_change_ns)
        out = []
        for s in self.symbols:
            since = changes.get(s) or self.started_ns
            if since and now - since > limit:
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
        backoff: Backoff | None = None,
        healthy_after_s: float = 30.0,
        open_timeout_s: float = 10.0,
        max_frame_bytes: int = 16 * 1024 * 1024,
        name: str | None = None,
    ) -> None:
        self.protocol = protocol
        self.books = books if books is not None else LatestBooks()
        self.on_book = on_book
        self.backoff = backoff or Backoff()
        self.healthy_after_s = healthy_after_s
        self.open_timeout_s = open_timeout_s
        self.max_frame_bytes = max_frame_bytes
        self.status = FeedStatus(protocol.venue, protocol.symbols)
        self._name = name or f"feed-{protocol.venue}"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ws: ClientConnection | None = None
        self._lost_reason: str | None = None
        self._ready = threading.Event()
        # TickSizeChanged events, oldest first, until the consumer takes them (`drain_tick_changes`).
        self._tick_changes: list[TickSizeChanged] = []
        self._tick_lock = threading.Lock()

    def drain_tick_changes(self) -> list[TickSizeChanged]:
        """The venue's price-grid changes since the last call (thread-safe)."""
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
            try:
                ws = await websockets.connect(
                    self.protocol.url(),
                    additional_headers=self.protocol.handshake_headers() or None,
                    open_timeout=self.open_timeout_s,
                    max_size=self.max_frame_bytes,
                    compression=None,  # venues stream small frames; deflate costs more than it saves
                    proxy=None,
                )
            except Exception as exc:  # refused, 401/429 handshake, DNS, timeout
                reason = "connect_failed"
                status.last_error = f"{type(exc).__name__}: {exc}"[:300]
            else:
                opened_at = time.monotonic()
                reason = await self._session(ws)
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
                status.reconnects += 1
                status._count(status.reconnect_reasons, reason)
                delay = self.backoff.next()
            status.backoff_s = delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _session(self, ws: ClientConnection) -> str:
        """One connection, from on_open to its end; returns why it ended."""
        protocol, status, books, on_book = self.protocol, self.status, self.books, self.on_book
        self._ws = ws
        self._lost_reason = None
        tasks: list[asyncio.Task[None]] = []
        last = [time.monotonic()]  # the last frame's arrival, shared with the watchdog
        try:
            for frame in protocol.on_open():
                await ws.send(frame)
            status.state = "connected"
            status.connects += 1
            status.connected_ns = time.time_ns()
            tasks.append(asyncio.ensure_future(self._watchdog(ws, last)))
            tasks.append(asyncio.ensure_future(self._stop_watch(ws)))
            if protocol.ping_interval_s:
                tasks.append(asyncio.ensure_future(self._pinger(ws, protocol.ping_interval_s)))
            monotonic, time_ns = time.monotonic, time.time_ns
            while True:
                data = await ws.recv()
                recv_ns = time_ns()
                last[0] = monotonic()
                status.frames += 1
                status.last_frame_ns = recv_ns
                try:
                    events = protocol.on_frame(data, recv_ns)
                except Exception as exc:  # a protocol must not raise; if it does, start over
                    log.exception("%s protocol failed on a frame", protocol.venue)
                    status.last_error = f"protocol error: {type(exc).__name__}: {exc}"[:300]
                    raise _Lost("protocol_error") from exc
                for ev in events:
                    if type(ev) is BookChanged:
                        status.books += 1
                        status.last_change_ns[ev.symbol] = recv_ns
                        books.publish(ev.symbol, ev.snapshot)
                        if on_book is not None:
                            on_book(ev.symbol, ev.snapshot, recv_ns)
                    elif type(ev) is Send:
                        await ws.send(ev.frame)
                    elif type(ev) is Resync:
                        status._count(status.resyncs, ev.reason)
                    elif type(ev) is Reconnect:
                        raise _Lost(ev.reason)
                    elif type(ev) is TickSizeChanged:
                        status.tick_changes += 1
                        with self._tick_lock:
                            self._tick_changes.append(ev)
        except _Lost as lost:
            return lost.reason
        except ConnectionClosed as exc:
            if self._lost_reason is None and exc.rcvd is not None:
                status.last_error = f"closed by venue: {exc.rcvd.code} {exc.rcvd.reason}"[:300]
            return self._lost_reason or "closed"
        except Exception as exc:  # a send on a dying socket, an OS error
            status.last_error = f"{type(exc).__name__}: {exc}"[:300]
            return self._lost_reason or "error"
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(BaseException):
                    await t
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)
            with contextlib.suppress(Exception):
                ws.transport.abort()

    def _lose(self, reason: str) -> None:
        """End the current session from the loop (silence, stop, resubscribe)."""
        if self._lost_reason is None:
            self._lost_reason = reason
        ws = self._ws
        if ws is not None:
            # abort, not close: a silent peer would keep a closing handshake waiting
            ws.transport.abort()

    async def _watchdog(self, ws: ClientConnection, last: list[float]) -> None:
        silence = self.protocol.silence_s
        step = min(1.0, silence / 5)
        while True:
            await asyncio.sleep(step)
            if time.monotonic() - last[0] > silence:
                self._lose("silence")
                return

    async def _stop_watch(self, ws: ClientConnection) -> None:
        assert self._stop is not None
        await self._stop.wait()
        self._lose("stopped")

    async def _pinger(self, ws: ClientConnection, every: float) -> None:
        frame = self.protocol.ping_frame()
        if frame is None:
            return
        while True:
            await asyncio.sleep(every)
            await ws.send(frame)
