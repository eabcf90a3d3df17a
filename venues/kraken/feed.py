"""Kraken spot WebSocket v2 `book` channel as a sans-I/O `FeedProtocol`.

Docs: "Book (Level 2)" https://docs.kraken.com/api/docs/websocket-v2/book and "Spot Websockets (v2)
Book Checksum" https://docs.kraken.com/api/docs/guides/spot-ws-book-v2 (notes and captures in
/work/shared/venues/kraken/).

- Subscribe: `{"method":"subscribe","params":{"channel":"book","symbol":[...],"depth":10,
  "snapshot":true},"req_id":N}`; one ack per symbol, then a `snapshot`, then `update`s.
- Every snapshot and update carries a CRC32 of the top 10 levels (whatever the depth): asks low→high
  then bids high→low, each price and qty written at the pair's precision (`pair_decimals`,
  `lot_decimals` from AssetPairs) with the "." and the leading zeros removed, concatenated,
  unsigned. All levels of a message are applied, and the book truncated to the subscribed depth
  (Kraken sends no delete for a level pushed out of scope), before the checksum is compared.
- A mismatch or a crossed book drops that symbol's book and resubscribes it (unsubscribe +
  subscribe: a fresh snapshot); the third drop without a verified update in between (bad
  snapshots, or good snapshots whose updates then fail) reconnects instead, with backoff.
- Prices and sizes arrive as JSON numbers carrying the engine's full precision (`0.10000000`); they
  become exact integers (price ×1e9, qty ×1e8). orjson decodes them as floats, and below 2^50 units
  `round(float × scale)` is provably the exact integer; a larger number (a huge size) makes the
  frame decode again with the numbers after `"price":`/`"qty":` kept as text and converted digit by
  digit. Either way nothing is rounded, and the checksum re-formats the integers at the pair's
  precision, so the trailing zeros a float drops do not matter.
- `{"channel":"heartbeat"}` arrives about once a second once subscribed, when nothing else is sent
  on the connection: the loop's silence limit (`silence_s`) is the heartbeat check. A heartbeat also
  proves that a quiet book is still right (the stream is alive and in order, and every update was
  checksum-verified): books verified by their last checksum and not published for
  `confirm_after_s` are published again with the heartbeat's time, so a quiet but confirmed book is
  not stale; a book awaiting its resnapshot, or a connection that stopped delivering, is. Kraken
  sends heartbeats only while nothing else is sent, so the feed also pings every
  `ping_interval_s` (`{"method":"ping"}`): the pong comes behind every update sent before it and
  confirms the quiet books of a busy connection the same way. A subscribe error for a symbol (an
  unknown pair) is recorded in `errors` and that symbol gets no book (its algos pause as stale);
  an error for the whole request reconnects.
"""

from __future__ import annotations

import contextlib
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import orjson

from venues.book import Level
from venues.live.book import ASK, BID, L2Book
from venues.live.protocol import BookChanged, FeedEvent, FeedProtocol, Reconnect, Resync, Send

try:  # venues/live/native/fastfeed.c, built by `pip install -e .`; the same CRC in Python without it
    from venues.live._fastfeed import side_crc as _side_crc
except ImportError:  # pragma: no cover - a checkout whose extension was not built
    _side_crc = None

__all__ = ["DEPTHS", "KRAKEN_WS_URL", "KrakenBookProtocol", "book_checksum", "exact_int"]

KRAKEN_WS_URL = "wss://ws.kraken.com/v2"
DEPTHS = (10, 25, 100, 500, 1000)
CHECKSUM_DEPTH = 10
# A symbol's book dropped this many times (a checksum mismatch or a crossed book) without a verified
# update in between: the connection is started again, with backoff, instead of resubscribing at
# the pace of the venue's updates (bad snapshots, or good snapshots whose updates then fail).
MAX_RESYNCS = 3

# "price":29430.2 → "price":"29430.2" (and qty), so the decoder keeps the exact text.
_QUOTE_NUMBERS = re.compile(r'"(price|qty)"\s*:\s*(-?[0-9][0-9.eE+-]*)')


