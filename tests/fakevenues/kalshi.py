"""A strict fake Kalshi (trade API v2): the signed WebSocket (`/trade-api/ws/v2`, channel
`orderbook_delta`) and the public REST markets/events/orderbook endpoints (`/trade-api/v2/...`).

Built from Kalshi's own documents (../shared/venues/kalshi/NOTES.md, PROVENANCE.md and captures;
docs.kalshi.com asyncapi.yaml and openapi.yaml):

- The handshake must carry KALSHI-ACCESS-KEY (a known key id), KALSHI-ACCESS-TIMESTAMP (ms, within
  `max_skew_ms` of now: Kalshi documents no window, a fake that refuses stale ones is the stricter
  choice) and KALSHI-ACCESS-SIGNATURE, an RSA-PSS SHA-256 signature (32-byte salt) of
  `timestamp + "GET" + "/trade-api/ws/v2"` that verifies with the key's public key. Anything else is
  refused with HTTP 401 before the upgrade.
- Commands are checked as the asyncapi error table says: not JSON → 1, no params → 2, no channels
  → 3, unsubscribe without sids → 4, unknown cmd → 5, unknown sid → 7, unknown channel → 8, a bad
  parameter → 11, update_subscription without exactly one sid → 12, unknown action → 13, no market
  ticker → 14, no action → 15, unknown market → 16.
- A subscription answers `subscribed` (one per channel, with its sid), then an `orderbook_snapshot`
  per market, then `orderbook_delta`s; every book message carries the sid's next `seq`.

Portfolio (signed REST, `/trade-api/v2/portfolio/...`): every request's three headers are checked as
the handshake's, over its own METHOD and path without the query (401 with an error body otherwise,
the reason in `rest_refusals`); a balance per key (`add_account`); create order (201 `{"order"}`;
400 bad params / `invalid_price` / `insufficient_balance` / `market_closed` / post-only cross, 404
unknown market, 409 duplicate client_order_id), matching in YES terms against the public book and
other accounts' resting orders (a YES buy at p crosses a NO buy at >= 1 - p), partial fills, IOC/FOK
remainders cancelled; cancel, resting orders, fills (`fill_id` = `trade_id`); the `fill` and
`user_orders` channels to the connection of the account's key, and `resend_last_fill()`.

Faults for the tests (call from the test thread): `lose_next(n)` (messages applied but never sent:
a seq gap and a book that moved), `skip_seq(n)` (a seq jump), `inject_crossed(ticker)` (a delta
that crosses the book, not applied to the truth), `send_error(code, ticker)` (codes 10/17/25 end the
subscription as Kalshi says), `throttle_subscribes(n)` (the next n valid subscribes refused with code
27, "Too many requests": Kalshi documents the code but not the limit, so the fake imposes none of its
own), `forget_subscription(ticker)`, `burst(...)`, and the base class's
`inject` (malformed JSON), `disconnect_all`, `set_silent`, `fail_http` (429).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from venues.kalshi.auth import (
    ACCESS_KEY,
    ACCESS_SIGNATURE,
    ACCESS_TIMESTAMP,
    WS_PATH,
    load_public_key,
    verify_signature,
)

from .base import FakeVenueServer

__all__ = ["FIXTURES", "KEY_ID", "FakeKalshi", "private_key_pem"]

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kalshi"
KEY_ID = "test-key-id"
REST = "/trade-api/v2"

#: channels the asyncapi document lists (subscribing to them is accepted; only orderbook_delta streams here)
CHANNELS = {
    "orderbook_delta", "ticker", "ticker_v2", "trade", "fill", "market_positions", "market_lifecycle_v2",
    "event_lifecycle", "multivariate", "communications", "order_group_updates", "user_orders",
}  # fmt: skip
_ERRORS = {
    1: "Unable to process message", 2: "Params required", 3: "Channels required",
    4: "Subscription IDs required", 5: "Unknown command", 7: "Unknown subscription ID",
    8: "Unknown channel name", 10: "Channel error", 11: "Invalid parameter",
    12: "Exactly one subscription ID is required", 13: "Unsupported action", 14: "Market Ticker required",
    15: "Action required", 16: "Market not found", 17: "Internal error", 25: "Subscription buffer overflow",
    27: "Too many requests",
}  # fmt: skip
# GET /markets?status= words → the market statuses they match (getting_started/market_lifecycle)
_STATUS_FILTER = {
    "unopened": {"initialized"},
    "open": {"active"},
    "paused": {"inactive"},
    "closed": {"closed", "determined", "disputed", "amended"},
    "settled": {"finalized"},
}
_EVENT_STATUS = {"unopened", "open", "closed", "settled"}


def private_key_pem() -> bytes:
    """The test key the fake trusts under `KEY_ID` (fixtures/kalshi/KEYS.md)."""
    return (FIXTURES / "test_private_key.pem").read_bytes()


def _dollars(value: Decimal) -> str:
    return f"{value:.4f}"


def _count(value: Decimal) -> str:
    return f"{value:.2f}"


@dataclass
class _Sub:
    sid: int
    channel: str
    tickers: list[str]
    seq: int = 0


@dataclass
class _Conn:
    key_id: str = ""
    next_sid: int = 1
    subs: dict[int, _Sub] = field(default_factory=dict)


class FakeKalshi(FakeVenueServer):
    ws_path = WS_PATH

    def __init__(self, *, max_skew_ms: int = 30_000, catalogue: dict[str, Any] | None = None) -> None:
        super().__init__()
        data = catalogue or json.loads((FIXTURES / "catalogue.json").read_text())
        self.keys = {KEY_ID: load_public_key((FIXTURES / "test_public_key.pem").read_bytes())}
        self.max_skew_ms = max_skew_ms
        self.markets: list[dict[str, Any]] = copy.deepcopy(data["markets"])
        self.events: list[dict[str, Any]] = copy.deepcopy(data["events"])
        self.market_ids: dict[str, str] = dict(data["market_ids"])
        # the true books: ticker → {"yes": {price: count}, "no": {...}} (Decimal)
        self.books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
        for m in self.markets:
            raw = data["books"].get(m["ticker"], {})
            self.books[m["ticker"]] = {
                side: {Decimal(p): Decimal(c) for p, c in raw.get(f"{side}_dollars", [])}
                for side in ("yes", "no")
            }
        self.conns: dict[web.WebSocketResponse, _Conn] = {}
        self.handshakes: list[dict[str, str]] = []  # the auth headers of every handshake attempt
        self.refusals: list[str] = []  # why each refused handshake was refused
        self.errors_sent: list[int] = []
        self._lose = 0
        self._skip = 0
        self._throttle = 0
        # portfolio: key id → account; every account's orders and fills
        self.balances: dict[str, int] = {KEY_ID: 100_000}  # cents
        self.orders: list[_Order] = []
        self.fills: dict[str, list[dict[str, Any]]] = {KEY_ID: []}
        self.rest_refusals: list[str] = []  # why each refused portfolio request was refused
        self.fill_frames: dict[str, list[str]] = {}  # key id → fill frames sent
        # (what, order id, status after it): "placed" once an order is accepted and matched,
        # "canceled" when a DELETE took it off the book (only a resting order can be)
        self.order_events: list[tuple[str, str, str]] = []
        self._order_seq = 0

    # -- handshake ---------------------------------------------------------------------------------
    async def on_connect(self, ws: web.WebSocketResponse, request: web.Request) -> bool:
        h = request.headers
        self.handshakes.append({k: h.get(k, "") for k in (ACCESS_KEY, ACCESS_TIMESTAMP, ACCESS_SIGNATURE)})
        reason = self._check_auth(
            h.get(ACCESS_KEY), h.get(ACCESS_TIMESTAMP), h.get(ACCESS_SIGNATURE), request.path
        )
        if reason is not None:
            self.refusals.append(reason)
            return False
        self.conns[ws] = _Conn(key_id=h.get(ACCESS_KEY, ""))
        return True

    def _check_auth(
        self, key_id: str | None, ts: str | None, sig: str | None, path: str, method: str = "GET"
    ) -> str | None:
        if not key_id or not ts or not sig:
            return "missing headers"
        key = self.keys.get(key_id)
        if key is None:
            return "unknown key id"
        if not ts.isdigit():
            return "bad timestamp"
        if abs(time.time_ns() // 1_000_000 - int(ts)) > self.max_skew_ms:
            return "stale timestamp"  # also what a timestamp in seconds looks like
        try:
            base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):
            return "bad signature"
        if not verify_signature(key, sig, int(ts), method, path):
            return "bad signature"
        return None

    # -- commands ----------------------------------------------------------------------------------
    async def on_message(self, ws: web.WebSocketResponse, data: str) -> None:
        try:
            cmd = json.loads(data)
        except ValueError:
            return await self._error(ws, None, 1)
        self.received.append(cmd)
        if type(cmd) is not dict:
            return await self._error(ws, None, 1)
        cmd_id = cmd.get("id", 0)
        if type(cmd_id) is not int or cmd_id < 0:
            return await self._error(ws, None, 1)
        name = cmd.get("cmd")
        handler = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "list_subscriptions": self._list,
            "update_subscription": self._update,
        }.get(name)  # type: ignore[arg-type]
        if handler is None:
            return await self._error(ws, cmd_id, 5)
        if name != "list_subscriptions" and type(cmd.get("params")) is not dict:
            return await self._error(ws, cmd_id, 2)
        await handler(ws, cmd_id, cmd.get("params") or {})

    async def _error(
        self, ws: web.WebSocketResponse, cmd_id: int | None, code: int, ticker: str | None = None
    ):
        self.errors_sent.append(code)
        msg: dict[str, Any] = {"code": code, "msg": _ERRORS.get(code, "Error")}
        if ticker is not None:
            msg["market_ticker"] = ticker
        body: dict[str, Any] = {"type": "error", "msg": msg}
        if cmd_id:
            body = {"id": cmd_id, **body}
        await self.send(ws, json.dumps(body))

    async def _subscribe(self, ws: web.WebSocketResponse, cmd_id: int, params: dict[str, Any]) -> None:
        channels = params.get("channels")
        if type(channels) is not list or not channels:
            return await self._error(ws, cmd_id, 3)
        if any(type(c) is not str or c not in CHANNELS for c in channels):
            return await self._error(ws, cmd_id, 8)
        tickers: list[str] = []
        if "orderbook_delta" in channels:
            if "market_id" in params or "market_ids" in params:
                return await self._error(ws, cmd_id, 11)  # not supported for orderbook_delta
            one, many = params.get("market_ticker"), params.get("market_tickers")
            if one is None and many is None:
                return await self._error(ws, cmd_id, 14)
            if one is not None and many is not None:
                return await self._error(ws, cmd_id, 11)
            if one is not None:
                if type(one) is not str or not one:
                    return await self._error(ws, cmd_id, 11)
                tickers = [one]
            else:
                if type(many) is not list or not many or any(type(t) is not str or not t for t in many):
                    return await self._error(ws, cmd_id, 11)
                tickers = list(dict.fromkeys(many))
            for t in tickers:
                if t not in self.books:
                    return await self._error(ws, cmd_id, 16, t)
        if self._throttle:
            self._throttle -= 1
            return await self._error(ws, cmd_id, 27)
        conn = self.conns[ws]
        for channel in channels:
            sub = _Sub(conn.next_sid, channel, tickers if channel == "orderbook_delta" else [])
            conn.next_sid += 1
            conn.subs[sub.sid] = sub
            await self.send(
                ws,
                json.dumps({"id": cmd_id, "type": "subscribed", "msg": {"channel": channel, "sid": sub.sid}}),
            )
            for t in sub.tickers:
                await self._book_message(ws, sub, "orderbook_snapshot", self._snapshot_msg(t))

    async def _unsubscribe(self, ws: web.WebSocketResponse, cmd_id: int, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        if type(sids) is not list or not sids or any(type(s) is not int for s in sids):
            return await self._error(ws, cmd_id, 4)
        conn = self.conns[ws]
        for sid in sids:
            sub = conn.subs.pop(sid, None)
            if sub is None:
                await self._error(ws, cmd_id, 7)
                continue
            sub.seq += 1
            await self.send(
                ws, json.dumps({"id": cmd_id, "sid": sid, "seq": sub.seq, "type": "unsubscribed"})
            )

    async def _list(self, ws: web.WebSocketResponse, cmd_id: int, params: dict[str, Any]) -> None:
        subs = [{"channel": s.channel, "sid": s.sid} for s in self.conns[ws].subs.values()]
        body: dict[str, Any] = {"type": "ok", "msg": subs}
        await self.send(ws, json.dumps({"id": cmd_id, **body} if cmd_id else body))

    async def _update(self, ws: web.WebSocketResponse, cmd_id: int, params: dict[str, Any]) -> None:
        has_sid, has_sids = "sid" in params, "sids" in params
        if has_sid == has_sids:
            return await self._error(ws, cmd_id, 12)
        sid = params["sid"] if has_sid else (params["sids"] if type(params["sids"]) is list else [None, None])
        if has_sids:
            if len(sid) != 1:
                return await self._error(ws, cmd_id, 12)
            sid = sid[0]
        sub = self.conns[ws].subs.get(sid) if type(sid) is int else None
        if sub is None:
            return await self._error(ws, cmd_id, 7)
        action = params.get("action")
        if action is None:
            return await self._error(ws, cmd_id, 15)
        if (
            action not in ("add_markets", "delete_markets", "get_snapshot")
            or sub.channel != "orderbook_delta"
        ):
            return await self._error(ws, cmd_id, 13)
        tickers = params.get("market_tickers")
        if type(tickers) is not list or not tickers:
            return await self._error(ws, cmd_id, 14)
        for t in tickers:
            if type(t) is not str or t not in self.books:
                return await self._error(ws, cmd_id, 16, t if type(t) is str else None)
        if action == "add_markets":
            sub.tickers += [t for t in tickers if t not in sub.tickers]
        elif action == "delete_markets":
            sub.tickers = [t for t in sub.tickers if t not in tickers]
        sub.seq += 1
        reply = {
            "id": cmd_id,
            "sid": sub.sid,
            "seq": sub.seq,
            "type": "ok",
            "msg": {"market_tickers": sub.tickers},
        }
        await self.send(ws, json.dumps(reply))
        if action in ("add_markets", "get_snapshot"):
            for t in tickers:
                await self._book_message(ws, sub, "orderbook_snapshot", self._snapshot_msg(t))

    # -- book messages -----------------------------------------------------------------------------
    def _snapshot_msg(self, ticker: str) -> dict[str, Any]:
        msg: dict[str, Any] = {"market_ticker": ticker, "market_id": self.market_ids[ticker]}
        for side in ("yes", "no"):
            levels = sorted(self.books[ticker][side].items())
            if levels:  # an empty side's key is absent (orderbook-updates)
                msg[f"{side}_dollars_fp"] = [[_dollars(p), _count(c)] for p, c in levels]
        return msg

    async def _book_message(
        self, ws: web.WebSocketResponse, sub: _Sub, kind: str, msg: dict[str, Any]
    ) -> None:
        sub.seq += 1 + self._skip
        self._skip = 0
        if self._lose > 0 and kind == "orderbook_delta":
            self._lose -= 1
            return
        await self.send(ws, json.dumps({"type": kind, "sid": sub.sid, "seq": sub.seq, "msg": msg}))

    async def _publish_delta(
        self, ticker: str, side: str, price: Decimal, change: Decimal, apply: bool
    ) -> None:
        if apply:
            book = self.books[ticker][side]
            new = book.get(price, Decimal(0)) + change
            if new > 0:
                book[price] = new
            else:
                book.pop(price, None)
        msg = {
            "market_ticker": ticker,
            "market_id": self.market_ids[ticker],
            "price_dollars": _dollars(price),
            "delta_fp": _count(change),
            "side": side,
            "ts_ms": time.time_ns() // 1_000_000,
        }
        for ws, conn in list(self.conns.items()):
            if ws.closed:
                del self.conns[ws]
                continue
            for sub in list(conn.subs.values()):
                if sub.channel == "orderbook_delta" and ticker in sub.tickers:
                    await self._book_message(ws, sub, "orderbook_delta", msg)

    # -- test controls (thread-safe) ---------------------------------------------------------------
    def delta(self, ticker: str, side: str, price: str, change: str) -> None:
        """A change of the true book, sent to every subscriber of `ticker`."""
        self.call(self._publish_delta, ticker, side, Decimal(price), Decimal(change), True)

    def burst(self, ticker: str, count: int, side: str = "yes", price: str | None = None) -> None:
        """`count` deltas back to back (+1 and -1 contract in turn at `price`, by default the best bid)."""

        async def run() -> None:
            levels = self.books[ticker][side]
            at = Decimal(price) if price is not None else max(levels)
            for i in range(count):
                await self._publish_delta(ticker, side, at, Decimal(1 if i % 2 == 0 else -1), True)

        self.call(run, timeout=300)

    def lose_next(self, n: int = 1) -> None:
        """The next `n` deltas change the true book but are never sent (a seq gap)."""
        self._lose += n

    def skip_seq(self, n: int = 1) -> None:
        """The next book message's seq jumps by `n`."""
        self._skip += n

    def throttle_subscribes(self, n: int = 1) -> None:
        """The next `n` valid subscribe commands are refused with error 27 (Too many requests)."""
        self._throttle += n

    def inject_crossed(self, ticker: str) -> None:
        """A delta whose YES bid crosses the best NO bid; the true book does not change."""
        no = self.books[ticker]["no"]
        price = (Decimal(1) - max(no)) + Decimal("0.01") if no else Decimal("0.99")
        self.call(self._publish_delta, ticker, "yes", price, Decimal(5), False)

    def send_error(self, code: int, ticker: str | None = None) -> None:
        """An error to every client; 10/17/25 end the subscriptions that cover `ticker`."""

        async def run() -> None:
            for ws, conn in list(self.conns.items()):
                if code in (10, 17, 25) and ticker is not None:
                    for sid in [s.sid for s in conn.subs.values() if ticker in s.tickers]:
                        del conn.subs[sid]
                await self._error(ws, None, code, ticker)

        self.call(run)

    def forget_subscription(self, ticker: str) -> None:
        """Silently end the subscriptions that cover `ticker` (nothing more is sent for them)."""

        async def run() -> None:
            for conn in self.conns.values():
                for sid in [s.sid for s in conn.subs.values() if ticker in s.tickers]:
                    del conn.subs[sid]

        self.call(run)

    def book_levels(self, ticker: str) -> dict[str, list[tuple[Decimal, Decimal]]]:
        """The true book: side → [(price, count)] ascending."""
        return {side: sorted(self.books[ticker][side].items()) for side in ("yes", "no")}

    def subscriptions(self) -> list[dict[int, list[str]]]:
        return [{s.sid: list(s.tickers) for s in c.subs.values()} for c in self.conns.values()]

    # -- REST ----------------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_get(f"{REST}/markets", self._get_markets)
        app.router.add_get(f"{REST}/markets/{{ticker}}", self._get_market)
        app.router.add_get(f"{REST}/markets/{{ticker}}/orderbook", self._get_orderbook)
        app.router.add_get(f"{REST}/events", self._get_events)
        app.router.add_get(f"{REST}/portfolio/balance", self._signed(self._get_balance))
        app.router.add_post(f"{REST}/portfolio/orders", self._signed(self._post_order))
        app.router.add_get(f"{REST}/portfolio/orders", self._signed(self._get_orders))
        app.router.add_delete(f"{REST}/portfolio/orders/{{order_id}}", self._signed(self._delete_order))
        app.router.add_get(f"{REST}/portfolio/fills", self._signed(self._get_fills))

    @staticmethod
    def _bad(message: str, status: int = 400) -> web.Response:
        # Kalshi documents no REST error body; this is the third-party-described shape (rest_orders.json).
        code = "bad_request" if status == 400 else "not_found"
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    @staticmethod
    def _page(q: Any, default: int, maximum: int) -> tuple[int, int] | str:
        """(offset, limit) from `cursor`/`limit`, or an error message."""
        raw = q.get("limit")
        if raw is None or raw == "":
            limit = default
        else:
            if not raw.isdigit() or not 1 <= int(raw) <= maximum:
                return f"limit must be an integer from 1 to {maximum}"
            limit = int(raw)
        cursor = q.get("cursor") or ""
        offset = 0
        if cursor:
            try:
                decoded = base64.urlsafe_b64decode(cursor.encode()).decode()
                kind, value = decoded.split(":")
                if kind != "offset" or not value.isdigit():
                    raise ValueError
                offset = int(value)
            except (ValueError, binascii.Error, UnicodeDecodeError):
                return "invalid cursor"
        return offset, limit

    @staticmethod
    def _cursor(offset: int, limit: int, total: int) -> str:
        nxt = offset + limit
        return base64.urlsafe_b64encode(f"offset:{nxt}".encode()).decode() if nxt < total else ""

    async def _get_markets(self, request: web.Request) -> web.Response:
        q = request.query
        page = self._page(q, 100, 1000)
        if isinstance(page, str):
            return self._bad(page)
        status = q.get("status")
        if status is not None and status not in _STATUS_FILTER:
            return self._bad("status must be one of unopened, open, paused, closed, settled")
        mve = q.get("mve_filter")
        if mve is not None and mve not in ("only", "exclude"):
            return self._bad("mve_filter must be only or exclude")
        rows = self.markets
        if status:
            rows = [m for m in rows if m["status"] in _STATUS_FILTER[status]]
        if q.get("event_ticker"):
            wanted = q["event_ticker"].split(",")
            if len(wanted) > 10:
                return self._bad("at most 10 event tickers")
            rows = [m for m in rows if m["event_ticker"] in wanted]
        if q.get("series_ticker"):
            rows = [m for m in rows if m["event_ticker"].split("-")[0] == q["series_ticker"]]
        if q.get("tickers"):
            wanted = q["tickers"].split(",")
            rows = [m for m in rows if m["ticker"] in wanted]
        if mve == "only":
            rows = [m for m in rows if m.get("mve_collection_ticker")]
        offset, limit = page
        return web.json_response(
            {"markets": rows[offset : offset + limit], "cursor": self._cursor(offset, limit, len(rows))}
        )

    async def _get_market(self, request: web.Request) -> web.Response:
        ticker = request.match_info["ticker"]
        for m in self.markets:
            if m["ticker"] == ticker:
                return web.json_response({"market": m})
        return self._bad("market not found", 404)

    async def _get_orderbook(self, request: web.Request) -> web.Response:
        ticker = request.match_info["ticker"]
        if ticker not in self.books:
            return self._bad("market not found", 404)
        depth_raw = request.query.get("depth")
        depth = None
        if depth_raw is not None:
            if not depth_raw.isdigit() or int(depth_raw) > 100:
                return self._bad("depth must be an integer from 0 to 100")
            depth = int(depth_raw) or None
        book = {}
        for side in ("yes", "no"):
            levels = sorted(self.books[ticker][side].items())
            if depth:
                levels = levels[-depth:]
            book[f"{side}_dollars"] = [[_dollars(p), _count(c)] for p, c in levels]
        return web.json_response({"orderbook_fp": book})

    async def _get_events(self, request: web.Request) -> web.Response:
        q = request.query
        page = self._page(q, 200, 200)
        if isinstance(page, str):
            return self._bad(page)
        status = q.get("status")
        if status is not None and status not in _EVENT_STATUS:
            return self._bad("status must be one of unopened, open, closed, settled")
        nested = q.get("with_nested_markets", "false")
        if nested not in ("true", "false"):
            return self._bad("with_nested_markets must be true or false")
        rows = []
        for ev in self.events:
            members = [m for m in self.markets if m["event_ticker"] == ev["event_ticker"]]
            if status and not any(m["status"] in _STATUS_FILTER[status] for m in members):
                continue
            if q.get("series_ticker") and ev["series_ticker"] != q["series_ticker"]:
                continue
            row = dict(ev)
            if nested == "true":
                row["markets"] = members
            rows.append(row)
        offset, limit = page
        return web.json_response(
            {"events": rows[offset : offset + limit], "cursor": self._cursor(offset, limit, len(rows))}
        )

    # -- portfolio (signed REST) -------------------------------------------------------------------
    # Kalshi documents the statuses (400 bad params, 401 auth, 404, 409 duplicate client_order_id,
    # 429) but no REST error body in the material read; the body below is the third-party-described
    # `{"error": {"code", "message", "details"}}` shape (rest_orders.json), kept for every refusal.
    @staticmethod
    def _refuse(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    def _signed(self, handler: Any) -> Any:
        """Every portfolio request must carry the three headers, signed over METHOD + path (no query)."""

        async def wrapped(request: web.Request) -> web.Response:
            h = request.headers
            reason = self._check_auth(
                h.get(ACCESS_KEY),
                h.get(ACCESS_TIMESTAMP),
                h.get(ACCESS_SIGNATURE),
                request.path,
                request.method,
            )
            if reason is not None:
                self.rest_refusals.append(reason)
                return self._refuse(401, "authentication_error", f"authentication failed: {reason}")
            return await handler(request, h[ACCESS_KEY])

        return wrapped

    def add_account(self, key_id: str, public_key_pem: bytes, balance_cents: int) -> None:
        """Trust another API key (its own account and balance)."""
        self.keys[key_id] = load_public_key(public_key_pem)
        self.balances[key_id] = balance_cents
        self.fills[key_id] = []

    def _reserved(self, account: str) -> int:
        return sum(o.price * (o.count - o.filled) for o in self.orders if o.account == account and o.resting)

    async def _get_balance(self, request: web.Request, account: str) -> web.Response:
        bal = self.balances[account]
        return web.json_response({"balance": bal - self._reserved(account), "portfolio_value": bal})

    async def _post_order(self, request: web.Request, account: str) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return self._refuse(400, "invalid_parameters", "request body is not JSON")
        if type(body) is not dict:
            return self._refuse(400, "invalid_parameters", "request body must be an object")
        unknown = set(body) - _ORDER_FIELDS
        if unknown:
            return self._refuse(400, "invalid_parameters", f"unknown fields: {', '.join(sorted(unknown))}")
        ticker, side, action = body.get("ticker"), body.get("side"), body.get("action")
        count, kind, coid = body.get("count"), body.get("type", "limit"), body.get("client_order_id")
        if type(ticker) is not str or not ticker:
            return self._refuse(400, "invalid_parameters", "ticker is required")
        if side not in ("yes", "no") or action not in ("buy", "sell"):
            return self._refuse(400, "invalid_parameters", "side must be yes|no and action buy|sell")
        if kind != "limit":
            return self._refuse(400, "invalid_parameters", "only limit orders are supported here")
        if type(count) is not int or count < 1:
            return self._refuse(400, "invalid_parameters", "count must be an integer >= 1")
        prices = {k: body[k] for k in ("yes_price", "no_price") if k in body}
        if len(prices) != 1:
            return self._refuse(400, "invalid_parameters", "exactly one of yes_price, no_price is required")
        ((pkey, price),) = prices.items()
        if type(price) is not int or not 1 <= price <= 99:
            return self._refuse(400, "invalid_price", "price must be 1-99 cents")
        if coid is not None and (type(coid) is not str or not coid):
            return self._refuse(400, "invalid_parameters", "client_order_id must be a non-empty string")
        tif = body.get("time_in_force")
        if tif not in (None, "good_till_canceled", "immediate_or_cancel", "fill_or_kill"):
            return self._refuse(400, "invalid_parameters", "invalid time_in_force")
        post_only = body.get("post_only", False)
        if type(post_only) is not bool:
            return self._refuse(400, "invalid_parameters", "post_only must be a boolean")
        market = next((m for m in self.markets if m["ticker"] == ticker), None)
        if market is None:
            return self._refuse(404, "market_not_found", f"market {ticker} not found")
        if market.get("status") != "active":
            return self._refuse(400, "market_closed", f"market {ticker} is not open for trading")
        if coid is not None and any(o.account == account and o.client_order_id == coid for o in self.orders):
            return self._refuse(
                409, "order_already_exists", "an order with this client_order_id already exists"
            )
        yes_cents = price if pkey == "yes_price" else 100 - price
        if pkey == f"{'no' if side == 'yes' else 'yes'}_price":
            price = 100 - price  # a NO order priced in YES terms (or the reverse): its own side's price
        if action == "buy" and price * count > self.balances[account] - self._reserved(account):
            return self._refuse(400, "insufficient_balance", "insufficient balance for this order")
        self._order_seq += 1
        order = _Order(
            account=account, order_id=f"ord-{self._order_seq:06d}-{uuid.uuid4().hex[:8]}",
            client_order_id=coid, ticker=ticker, side=side, action=action, price=price, count=count,
        )  # fmt: skip
        # as a YES-book order: buying YES / selling NO bids for YES; the others offer YES
        bid = (side == "yes") == (action == "buy")
        if post_only and self._crosses(order, bid, yes_cents):
            return self._refuse(400, "post_only_cross", "post only order would cross the book")
        self.orders.append(order)
        await self._match(order, bid, yes_cents)
        if order.filled < order.count and tif in ("immediate_or_cancel", "fill_or_kill"):
            order.status = "canceled"
        elif order.filled >= order.count:
            order.status = "executed"
        self.order_events.append(("placed", order.order_id, order.status))
        await self._push_order(order)
        return web.json_response({"order": order.wire()}, status=201)

    def _crosses(self, order: _Order, bid: bool, yes_cents: int) -> bool:
        book = self.books[order.ticker]
        if bid:  # a YES bid at p crosses a NO bid at >= 1 - p (a YES ask at <= p)
            if any(Decimal(100 - yes_cents) / 100 <= n for n in book["no"]):
                return True
        elif any(y >= Decimal(yes_cents) / 100 for y in book["yes"]):
            return True
        return any(
            o.resting and o.account != order.account and o.ticker == order.ticker and o.bid != bid
            and (o.yes_cents <= yes_cents if bid else o.yes_cents >= yes_cents)
            for o in self.orders
        )  # fmt: skip

    async def _match(self, order: _Order, bid: bool, yes_cents: int) -> None:
        order.bid, order.yes_cents = bid, yes_cents
        while order.filled < order.count:
            best = self._best_opposite(order, bid, yes_cents)
            if best is None:
                return
            at_yes, size, maker = best
            qty = min(size, order.count - order.filled)
            await self._execute(order, at_yes, qty, taker=True)
            if maker is None:  # the market's other participants: the public book shrinks
                side, level = ("no", Decimal(100 - at_yes) / 100) if bid else ("yes", Decimal(at_yes) / 100)
                await self._publish_delta(order.ticker, side, level, -Decimal(qty), True)
            else:
                await self._execute(maker, at_yes, qty, taker=False)
                await self._push_order(maker)

    def _best_opposite(
        self, order: _Order, bid: bool, yes_cents: int
    ) -> tuple[int, int, _Order | None] | None:
        """(yes price in cents, size, resting order or None for the public book) of the best match."""
        book = self.books[order.ticker]
        cands: list[tuple[int, int, _Order | None]] = []
        if bid:
            for n, c in book["no"].items():
                ask = 100 - int(n * 100)
                if ask <= yes_cents and c > 0:
                    cands.append((ask, int(c), None))
        else:
            for y, c in book["yes"].items():
                if int(y * 100) >= yes_cents and c > 0:
                    cands.append((int(y * 100), int(c), None))
        for o in self.orders:
            if (
                o.resting and o is not order and o.account != order.account and o.ticker == order.ticker
                and o.bid != bid and (o.yes_cents <= yes_cents if bid else o.yes_cents >= yes_cents)
            ):  # fmt: skip
                cands.append((o.yes_cents, o.count - o.filled, o))
        if not cands:
            return None
        return (min if bid else max)(cands, key=lambda c: c[0])

    async def _execute(self, order: _Order, yes_cents: int, qty: int, *, taker: bool) -> None:
        own = yes_cents if order.side == "yes" else 100 - yes_cents
        order.filled += qty
        if order.filled >= order.count:
            order.status = "executed"
        self.balances[order.account] += (-1 if order.action == "buy" else 1) * own * qty
        now_ms = time.time_ns() // 1_000_000
        fill = {
            "fill_id": str(uuid.uuid4()), "order_id": order.order_id, "client_order_id": order.client_order_id,
            "ticker": order.ticker, "side": order.side, "action": order.action, "count_fp": _count(Decimal(qty)),
            "yes_price_dollars": _dollars(Decimal(yes_cents) / 100),
            "no_price_dollars": _dollars(Decimal(100 - yes_cents) / 100),
            "is_taker": taker, "fee_cost": "0.0000", "ts": now_ms // 1000, "ts_ms": now_ms,
        }  # fmt: skip
        fill["trade_id"] = fill["fill_id"]  # Fill model: "legacy field name, same as fill_id"
        fill["market_ticker"] = order.ticker  # "legacy field name, same as ticker"
        fill["created_time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ms // 1000))
        self.fills[order.account].append(fill)
        ws_msg = {
            k: fill[k] for k in fill if k not in ("ticker", "fill_id", "no_price_dollars", "created_time")
        }
        ws_msg["purchased_side"] = (
            order.side if order.action == "buy" else ("no" if order.side == "yes" else "yes")
        )
        await self._push(order.account, "fill", ws_msg)

    async def _push(self, account: str, channel: str, msg: dict[str, Any]) -> None:
        kind = "user_order" if channel == "user_orders" else channel
        for ws, conn in list(self.conns.items()):
            if ws.closed or conn.key_id != account:
                continue
            for sub in conn.subs.values():
                if sub.channel == channel:
                    frame = json.dumps({"type": kind, "sid": sub.sid, "msg": msg})
                    if channel == "fill":
                        self.fill_frames.setdefault(account, []).append(frame)
                    await self.send(ws, frame)

    async def _push_order(self, order: _Order) -> None:
        await self._push(order.account, "user_orders", order.wire())

    async def _get_orders(self, request: web.Request, account: str) -> web.Response:
        q = request.query
        status, ticker = q.get("status"), q.get("ticker")
        if status not in (None, "resting", "canceled", "executed"):
            return self._refuse(400, "invalid_parameters", "status must be resting, canceled or executed")
        page = self._page(q, 100, 200)
        if isinstance(page, str):
            return self._refuse(400, "invalid_parameters", page)
        offset, limit = page
        rows = [
            o.wire() for o in self.orders
            if o.account == account and (status is None or o.status == status) and (not ticker or o.ticker == ticker)
        ]  # fmt: skip
        cursor = self._cursor(offset, limit, len(rows))
        return web.json_response({"orders": rows[offset : offset + limit], "cursor": cursor})

    async def _delete_order(self, request: web.Request, account: str) -> web.Response:
        oid = request.match_info["order_id"]
        order = next((o for o in self.orders if o.order_id == oid and o.account == account), None)
        if order is None or not order.resting:
            return self._refuse(404, "not_found", f"order {oid} not found")
        reduced = order.count - order.filled
        order.status = "canceled"
        self.order_events.append(("canceled", order.order_id, order.status))
        await self._push_order(order)
        return web.json_response({"order": order.wire(), "reduced_by": reduced})

    async def _get_fills(self, request: web.Request, account: str) -> web.Response:
        q = request.query
        raw = q.get("min_ts")
        if raw is not None and not raw.isdigit():
            return self._refuse(400, "invalid_parameters", "min_ts must be a Unix time in seconds")
        page = self._page(q, 100, 200)
        if isinstance(page, str):
            return self._refuse(400, "invalid_parameters", page)
        offset, limit = page
        rows = [f for f in self.fills[account] if raw is None or f["ts"] >= int(raw)]
        cursor = self._cursor(offset, limit, len(rows))
        return web.json_response({"fills": rows[offset : offset + limit], "cursor": cursor})

    # -- portfolio test controls -------------------------------------------------------------------
    def resend_last_fill(self, key_id: str = KEY_ID) -> None:
        """Send the account's last fill frame again (a duplicate the client must count once)."""

        async def run() -> None:
            frame = self.fill_frames[key_id][-1]
            for ws, conn in list(self.conns.items()):
                if not ws.closed and conn.key_id == key_id:
                    await self.send(ws, frame)

        self.call(run)

    def set_market_status(self, ticker: str, status: str) -> None:
        next(m for m in self.markets if m["ticker"] == ticker)["status"] = status


_ORDER_FIELDS = {
    "ticker", "side", "action", "count", "type", "yes_price", "no_price", "client_order_id",
    "time_in_force", "post_only", "expiration_ts", "buy_max_cost", "sell_position_floor",
}  # fmt: skip


@dataclass
class _Order:
    account: str
    order_id: str
    client_order_id: str | None
    ticker: str
    side: str
    action: str
    price: int  # cents, on its own side
    count: int
    filled: int = 0
    status: str = "resting"
    bid: bool = True  # as a YES-book order
    yes_cents: int = 0

    @property
    def resting(self) -> bool:
        return self.status == "resting"

    def wire(self) -> dict[str, Any]:
        yes = self.price if self.side == "yes" else 100 - self.price
        return {
            "order_id": self.order_id, "user_id": self.account, "client_order_id": self.client_order_id or "",
            "ticker": self.ticker, "side": self.side, "action": self.action, "type": "limit",
            "status": self.status, "yes_price_dollars": _dollars(Decimal(yes) / 100),
            "no_price_dollars": _dollars(Decimal(100 - yes) / 100),
            "fill_count_fp": _count(Decimal(self.filled)),
            "remaining_count_fp": _count(Decimal(0 if self.status != "resting" else self.count - self.filled)),
            "initial_count_fp": _count(Decimal(self.count)),
        }  # fmt: skip
