"""Kalshi's `orderbook_delta` WebSocket channel as a sans-I/O `FeedProtocol`.

Protocol facts (docs.kalshi.com/asyncapi.yaml, websockets/orderbook-updates; ../shared/venues/kalshi/
NOTES.md items 8-18):

- The handshake is signed (`handshake_headers()`: KALSHI-ACCESS-* over `GET /trade-api/ws/v2`);
  `orderbook_delta` needs an authenticated connection.
- Commands are `{"id", "cmd", "params"}`; this protocol subscribes one market per command
  (`market_ticker`), so each market gets its own subscription id (`sid`) and its own `seq` run: a
  gap then costs one market's resnapshot, not every market's.
- A subscription sends `orderbook_snapshot` first, then `orderbook_delta`s, each with the sid's next
  `seq`. A missing `seq`, a delta before its snapshot, a crossed book or a message that can't be
  read resubscribes the market (unsubscribe the sid, subscribe again: a new sid, a fresh snapshot).
- The book is **bids only**: a YES ladder and a NO ladder, prices as dollar strings ("0.0800"),
  sizes as fixed-point count strings ("300.00"); a side's key is absent when it is empty; a delta's
  `delta_fp` is a signed change (new = old + delta; the level goes at <= 0).
- Errors (`type: "error"`, `msg.code`) are acted on per code (`_ERROR_ACTIONS`): a subscription the
  venue ended (10 channel error, 17 internal, 18 timeout, 25 buffer overflow) is resubscribed; a
  market the venue does not know (16) is dropped and reported; 6 (already subscribed, retired) and
  7 (unknown sid, after our own unsubscribe raced the venue) are harmless; a subscribe refused for
  its rate (27, too many requests; the limit is not documented) is reported (`Resync("throttled")`)
  and sent again with the next `list_subscriptions` reply, paced by the heartbeat instead of
  reconnecting (a new connection would send every subscribe at once again); anything else means
  we and the venue disagree on the protocol: reconnect (with the loop's backoff).

YES and NO books: Kalshi's symbols here are the market ticker plus "-YES"/"-NO" (as
`venues.instruments` names Kalshi tokens); a bare ticker means both. A YES bid at p is a NO ask at
1 - p, so

    YES book: bids = YES bids,          asks = 1 - NO bids   (YES ask = 1 - best NO bid)
    NO book:  bids = NO bids,           asks = 1 - YES bids  (NO ask = 1 - best YES bid)

and every change of a market gives one `BookChanged` per requested outcome (two for both).

Liveness: Kalshi pings at the WebSocket level (answered by the feed loop, invisible to the
protocol), and a quiet market can go minutes without a delta. `ping_frame()` is a `list_subscriptions`
command every `ping_interval_s`: its reply is a frame the loop sees, it shows that every sid of ours
is still alive (a missing one is resubscribed), and books that have not changed for
`confirm_after_s` are published again with the reply's time — a quiet but confirmed book is not
stale; a book whose subscription is gone, or a connection with nothing coming back, is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import orjson

from venues.book import Level
from venues.kalshi.auth import KalshiSigner
from venues.live.book import ASK, BID, L2Book, snapshot_of
from venues.live.protocol import BookChanged, FeedEvent, FeedProtocol, Reconnect, Resync, Send

__all__ = ["KalshiFeed", "split_symbol", "outcome_symbols", "parse_fixed"]

ONE = 1_000_000_000  # $1 in price_1e9

#: error code → what to do (codes and meanings: ws_error_codes.json beside NOTES.md)
_ERROR_ACTIONS: dict[int, str] = {
    6: "ignore",  # already subscribed (retired, "not emitted")
    7: "ignore",  # unknown sid: our unsubscribe of a subscription the venue already ended
    10: "resubscribe",  # channel error: the subscription ended
    16: "drop_market",  # market not found
    17: "resubscribe",  # internal error: the subscription ended
    18: "resubscribe",  # command timeout: the subscribe was not done
    25: "resubscribe",  # subscription buffer overflow: the subscription ended
    27: "throttled",  # too many requests: the command was refused for its rate
}
_MEMO_SIZE = 16_384  # parsed price/size strings kept per feed
_MAX_ATTEMPTS = 3  # resubscribes of one market without a snapshot in between, then reconnect


def split_symbol(symbol: str) -> tuple[str, str | None]:
    """(market ticker, "YES" | "NO" | None for both) of a Kalshi symbol."""
    upper = symbol.strip().upper()
    if upper.endswith("-YES"):
        return upper[:-4], "YES"
    if upper.endswith("-NO"):
        return upper[:-3], "NO"
    return upper, None


def outcome_symbols(ticker: str) -> tuple[str, str]:
    """The YES and NO symbols of a market ticker (`venues.instruments`' naming)."""
    return f"{ticker}-YES", f"{ticker}-NO"


def parse_fixed(text: Any, digits: int) -> int:
    """A decimal string ("0.0800", "-54.00", "0.960") as an integer ×10^digits, exactly.

    Raises ValueError for anything else: numbers (Kalshi's current fields are strings), exponents,
    spaces, more decimals than `digits`."""
    if type(text) is not str or not text.isascii():
        raise ValueError(f"not a decimal string: {text!r}")
    neg = text[:1] == "-"
    whole, dot, frac = (text[1:] if neg else text).partition(".")
    if not whole.isdigit() or (dot and not frac.isdigit()) or len(frac) > digits:
        raise ValueError(f"not a decimal string: {text!r}")
    # one int() of the digits without the dot, scaled by the decimals it lacks
    value: int = int(whole + frac) * 10 ** (digits - len(frac))
    return -value if neg else value


def mirror_levels(levels: tuple[Level, ...], one: int) -> tuple[Level, ...]:
    """Each (price, size) level as (one - price, size), in the same order: the other outcome's
    side. `_mirror` is this in one C call (venues.live._fastfeed) where it was built."""
    return tuple([(one - px, q) for px, q in levels])


try:  # venues/live/native/fastfeed.c, built by `pip install -e .`
    from venues.live._fastfeed import mirror as _mirror
except ImportError:  # pragma: no cover - a checkout whose extension was not built
    _mirror = mirror_levels


class _Book(L2Book):
    """One market's YES book kept from Kalshi's two bid ladders: YES bids as bids, NO bids as asks
    at 1 - price. The NO book is its mirror.

    `L2Book` keeps each side's top `depth` levels until a change reaches them; the NO book's sides
    are mirrored from those tuples only when they were built again: a YES delta rebuilds YES bids
    and NO asks (if it reached them), and reuses YES asks and NO bids."""

    __slots__ = ("_depth", "_mirrored_from", "_mirrored")

    def __init__(self, depth: int = 10) -> None:
        super().__init__()
        self._depth = depth
        self._mirrored_from: list[tuple[Level, ...] | None] = [None, None]  # [YES bids, YES asks]
        self._mirrored: list[tuple[Level, ...]] = [(), ()]  # [NO asks, NO bids] mirrored from them

    def tops(self) -> tuple[tuple[Level, ...], tuple[Level, ...], tuple[Level, ...], tuple[Level, ...]]:
        """(YES bids, YES asks, NO bids, NO asks), best first, `depth` levels each."""
        depth, source, mirrored = self._depth, self._mirrored_from, self._mirrored
        yes_bids = self.top(BID, depth)
        if yes_bids is not source[BID]:
            source[BID] = yes_bids
            mirrored[BID] = _mirror(yes_bids, ONE)
        yes_asks = self.top(ASK, depth)
        if yes_asks is not source[ASK]:
            source[ASK] = yes_asks
            mirrored[ASK] = _mirror(yes_asks, ONE)
        return yes_bids, yes_asks, mirrored[ASK], mirrored[BID]


class KalshiFeed(FeedProtocol):
    """Kalshi `orderbook_delta` for a set of YES/NO symbols (see the module docstring)."""

    venue: ClassVar[str] = "kalshi"
    ping_interval_s: ClassVar[float | None] = 10.0
    silence_s: ClassVar[float] = 35.0
    stale_after_s: ClassVar[float] = 60.0
    confirm_after_s: ClassVar[float] = 20.0

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        ws_url: str,
        signer: KalshiSigner | None = None,
        depth: int = 10,
        loads: Callable[[str | bytes], Any] = orjson.loads,
    ) -> None:
        super().__init__(symbols, ws_url=ws_url)
        self.signer = signer
        self.depth = depth
        self._loads = loads
        self._outputs: dict[str, tuple[str | None, str | None]] = {}
        self._next_id = 1
        self._pending: dict[int, tuple[str, ...]] = {}  # subscribe id → tickers
        self._sids: dict[int, tuple[str, ...]] = {}  # live sid → tickers
        self._seq: dict[int, int] = {}
        self._books: dict[str, _Book] = {}
        self._ready: set[str] = set()  # tickers with a snapshot on their current sid
        self._last_emit: dict[str, int] = {}
        self._deferred: set[str] = set()  # tickers changed since end_of_read (defer_books)
        self._attempts: dict[str, int] = {}
        self._throttled: set[str] = set()  # tickers whose subscribe the venue refused for its rate
        self._confirm_ns = int(self.confirm_after_s * 1e9)
        self._px_memo: dict[str, int] = {}
        self._qty_memo: dict[str, int] = {}

    @staticmethod
    def _memo(memo: dict[str, int], text: str, value: int) -> None:
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[text] = value

    # -- the contract ------------------------------------------------------------------------------
    def handshake_headers(self) -> dict[str, str]:
        return self.signer.ws_headers(self.ws_url) if self.signer is not None else {}

    def on_open(self) -> list[str]:
        outputs: dict[str, list[str | None]] = {}
        for symbol in self.symbols:
            ticker, outcome = split_symbol(symbol)
            if not ticker:
                continue
            slot = outputs.setdefault(ticker, [None, None])
            yes, no = outcome_symbols(ticker)
            if outcome in (None, "YES"):
                slot[0] = symbol if outcome else yes
            if outcome in (None, "NO"):
                slot[1] = symbol if outcome else no
        self._outputs = {t: (s[0], s[1]) for t, s in outputs.items()}
        self._next_id = 1
        self._pending.clear()
        self._sids.clear()
        self._seq.clear()
        self._books = {t: _Book(self.depth) for t in self._outputs}
        self._ready.clear()
        self._last_emit.clear()
        self._deferred.clear()
        self._attempts.clear()
        self._throttled.clear()
        return [self._subscribe_frame(t) for t in self._outputs]

    def ping_frame(self) -> str | None:
        # id 0 is "no id" (asyncapi): the loop sends this same frame every interval, and ids are
        # otherwise unique per session.
        return '{"id":0,"cmd":"list_subscriptions"}'

    def on_frame(self, data: str | bytes, recv_ns: int) -> list[FeedEvent]:
        try:
            m = self._loads(data)
        except (ValueError, TypeError):
            return [Reconnect("malformed")]
        if type(m) is not dict:
            return [Reconnect("malformed")]
        kind = m.get("type")
        if kind == "orderbook_delta":
            return self._on_delta(m, recv_ns)
        if kind == "orderbook_snapshot":
            return self._on_snapshot(m, recv_ns)
        if kind == "subscribed":
            return self._on_subscribed(m)
        if kind == "ok":
            return self._on_ok(m, recv_ns)
        if kind == "error":
            return self._on_error(m)
        return []  # unsubscribed acks, other channels' messages

    # -- book messages -----------------------------------------------------------------------------
    def _check_seq(self, m: dict[str, Any]) -> tuple[int | None, str | None]:
        """(sid, None) when the message continues its sid's run; (sid, reason) when it breaks it;
        (None, None) for a sid that is not ours (an old subscription's tail)."""
        sid = m.get("sid")
        if sid not in self._sids:
            return None, None
        seq = m.get("seq")
        if type(seq) is not int:
            return sid, "malformed"
        last = self._seq.get(sid)
        if last is not None and seq != last + 1:
            return sid, "gap"
        self._seq[sid] = seq
        return sid, None

    def _on_delta(self, m: dict[str, Any], recv_ns: int) -> list[FeedEvent]:
        sid, broken = self._check_seq(m)
        if sid is None:
            return []
        if broken:
            return self._resubscribe(sid, broken)
        try:
            msg = m["msg"]
            ticker = msg["market_ticker"]
            if ticker not in self._sids[sid]:
                return self._resubscribe(sid, "malformed")
            if ticker not in self._ready:
                return self._resubscribe(sid, "gap")  # a delta before its snapshot
            # The same price and size strings recur all day: parse each once (bounded memo).
            text = msg["price_dollars"]
            px = self._px_memo.get(text) if type(text) is str else None
            if px is None:
                px = parse_fixed(text, 9)
                self._memo(self._px_memo, text, px)
            text = msg["delta_fp"]
            delta = self._qty_memo.get(text) if type(text) is str else None
            if delta is None:
                delta = parse_fixed(text, 8)
                self._memo(self._qty_memo, text, delta)
            side = msg["side"]
            if not 0 < px < ONE or side not in ("yes", "no"):
                raise ValueError("bad price or side")
        except (KeyError, TypeError, ValueError):
            return self._resubscribe(sid, "malformed")
        book = self._books[ticker]
        if side == "yes":
            book.add(BID, px, delta)
        else:
            book.add(ASK, ONE - px, delta)
        if book.crossed:
            return self._resubscribe(sid, "crossed")
        return self._emit(ticker, recv_ns)

    def _on_snapshot(self, m: dict[str, Any], recv_ns: int) -> list[FeedEvent]:
        sid, broken = self._check_seq(m)
        if sid is None:
            return []
        if broken:
            return self._resubscribe(sid, broken)
        try:
            msg = m["msg"]
            ticker = msg["market_ticker"]
            if ticker not in self._sids[sid]:
                return self._resubscribe(sid, "malformed")
            bids = self._levels(msg.get("yes_dollars_fp", ()))
            asks = [(ONE - px, qty) for px, qty in self._levels(msg.get("no_dollars_fp", ()))]
        except (KeyError, TypeError, ValueError):
            return self._resubscribe(sid, "malformed")
        book = self._books[ticker]
        book.replace(bids, asks)
        if book.crossed:
            return self._resubscribe(sid, "crossed")
        self._ready.add(ticker)
        self._attempts.pop(ticker, None)
        return self._emit(ticker, recv_ns)

    @staticmethod
    def _levels(raw: Any) -> list[tuple[int, int]]:
        if type(raw) not in (list, tuple):
            raise ValueError("levels must be a list")
        out = []
        for level in raw:
            price, count = level  # ValueError/TypeError when not a pair
            px = parse_fixed(price, 9)
            if not 0 < px < ONE:
                raise ValueError("price out of (0, 1)")
            out.append((px, parse_fixed(count, 8)))
        return out

    def _emit(self, ticker: str, ts_ns: int) -> list[FeedEvent]:
        self._last_emit[ticker] = ts_ns
        if self.defer_books:
            if ticker in self._deferred:
                self.coalesced += sum(1 for s in self._outputs[ticker] if s is not None)
            else:
                self._deferred.add(ticker)
            return []
        return self._books_of(ticker, ts_ns)

    def end_of_read(self, recv_ns: int) -> list[FeedEvent]:
        out: list[FeedEvent] = []
        if self._deferred:
            for ticker in self._deferred:
                if ticker in self._ready:  # not dropped by a resync since
                    out += self._books_of(ticker, recv_ns)
            self._deferred.clear()
        return out

    def _books_of(self, ticker: str, ts_ns: int) -> list[FeedEvent]:
        yes_sym, no_sym = self._outputs[ticker]
        tops = self._books[ticker].tops()
        out: list[FeedEvent] = []
        if yes_sym is not None:
            out.append(BookChanged(yes_sym, snapshot_of(ts_ns, tops[0], tops[1])))
        if no_sym is not None:
            out.append(BookChanged(no_sym, snapshot_of(ts_ns, tops[2], tops[3])))
        return out

    # -- command replies ---------------------------------------------------------------------------
    def _on_subscribed(self, m: dict[str, Any]) -> list[FeedEvent]:
        tickers = self._pending.pop(m.get("id"), None)  # type: ignore[arg-type]
        msg = m.get("msg")
        sid = msg.get("sid") if type(msg) is dict else None
        if tickers is None:
            return []
        if type(sid) is not int:
            return [Reconnect("malformed")]
        self._sids[sid] = tickers
        return []

    def _on_ok(self, m: dict[str, Any], recv_ns: int) -> list[FeedEvent]:
        msg = m.get("msg")
        if type(msg) is not list:  # an update_subscription ack: we send none
            return []
        alive = {e.get("sid") for e in msg if type(e) is dict and e.get("channel") == "orderbook_delta"}
        out: list[FeedEvent] = []
        for sid in [s for s in self._sids if s not in alive]:
            out += self._resubscribe(sid, "lost_subscription")
        limit = recv_ns - self._confirm_ns
        for ticker in list(self._ready):
            if self._last_emit.get(ticker, 0) <= limit:
                out += self._emit(ticker, recv_ns)
        if self._throttled:  # refused for their rate one heartbeat ago: ask again
            out += [Send(self._subscribe_frame(t)) for t in self._throttled if t in self._outputs]
            self._throttled.clear()
        return out

    def _on_error(self, m: dict[str, Any]) -> list[FeedEvent]:
        raw = m.get("msg")
        msg: dict[str, Any] = raw if type(raw) is dict else {}
        code = msg.get("code")
        action = _ERROR_ACTIONS.get(code, "reconnect") if type(code) is int else "reconnect"
        if action == "ignore":
            return []
        tickers = self._pending.pop(m.get("id"), None)  # type: ignore[arg-type]
        if action == "throttled":
            if tickers is None:  # an unsubscribe or a list refused: nothing of ours waits on it
                return []
            self._throttled.update(tickers)
            return [Resync("throttled", self._symbols_of(tickers))]
        named = msg.get("market_ticker")
        if tickers is None and named in self._outputs:
            # An error about a live subscription: find its sid by the market it names.
            for sid, sid_tickers in self._sids.items():
                if named in sid_tickers:
                    if action == "resubscribe":
                        return self._resubscribe(sid, f"error_{code}")
                    tickers = self._sids.pop(sid)
                    self._seq.pop(sid, None)
                    break
        if tickers is None or action == "reconnect":
            return [Reconnect(f"error_{code}")]
        if action == "drop_market":
            dropped = tuple(t for t in tickers if named in (None, t))
            keep = [t for t in tickers if t not in dropped]
            out: list[FeedEvent] = [Resync("market_not_found", self._symbols_of(dropped))]
            for t in dropped:
                self._forget(t)
            for t in keep:
                out += self._retry(t, "market_not_found")
            return out
        out = [Resync(f"error_{code}", self._symbols_of(tickers))]
        for t in tickers:
            out += self._retry(t, f"error_{code}")
        return out

    # -- resubscribing -----------------------------------------------------------------------------
    def _subscribe_frame(self, ticker: str) -> str:
        cmd_id = self._next_id
        self._next_id += 1
        self._pending[cmd_id] = (ticker,)
        return orjson.dumps(
            {
                "id": cmd_id,
                "cmd": "subscribe",
                "params": {"channels": ["orderbook_delta"], "market_ticker": ticker},
            }
        ).decode()

    def _retry(self, ticker: str, reason: str) -> list[FeedEvent]:
        """Subscribe `ticker` again, or give up on the connection after `_MAX_ATTEMPTS` tries."""
        n = self._attempts.get(ticker, 0) + 1
        self._attempts[ticker] = n
        if n > _MAX_ATTEMPTS:
            return [Reconnect(f"resubscribe_failed_{reason}")]
        return [Send(self._subscribe_frame(ticker))]

    def _resubscribe(self, sid: int, reason: str) -> list[FeedEvent]:
        """Drop the sid's books and ask for fresh ones on a new subscription."""
        tickers = self._sids.pop(sid, ())
        self._seq.pop(sid, None)
        for t in tickers:
            self._ready.discard(t)
            self._books[t].clear()
        cmd_id = self._next_id
        self._next_id += 1
        out: list[FeedEvent] = [
            Resync(reason, self._symbols_of(tickers)),
            Send(orjson.dumps({"id": cmd_id, "cmd": "unsubscribe", "params": {"sids": [sid]}}).decode()),
        ]
        for t in tickers:
            out += self._retry(t, reason)
        return out

    def _forget(self, ticker: str) -> None:
        self._outputs.pop(ticker, None)
        self._throttled.discard(ticker)
        self._books.pop(ticker, None)
        self._ready.discard(ticker)
        self._last_emit.pop(ticker, None)

    def _symbols_of(self, tickers: Sequence[str]) -> tuple[str, ...]:
        out: list[str] = []
        for t in tickers:
            yes, no = self._outputs.get(t, outcome_symbols(t))
            out += [s for s in (yes, no) if s is not None]
        return tuple(out)

    # -- for tests and the status page -------------------------------------------------------------
    def subscriptions(self) -> dict[int, tuple[str, ...]]:
        """Live sid → market tickers."""
        return dict(self._sids)
