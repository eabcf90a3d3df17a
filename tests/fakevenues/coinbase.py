"""A strict fake Coinbase Advanced Trade: the market-data WebSocket and the public REST product list.

Built from ../shared/venues/coinbase/ (NOTES.md, PROVENANCE.md, the captures) and Coinbase's own
pages; the fixtures it serves are in fixtures/coinbase/ (SOURCES.md says where each comes from).

WebSocket (at the root path, as `wss://advanced-trade-ws.coinbase.com` is):
- A client sends `{"type": "subscribe" | "unsubscribe", "product_ids": [...], "channel": "..."}`,
  one channel per message, `jwt` optional. Refused with `{"type": "error", "message": ...}` (no
  envelope; the socket stays open): a frame that is not JSON or not an object, another `type`, the
  Exchange feed's `channels` list, a missing/unknown `channel`, `user`/`futures_balance_summary`
  (they need a JWT this fake does not check: "authentication failure", the one captured text), a market channel without
  `product_ids` or with an empty list, ids that are not strings, a product the list does not
  have, more than `max_messages` client messages within `window_s` (8 a second per the docs).
  No subscribe within `subscribe_timeout_s` (5 s, the overview) closes the connection.
- `level2`: the `subscriptions` ack and, per newly subscribed product, one `l2_data` snapshot (the
  ack first unless `ack_first=False`; the order is not documented); then `update` events as the
  test changes the book. A -USDC product other than USDT-USDC/EURC-USDC gets its -USD product's
  data, labelled with the -USD id ("Other channels will return the same data as the corresponding
  '-USD' based products"). A repeated subscribe of a subscribed product sends nothing new; an
  unsubscribe then a subscribe sends a fresh snapshot. An unsubscribe without products leaves the
  channel.
- `heartbeats`: one message every `heartbeat_interval_s` with a rising `heartbeat_counter`.
- Every message a connection gets carries that connection's next `sequence_num` (from 0, across
  every channel, acks included: the per-connection counter of the AsyncAPI document).
  Other documented public channels are acknowledged and serve nothing here.
- Faults: `skip_sequence()` (a gap), `inject()` (a raw frame: malformed JSON), `send_message()`
  (a crafted message in sequence: an error, an unknown channel), `update()` with a crossing level
  (a crossed book), `burst()`, `set_silent()` (nothing is sent; the numbers keep counting, so what
  was not sent is a gap afterwards), `disconnect_all()`.

REST: `GET /api/v3/brokerage/market/products` (`product_type`, repeated `product_ids`, `limit`,
`offset`) and `/market/products/{product_id}` (404 when unknown) need no authentication; the
private paths without `/market/` answer 401 (NOTES.md item 14). `fail_http()` (base) answers 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from tests.fakevenues.base import FakeVenueServer

__all__ = ["FIXTURES", "FakeCoinbase", "fixture"]

FIXTURES = Path(__file__).parent / "fixtures" / "coinbase"

#: the documented channels (docs "WebSocket Channels" table) and which need authentication
CHANNELS = {
    "heartbeats": False,
    "candles": False,
    "status": False,
    "ticker": False,
    "ticker_batch": False,
    "level2": False,
    "user": True,
    "market_trades": False,
    "futures_balance_summary": True,
}
_NO_PRODUCTS_NEEDED = {"heartbeats", "status", "user", "futures_balance_summary"}
_USDC_OWN_BOOKS = {"USDT-USDC", "EURC-USDC"}


def fixture(name: str) -> Any:
    """A fixture file's JSON (fixtures/coinbase/<name>)."""
    return orjson.loads((FIXTURES / name).read_bytes())


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Conn:
    __slots__ = ("ws", "seq", "skip", "level2", "channels", "heartbeat", "counter", "times", "subscribed")

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.seq = 0  # the next sequence_num
        self.skip = 0  # numbers to leave out before the next message
        self.level2: set[str] = set()  # requested product ids
        self.channels: set[str] = set()
        self.heartbeat: asyncio.Task[None] | None = None
        self.counter = 0
        self.times: deque[float] = deque()
        self.subscribed = False