def exact_int(text: str, decimals: int) -> int:
    """Decimal text → integer in units of 10^-decimals, exactly ("0.10000000", 8 → 10000000).
    Raises ValueError for finer precision, a negative value or anything that isn't a number."""
    if "e" in text or "E" in text:
        try:
            scaled = Decimal(text).scaleb(decimals)
        except InvalidOperation:
            raise ValueError(f"not a number: {text!r}") from None
        if scaled != scaled.to_integral_value() or scaled < 0:
            raise ValueError(f"{text!r} is not a non-negative multiple of 1e-{decimals}")
        return int(scaled)
    whole, _, frac = text.partition(".")
    if len(frac) > decimals:
        if frac[decimals:].strip("0"):
            raise ValueError(f"{text!r} has more than {decimals} decimals")
        frac = frac[:decimals]
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"not a non-negative decimal: {text!r}")
    value: int = int(whole) * 10**decimals + (int(frac) * 10 ** (decimals - len(frac)) if frac else 0)
    return value


def book_checksum(book: L2Book, price_decimals: int, qty_decimals: int) -> int:
    """Kraken's v2 CRC32 over the top 10 levels of `book` (see the module docstring)."""
    return levels_checksum(
        book.levels(ASK, CHECKSUM_DEPTH), book.levels(BID, CHECKSUM_DEPTH), price_decimals, qty_decimals
    )


def levels_checksum(
    asks: Sequence[Level], bids: Sequence[Level], price_decimals: int, qty_decimals: int
) -> int:
    """The checksum of levels in ABI units (asks best first, bids best first; only the first 10 of
    each count)."""
    ask_crc = zlib.crc32(side_text(asks, price_decimals, qty_decimals))
    return zlib.crc32(side_text(bids, price_decimals, qty_decimals), ask_crc)


def side_text(levels: Sequence[Level], price_decimals: int, qty_decimals: int) -> bytes:
    """One side's part of the checksummed text (its first 10 levels). CRC32 runs on: the checksum
    is `crc32(bids_text, crc32(asks_text))`, so a side an update left alone is not written again."""
    memo = _text_memo(price_decimals, qty_decimals)
    if len(memo) > _CHECKSUM_MEMO_SIZE:
        memo.clear()
    return "".join(map(memo.__getitem__, levels[:CHECKSUM_DEPTH])).encode()


class _LevelText(dict[Level, str]):
    """Level → its checksum text at one precision, formatted on first use: most levels are the
    same from one update to the next, so each is formatted once and looked up afterwards."""

    __slots__ = ("pdiv", "qdiv")

    def __init__(self, price_decimals: int, qty_decimals: int) -> None:
        super().__init__()
        self.pdiv, self.qdiv = _DIVISORS[(price_decimals, qty_decimals)]

    def __missing__(self, lv: Level) -> str:
        piece = self[lv] = f"{lv[0] // self.pdiv}{lv[1] // self.qdiv}"
        return piece


def _text_memo(price_decimals: int, qty_decimals: int) -> _LevelText:
    memo = _CHECKSUM_TEXT.get((price_decimals, qty_decimals))
    if memo is None:
        memo = _CHECKSUM_TEXT[(price_decimals, qty_decimals)] = _LevelText(price_decimals, qty_decimals)
    return memo


_CHECKSUM_TEXT: dict[tuple[int, int], _LevelText] = {}  # (price decimals, qty decimals) → memo


class _Divisors(dict[tuple[int, int], tuple[int, int]]):
    """(price decimals, qty decimals) → what ABI units are divided by to write them at that precision."""

    def __missing__(self, precision: tuple[int, int]) -> tuple[int, int]:
        divs = self[precision] = (10 ** (9 - precision[0]), 10 ** (8 - precision[1]))
        return divs


_DIVISORS = _Divisors()
_CHECKSUM_MEMO_SIZE = 65_536  # levels per precision before the memo starts again


class _Malformed(Exception):
    pass


class _Inexact(Exception):
    """A float too large to convert exactly: decode the frame with exact text instead."""


