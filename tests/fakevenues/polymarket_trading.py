"""The trading half of the fake Polymarket (`FakePolymarket.trading`): the CLOB's authenticated REST
endpoints and the `user` WebSocket channel, as strict as the venue.

- Every authenticated call must carry the five L2 headers; POLY_SIGNATURE must equal
  urlsafe-base64(HMAC-SHA256(urlsafe-b64decode(secret), POLY_TIMESTAMP + METHOD + path + body))
  over the exact body bytes received (path without the query string), the API key must be known,
  the passphrase and POLY_ADDRESS must be the key's own, and the timestamp within 30 s of now.
  Otherwise 401 `{"error": "Unauthorized/Invalid api key"}` (docs' error-codes page).
- POST /order: `owner` must be the caller's API key; the order's EIP-712 signature (CLOB V2 domain,
  the neg-risk exchange for a neg-risk market) is recovered and must equal `signer`, and `signer`
  must be the key's address; the price must be on the market's tick, the size at least the market's
  minimum, and the account must hold the USDC (buys) or tokens (sells), counting what its resting
  orders already reserve. Refusals are 400 `{"error": "<Polymarket's text>"}`.
- Matching: a taker order crosses the market's book (the FakeBook levels of other traders) at the
  resting prices; what is left of a GTC order rests (FAK/FOK never rest). `fill_resting()` lets a
  test play a counterparty that takes our resting order (partial fills). Every match is a trade,
  kept for `/data/trades` and sent on the user channel (`resend_trade()` sends one again).
- Accounts: `add_account()` (per-account USDC balance and token positions).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from venues.polymarket.orders import EXCHANGES, recover_order_signer

if TYPE_CHECKING:
    from tests.fakevenues.polymarket import FakePolymarket

UNIT = Decimal(1_000_000)
UNAUTHORIZED = "Unauthorized/Invalid api key"
TICK_ERROR = "order is invalid. Price breaks minimum tick size rules"
MIN_SIZE_ERROR = "order is invalid. Size lower than the minimum"
BALANCE_ERROR = "not enough balance / allowance"
SIGNATURE_ERROR = "invalid signature"
SIGNER_ERROR = "the order signer address has to be the address of the API KEY"
OWNER_ERROR = "the order owner has to be the owner of the API KEY"


@dataclass
class FakeAccount:
    api_key: str
    secret: str
    passphrase: str
    address: str
    usdc: Decimal = Decimal(0)
    positions: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class FakeOrder:
    id: str
    account: FakeAccount
    token: str
    market: str
    side: str  # BUY / SELL
    price: Decimal
    size: Decimal
    matched: Decimal = Decimal(0)
    status: str = "LIVE"
    order_type: str = "GTC"
    created_at: int = field(default_factory=lambda: int(time.time()))

    def row(self) -> dict[str, Any]:
        return {
            "associate_trades": [],
            "id": self.id,
            "status": self.status,
            "market": self.market,
            "original_size": str(self.size),
            "outcome": "Yes",
            "maker_address": self.account.address,
            "owner": self.account.api_key,
            "price": str(self.price),
            "side": self.side,
            "size_matched": str(self.matched),
            "asset_id": self.token,
            "expiration": "0",
            "order_type": self.order_type,
            "created_at": self.created_at,
        }


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


class FakeClob:
    def __init__(self, venue: FakePolymarket) -> None:
        self.venue = venue
        self.accounts: dict[str, FakeAccount] = {}
        self.orders: dict[str, FakeOrder] = {}
        self.trades: list[dict[str, Any]] = []
        self.user_clients: dict[web.WebSocketResponse, FakeAccount | None] = {}
        self.chain_id = 137
        self.refusals: list[str] = []
        # (what, order id, status after it): "placed" once an order is accepted and matched
        # (LIVE: it rests), "canceled" when a cancel took a LIVE order off the book
        self.order_events: list[tuple[str, str, str]] = []

    # -- test controls ------------------------------------------------------------------------------
    def add_account(
        self, private_key: str, *, usdc: str = "0", positions: dict[str, str] | None = None
    ) -> dict[str, str]:
        """A funded account; returns its credentials as `sequence connect polymarket` takes them."""
        from eth_account import Account

        address = Account.from_key(private_key).address
        api_key = str(uuid.uuid4())
        secret = base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).decode()
        passphrase = uuid.uuid4().hex
        self.accounts[api_key] = FakeAccount(
            api_key,
            secret,
            passphrase,
            address,
            _dec(usdc),
            {k: _dec(v) for k, v in (positions or {}).items()},
        )
        return {
            "private_key": private_key,
            "api_key": api_key,
            "api_secret": secret,
            "api_passphrase": passphrase,
        }

    def fill_resting(self, order_id: str, size: str) -> dict[str, Any]:
        """A counterparty takes `size` of our resting order at its price (a partial or full fill)."""

        async def go() -> dict[str, Any]:
            order = self.orders[order_id]
            qty = min(_dec(size), order.size - order.matched)
            trade = self._trade_as_maker(order, qty)
            await self._push_trade(trade, order.account)
            await self._push_order(order, "UPDATE")
            return trade

        return self.venue.call(go)

    def resend_trade(self, trade_id: str) -> None:
        """Send a trade already sent once again on the user channel (a duplicate delivery)."""

        async def go() -> None:
            trade = next(t for t in self.trades if t["id"] == trade_id)
            for ws, acct in list(self.user_clients.items()):
                if acct is not None and self._involves(trade, acct):
                    await self.venue.send(ws, json.dumps(trade))

        self.venue.call(go)

    def user_subscribed(self) -> int:
        return sum(1 for a in self.user_clients.values() if a is not None)

    # -- auth ---------------------------------------------------------------------------------------
    def _auth(self, request: web.Request, body: str) -> FakeAccount | None:
        h = request.headers
        names = ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP", "POLY_API_KEY", "POLY_PASSPHRASE")
        if any(not h.get(n) for n in names):
            return None
        acct = self.accounts.get(h["POLY_API_KEY"])
        if acct is None or not hmac.compare_digest(h["POLY_PASSPHRASE"], acct.passphrase):
            return None
        if h["POLY_ADDRESS"].lower() != acct.address.lower():
            return None
        ts = h["POLY_TIMESTAMP"]
        if not ts.isdigit() or abs(int(ts) - time.time()) > 30:
            return None
        key = base64.urlsafe_b64decode(acct.secret)
        want = base64.urlsafe_b64encode(
            hmac.new(key, f"{ts}{request.method}{request.path}{body}".encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(want, h["POLY_SIGNATURE"]):
            return None
        return acct

    async def _authed(self, request: web.Request) -> tuple[FakeAccount, str] | web.Response:
        body = (await request.read()).decode()
        acct = self._auth(request, body)
        if acct is None:
            self.refusals.append(UNAUTHORIZED)
            return web.json_response({"error": UNAUTHORIZED}, status=401)
        return acct, body

    def _refuse(self, text: str, status: int = 400) -> web.Response:
        self.refusals.append(text)
        return web.json_response({"error": text}, status=status)

    # -- REST ---------------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/balance-allowance", self._balance)
        app.router.add_post("/order", self._post_order)
        app.router.add_delete("/order", self._cancel)
        app.router.add_delete("/cancel-all", self._cancel_all)
        app.router.add_get("/data/orders", self._open_orders)
        app.router.add_get("/data/trades", self._trades)

    def _reserved_usdc(self, acct: FakeAccount) -> Decimal:
        return sum(
            (
                o.price * (o.size - o.matched)
                for o in self.orders.values()
                if o.account is acct and o.status == "LIVE" and o.side == "BUY"
            ),
            Decimal(0),
        )

    def _reserved_tokens(self, acct: FakeAccount, token: str) -> Decimal:
        return sum(
            (
                o.size - o.matched
                for o in self.orders.values()
                if o.account is acct and o.status == "LIVE" and o.side == "SELL" and o.token == token
            ),
            Decimal(0),
        )

    async def _balance(self, request: web.Request) -> web.Response:
        got = await self._authed(request)
        if isinstance(got, web.Response):
            return got
        acct, _ = got
        if request.query.get("asset_type") not in ("COLLATERAL", "CONDITIONAL"):
            return self._refuse("invalid asset_type")
        if request.query.get("asset_type") == "CONDITIONAL":
            amount = acct.positions.get(request.query.get("token_id", ""), Decimal(0))
        else:
            amount = acct.usdc
        allowance = str(2**256 - 1)
        return web.json_response(
            {
                "balance": str(int(amount * UNIT)),
                "allowances": {addr: allowance for addr in EXCHANGES[self.chain_id].values()},
            }
        )

    async def _post_order(self, request: web.Request) -> web.Response:
        got = await self._authed(request)
        if isinstance(got, web.Response):
            return got
        acct, body = got
        try:
            payload = json.loads(body)
            o = payload["order"]
            order_type = payload.get("orderType", "GTC")
            token = str(o["tokenId"])
            side = o["side"]
            maker_amount, taker_amount = int(o["makerAmount"]), int(o["takerAmount"])
            message = {
                "salt": int(o["salt"]),
                "maker": o["maker"],
                "signer": o["signer"],
                "tokenId": int(token),
                "makerAmount": maker_amount,
                "takerAmount": taker_amount,
                "side": {"BUY": 0, "SELL": 1}[side],
                "signatureType": int(o["signatureType"]),
                "timestamp": int(o["timestamp"]),
                "metadata": o["metadata"],
                "builder": o["builder"],
            }
            signature = o["signature"]
        except (ValueError, KeyError, TypeError):
            return self._refuse("Invalid order payload")
        if order_type not in ("GTC", "GTD", "FOK", "FAK"):
            return self._refuse("Invalid order payload")
        if payload.get("owner") != acct.api_key:
            return self._refuse(OWNER_ERROR)
        book = self.venue.books.get(token)
        if book is None:
            return self._refuse("market not found")
        domain = {
            "name": "Polymarket CTF Exchange",
            "version": "2",
            "chainId": self.chain_id,
            "verifyingContract": EXCHANGES[self.chain_id][book.neg_risk],
        }
        try:
            recovered = recover_order_signer(domain, message, signature)
        except Exception:  # noqa: BLE001 (any malformed signature is an invalid one)
            recovered = ""
        if recovered.lower() != str(o["signer"]).lower() or message["signatureType"] != 0:
            return self._refuse(SIGNATURE_ERROR)
        if (
            str(o["signer"]).lower() != acct.address.lower()
            or str(o["maker"]).lower() != acct.address.lower()
        ):
            return self._refuse(SIGNER_ERROR)
        if maker_amount <= 0 or taker_amount <= 0:
            return self._refuse("Invalid order payload")
        if side == "BUY":
            size, notional = Decimal(taker_amount) / UNIT, Decimal(maker_amount) / UNIT
        else:
            size, notional = Decimal(maker_amount) / UNIT, Decimal(taker_amount) / UNIT
        price = notional / size
        tick = _dec(book.tick_size)
        if price % tick != 0 or not (tick <= price <= 1 - tick):
            return self._refuse(TICK_ERROR)
        price = price.quantize(tick)
        if size < _dec(book.min_order_size):
            return self._refuse(MIN_SIZE_ERROR)
        if side == "BUY" and notional > acct.usdc - self._reserved_usdc(acct):
            return self._refuse(BALANCE_ERROR)
        if side == "SELL" and size > acct.positions.get(token, Decimal(0)) - self._reserved_tokens(
            acct, token
        ):
            return self._refuse(BALANCE_ERROR)
        order = FakeOrder(
            "0x" + uuid.uuid4().hex + uuid.uuid4().hex,
            acct,
            token,
            book.market,
            side,
            price,
            size,
            order_type=order_type,
        )
        if order_type == "FOK" and self._crossable(order) < size:
            return self._refuse("order couldn't be fully filled. FOK orders are fully filled or killed.")
        trades = self._match(order)
        if order.matched >= order.size:
            order.status = "MATCHED"
        elif order_type in ("FAK", "FOK"):
            order.status = "CANCELED"
        self.orders[order.id] = order
        self.order_events.append(("placed", order.id, order.status))
        await self._push_order(order, "PLACEMENT")
        for trade in trades:
            await self._push_trade(trade, acct)
        making = order.matched * price if side == "BUY" else order.matched
        taking = order.matched if side == "BUY" else order.matched * price
        return web.json_response(
            {
                "success": True,
                "errorMsg": "",
                "orderID": order.id,
                "transactionsHashes": [],
                "status": "matched"
                if order.status == "MATCHED"
                else ("live" if order.status == "LIVE" else "unmatched"),
                "takingAmount": str(taking) if order.matched else "",
                "makingAmount": str(making) if order.matched else "",
            }
        )

    def _crossable(self, order: FakeOrder) -> Decimal:
        book = self.venue.books[order.token]
        levels = book.asks if order.side == "BUY" else book.bids
        ok = (lambda p: p <= order.price) if order.side == "BUY" else (lambda p: p >= order.price)
        return sum((_dec(s) for p, s in levels.items() if ok(_dec(p))), Decimal(0))

    def _match(self, order: FakeOrder) -> list[dict[str, Any]]:
        """Cross the market's book at the resting prices, best first; each level is one trade."""
        book = self.venue.books[order.token]
        trades = []
        if order.side == "BUY":
            levels = sorted((p for p in book.asks if _dec(p) <= order.price), key=_dec)
        else:
            levels = sorted((p for p in book.bids if _dec(p) >= order.price), key=_dec, reverse=True)
        for p in levels:
            left = order.size - order.matched
            if left <= 0:
                break
            side_book = book.asks if order.side == "BUY" else book.bids
            qty = min(left, _dec(side_book[p]))
            remaining = _dec(side_book[p]) - qty
            book.set_level("SELL" if order.side == "BUY" else "BUY", p, str(remaining))
            order.matched += qty
            self._settle(order.account, order.token, order.side, _dec(p), qty)
            trades.append(self._trade(order, _dec(p), qty, trader_side="TAKER"))
        return trades

    def _settle(self, acct: FakeAccount, token: str, side: str, price: Decimal, qty: Decimal) -> None:
        sign = 1 if side == "BUY" else -1
        acct.usdc -= sign * price * qty
        acct.positions[token] = acct.positions.get(token, Decimal(0)) + sign * qty

    def _trade(self, order: FakeOrder, price: Decimal, qty: Decimal, *, trader_side: str) -> dict[str, Any]:
        now = int(time.time())
        trade = {
            "event_type": "trade",
            "type": "TRADE",
            "id": str(uuid.uuid4()),
            "taker_order_id": order.id if trader_side == "TAKER" else "0x" + uuid.uuid4().hex,
            "market": order.market,
            "asset_id": order.token,
            "side": order.side if trader_side == "TAKER" else ("SELL" if order.side == "BUY" else "BUY"),
            "size": str(qty),
            "fee_rate_bps": "0",
            "price": str(price),
            "status": "MATCHED",
            "match_time": str(now),
            "last_update": str(now),
            "outcome": "Yes",
            "owner": order.account.api_key if trader_side == "TAKER" else str(uuid.uuid4()),
            "maker_address": order.account.address if trader_side == "TAKER" else "0x" + "ab" * 20,
            "trader_side": trader_side,
            "bucket_index": 0,
            "transaction_hash": "",
            "maker_orders": [],
        }
        if trader_side == "MAKER":
            trade["maker_orders"] = [
                {
                    "asset_id": order.token,
                    "fee_rate_bps": "0",
                    "maker_address": order.account.address,
                    "matched_amount": str(qty),
                    "order_id": order.id,
                    "outcome": "Yes",
                    "owner": order.account.api_key,
                    "price": str(price),
                    "side": order.side,
                }
            ]
        self.trades.append(trade)
        return trade

    def _trade_as_maker(self, order: FakeOrder, qty: Decimal) -> dict[str, Any]:
        order.matched += qty
        if order.matched >= order.size:
            order.status = "MATCHED"
        self._settle(order.account, order.token, order.side, order.price, qty)
        return self._trade(order, order.price, qty, trader_side="MAKER")

    async def _cancel(self, request: web.Request) -> web.Response:
        got = await self._authed(request)
        if isinstance(got, web.Response):
            return got
        acct, body = got
        try:
            order_id = json.loads(body)["orderID"]
        except (ValueError, KeyError, TypeError):
            return self._refuse("Invalid order payload")
        order = self.orders.get(order_id)
        if order is None or order.account is not acct:
            return web.json_response({"canceled": [], "not_canceled": {order_id: "Order not found"}})
        if order.status != "LIVE":
            return web.json_response(
                {"canceled": [], "not_canceled": {order_id: "Order already matched or canceled"}}
            )
        order.status = "CANCELED"
        self.order_events.append(("canceled", order.id, order.status))
        await self._push_order(order, "CANCELLATION")
        return web.json_response({"canceled": [order_id], "not_canceled": {}})

    async def _cancel_all(self, request: web.Request) -> web.Response:
        got = await self._authed(request)
        if isinstance(got, web.Response):
            return got
        acct, _ = got
        done = []
        for order in self.orders.values():
            if order.account is acct and order.status == "LIVE":
                order.status = "CANCELED"
                self.order_events.append(("canceled", order.id, order.status))
                done.append(order.id)
                await self._push_order(order, "CANCELLATION")
        return web.json_response({"canceled": done, "not_canceled": {}})

    async def _open_orders(self, request: web.Request) -> web.Response:
        got = await self._authed(request)
        if isinstance(got, web.Response):
            return got
        acct, _ = got
        rows = [
            o.row()
            for o in self.orders.values()
            if o.account is acct
            and o.status == "LIVE"
            and request.query.get("asset_id", o.token) == o.token
            and request.query.get("market", o.market) == o.market
        ]
        return web.json_response({"limit": 500, "count": len(rows), "next_cursor": "LTE=", "data": rows})

    def _involves(self, trade: dict[str, Any], acct: FakeAccount) -> bool:
        return trade["owner"] == acct.api_key or any(
            m["owner"] == acct.api_key for m in trade["maker_orders"]
        )

    async def _trades(self, request: web.Request) -> web.Response:
        got = await self._authed(request)
        if isinstance(got, web.Response):
            return got
        acct, _ = got
        after = request.query.get("after")
        rows = [
            {k: v for k, v in t.items() if k not in ("event_type", "type")}
            for t in self.trades
            if self._involves(t, acct) and (not after or int(t["match_time"]) >= int(after))
        ]
        return web.json_response({"limit": 500, "count": len(rows), "next_cursor": "LTE=", "data": rows})

    # -- the user channel ---------------------------------------------------------------------------
    async def on_user_message(self, ws: web.WebSocketResponse, data: str) -> None:
        if data == "PING":
            await self.venue.send(ws, "PONG")
            return
        self.venue.received.append(data)
        if self.user_clients.get(ws) is not None:
            return
        try:
            msg = json.loads(data)
            auth = msg["auth"]
            acct = self.accounts.get(auth["apiKey"])
            ok = (
                msg.get("type") == "user"
                and acct is not None
                and hmac.compare_digest(str(auth.get("secret")), acct.secret)
                and hmac.compare_digest(str(auth.get("passphrase")), acct.passphrase)
            )
        except (ValueError, KeyError, TypeError):
            ok, acct = False, None
        if not ok or acct is None:
            self.user_clients.pop(ws, None)
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"invalid authentication")
            return
        self.user_clients[ws] = acct

    async def _push_trade(self, trade: dict[str, Any], acct: FakeAccount) -> None:
        for ws, who in list(self.user_clients.items()):
            if who is acct:
                await self.venue.send(ws, json.dumps(trade))

    async def _push_order(self, order: FakeOrder, kind: str) -> None:
        event = {
            **order.row(),
            "event_type": "order",
            "type": kind,
            "timestamp": str(int(time.time() * 1000)),
        }
        for ws, who in list(self.user_clients.items()):
            if who is order.account:
                await self.venue.send(ws, json.dumps(event))