class FakeCoinbase(FakeVenueServer):
    ws_path = "/"

    def __init__(
        self,
        *,
        heartbeat_interval_s: float = 1.0,
        subscribe_timeout_s: float = 5.0,
        ack_first: bool = True,
        max_messages: int = 8,
        window_s: float = 1.0,
    ) -> None:
        super().__init__()
        self.heartbeat_interval_s = heartbeat_interval_s
        self.subscribe_timeout_s = subscribe_timeout_s
        self.ack_first = ack_first
        self.max_messages = max_messages
        self.window_s = window_s
        catalogue = fixture("fake_products.json")
        self.catalogue: list[dict[str, Any]] = catalogue["products"]
        self.product_rows = {row["product_id"]: row for row in self.catalogue}
        self.errors: dict[str, str] = fixture("errors.json")["ws"]
        self.rest_errors: dict[str, Any] = fixture("errors.json")["rest"]
        books = fixture("books.json")
        # product → side ("bid"/"offer") → price text → size text
        self.books: dict[str, dict[str, dict[str, str]]] = {
            pid: {side: dict(levels) for side, levels in sides.items()}
            for pid, sides in books.items()
            if not pid.startswith("_")
        }
        self.conns: dict[web.WebSocketResponse, _Conn] = {}
        self.errors_sent: list[str] = []
        self.snapshots_sent: list[str] = []  # product ids, in order

    # -- REST --------------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v3/brokerage/market/products", self._list_products)
        app.router.add_get("/api/v3/brokerage/market/products/{product_id}", self._get_product)
        app.router.add_get("/api/v3/brokerage/products", self._private)
        app.router.add_get("/api/v3/brokerage/products/{product_id}", self._private)

    async def _list_products(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            limit = int(q["limit"]) if "limit" in q else None
            offset = int(q.get("offset", "0"))
            if (limit is not None and limit < 0) or offset < 0:
                raise ValueError
        except ValueError:
            body = dict(self.rest_errors["bad_argument"], error_details="limit and offset are whole numbers")
            return web.json_response(body, status=400)
        rows = self.catalogue
        kind = q.get("product_type")
        if kind is not None:
            if kind not in ("SPOT", "FUTURE", "UNKNOWN_PRODUCT_TYPE"):
                body = dict(self.rest_errors["bad_argument"], error_details=f"product_type {kind!r}")
                return web.json_response(body, status=400)
            rows = [r for r in rows if r.get("product_type") == kind]
        wanted = q.getall("product_ids", [])
        if wanted:
            rows = [r for r in rows if r["product_id"] in wanted]
        rows = rows[offset:] if limit is None else rows[offset : offset + limit]
        return web.json_response({"products": rows, "num_products": len(rows), "pagination": None})

    async def _get_product(self, request: web.Request) -> web.Response:
        row = self.product_rows.get(request.match_info["product_id"])
        if row is None:
            return web.json_response(self.rest_errors["not_found"], status=404)
        return web.json_response(row)

    async def _private(self, request: web.Request) -> web.Response:
        return web.json_response(self.rest_errors["unauthenticated"], status=401)

    # -- WebSocket ---------------------------------------------------------------------------------
    async def on_connect(self, ws: web.WebSocketResponse, request: web.Request) -> bool:
        conn = _Conn(ws)
        self.conns[ws] = conn
        self.loop.call_later(self.subscribe_timeout_s, self._check_subscribed, conn)
        return True

    def _check_subscribed(self, conn: _Conn) -> None:
        if not conn.subscribed and not conn.ws.closed:
            asyncio.ensure_future(conn.ws.close())

    async def on_message(self, ws: web.WebSocketResponse, data: str) -> None:
        conn = self.conns[ws]
        now = time.monotonic()
        conn.times.append(now)
        while conn.times and now - conn.times[0] > self.window_s:
            conn.times.popleft()
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.received.append(data)
            return await self._error(conn, "bad_json")
        self.received.append(msg)
        if len(conn.times) > self.max_messages:
            return await self._error(conn, "rate_limited")
        if type(msg) is not dict:
            return await self._error(conn, "not_an_object")
        kind = msg.get("type")
        if kind not in ("subscribe", "unsubscribe"):
            return await self._error(conn, "bad_type")
        if "channels" in msg:
            return await self._error(conn, "channels_list")
        channel = msg.get("channel")
        if type(channel) is not str:
            return await self._error(conn, "missing_channel")
        if channel not in CHANNELS:
            return await self._error(conn, "unknown_channel")
        jwt = msg.get("jwt")
        if jwt is not None and type(jwt) is not str:
            return await self._error(conn, "bad_jwt")
        if CHANNELS[channel]:
            # user/futures_balance_summary need a valid JWT; this market-data fake checks none, so it
            # refuses them all (stricter than the venue, never laxer).
            return await self._error(conn, "authentication_failure")
        products = msg.get("product_ids")
        if products is None:
            if kind == "subscribe" and channel not in _NO_PRODUCTS_NEEDED:
                return await self._error(conn, "missing_product_ids")
            products = []
        if type(products) is not list or any(type(p) is not str for p in products):
            return await self._error(conn, "bad_product_ids")
        if kind == "subscribe" and not products and channel not in _NO_PRODUCTS_NEEDED:
            return await self._error(conn, "missing_product_ids")
        if any(p not in self.product_rows for p in products):
            return await self._error(conn, "unknown_product")
        if kind == "subscribe":
            await self._subscribe(conn, channel, products)
        else:
            await self._unsubscribe(conn, channel, products)

    async def _subscribe(self, conn: _Conn, channel: str, products: list[str]) -> None:
        conn.subscribed = True
        conn.channels.add(channel)
        new = []
        if channel == "level2":
            new = [p for p in dict.fromkeys(products) if p not in conn.level2]
            conn.level2.update(new)
        if self.ack_first:
            await self._ack(conn)
        for p in new:
            await self._snapshot(conn, p)
        if not self.ack_first:
            await self._ack(conn)
        if channel == "heartbeats" and conn.heartbeat is None:
            conn.heartbeat = asyncio.ensure_future(self._heartbeats(conn))

    async def _unsubscribe(self, conn: _Conn, channel: str, products: list[str]) -> None:
        if channel == "level2":
            conn.level2.difference_update(products or list(conn.level2))
            if not conn.level2:
                conn.channels.discard("level2")
        elif channel == "heartbeats":
            conn.channels.discard(channel)
            if conn.heartbeat is not None:
                conn.heartbeat.cancel()
                conn.heartbeat = None
        else:
            conn.channels.discard(channel)
        await self._ack(conn)

    async def _ack(self, conn: _Conn) -> None:
        subs: dict[str, list[str]] = {}
        for ch in sorted(conn.channels):
            subs[ch] = sorted(conn.level2) if ch == "level2" else []
        await self._deliver(conn, "subscriptions", [{"subscriptions": subs}])

    def book_id(self, product: str) -> str:
        """The product whose book `product`'s market data is (BTC-USDC → BTC-USD)."""
        if product.endswith("-USDC") and product not in _USDC_OWN_BOOKS:
            usd = product[: -len("USDC")] + "USD"
            if usd in self.product_rows:
                return usd
        return product

    async def _snapshot(self, conn: _Conn, product: str) -> None:
        book_id = self.book_id(product)
        book = self.books.get(book_id, {"bid": {}, "offer": {}})
        now = _now_text()
        updates = [
            {"side": side, "event_time": now, "price_level": px, "new_quantity": qty}
            for side in ("bid", "offer")
            for px, qty in book.get(side, {}).items()
        ]
        self.snapshots_sent.append(book_id)
        await self._deliver(
            conn, "l2_data", [{"type": "snapshot", "product_id": book_id, "updates": updates}]
        )

    async def _heartbeats(self, conn: _Conn) -> None:
        while not conn.ws.closed:
            await asyncio.sleep(self.heartbeat_interval_s)
            if conn.ws.closed or "heartbeats" not in conn.channels:
                return
            conn.counter += 1
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f000+00:00")
            await self._deliver(
                conn, "heartbeats", [{"current_time": stamp, "heartbeat_counter": conn.counter}]
            )

    async def _deliver(self, conn: _Conn, channel: str, events: list[dict[str, Any]]) -> None:
        """One message in the connection's sequence (numbered even when silence swallows it)."""
        conn.seq += conn.skip
        conn.skip = 0
        seq = conn.seq
        conn.seq += 1
        frame = {
            "channel": channel,
            "client_id": "",
            "timestamp": _now_text(),
            "sequence_num": seq,
            "events": events,
        }
        await self.send(conn.ws, orjson.dumps(frame).decode())

    async def _error(self, conn: _Conn, key: str) -> None:
        text = self.errors[key]
        self.errors_sent.append(text)
        await self.send(conn.ws, orjson.dumps({"type": "error", "message": text}).decode())

    def _live(self) -> list[_Conn]:
        return [c for ws, c in list(self.conns.items()) if not ws.closed]

    # -- what a test does (from its own thread) ----------------------------------------------------
    def update(self, product: str, changes: list[tuple[str, str, str]]) -> None:
        """Change `product`'s book — (side "bid"/"offer", price text, size text; "0" removes) — and
        send the update to every connection following it."""

        async def go() -> None:
            await self._update(product, changes)

        self.call(go)

    async def _update(self, product: str, changes: list[tuple[str, str, str]]) -> None:
        book = self.books.setdefault(product, {"bid": {}, "offer": {}})
        now = _now_text()
        updates = []
        for side, px, qty in changes:
            if float(qty) == 0:
                book[side].pop(px, None)
            else:
                book[side][px] = qty
            updates.append({"side": side, "event_time": now, "price_level": px, "new_quantity": qty})
        event = {"type": "update", "product_id": product, "updates": updates}
        for conn in self._live():
            if any(self.book_id(p) == product for p in conn.level2):
                await self._deliver(conn, "l2_data", [event])

    def burst(self, product: str, n: int, side: str = "bid", price: str | None = None) -> None:
        """n updates of one level's size (1..n) in one go."""
        px = price or max(self.books[product][side], key=float)

        async def go() -> None:
            for i in range(1, n + 1):
                await self._update(product, [(side, px, str(i))])

        self.call(go)

    def skip_sequence(self, n: int = 1) -> None:
        """Leave `n` numbers out before each connection's next message (a lost message)."""

        async def go() -> None:
            for conn in self._live():
                conn.skip += n

        self.call(go)

    def send_message(self, channel: str, events: list[dict[str, Any]]) -> None:
        """A crafted message, in sequence, to every connection."""

        async def go() -> None:
            for conn in self._live():
                await self._deliver(conn, channel, events)

        self.call(go)

    def send_error(self, message: str) -> None:
        """An error message (no envelope) to every connection."""
        self.errors_sent.append(message)
        self.inject(orjson.dumps({"type": "error", "message": message}).decode())

    def book_levels(self, product: str) -> dict[str, dict[str, str]]:
        """The fake's book of `product`: side → price text → size text (a copy)."""

        async def go() -> dict[str, dict[str, str]]:
            return {s: dict(v) for s, v in self.books[product].items()}

        return self.call(go)

    def subscriptions(self) -> list[set[str]]:
        """Each open connection's level2 products."""

        async def go() -> list[set[str]]:
            return [set(c.level2) for c in self._live()]

        return self.call(go)

    async def _shutdown(self) -> None:
        for conn in self.conns.values():
            if conn.heartbeat is not None:
                conn.heartbeat.cancel()
                with contextlib.suppress(BaseException):
                    await conn.heartbeat
        await super()._shutdown()