def _quote(m: re.Match[str]) -> str:
    return f'"{m.group(1)}":"{m.group(2)}"'


# Below 2**50 units, round(float × scale) is the exact integer: the float of a decimal lexeme is
# within 2^-53 relative of it, the product adds as much again, so the error stays under 0.5 unit.
_FLOAT_EXACT_LIMIT = float(2**50)


def _scaled(value: Any, scale: float, digits: int) -> int:
    """A price or size ×10**digits, exact. A float (orjson's number) below the exactness limit is
    rounded from its scaled value; text (the exact re-decode) is converted digit by digit; a float
    at or past the limit raises `_Inexact` (the frame is decoded again as text)."""
    t = type(value)
    if t is float or t is int:
        v: float = value * scale
        if not 0 <= v < _FLOAT_EXACT_LIMIT:
            if v < 0:
                raise _Malformed
            raise _Inexact
        return round(v)
    if t is str:
        return exact_int(value, digits)
    raise _Malformed


def _level(lv: Any) -> tuple[int, int]:
    """One level's (price ×1e9, qty ×1e8), exact (`_scaled`)."""
    return _scaled(lv["price"], 1e9, 9), _scaled(lv["qty"], 1e8, 8)


class KrakenBookProtocol(FeedProtocol):
    venue: ClassVar[str] = "kraken"
    silence_s: ClassVar[float] = 10.0  # heartbeats come about every second once subscribed
    # A ping every 10 s: its pong confirms quiet books when the connection carries other updates
    # (Kraken sends heartbeats only while nothing else is sent).
    ping_interval_s: ClassVar[float | None] = 10.0
    stale_after_s: ClassVar[float] = 60.0
    confirm_after_s: ClassVar[float] = 20.0

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        ws_url: str = KRAKEN_WS_URL,
        precision: Mapping[str, tuple[int, int]],
        depth: int = 10,
    ) -> None:
        """`precision[symbol]` = (pair_decimals, lot_decimals) from AssetPairs (`KrakenPair.precision`);
        a symbol without one is not subscribed (its error says why)."""
        if depth not in DEPTHS:
            raise ValueError(f"Kraken book depth must be one of {DEPTHS}, not {depth}")
        super().__init__(symbols, ws_url=ws_url)
        self.depth = depth
        self.precision = dict(precision)
        self.books: dict[str, L2Book] = {}
        self.errors: dict[str, str] = {}  # symbol (or "*") → the venue's last error text
        self.system_status = ""
        self._failures: dict[str, int] = {}  # symbol → books dropped since its last verified update
        # symbol → (asks, crc32 of their text, bids, their text or b"" when the C path did not keep
        # it) as last verified, and when the book was last published (a verified book is
        # published: a symbol here has a good book)
        self._sides: dict[str, tuple[tuple[Level, ...], int, tuple[Level, ...], bytes, int]] = {}
        self._confirm_ns = int(self.confirm_after_s * 1e9)
        self._native_crc = _side_crc is not None and os.environ.get("SEQUENCE_NATIVE_FEED", "1") != "0"
        self._req_id = 0

    # -- frames out --------------------------------------------------------------------------------
    def _request(self, method: str, symbols: Sequence[str]) -> str:
        self._req_id += 1
        params: dict[str, Any] = {"channel": "book", "symbol": list(symbols), "depth": self.depth}
        if method == "subscribe":
            params["snapshot"] = True
        return orjson.dumps({"method": method, "params": params, "req_id": self._req_id}).decode()

    def on_open(self) -> list[str]:
        self.books = {}
        self._failures = {}
        self._sides = {}
        self.errors = {}
        wanted = []
        for s in self.symbols:
            if s in self.precision:
                wanted.append(s)
            else:
                self.errors[s] = "not in Kraken's pair list (AssetPairs)"
        return [self._request("subscribe", wanted)] if wanted else []

    def ping_frame(self) -> str | None:
        return '{"method":"ping"}'

    def _resync(self, reason: str, symbols: Sequence[str]) -> list[FeedEvent]:
        for s in symbols:
            self.books.pop(s, None)
            self._sides.pop(s, None)
        symbols = tuple(s for s in symbols if s in self.precision)
        if not symbols:
            return []
        return [
            Resync(reason, symbols),
            Send(self._request("unsubscribe", symbols)),
            Send(self._request("subscribe", symbols)),
        ]

    # -- frames in ---------------------------------------------------------------------------------
    def on_frame(self, data: str | bytes, recv_ns: int) -> list[FeedEvent]:
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self._resync("malformed", self.symbols)
        if type(msg) is not dict:
            return self._resync("malformed", self.symbols)
        channel = msg.get("channel")
        if channel == "book":
            snapshot = msg.get("type") == "snapshot"
            items = msg.get("data")
            if type(items) is not list:
                return self._resync("malformed", self.symbols)
            if len(items) == 1:  # the usual frame: one symbol's book
                try:
                    return self._book(items[0], snapshot, recv_ns)
                except _Inexact:
                    return self._exact(data, 0, snapshot, recv_ns, [])
            out: list[FeedEvent] = []
            for i, item in enumerate(items):
                try:
                    out += self._book(item, snapshot, recv_ns)
                except _Inexact:
                    return self._exact(data, i, snapshot, recv_ns, out)
            return out
        if channel == "heartbeat":
            return self._confirm(recv_ns) if self._sides else []
        if channel == "status":
            with contextlib.suppress(KeyError, IndexError, TypeError):
                self.system_status = str(msg["data"][0]["system"])
            return []
        method = msg.get("method")
        if method is not None:
            return self._answer(msg, method, recv_ns)
        return []  # another channel's data (none subscribed) or a field Kraken added later

    def _answer(self, msg: dict[str, Any], method: str, recv_ns: int) -> list[FeedEvent]:
        if msg.get("success") is not False:
            if method == "subscribe":
                sym = (msg.get("result") or {}).get("symbol")
                if type(sym) is str:
                    self.errors.pop(sym, None)
            elif method == "pong" and self._sides:
                # Our ping's answer, behind every update sent before it: as a heartbeat, it
                # confirms the quiet books of a connection too busy for heartbeats.
                return self._confirm(recv_ns)
            return []  # acks
        text = str(msg.get("error", ""))
        sym = msg.get("symbol")
        if isinstance(sym, str):
            self.errors[sym] = text  # e.g. "Currency pair not supported XBT/USD": that symbol only
            return []
        self.errors["*"] = text
        if method in ("subscribe", "unsubscribe"):
            return [Reconnect("subscribe_refused")]  # the whole request was refused: start over
        return []  # a refused ping costs nothing

    def _book(self, item: Any, snapshot: bool, recv_ns: int) -> list[FeedEvent]:
        sym = item.get("symbol") if type(item) is dict else None
        if not isinstance(sym, str):
            return self._resync("malformed", self.symbols)
        precision = self.precision.get(sym)
        if precision is None:
            return []
        pd, ld = precision
        try:
            if snapshot:
                book = self.books.get(sym)
                if book is None:
                    book = self.books[sym] = L2Book()
                book.replace(self._levels(item.get("bids")), self._levels(item.get("asks")))
            else:
                book = self.books.get(sym)
                if book is None:
                    return []  # an update before the (re)snapshot: ignored, the snapshot follows
                bids, asks = item.get("bids"), item.get("asks")
                if type(bids) is not list or type(asks) is not list:
                    raise _Malformed
                if bids:
                    self._apply(book, BID, bids)
                if asks:
                    self._apply(book, ASK, asks)
            checksum = int(item["checksum"])
        except (_Malformed, KeyError, TypeError, ValueError):
            return self._resync("malformed", (sym,))
        depth = self.depth
        if book.depth(BID) > depth:
            book.truncate(BID, depth)
        if book.depth(ASK) > depth:
            book.truncate(ASK, depth)
        # A side whose levels did not change is the same tuple as at the last verified checksum
        # (L2Book keeps it): its text and CRC are not computed again.
        top_bids, top_asks = book.top(BID, depth), book.top(ASK, depth)
        kept = None if snapshot else self._sides.get(sym)
        crc = -1
        if self._native_crc:  # a side in one C call (venues.live._fastfeed), no text kept
            pdiv, qdiv = _DIVISORS[precision]
            ask_crc = (
                kept[1] if kept is not None and kept[0] is top_asks else _side_crc(top_asks, pdiv, qdiv, 0)
            )
            if ask_crc >= 0:
                crc = _side_crc(top_bids, pdiv, qdiv, ask_crc)
            bid_text = b""
        if crc < 0:  # the Python path (also for a number past 64 bits, which the C one refuses)
            if kept is not None and kept[0] is top_asks:
                ask_crc = kept[1]
            else:
                ask_crc = zlib.crc32(side_text(top_asks, pd, ld))
            if kept is not None and kept[2] is top_bids and kept[3]:
                bid_text = kept[3]
            else:
                bid_text = side_text(top_bids, pd, ld)
            crc = zlib.crc32(bid_text, ask_crc)
        if crc != checksum:
            return self._failed("checksum", sym)
        self._sides[sym] = (top_asks, ask_crc, top_bids, bid_text, recv_ns)
        if top_bids and top_asks and top_bids[0][0] >= top_asks[0][0]:
            return self._failed("crossed", sym)
        if not snapshot and self._failures:
            self._failures.pop(sym, None)  # a verified update: the book is being kept again
        return [BookChanged(sym, book.snapshot(recv_ns, depth))]

    def _failed(self, reason: str, sym: str) -> list[FeedEvent]:
        """`sym`'s book is wrong (`reason`): resubscribe it; after `MAX_RESYNCS` drops without a
        verified update in between (snapshots that fail their checksum, or good snapshots whose
        updates then fail), start the connection again with backoff rather than resubscribing at
        the pace of the venue's updates."""
        n = self._failures[sym] = self._failures.get(sym, 0) + 1
        if n >= MAX_RESYNCS:
            self._failures[sym] = 0
            self.books.pop(sym, None)
            self._sides.pop(sym, None)
            return [Resync(reason, (sym,)), Reconnect(reason)]
        return self._resync(reason, (sym,))

    def _exact(
        self, data: str, start: int, snapshot: bool, recv_ns: int, out: list[FeedEvent]
    ) -> list[FeedEvent]:
        """Item `start` of the frame has a number too large for the float path: decode the frame
        again with exact text and handle the items from `start` on, after `out`: the events of the
        items before it are kept, not made again (a book one of them dropped would ignore its
        update the second time, and the resubscribe it asked for would be lost). The levels of item
        `start` already set are set again, in the same order: a level set is idempotent."""
        exact = orjson.loads(_QUOTE_NUMBERS.sub(_quote, data))
        for item in exact["data"][start:]:
            out += self._book(item, snapshot, recv_ns)
        return out

    def _confirm(self, recv_ns: int) -> list[FeedEvent]:
        """A heartbeat, or the pong of our ping: the connection is delivering in order, so every
        book its last checksum verified is still the venue's. Those not published for
        `confirm_after_s` are published again with this frame's time (a dropped book, awaiting its
        snapshot, is not in `_sides`)."""
        limit = recv_ns - self._confirm_ns
        sides, books, depth = self._sides, self.books, self.depth
        out: list[FeedEvent] = []
        for sym, kept in sides.items():
            if kept[4] <= limit:
                sides[sym] = (kept[0], kept[1], kept[2], kept[3], recv_ns)
                out.append(BookChanged(sym, books[sym].snapshot(recv_ns, depth)))
        return out

    @staticmethod
    def _apply(book: L2Book, side: int, levels: list[Any]) -> None:
        """Set each level of an update on `side`, converted as `_levels` converts them (a level
        set is idempotent: a frame decoded again exactly after `_Inexact` sets them again)."""
        setlevel = book.set
        for lv in levels:
            setlevel(side, *_level(lv))

    @staticmethod
    def _levels(levels: Any) -> list[tuple[int, int]]:
        """[(price ×1e9, qty ×1e8)], exact (`_level`)."""
        if not isinstance(levels, list):
            raise _Malformed
        return [_level(lv) for lv in levels]
