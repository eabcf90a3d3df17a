"""A strict local Polymarket: the CLOB market-channel WebSocket, Gamma `/markets` and `/events`, and
CLOB `/book` and `/tick-size`, on one 127.0.0.1 port (the real ones are three hosts; the connectors
take each base URL from settings).

Built from the captures and documents in fixtures/polymarket/ (SOURCES.md says which page or
capture each follows, and the evidence for what the fake does where the docs are silent):

- WebSocket `/ws/market`: the first frame must be the initial subscription
  `{"assets_ids": [token ids], "type": "market", ...}`; anything else first (a `PING` included)
  closes the socket with 1008 "invalid subscription payload". A second initial subscription is
  answered `INVALID OPERATION`; `{"assets_ids": [...], "operation": "subscribe"|"unsubscribe"}`
  changes the set (a malformed one, either operation, is answered `INVALID OPERATION` too).
  `initial_dump` (default true) sends a `book` per known token; unknown token ids get nothing.
  `PING` → `PONG`. A client silent for `idle_timeout_s` is dropped.
- A `subscribe` of a token the connection already follows does nothing for that token (no `book`,
  counted in `ignored_subscribes`); an `unsubscribe` stops its updates, and a later `subscribe`
  sends its `book` again. Only an unsubscribe-then-subscribe cycle brings a fresh snapshot. The
  venue's docs (docs.polymarket.com, "wss overview": "Once connected, the client can subscribe and
  unsubscribe to asset_ids by sending ... operation: 'subscribe' or 'unsubscribe'") do not say
  what a duplicate subscribe does; this follows NautilusTrader's Polymarket adapter (third-party,
  `PolymarketMarketPoolHandle::resubscribe_market`: "The venue ignores a duplicate subscribe, so
  only a real cycle produces a fresh book snapshot. Used by book recovery"), the strictest reading.
- Books are kept per token as decimal text (what the venue sends), bids and asks written in the
  order real captures show (bids ascending, asks descending). Every change the test makes goes out
  as a current-form `price_change` (`price_changes[]` with `best_bid`/`best_ask` after the change)
  unless the test asks for a gap (`deliver=False`) or an out-of-order delivery (`hold=True`, then
  `release_held()`).
- REST errors are the documented `{"error": "..."}` bodies.

Drive it from the test thread; every control method is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, web

from tests.fakevenues.base import FakeVenueServer

__all__ = ["FakePolymarket", "FakeBook", "FIXTURES", "load_fixture"]

FIXTURES = Path(__file__).parent / "fixtures" / "polymarket"

INVALID_PAYLOAD = "invalid subscription payload"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _dec(text: str) -> Decimal:
    return Decimal(text)


def _complement(price: str) -> str:
    """1 − price as decimal text, keeping the venue's precision ("0.301" → "0.699")."""
    value = Decimal(1) - Decimal(price)
    return format(value.normalize(), "f") if value != value.to_integral_value() else str(int(value))


