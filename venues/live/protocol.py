"""The contract between a venue's market-data protocol and the loop that runs it.

A `FeedProtocol` is sans-I/O: the loop (`venues.live.connection`) opens the WebSocket at `url()`
with `handshake_headers()`, sends `on_open()`'s frames, then hands every received frame to
`on_frame()` with the time it was read, and acts on the events it gets back:

- `BookChanged(symbol, snapshot)`: a book is now in this state (coalesced per symbol downstream:
  a slow consumer sees the latest book, never a growing queue);
- `Send(frame)`: write this frame (a resubscribe, a pong);
- `Resync(reason, symbols)`: the protocol dropped these books (gap, checksum mismatch, crossed
  book, malformed message) and has asked for fresh snapshots itself (through `Send` events in the
  same answer) — the loop counts it and forgets those books (nobody is handed them); one that has
  not come back within a couple of seconds is stale, and the algos trading it pause (`stale_book`)
  until it does;
- `Reconnect(reason)`: the connection can't be trusted (an error the venue sent, a message that
  can't be understood): close it and connect again with backoff.
- `TickSizeChanged(symbol, old_tick_1e9, new_tick_1e9)` (optional; only venues whose tick moves
  while trading, Polymarket): the instrument's price grid changed; orders on the old grid are now
  refused by the venue. A loop that does not use it may ignore it.

Every `on_open()` starts from scratch: a protocol forgets all books and sequence numbers there,
because a new connection begins with new snapshots. `ping_frame()` is sent every
`ping_interval_s` when the venue wants application-level heartbeats (Polymarket's text `PING`);
`silence_s` is how long the loop waits for any frame before it declares the connection dead.
`stale_after_s` is how long a book may go without a change before the algos that trade it pause
(`stale_book`). Symbols are our canonical instrument symbols (`venues.instruments`); the protocol
maps them to and from the venue's own names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from venues.book import BookSnapshot

__all__ = ["BookChanged", "FeedEvent", "FeedProtocol", "Reconnect", "Resync", "Send", "TickSizeChanged"]


@dataclass(frozen=True, slots=True)
class BookChanged:
    symbol: str
    snapshot: BookSnapshot


def _book_changed_init(self: BookChanged, symbol: str, snapshot: BookSnapshot) -> None:
    # What the frozen dataclass's own __init__ does (object.__setattr__ per field), through the
    # slots' descriptors: a third of the cost, for the one event every frame of every feed makes.
    _set_symbol(self, symbol)
    _set_snapshot(self, snapshot)


_fields: Any = vars(BookChanged)  # the slots' member descriptors
_set_symbol = _fields["symbol"].__set__
_set_snapshot = _fields["snapshot"].__set__
BookChanged.__init__ = _book_changed_init  # type: ignore[method-assign,assignment]


@dataclass(frozen=True, slots=True)
class Send:
    frame: str


@dataclass(frozen=True, slots=True)
class Resync:
    reason: str  # "gap", "checksum", "crossed", "malformed", ...
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reconnect:
    reason: str


@dataclass(frozen=True, slots=True)
class TickSizeChanged:
    symbol: str
    old_tick_1e9: int  # 0 when the previous tick was not known
    new_tick_1e9: int


FeedEvent = BookChanged | Send | Resync | Reconnect | TickSizeChanged


class FeedProtocol(ABC):
    """One venue's public market-data protocol for a set of symbols (see the module docstring)."""

    venue: ClassVar[str]
    ping_interval_s: ClassVar[float | None] = None
    silence_s: ClassVar[float] = 30.0
    stale_after_s: ClassVar[float] = 60.0

    #: Set by the feed loop when its consumer takes the latest book of each read, not every state:
    #: a protocol that supports it then builds each changed book's snapshot once, in `end_of_read`,
    #: instead of once per frame (a read often carries many frames of the same book).
    defer_books: bool = False
    #: Book states a deferring protocol replaced within a read before building them (they never
    #: reached a consumer: counted with `LatestBooks.coalesced` in the feed's status).
    coalesced: int = 0

    def __init__(self, symbols: Sequence[str], *, ws_url: str) -> None:
        self.symbols = tuple(symbols)
        self.ws_url = ws_url

    def url(self) -> str:
        return self.ws_url

    def handshake_headers(self) -> dict[str, str]:
        """Extra HTTP headers of the WebSocket handshake (Kalshi signs it); none by default."""
        return {}

    @abstractmethod
    def on_open(self) -> list[str]:
        """Forget every book and sequence number; the frames to send on a new connection."""

    @abstractmethod
    def on_frame(self, data: str | bytes, recv_ns: int) -> list[FeedEvent]:
        """Handle one received frame; never raises for bad input (answer `Resync`/`Reconnect`)."""

    def ping_frame(self) -> str | None:
        """The application-level heartbeat to send every `ping_interval_s`, if the venue wants one."""
        return None

    def end_of_read(self, recv_ns: int) -> list[FeedEvent]:
        """The frames of one read have been handled: with `defer_books`, a `BookChanged` for each
        book that changed since the last call and is still good (its latest state). Nothing for a
        protocol that emits its books from `on_frame`."""
        return []
