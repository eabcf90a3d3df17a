"""Coinbase Advanced Trade's public `level2` WebSocket channel as a sans-I/O `FeedProtocol`.

Protocol facts (Coinbase's AsyncAPI pages "Level 2 order book" and "Heartbeats", the "Advanced
Trade WebSocket Overview" and "WebSocket Channels" pages; ../shared/venues/coinbase/NOTES.md items
1-13 and the captures beside it):

- Market data is at `wss://advanced-trade-ws.coinbase.com`, no authentication for `level2` or
  `heartbeats`. A client must subscribe within 5 seconds. Subscribing is one channel per message:
  `{"type": "subscribe", "product_ids": [...], "channel": "level2"}` (a string `channel`, never a
  `channels` list); `unsubscribe` has the same shape. Unauthenticated clients may send 8 messages a
  second, so a resync sends one unsubscribe and one subscribe for all the books it drops.
- Data messages are `{channel, client_id, timestamp, sequence_num, events}`. You subscribe to
  `level2` but the data carries `"channel": "l2_data"`; each event is `{type: "snapshot" |
  "update", product_id, updates: [{side, event_time, price_level, new_quantity}]}`, sides are
  `bid`/`offer` (never `ask`), `new_quantity` is the size at the level (not a delta), "0" (any
  spelling: "0.00000000") removes it. A snapshot replaces the product's book.
- `sequence_num` is one counter per connection (the AsyncAPI document: "Per-connection message
  sequence number"; observed rising by one across every channel, heartbeats and subscription acks
  included). So a gap can hide any product's update: every book is dropped and resubscribed
  (unsubscribe, then subscribe: whether a repeated subscribe alone sends a new snapshot is not
  documented). A number lower than expected "can be ignored" (the overview): it is.
- `heartbeats` arrive every second on a subscribed connection and keep it open ("Most channels
  close within 60-90 seconds if no updates are sent"); their `heartbeat_counter` is recorded. A
  heartbeat in sequence also proves that a quiet book is still right: books not published for
  `confirm_after_s` are published again with the heartbeat's time, so a quiet but confirmed book is
  not stale, and one whose connection has stopped delivering is.
- Errors have no envelope: `{"type": "error", "message": "..."}` (the one captured text is
  "authentication failure"; the others are not documented, so none is matched on). An error means
  we and the venue disagree (a refused subscribe, a product it doesn't list): reconnect, with the
  loop's backoff; the message is kept in `last_error`. Messages of other channels and types are
  ignored ("Clients are expected to ignore messages they do not support").
- A frame that is not JSON, an event that can't be read, or a book that ends a message crossed
  drops the books concerned and resubscribes them; `_MAX_ATTEMPTS` resyncs of one product without
  a snapshot in between give up on the connection.

Prices and sizes are decimal text, converted exactly to the ABI's integers (price ×1e9, size ×1e8);
text with more digits than that (beyond trailing zeros) is refused as malformed, never rounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import orjson

from venues.coinbase.products import market_data_product, product_id
from venues.live.book import ASK, BID, L2Book
from venues.live.protocol import BookChanged, FeedEvent, FeedProtocol, Reconnect, Resync, Send

__all__ = ["CoinbaseFeed", "parse_decimal", "subscribe_frame", "DEFAULT_WS_URL"]

DEFAULT_WS_URL = "wss://advanced-trade-ws.coinbase.com"

_MAX_ATTEMPTS = 3  # resyncs of one product without a snapshot in between, then reconnect
_SIDES = {"bid": BID, "offer": ASK}
_MEMO_LIMIT = 1 << 16  # decimal text → integer memo entries (cleared when full)


def parse_decimal(text: Any, digits: int) -> int:
    """Non-negative decimal text ("68900.00", "0.00000000", "5") as an integer ×10^digits, exactly.

    Trailing zeros beyond `digits` are fine ("1.5000000000"); a significant digit beyond them, a
    sign, an exponent, spaces or a non-string raise ValueError."""
    if type(text) is not str or not text.isascii():
        raise ValueError(f"not a decimal string: {text!r}")
    whole, dot, frac = text.partition(".")
    if not whole.isdigit() or (dot and not frac.isdigit()):
        raise ValueError(f"not a decimal string: {text!r}")
    if not frac:
        whole_value: int = int(whole) * 10**digits
        return whole_value
    if len(frac) > digits:
        frac = frac.rstrip("0")
        if len(frac) > digits:
            raise ValueError(f"{text!r} has more than {digits} decimals")
    # one int() of the digits without the dot, scaled by the decimals it lacks
    value: int = int(whole + frac) * 10 ** (digits - len(frac))
    return value


def subscribe_frame(kind: str, channel: str, product_ids: Iterable[str]) -> str:
    """A subscribe/unsubscribe message in the documented shape (one channel per message)."""
    return orjson.dumps({"type": kind, "product_ids": list(product_ids), "channel": channel}).decode()


class CoinbaseFeed(FeedProtocol):
    """Coinbase `level2` + `heartbeats` for a set of spot symbols (see the module docstring)."""

    venue: ClassVar[str] = "coinbase"
    silence_s: ClassVar[float] = 10.0  # heartbeats come every second
    stale_after_s: ClassVar[float] = 60.0
    confirm_after_s: ClassVar[float] = 20.0

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        ws_url: str = DEFAULT_WS_URL,
        depth: int = 10,
        aliases: Mapping[str, str] | None = None,
        loads: Callable[[str | bytes], Any] = orjson.loads,
    ) -> None:
        """`aliases` maps a symbol to the product whose book it reads when the catalogue says so
        (BTC/USDC → BTC-USD); without it `products.market_data_product` decides. A symbol that is
        not a spot pair raises ValueError here (later `set_symbols` skips it instead)."""
        for s in symbols:
            product_id(s)
        super().__init__(symbols, ws_url=ws_url)
        self.depth = depth
        self.aliases = dict(aliases or {})
        self._loads = loads
        self._symbols_of: dict[str, tuple[str, ...]] = {}  # subscribed product → our symbols
        self._routes: dict[str, str] = {}  # product id a message may carry → subscribed product
        self._books: dict[str, L2Book] = {}
        self._ready: set[str] = set()  # products with a snapshot on this connection
        self._attempts: dict[str, int] = {}
        self._last_emit: dict[str, int] = {}
        self._deferred: set[str] = set()  # products changed since end_of_read (defer_books)
        self._expected: int | None = None  # the next sequence_num
        self._confirm_ns = int(self.confirm_after_s * 1e9)
        self._px_memo: dict[str, int] = {}
        self._qty_memo: dict[str, int] = {}
        self.skipped_symbols: tuple[str, ...] = ()  # symbols on_open could not map
        self.last_error = ""  # the venue's last error message
        self.heartbeat_counter: int | None = None
        self.gaps = 0

    # -- the contract ------------------------------------------------------------------------------
    def on_open(self) -> list[str]:
        symbols_of: dict[str, list[str]] = {}
        routes: dict[str, str] = {}
        skipped = []
        for symbol in self.symbols:
            try:
                own = product_id(symbol)
                book = self.aliases.get(symbol) or self.aliases.get(own) or market_data_product(symbol)
            except ValueError:
                skipped.append(symbol)
                continue
            symbols_of.setdefault(book, []).append(symbol)
            routes[book] = book
            routes.setdefault(own, book)  # in case the venue labels the data with the -USDC id
        self.skipped_symbols = tuple(skipped)
        self._symbols_of = {p: tuple(dict.fromkeys(s)) for p, s in symbols_of.items()}
        self._routes = routes
        self._books = {p: L2Book() for p in self._symbols_of}
        self._ready.clear()
        self._attempts.clear()
        self._last_emit.clear()
        self._deferred.clear()
        self._expected = None
        frames = [subscribe_frame("subscribe", "heartbeats", [])]
        if self._symbols_of:
            frames.append(subscribe_frame("subscribe", "level2", self._symbols_of))
        return frames

    def on_frame(self, data: str | bytes, recv_ns: int) -> list[FeedEvent]:
        try:
            m = self._loads(data)
        except (ValueError, TypeError):
            return self._lost_track("malformed")
        if type(m) is not dict:
            return self._lost_track("malformed")
        channel = m.get("channel")
        if channel is None:
            if m.get("type") == "error":
                message = m.get("message")
                self.last_error = str(message)[:300] if message is not None else "error without a message"
                return [Reconnect("venue_error")]
            return []  # a message type we do not support
        seq = m.get("sequence_num")
        if type(seq) is not int:
            return self._lost_track("malformed")
        expected = self._expected
        if expected is not None and seq != expected:
            if seq < expected:
                return []  # late or repeated: the overview says it can be ignored
            self._expected = seq + 1
            self.gaps += 1
            return self._resync(tuple(self._books), "gap")
        self._expected = seq + 1
        if channel == "l2_data":
            return self._on_l2(m, recv_ns)
        if channel == "heartbeats":
            return self._on_heartbeat(m, recv_ns)
        return []  # subscriptions acks, other channels

    # -- messages ----------------------------------------------------------------------------------
    def _on_l2(self, m: dict[str, Any], recv_ns: int) -> list[FeedEvent]:
        events = m.get("events")
        if type(events) is not list:
            return self._resync(tuple(self._books), "malformed")
        touched: list[str] = []
        broken: list[str] = []
        routes, ready, books = self._routes, self._ready, self._books
        for ev in events:
            if type(ev) is not dict:
                return self._resync(tuple(self._books), "malformed")
            pid = ev.get("product_id")
            product = routes.get(pid) if type(pid) is str else None
            if product is None or product in broken:
                continue  # not ours (or already being resynced)
            kind = ev.get("type")
            try:
                if kind == "update":
                    if product not in ready:
                        continue  # its snapshot is on the way
                    self._apply(books[product], ev["updates"])
                elif kind == "snapshot":
                    self._load(books[product], ev["updates"])
                    ready.add(product)
                else:
                    continue
            except (KeyError, TypeError, ValueError):
                broken.append(product)
                continue
            if product not in touched:
                touched.append(product)
        out: list[FeedEvent] = []
        for product in touched:
            if product in broken:
                continue
            if books[product].crossed:
                out += self._resync((product,), "crossed")
            else:
                self._attempts.pop(product, None)  # a good book: the resyncs worked
                out += self._emit(product, recv_ns)
        if broken:
            out += self._resync(tuple(broken), "malformed")
        return out

    def _apply(self, book: L2Book, updates: Any) -> None:
        px_memo, qty_memo, sides = self._px_memo, self._qty_memo, _SIDES
        setlevel = book.set
        for u in updates:
            side = sides[u["side"]]
            text = u["price_level"]
            px = px_memo.get(text)
            if px is None:
                px = self._memo(px_memo, text, 9)
            text = u["new_quantity"]
            qty = qty_memo.get(text)
            if qty is None:
                qty = self._memo(qty_memo, text, 8)
            setlevel(side, px, qty)

    def _load(self, book: L2Book, updates: Any) -> None:
        levels: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        for u in updates:
            px, qty = parse_decimal(u["price_level"], 9), parse_decimal(u["new_quantity"], 8)
            levels[_SIDES[u["side"]]].append((px, qty))
        book.replace(levels[BID], levels[ASK])

    @staticmethod
    def _memo(memo: dict[str, int], text: Any, digits: int) -> int:
        value = parse_decimal(text, digits)  # ValueError for a non-string too, so text is hashable
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[text] = value
        return value

    def _on_heartbeat(self, m: dict[str, Any], recv_ns: int) -> list[FeedEvent]:
        events = m.get("events")
        if type(events) is list and events and type(events[-1]) is dict:
            counter = events[-1].get("heartbeat_counter")
            if type(counter) is int:
                self.heartbeat_counter = counter
        # The connection is delivering in sequence: a quiet book is still the venue's book.
        limit = recv_ns - self._confirm_ns
        out: list[FeedEvent] = []
        for product in self._books:
            if product in self._ready and self._last_emit.get(product, 0) <= limit:
                out += self._emit(product, recv_ns)
        return out

    def _emit(self, product: str, ts_ns: int) -> list[FeedEvent]:
        self._last_emit[product] = ts_ns
        if self.defer_books:
            if product in self._deferred:
                self.coalesced += len(self._symbols_of[product])
            else:
                self._deferred.add(product)
            return []
        snap = self._books[product].snapshot(ts_ns, self.depth)
        return [BookChanged(symbol, snap) for symbol in self._symbols_of[product]]

    def end_of_read(self, recv_ns: int) -> list[FeedEvent]:
        out: list[FeedEvent] = []
        if self._deferred:
            for product in self._deferred:
                if product in self._ready:  # not dropped by a resync since
                    snap = self._books[product].snapshot(recv_ns, self.depth)
                    out += [BookChanged(symbol, snap) for symbol in self._symbols_of[product]]
            self._deferred.clear()
        return out

    # -- resyncing ---------------------------------------------------------------------------------
    def _lost_track(self, reason: str) -> list[FeedEvent]:
        """A frame we could not read may have carried any book's update (and its sequence_num):
        every book is resynced and the next frame's number becomes the new base."""
        self._expected = None
        return self._resync(tuple(self._books), reason)

    def _resync(self, products: tuple[str, ...], reason: str) -> list[FeedEvent]:
        """Drop these books and ask for fresh snapshots (unsubscribe, then subscribe)."""
        if not products:
            return []
        symbols: list[str] = []
        for p in products:
            self._ready.discard(p)
            self._books[p].clear()
            self._last_emit.pop(p, None)
            self._attempts[p] = self._attempts.get(p, 0) + 1
            symbols += self._symbols_of[p]
        out: list[FeedEvent] = [Resync(reason, tuple(symbols))]
        if max(self._attempts[p] for p in products) > _MAX_ATTEMPTS:
            out.append(Reconnect(f"resync_failed_{reason}"))
            return out
        out.append(Send(subscribe_frame("unsubscribe", "level2", products)))
        out.append(Send(subscribe_frame("subscribe", "level2", products)))
        return out

    # -- for tests and the status page -------------------------------------------------------------
    def products(self) -> dict[str, tuple[str, ...]]:
        """Subscribed product id → the symbols its book is published under."""
        return dict(self._symbols_of)

    def ready(self) -> set[str]:
        """Products whose book is live (a snapshot received, no resync pending)."""
        return set(self._ready)
