"""Polymarket's CLOB market channel as a sans-I/O `FeedProtocol`.

Wire protocol (docs.polymarket.com, market channel and its AsyncAPI document; the captures and the
facts a connector gets wrong are in ../shared/venues/polymarket/NOTES.md):

- Connect to `wss://ws-subscriptions-clob.polymarket.com/ws/market` and send one initial
  subscription `{"assets_ids": [token ids], "type": "market", "initial_dump": true}`. Sending that
  initial form twice on one connection is answered with the text `INVALID OPERATION`; later
  changes use `{"assets_ids": [...], "operation": "subscribe"|"unsubscribe"}`. An empty
  `assets_ids` means *every* market, so a feed never subscribes to nothing.
- Keepalive: the text `PING` every 10 s, answered with the text `PONG`; idle connections close.
- `book` (also sent without `event_type` in older captures): the whole book of one token. Levels
  come in no promised order (real captures list bids ascending and asks descending, the docs
  disagree with each other), so the book is rebuilt from the levels and the best prices are the
  max bid / min ask. A `book` after updates replaces the book.
- `price_change`: `price_changes[]`, each entry `{asset_id, price, size, side, hash, best_bid,
  best_ask}`; `size` is the new total at that price (`"0"` removes it), BUY is a bid level and SELL
  an ask level, and one message can carry both tokens of a market (route by each entry's
  `asset_id`). The 2024 single-level form (top-level `asset_id`/`price`/`size`/`side`) is accepted.
- `tick_size_change` moves the price grid (`TickSizeChanged`); `last_trade_price`, `best_bid_ask`,
  `new_market`, `market_resolved` and unknown event types change no book and are ignored.
- A frame may be one event or a JSON array of events.

Polymarket has no sequence numbers and its `hash` is an opaque digest of the server's book, so a
lost update is found another way: every `price_change` entry carries the venue's best bid and best
ask after the change, and the book here must agree with the last entry of each token in each
message. Disagreement (a skipped update), an update older than one already applied (out of
order), a crossed book or a message that can't be read drop the token's book (`Resync`) and ask
for a fresh snapshot by cycling the subscription: an `unsubscribe` of the token, then a
`subscribe` with `initial_dump` (two `Send`s, in that order). A plain `subscribe` of a token the
connection already follows is not enough: the docs do not say what the venue does with one, and
NautilusTrader's adapter (third-party, `resubscribe_market`) says "The venue ignores a duplicate
subscribe, so only a real cycle produces a fresh book snapshot". A token whose snapshot does not
come within `snapshot_timeout_s` after a resync turns into a `Reconnect` (a new connection always
starts with snapshots); one that never had a book (an unknown token id: the venue sends nothing
for it) is re-requested at that interval and counted as a `Resync("no_snapshot")` each time.
Polymarket sends nothing while a book is quiet, so a book unchanged for `refresh_after_s` is
re-requested the same way (the same two `Send`s, not a resync): a healthy quiet market keeps fresh
snapshots and only a book the venue stopped confirming goes stale (`stale_after_s`).

Symbols: a Polymarket instrument's canonical symbol is its CLOB token id (`venues.instruments`:
"Polymarket token symbols are long decimal token ids"), so by default symbol == token id; a
`token_ids` mapping (symbol → token id) lets another naming ride on the same protocol. Token ids
are decimal strings of up to 78 digits (uint256) and stay strings.

Prices and sizes are converted exactly to the ABI's integers (price ×1e9, size ×1e8) by a
string parser with a per-text memo: no float, no Decimal on the hot path. `BookSnapshot.ts_ns` is
the time the frame was read (`recv_ns`), the clock the edge and the recorder share; the venue's
millisecond `timestamp` orders updates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import orjson

from venues.live.book import ASK, BID, L2Book, native_books
from venues.live.protocol import (
    BookChanged,
    FeedEvent,
    FeedProtocol,
    Reconnect,
    Resync,
    Send,
    TickSizeChanged,
)

__all__ = ["PolymarketFeed", "DEFAULT_WS_URL", "parse_price_1e9", "parse_qty_1e8"]

try:  # venues/live/native/l2book.c: the common price_change in one C call, on the C books
    from venues.live._l2book import apply_price_changes as _apply_price_changes
except ImportError:  # pragma: no cover - a checkout whose extension was not built
    _apply_price_changes = None
if not native_books():
    _apply_price_changes = None

DEFAULT_WS_URL = "wss://ws-subscriptions-clob.polymarket.com/ws/market"

_MAX_TOKEN_DIGITS = 78  # uint256
_NS_PER_S = 1_000_000_000


class _BadNumber(ValueError):
    pass


def _fixed(text: Any, digits: int) -> int:
    """Exact decimal text ("0.52", ".48", "1000", "12.50") → integer ×10**digits.

    Refuses signs, exponents, non-ASCII digits and more than `digits` significant decimals."""
    if type(text) is not str or not text or len(text) > 40 or not text.isascii():
        raise _BadNumber(text)
    whole, _, frac = text.partition(".")
    if frac:
        if not frac.isdigit() or (whole and not whole.isdigit()):
            raise _BadNumber(text)
        if len(frac) > digits:
            if frac[digits:].strip("0"):
                raise _BadNumber(text)
            frac = frac[:digits]
        # one int() of the digits without the dot, scaled by the decimals it lacks
        value: int = int(whole + frac or "0") * 10 ** (digits - len(frac))
        return value
    if not whole.isdigit():  # "", ".", a sign, an exponent, spaces
        raise _BadNumber(text)
    whole_value: int = int(whole) * 10**digits
    return whole_value


_PRICE_MEMO: dict[str, int] = {}
_QTY_MEMO: dict[str, int] = {}
_MEMO_MAX = 65_536
_ONE_1E9 = 1_000_000_000  # a price of 1


def parse_price_1e9(text: Any) -> int:
    """Polymarket price text → price ×1e9 (exact); `_BadNumber` (a ValueError) when it isn't one. A
    price is a probability: past 1 it is no price of Polymarket's (a malformed message)."""
    try:
        return _PRICE_MEMO[text]
    except (KeyError, TypeError):
        pass
    value = _fixed(text, 9)
    if value > _ONE_1E9:
        raise _BadNumber(text)
    if len(_PRICE_MEMO) >= _MEMO_MAX:
        _PRICE_MEMO.clear()
    _PRICE_MEMO[text] = value
    return value