@dataclass
class FakeBook:
    """One token's book on the fake venue (decimal text, as the venue sends it)."""

    token_id: str
    market: str  # condition id
    bids: dict[str, str] = field(default_factory=dict)  # price text → size text
    asks: dict[str, str] = field(default_factory=dict)
    tick_size: str = "0.01"
    min_order_size: str = "5"
    neg_risk: bool = False
    last_trade_price: str = ""
    complement: str | None = None  # the other outcome's token id

    def _key(self, side: dict[str, str], price: str) -> str | None:
        """The existing key at the same price ("0.5" and "0.50" are one level)."""
        want = _dec(price)
        for k in side:
            if _dec(k) == want:
                return k
        return None

    def set_level(self, side: str, price: str, size: str) -> None:
        levels = self.bids if side == "BUY" else self.asks
        key = self._key(levels, price)
        if key is not None:
            del levels[key]
        if _dec(size) > 0:
            levels[price] = size

    def best_bid(self) -> str:
        return max(self.bids, key=_dec) if self.bids else "0"

    def best_ask(self) -> str:
        return min(self.asks, key=_dec) if self.asks else "1"

    def levels(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """Bids ascending, asks descending: the order of every real capture (best last)."""
        bids = [{"price": p, "size": self.bids[p]} for p in sorted(self.bids, key=_dec)]
        asks = [{"price": p, "size": self.asks[p]} for p in sorted(self.asks, key=_dec, reverse=True)]
        return bids, asks

    def mirrored(self, token_id: str) -> FakeBook:
        """The complementary token's book: a bid at p here is an ask at 1 − p there, same size."""
        return FakeBook(
            token_id=token_id,
            market=self.market,
            bids={_complement(p): s for p, s in self.asks.items()},
            asks={_complement(p): s for p, s in self.bids.items()},
            tick_size=self.tick_size,
            min_order_size=self.min_order_size,
            neg_risk=self.neg_risk,
            complement=self.token_id,
        )


def _book_from_capture(msg: dict[str, Any], **kw: Any) -> FakeBook:
    return FakeBook(
        token_id=msg["asset_id"],
        market=msg["market"],
        bids={lv["price"]: lv["size"] for lv in msg["bids"]},
        asks={lv["price"]: lv["size"] for lv in msg["asks"]},
        tick_size=msg.get("tick_size", kw.pop("tick_size", "0.01")),
        last_trade_price=msg.get("last_trade_price", ""),
        **kw,
    )


@dataclass
class _Client:
    initial_done: bool = False
    assets: set[str] = field(default_factory=set)
    last_heard: float = field(default_factory=time.monotonic)


class FakePolymarket(FakeVenueServer):
    """See the module docstring. `FakePolymarket.from_fixtures()` loads the captured markets."""

    ws_path = "/ws/market"
    user_ws_path = "/ws/user"

    # The two markets whose real books were captured (token ids from the captures):
    # 2024 "Will Donald Trump win..." (CLOB /markets capture): YES 2174…, NO 4833… (ws book capture).
    TRUMP_YES = "21742633143463906290569050155826241533067272736897614950488156847949938836455"
    TRUMP_NO = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
    # 2026 frame-array capture: the book is token 7667…, whose complement 5417… is in its price_changes.
    BURST_A = "76670567130917723816490572615540605537878462672464291990940067659127658071111"
    BURST_B = "54179564009642723353355316176091991063553046330768303687769988635499280029688"

    def __init__(self, *, idle_timeout_s: float = 60.0) -> None:
        super().__init__()
        self.idle_timeout_s = idle_timeout_s
        self.books: dict[str, FakeBook] = {}
        self.gamma_markets: list[dict[str, Any]] = []
        self.gamma_events: list[dict[str, Any]] = []
        self._clients: dict[web.WebSocketResponse, _Client] = {}
        self._held: list[tuple[list[str], str]] = []  # (token ids, frame) kept back by hold=True
        self._last_ms = 0
        self.closed_with: list[tuple[int, str]] = []  # (code, reason) of every close we made
        self.pings = 0
        self.invalid_operations = 0
        self.ignored_subscribes = 0  # token ids subscribed again on a connection already following them
        self._watchdog: asyncio.Future[None] | None = None
        from tests.fakevenues.polymarket_trading import FakeClob

        self.trading = FakeClob(self)

    # -- universe ------------------------------------------------------------------------------------
    @classmethod
    def from_fixtures(cls, **kw: Any) -> FakePolymarket:
        fake = cls(**kw)
        trump_no = _book_from_capture(
            load_fixture("ws_market/book__ws_capture_2024_asks_desc_bids_asc.json"),
            tick_size="0.001",
            neg_risk=True,
            complement=cls.TRUMP_YES,
        )
        fake.add_book(trump_no)
        fake.add_book(trump_no.mirrored(cls.TRUMP_YES))
        frame = load_fixture("ws_market/frame_array__book_then_price_changes__capture_2026_TRIMMED.json")
        burst_a = _book_from_capture(frame[0], complement=cls.BURST_B)
        fake.add_book(burst_a)
        fake.add_book(burst_a.mirrored(cls.BURST_B))
        lone = _book_from_capture(load_fixture("ws_market/book__ws_capture_2026_with_tick_size.json"))
        fake.add_book(lone)
        fake.gamma_markets = [
            load_fixture("gamma/market__binary_btc_updown_2026.json"),
            load_fixture("gamma/market__sports_moneyline.json"),
            load_fixture("gamma/market__closed_binary_accepting_false.json"),
            load_fixture("gamma/market__closed_nonbinary_legacy.json"),
        ]
        fake.gamma_events = load_fixture("gamma/event__negrisk_multi_outcome_2028_nomination.json")
        return fake

    def add_book(self, book: FakeBook) -> None:
        self.books[book.token_id] = book

    def book_gamma_markets(self, size: str = "500") -> list[str]:
        """Give the outcome tokens of every open Gamma market (`gamma_markets` and the markets of
        `gamma_events`) that has no book yet a CLOB book at the market's own quote: the Gamma
        item's `bestBid`/`bestAsk` for outcome 0, one more level a tick further out on each side,
        and outcome 1 mirrored. The captured books are of other markets, so without this the
        catalogue's markets have no book at all (the real venue books every listed market). Gamma
        gives no level sizes: `size` (and twice it on the outer level) is this fake's choice.
        Returns the token ids booked."""
        markets = [*self.gamma_markets, *(m for e in self.gamma_events for m in e.get("markets") or ())]
        booked: list[str] = []
        for m in markets:
            if m.get("closed") or not m.get("active") or m.get("bestBid") is None or m.get("bestAsk") is None:
                continue
            yes, no = json.loads(m["clobTokenIds"])
            if yes in self.books or no in self.books:
                continue
            tick = _dec(str(m.get("orderPriceMinTickSize") or "0.01"))
            bid, ask = _dec(str(m["bestBid"])), _dec(str(m["bestAsk"]))
            outer = str(2 * _dec(size))
            book = FakeBook(
                token_id=yes,
                market=m["conditionId"],
                bids={str(bid): size, **({str(bid - tick): outer} if bid - tick > 0 else {})},
                asks={str(ask): size, **({str(ask + tick): outer} if ask + tick < 1 else {})},
                tick_size=str(tick),
                min_order_size=str(m.get("orderMinSize") or "5"),
                neg_risk=bool(m.get("negRisk")),
                last_trade_price=str(m.get("lastTradePrice") or ""),
                complement=no,
            )
            self.add_book(book)
            self.add_book(book.mirrored(no))
            booked += [yes, no]
        return booked

    # -- the WebSocket -------------------------------------------------------------------------------
    async def on_connect(self, ws: web.WebSocketResponse, request: web.Request) -> bool:
        if request.path == self.user_ws_path:
            self.trading.user_clients[ws] = None
            return True
        self._clients[ws] = _Client()
        if self._watchdog is None:
            self._watchdog = asyncio.ensure_future(self._watch_idle())
        return True

    async def _watch_idle(self) -> None:
        """Drop every connection whose client has been silent for `idle_timeout_s`."""
        while True:
            await asyncio.sleep(min(0.25, self.idle_timeout_s / 4))
            for ws, st in list(self._clients.items()):
                if ws.closed:
                    self._clients.pop(ws, None)
                elif time.monotonic() - st.last_heard > self.idle_timeout_s:
                    await self._close(ws, WSCloseCode.GOING_AWAY, "idle")

    async def _close(self, ws: web.WebSocketResponse, code: int, reason: str) -> None:
        self.closed_with.append((int(code), reason))
        self._clients.pop(ws, None)
        with contextlib.suppress(Exception):
            await ws.close(code=code, message=reason.encode())

    async def on_message(self, ws: web.WebSocketResponse, data: str) -> None:
        if ws in self.trading.user_clients:
            await self.trading.on_user_message(ws, data)
            return
        st = self._clients.get(ws)
        if st is None:
            st = self._clients[ws] = _Client()
        st.last_heard = time.monotonic()
        try:
            self.received.append(json.loads(data))
        except ValueError:
            self.received.append(data)
        if not st.initial_done:
            msg = self._initial_subscription(data)
            if msg is None:
                await self._close(ws, WSCloseCode.POLICY_VIOLATION, INVALID_PAYLOAD)
                return
            st.initial_done = True
            assets = msg["assets_ids"]
            st.assets.update(assets)
            if msg.get("initial_dump", True) is not False:
                await self._dump(ws, assets)
            return
        if data == "PING":
            self.pings += 1
            await self.send(ws, "PONG")
            return
        update = self._subscription_update(data)
        if update is None:
            self.invalid_operations += 1
            await self.send(ws, "INVALID OPERATION")
            return
        assets = update["assets_ids"]
        if update["operation"] == "unsubscribe":
            st.assets.difference_update(assets)  # their updates stop; a later subscribe dumps again
            return
        # A duplicate subscribe is ignored (module docstring): only new tokens join and get a book.
        new = [a for a in dict.fromkeys(assets) if a not in st.assets]
        self.ignored_subscribes += len(assets) - len(new)
        st.assets.update(new)
        if update.get("initial_dump", True) is not False:
            await self._dump(ws, new)

    @staticmethod
    def _valid_assets(value: Any) -> bool:
        return isinstance(value, list) and all(
            isinstance(a, str) and a.isascii() and a.isdigit() and 0 < len(a) <= 78 for a in value
        )

    def _initial_subscription(self, data: str) -> dict[str, Any] | None:
        try:
            msg = json.loads(data)
        except ValueError:
            return None
        if not isinstance(msg, dict) or "operation" in msg:
            return None
        kind = msg.get("type")
        if not isinstance(kind, str) or kind.lower() != "market":
            return None
        if not self._valid_assets(msg.get("assets_ids")):
            return None
        if not isinstance(msg.get("initial_dump", True), bool):
            return None
        if not isinstance(msg.get("custom_feature_enabled", False), bool):
            return None
        return msg

    def _subscription_update(self, data: str) -> dict[str, Any] | None:
        """A valid `subscribe` or `unsubscribe` (same checks for both: `operation` exactly one of
        the two, `assets_ids` a list of token-id strings, no `type`, a boolean `initial_dump` if
        any), else None."""
        try:
            msg = json.loads(data)
        except ValueError:
            return None
        if not isinstance(msg, dict) or msg.get("operation") not in ("subscribe", "unsubscribe"):
            return None  # a second initial subscription lands here too: INVALID OPERATION
        if "type" in msg or not self._valid_assets(msg.get("assets_ids")):
            return None
        if not isinstance(msg.get("initial_dump", True), bool):
            return None
        return msg

    async def _dump(self, ws: web.WebSocketResponse, assets: list[str]) -> None:
        frames = [self._book_event(self.books[a]) for a in assets if a in self.books]
        for ev in frames:
            await self.send(ws, json.dumps(ev))

    # -- messages ------------------------------------------------------------------------------------
    def _now_ms(self) -> int:
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        return self._last_ms

    def _book_event(self, book: FakeBook) -> dict[str, Any]:
        bids, asks = book.levels()
        ev: dict[str, Any] = {
            "market": book.market,
            "asset_id": book.token_id,
            "timestamp": str(self._now_ms()),
            "hash": "",
            "bids": bids,
            "asks": asks,
            "tick_size": book.tick_size,
            "event_type": "book",
            "last_trade_price": book.last_trade_price,
        }
        ev["hash"] = hashlib.sha1(json.dumps(ev, separators=(",", ":")).encode()).hexdigest()  # noqa: S324
        return ev

    async def _to_subscribers(self, token_ids: list[str], frame: str) -> None:
        for ws, st in list(self._clients.items()):
            if st.assets.intersection(token_ids):
                await self.send(ws, frame)

    def _price_change_frame(self, changes: list[tuple[str, str, str, str]]) -> tuple[list[str], str]:
        entries = []
        for token, side, price, size in changes:
            book = self.books[token]
            book.set_level(side, price, size)
            entry = {
                "asset_id": token,
                "price": price,
                "size": size,
                "side": side,
                "hash": "",
                "best_bid": book.best_bid(),
                "best_ask": book.best_ask(),
            }
            entry["hash"] = hashlib.sha1(json.dumps(entry).encode()).hexdigest()  # noqa: S324
            entries.append(entry)
        market = self.books[changes[0][0]].market
        msg = {
            "market": market,
            "price_changes": entries,
            "timestamp": str(self._now_ms()),
            "event_type": "price_change",
        }
        return [c[0] for c in changes], json.dumps(msg)

    # -- controls (test thread) ------------------------------------------------------------------------
    def price_change(
        self, changes: list[tuple[str, str, str, str]], *, deliver: bool = True, hold: bool = False
    ) -> None:
        """Apply (token, "BUY"|"SELL", price, size) changes and announce them in one message.

        `deliver=False` changes the venue's book without telling anyone (a lost update, a gap);
        `hold=True` keeps the message back until `release_held()` (an out-of-order delivery)."""

        async def go() -> None:
            tokens, frame = self._price_change_frame(changes)
            if hold:
                self._held.append((tokens, frame))
            elif deliver:
                await self._to_subscribers(tokens, frame)

        self.call(go)

    def complementary(self, token: str, side: str, price: str, size: str, **kw: Any) -> None:
        """A change on `token` and its mirror on the other outcome, in one message (as captured)."""
        other = self.books[token].complement
        changes = [(token, side, price, size)]
        if other is not None:
            changes.append((other, "SELL" if side == "BUY" else "BUY", _complement(price), size))
        self.price_change(changes, **kw)

    def release_held(self) -> None:
        async def go() -> None:
            held, self._held = self._held, []
            for tokens, frame in held:
                await self._to_subscribers(tokens, frame)

        self.call(go)

    def send_book(self, token: str) -> None:
        """A `book` for `token` to its subscribers (the venue sends one after a trade)."""

        async def go() -> None:
            await self._to_subscribers([token], json.dumps(self._book_event(self.books[token])))

        self.call(go)

    def send_crossed_book(self, token: str) -> None:
        """A `book` whose best bid is above its best ask (the venue misbehaving)."""

        async def go() -> None:
            ev = self._book_event(self.books[token])
            ev["bids"] = ev["bids"] + [{"price": "0.99", "size": "10"}]
            ev["asks"] = ev["asks"] + [{"price": "0.01", "size": "10"}]
            await self._to_subscribers([token], json.dumps(ev))

        self.call(go)

    def tick_size_change(self, token: str, new_tick: str) -> None:
        async def go() -> None:
            book = self.books[token]
            old, book.tick_size = book.tick_size, new_tick
            msg = {
                "event_type": "tick_size_change",
                "asset_id": token,
                "market": book.market,
                "old_tick_size": old,
                "new_tick_size": new_tick,
                "timestamp": str(self._now_ms()),
            }
            await self._to_subscribers([token], json.dumps(msg))

        self.call(go)

    def last_trade(self, token: str, side: str, price: str, size: str) -> None:
        async def go() -> None:
            book = self.books[token]
            book.last_trade_price = price
            msg = {
                "asset_id": token,
                "event_type": "last_trade_price",
                "fee_rate_bps": "0",
                "market": book.market,
                "price": price,
                "side": side,
                "size": size,
                "timestamp": str(self._now_ms()),
            }
            await self._to_subscribers([token], json.dumps(msg))

        self.call(go)

    def subscribed(self) -> list[set[str]]:
        """The token set of every open connection that has subscribed."""

        async def go() -> list[set[str]]:
            return [set(st.assets) for ws, st in self._clients.items() if not ws.closed and st.initial_done]

        return self.call(go)

    # -- REST ----------------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/markets", self._gamma_markets)
        app.router.add_get("/events", self._gamma_events)
        app.router.add_get("/book", self._clob_book)
        app.router.add_get("/tick-size", self._clob_tick_size)
        app.router.add_get("/neg-risk", self._clob_neg_risk)
        app.router.add_get(self.user_ws_path, self._ws_handler)
        self.trading.routes(app)

    @staticmethod
    def _page_params(request: web.Request) -> tuple[int, int] | web.Response:
        try:
            limit = int(request.query.get("limit", "20"))
            offset = int(request.query.get("offset", "0"))
        except ValueError:
            return web.json_response({"error": "limit and offset must be integers"}, status=400)
        if limit < 0 or offset < 0:
            return web.json_response({"error": "limit and offset must be non-negative"}, status=400)
        return limit, offset

    @staticmethod
    def _bool_filter(request: web.Request, name: str) -> bool | None | web.Response:
        raw = request.query.get(name)
        if raw is None:
            return None
        if raw not in ("true", "false"):
            return web.json_response({"error": f"{name} must be true or false"}, status=400)
        return raw == "true"

    def _filtered(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        page = self._page_params(request)
        if isinstance(page, web.Response):
            return page
        rows = items
        for name in ("active", "closed"):
            want = self._bool_filter(request, name)
            if isinstance(want, web.Response):
                return want
            if want is not None:
                rows = [r for r in rows if bool(r.get(name)) == want]
        order = request.query.get("order")
        if order:
            descending = request.query.get("ascending", "true") == "false"
            rows = sorted(rows, key=lambda r: float(r.get(order) or 0), reverse=descending)
        limit, offset = page
        return web.json_response(rows[offset : offset + limit])

    async def _gamma_markets(self, request: web.Request) -> web.Response:
        return self._filtered(request, self.gamma_markets)

    async def _gamma_events(self, request: web.Request) -> web.Response:
        return self._filtered(request, self.gamma_events)

    def _token_param(self, request: web.Request) -> str | web.Response:
        token = request.query.get("token_id", "")
        if not (token.isascii() and token.isdigit() and len(token) <= 78):
            return web.json_response({"error": "Invalid token id"}, status=400)
        return token

    async def _clob_book(self, request: web.Request) -> web.Response:
        token = self._token_param(request)
        if isinstance(token, web.Response):
            return token
        book = self.books.get(token)
        if book is None:
            return web.json_response({"error": "No orderbook exists for the requested token id"}, status=404)
        ev = self._book_event(book)
        bids, asks = book.levels()
        return web.json_response(
            {
                "market": book.market,
                "asset_id": token,
                "timestamp": ev["timestamp"],
                "hash": ev["hash"],
                "bids": bids,
                "asks": asks,
                "min_order_size": book.min_order_size,
                "tick_size": book.tick_size,
                "neg_risk": book.neg_risk,
                "last_trade_price": book.last_trade_price,
            }
        )

    async def _clob_tick_size(self, request: web.Request) -> web.Response:
        token = self._token_param(request)
        if isinstance(token, web.Response):
            return token
        book = self.books.get(token)
        if book is None:
            return web.json_response({"error": "market not found"}, status=404)
        return web.json_response({"minimum_tick_size": float(book.tick_size)})

    async def _clob_neg_risk(self, request: web.Request) -> web.Response:
        token = self._token_param(request)
        if isinstance(token, web.Response):
            return token
        book = self.books.get(token)
        if book is None:
            return web.json_response({"error": "market not found"}, status=404)
        return web.json_response({"neg_risk": book.neg_risk})