def parse_qty_1e8(text: Any) -> int:
    """Polymarket size text → quantity ×1e8 (exact); `_BadNumber` (a ValueError) when it isn't one."""
    try:
        return _QTY_MEMO[text]
    except (KeyError, TypeError):
        pass
    value = _fixed(text, 8)
    if len(_QTY_MEMO) >= _MEMO_MAX:
        _QTY_MEMO.clear()
    _QTY_MEMO[text] = value
    return value


def _is_token_id(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= _MAX_TOKEN_DIGITS and value.isascii() and value.isdigit()


def _tops_agree(ours_bid: int | None, ours_ask: int | None, best_bid: Any, best_ask: Any) -> bool:
    """Does our top of book (best bid and ask prices, None for an empty side) match the venue's
    `best_bid`/`best_ask` after the change?

    An absent side is compared as empty: the venue writes it as "0" (bid) or "1"/"0" (ask) or
    leaves the field out, none of which is a real price on our side."""
    if best_bid is None and best_ask is None:
        return True  # nothing to compare with (not the current schema)
    memo = _PRICE_MEMO
    bid = memo.get(best_bid) if type(best_bid) is str else None
    ask = memo.get(best_ask) if type(best_ask) is str else None
    if bid is None or ask is None:
        try:
            bid = parse_price_1e9(best_bid) if best_bid not in (None, "") else 0
            ask = parse_price_1e9(best_ask) if best_ask not in (None, "") else 0
        except ValueError:
            return False
    if ours_bid is None:
        if bid != 0:
            return False
    elif ours_bid != bid:
        return False
    if ours_ask is None:
        return ask in (0, 1_000_000_000)
    return ours_ask == ask


class _Token:
    """What the feed knows about one subscribed token."""

    __slots__ = (
        "symbol",
        "token_id",
        "book",
        "synced",
        "had_book",
        "last_ts_ms",
        "book_ts_ms",
        "tick_1e9",
        "wait_since_ns",
        "changed_ns",
        "refresh_ns",
        "hash",
    )

    def __init__(self, symbol: str, token_id: str) -> None:
        self.symbol = symbol
        self.token_id = token_id
        self.book = L2Book()
        self.tick_1e9 = 0
        self.reset()

    def reset(self) -> None:
        self.book.clear()
        self.synced = False  # a `book` has arrived since the last reset
        self.had_book = False  # the book was dropped after being synced (a resync, not a first wait)
        self.last_ts_ms = -1  # newest venue timestamp applied to this book
        self.book_ts_ms = -1  # venue timestamp of the snapshot the book started from
        self.wait_since_ns = 0  # when we started waiting for a snapshot (0: not yet timed)
        self.changed_ns = 0  # recv_ns of the last BookChanged
        self.refresh_ns = 0  # when we last asked for a refreshing snapshot
        self.hash = ""


class PolymarketFeed(FeedProtocol):
    """The market channel for a set of Polymarket outcome tokens (see the module docstring)."""

    venue: ClassVar[str] = "polymarket"
    ping_interval_s: ClassVar[float | None] = 10.0  # docs: send PING every 10 s
    # A PONG comes back every 10 s, so 30 s without any frame means the connection is dead.
    silence_s: ClassVar[float] = 30.0
    # Prediction-market books sit unchanged for minutes between trades while the connection is
    # healthy (PONGs flow); stale means no book message at all for this long.
    stale_after_s: ClassVar[float] = 180.0
    snapshot_timeout_s: ClassVar[float] = 15.0
    # A quiet book is re-requested (unsubscribe, then subscribe with initial_dump) after this long,
    # so a healthy but quiet market keeps fresh snapshots and only a book the venue stopped
    # confirming goes stale. Not counted as a resync: nothing was wrong with the book.
    refresh_after_s: float = 60.0

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        ws_url: str = DEFAULT_WS_URL,
        token_ids: Mapping[str, str] | None = None,
        depth: int = 10,
        custom_feature_enabled: bool = False,
    ) -> None:
        super().__init__(symbols, ws_url=ws_url)
        if not self.symbols:
            # An empty assets_ids subscribes to every market on the venue.
            raise ValueError("a Polymarket feed needs at least one token")
        self.depth = depth
        self.custom_feature_enabled = custom_feature_enabled
        self._token_map = dict(token_ids) if token_ids is not None else None
        self._tokens: dict[str, _Token] = {}  # token id → state
        self._by_symbol: dict[str, _Token] = {}
        self._waiting: dict[str, _Token] = {}  # tokens without a snapshot
        self._deferred: dict[str, _Token] = {}  # tokens changed since end_of_read (defer_books)
        self._last_scan_ns = 0  # the last refresh scan (at most one a second)
        self.refreshes = 0  # refreshing snapshots asked for
        self._index(self.symbols)
        self.last_trade: dict[str, tuple[int, int, int]] = {}  # symbol → (price_1e9, qty_1e8, ts_ms)
        self.pongs = 0
        self.ignored_frames = 0  # informational texts and events that change no book

    def _index(self, symbols: Sequence[str]) -> None:
        """Map `symbols` to token ids (raises ValueError for one that is not a token id)."""
        tokens: dict[str, _Token] = {}
        by_symbol: dict[str, _Token] = {}
        for symbol in symbols:
            token_id = self._token_map.get(symbol, "") if self._token_map is not None else symbol
            if not _is_token_id(token_id):
                raise ValueError(f"{symbol!r}: not a Polymarket token id (decimal, up to 78 digits)")
            if token_id in tokens:
                raise ValueError(f"token {token_id} listed twice")
            old = self._tokens.get(token_id)
            tok = _Token(symbol, token_id)
            if old is not None:
                tok.tick_1e9 = old.tick_1e9  # the grid outlives a resubscription
            tokens[token_id] = tok
            by_symbol[symbol] = tok
        self._tokens, self._by_symbol = tokens, by_symbol
        self._indexed = tuple(symbols)
        self._waiting = dict(tokens)

    # -- look-ups ----------------------------------------------------------------------------------
    def token_id(self, symbol: str) -> str:
        return self._by_symbol[symbol].token_id

    def symbol_for(self, token_id: str) -> str | None:
        tok = self._tokens.get(token_id)
        return tok.symbol if tok is not None else None

    def tick_1e9(self, symbol: str) -> int:
        """The tick last announced by the venue for `symbol` (0 until a book or tick change says)."""
        return self._by_symbol[symbol].tick_1e9

    def book(self, symbol: str) -> L2Book:
        return self._by_symbol[symbol].book

    def is_synced(self, symbol: str) -> bool:
        return self._by_symbol[symbol].synced

    # -- FeedProtocol --------------------------------------------------------------------------------
    def on_open(self) -> list[str]:
        self._last_scan_ns = 0
        if self.symbols != self._indexed:  # the loop changed what we follow (set_symbols)
            self._index(self.symbols)
        for tok in self._tokens.values():
            tok.reset()
        self._deferred.clear()
        self._waiting = dict(self._tokens)
        msg: dict[str, Any] = {
            "assets_ids": list(self._tokens),
            "type": "market",
            "initial_dump": True,
        }
        if self.custom_feature_enabled:
            msg["custom_feature_enabled"] = True
        return [orjson.dumps(msg).decode()]

    def ping_frame(self) -> str | None:
        return "PING"

    def on_frame(self, data: str | bytes, recv_ns: int) -> list[FeedEvent]:
        try:
            return self._on_frame(data, recv_ns)
        except Exception as exc:  # noqa: BLE001 - the contract: never raise for bad input
            return [Reconnect(f"unexpected {type(exc).__name__} handling a frame")]

    # -- internals -----------------------------------------------------------------------------------
    def _on_frame(self, data: str | bytes, recv_ns: int) -> list[FeedEvent]:
        out: list[FeedEvent] = []
        head = data[:1]
        if head not in ("{", "[", b"{", b"["):
            self._on_text(data, out)
            self._check_waits(recv_ns, out)
            if recv_ns - self._last_scan_ns >= _NS_PER_S:
                self._check_refresh(recv_ns, out)
            return out
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            # A lost message could have changed any of our books.
            self._resync(list(self._tokens.values()), "malformed", recv_ns, out)
            return out
        if type(msg) is list:
            for ev in msg:
                self._on_event(ev, recv_ns, out)
        else:
            self._on_event(msg, recv_ns, out)
        if self._waiting:
            self._check_waits(recv_ns, out)
        if recv_ns - self._last_scan_ns >= _NS_PER_S:
            self._check_refresh(recv_ns, out)
        return out

    def _on_text(self, data: str | bytes, out: list[FeedEvent]) -> None:
        try:
            text = data.decode() if type(data) is bytes else data
        except UnicodeDecodeError:
            out.append(Reconnect("malformed: undecodable text frame"))
            return
        text = text.strip()  # type: ignore[union-attr]
        if text == "PONG":
            self.pongs += 1
            return
        if text == "INVALID OPERATION":
            # The venue refused what we sent (its answer to a second initial subscription).
            out.append(Reconnect("venue answered INVALID OPERATION"))
            return
        # Informational texts (e.g. "NO NEW ASSETS" with new-market events on) change no book.
        self.ignored_frames += 1

    def _on_event(self, ev: Any, recv_ns: int, out: list[FeedEvent]) -> None:
        if type(ev) is not dict:
            self._resync(list(self._tokens.values()), "malformed", recv_ns, out)
            return
        kind = ev.get("event_type")
        if kind is None:  # captures without event_type: tell by shape
            if "price_changes" in ev:
                kind = "price_change"
            elif "bids" in ev or "asks" in ev:
                kind = "book"
        if kind == "price_change":
            self._on_price_change(ev, recv_ns, out)
        elif kind == "book":
            self._on_book(ev, recv_ns, out)
        elif kind == "tick_size_change":
            self._on_tick_size_change(ev, recv_ns, out)
        elif kind == "last_trade_price":
            self._on_last_trade(ev)
        else:
            self.ignored_frames += 1

    def _ts_ms(self, ev: dict[str, Any]) -> int | None:
        ts = ev.get("timestamp")
        if type(ts) is str and ts.isascii() and ts.isdigit() and len(ts) < 20:
            return int(ts)
        if type(ts) is int and ts >= 0:
            return ts
        return None

    def _on_book(self, ev: dict[str, Any], recv_ns: int, out: list[FeedEvent]) -> None:
        tok = self._tokens.get(ev.get("asset_id"))  # type: ignore[arg-type]
        if tok is None:
            self.ignored_frames += 1  # not ours (or no asset_id): nothing of ours changed
            return
        bids_raw, asks_raw = ev.get("bids"), ev.get("asks")
        ts_ms = self._ts_ms(ev)
        if type(bids_raw) is not list or type(asks_raw) is not list or ts_ms is None:
            self._resync([tok], "malformed", recv_ns, out)
            return
        try:
            bids = [(parse_price_1e9(lv["price"]), parse_qty_1e8(lv["size"])) for lv in bids_raw]
            asks = [(parse_price_1e9(lv["price"]), parse_qty_1e8(lv["size"])) for lv in asks_raw]
            tick = ev.get("tick_size")
            tick_1e9 = parse_price_1e9(tick) if tick is not None else 0
        except (ValueError, KeyError, TypeError):
            self._resync([tok], "malformed", recv_ns, out)
            return
        book = tok.book
        book.replace(bids, asks)
        if book.crossed:
            self._resync([tok], "crossed", recv_ns, out)
            return
        if tick_1e9 and tick_1e9 != tok.tick_1e9:
            if tok.tick_1e9:
                out.append(TickSizeChanged(tok.symbol, tok.tick_1e9, tick_1e9))
            tok.tick_1e9 = tick_1e9
        tok.synced = True
        tok.had_book = True
        tok.wait_since_ns = 0
        self._waiting.pop(tok.token_id, None)
        tok.book_ts_ms = tok.last_ts_ms = ts_ms
        h = ev.get("hash")
        tok.hash = h if type(h) is str else ""
        tok.changed_ns = recv_ns
        self._emit(tok, recv_ns, out)

    def _on_price_change(self, ev: dict[str, Any], recv_ns: int, out: list[FeedEvent]) -> None:
        ts_ms = self._ts_ms(ev)
        changes = ev.get("price_changes")
        if _apply_price_changes is not None and type(changes) is list and ts_ms is not None:
            # The common case in one C call (venues/live/native/l2book.c); None when the message
            # needs this method's path (nothing was changed then).
            done = _apply_price_changes(changes, self._tokens, ts_ms)
            if done is not None:
                for tok, verdict in done:
                    if verdict:
                        self._resync([tok], "crossed" if verdict == 1 else "gap", recv_ns, out)
                    else:
                        tok.changed_ns = recv_ns
                        self._emit(tok, recv_ns, out)
                return
        if changes is None and "asset_id" in ev:  # the 2024 single-level form
            changes = [ev]
            legacy = True
        else:
            legacy = False
        if type(changes) is not list or ts_ms is None:
            self._resync_from(ev, changes, "malformed", recv_ns, out)
            return
        touched: dict[str, tuple[_Token, Any, Any]] = {}  # token id → (state, best_bid, best_ask)
        bad: dict[str, tuple[_Token, str]] = {}  # token id → (state, reason)
        tokens, price_memo, qty_memo = self._tokens, _PRICE_MEMO, _QTY_MEMO
        for ch in changes:
            if type(ch) is not dict:
                self._resync_from(ev, changes, "malformed", recv_ns, out)
                return
            tok = tokens.get(ch.get("asset_id"))  # type: ignore[arg-type]
            if tok is None or not tok.synced or tok.token_id in bad:
                continue  # not ours, or waiting for its snapshot (which will include this)
            if ts_ms < tok.last_ts_ms:
                if tok.last_ts_ms == tok.book_ts_ms:
                    continue  # older than the snapshot we hold and nothing since: it has it
                bad[tok.token_id] = (tok, "out_of_order")
                continue
            side = ch.get("side")
            price, size = ch.get("price"), ch.get("size")
            # the parsers' memos read here first (they hold only text that parsed): no call
            px = price_memo.get(price) if type(price) is str else None
            qty = qty_memo.get(size) if type(size) is str else None
            if px is None or qty is None:
                try:
                    px = parse_price_1e9(price)
                    qty = parse_qty_1e8(size)
                except ValueError:
                    bad[tok.token_id] = (tok, "malformed")
                    continue
            if side == "BUY":
                tok.book.set(BID, px, qty)
            elif side == "SELL":
                tok.book.set(ASK, px, qty)
            else:
                bad[tok.token_id] = (tok, "malformed")
                continue
            h = ch.get("hash")
            if type(h) is str:
                tok.hash = h
            touched[tok.token_id] = (tok, ch.get("best_bid"), ch.get("best_ask"))
        if bad:
            for reason in ("malformed", "out_of_order"):
                group = [t for t, r in bad.values() if r == reason]
                if group:
                    self._resync(group, reason, recv_ns, out)
        for token_id, (tok, best_bid, best_ask) in touched.items():
            if token_id in bad:
                continue
            tok.last_ts_ms = ts_ms
            bid_px, ask_px = tok.book.best_prices()
            if bid_px is not None and ask_px is not None and bid_px >= ask_px:
                self._resync([tok], "crossed", recv_ns, out)
                continue
            if not legacy and not _tops_agree(bid_px, ask_px, best_bid, best_ask):
                self._resync([tok], "gap", recv_ns, out)
                continue
            tok.changed_ns = recv_ns
            self._emit(tok, recv_ns, out)

    def _emit(self, tok: _Token, recv_ns: int, out: list[FeedEvent]) -> None:
        if self.defer_books:
            if tok.token_id in self._deferred:
                self.coalesced += 1
            else:
                self._deferred[tok.token_id] = tok
        else:
            out.append(BookChanged(tok.symbol, tok.book.snapshot(recv_ns, self.depth)))

    def end_of_read(self, recv_ns: int) -> list[FeedEvent]:
        out: list[FeedEvent] = []
        if self._deferred:
            for tok in self._deferred.values():
                if tok.synced:  # not dropped by a resync since
                    out.append(BookChanged(tok.symbol, tok.book.snapshot(recv_ns, self.depth)))
            self._deferred.clear()
        return out

    def _on_tick_size_change(self, ev: dict[str, Any], recv_ns: int, out: list[FeedEvent]) -> None:
        tok = self._tokens.get(ev.get("asset_id"))  # type: ignore[arg-type]
        if tok is None:
            self.ignored_frames += 1
            return
        try:
            new = parse_price_1e9(ev.get("new_tick_size"))
        except ValueError:
            self._resync([tok], "malformed", recv_ns, out)
            return
        if new <= 0 or new >= 1_000_000_000:
            self._resync([tok], "malformed", recv_ns, out)
            return
        if new != tok.tick_1e9:
            old = tok.tick_1e9
            if not old:
                try:
                    old = parse_price_1e9(ev.get("old_tick_size"))
                except ValueError:
                    old = 0
            tok.tick_1e9 = new
            out.append(TickSizeChanged(tok.symbol, old, new))

    def _on_last_trade(self, ev: dict[str, Any]) -> None:
        tok = self._tokens.get(ev.get("asset_id"))  # type: ignore[arg-type]
        if tok is None:
            return
        # A trade print changes no book; a bad one is not worth a resync.
        with contextlib.suppress(ValueError):
            self.last_trade[tok.symbol] = (
                parse_price_1e9(ev.get("price")),
                parse_qty_1e8(ev.get("size")),
                self._ts_ms(ev) or 0,
            )

    # -- resync ------------------------------------------------------------------------------------
    def _resync_from(
        self, ev: dict[str, Any], changes: Any, reason: str, recv_ns: int, out: list[FeedEvent]
    ) -> None:
        """Resync the tokens a malformed message names (every token when it names none of ours)."""
        ids: set[Any] = {ev.get("asset_id")}
        if type(changes) is list:
            ids.update(ch.get("asset_id") for ch in changes if type(ch) is dict)
        toks = [self._tokens[i] for i in ids if type(i) is str and i in self._tokens]
        self._resync(toks or list(self._tokens.values()), reason, recv_ns, out)

    def _resync(self, toks: list[_Token], reason: str, recv_ns: int, out: list[FeedEvent]) -> None:
        for tok in toks:
            had = tok.synced or tok.had_book
            tok.reset()
            tok.had_book = had
            tok.wait_since_ns = recv_ns
            self._waiting[tok.token_id] = tok
        out.append(Resync(reason, tuple(t.symbol for t in toks)))
        self._resubscribe([t.token_id for t in toks], out)

    def _resubscribe(self, token_ids: list[str], out: list[FeedEvent]) -> None:
        """Ask for fresh snapshots of `token_ids`: unsubscribe, then subscribe with initial_dump.

        A subscribe for a token the connection already follows is reported to be ignored by the
        venue (see the module docstring), so only the cycle is sure to bring a `book`."""
        unsubscribe = {"assets_ids": token_ids, "operation": "unsubscribe"}
        subscribe = {"assets_ids": token_ids, "operation": "subscribe", "initial_dump": True}
        out.append(Send(orjson.dumps(unsubscribe).decode()))
        out.append(Send(orjson.dumps(subscribe).decode()))

    def _check_waits(self, recv_ns: int, out: list[FeedEvent]) -> None:
        """Tokens still without a snapshot: start their clock, or act once it ran out."""
        if not self._waiting:
            return
        limit = int(self.snapshot_timeout_s * _NS_PER_S)
        lost: list[_Token] = []
        never: list[_Token] = []
        for tok in self._waiting.values():
            if not tok.wait_since_ns:
                tok.wait_since_ns = recv_ns
            elif recv_ns - tok.wait_since_ns >= limit:
                (lost if tok.had_book else never).append(tok)
        if lost:
            out.append(Reconnect(f"no snapshot within {self.snapshot_timeout_s:g} s of a resync"))
            return
        if never:
            for tok in never:
                tok.wait_since_ns = recv_ns
            out.append(Resync("no_snapshot", tuple(t.symbol for t in never)))
            self._resubscribe([t.token_id for t in never], out)

    def _check_refresh(self, recv_ns: int, out: list[FeedEvent]) -> None:
        """Ask again for the snapshot of every synced book that has been quiet `refresh_after_s`."""
        self._last_scan_ns = recv_ns
        limit = int(self.refresh_after_s * _NS_PER_S)
        quiet = [
            tok
            for tok in self._tokens.values()
            if tok.synced and recv_ns - max(tok.changed_ns, tok.refresh_ns) >= limit
        ]
        if quiet:
            for tok in quiet:
                tok.refresh_ns = recv_ns
            self.refreshes += len(quiet)
            self._resubscribe([t.token_id for t in quiet], out)
