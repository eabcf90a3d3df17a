"""The private half of the strict Kraken fake: authenticated Spot REST and the WebSocket v2
`executions` channel (mixed into `KrakenFake`, which owns the pairs and the public book).

Authentication, exactly as docs.kraken.com/api/docs/guides/spot-rest-auth describes (NOTES.md §5):
`API-Key` must name a registered key (else `EAPI:Invalid key`); `API-Sign` must equal
base64(HMAC-SHA512(base64decode(secret), path + SHA256(nonce + raw body))) over the exact bytes
received (else `EAPI:Invalid signature`); `nonce` must be greater than the last one this key used
(else `EAPI:Invalid nonce`). Kraken answers these with HTTP 200 and `{"error": [...]}`.

Orders (AddOrder; errors guide texts): unknown pair `EQuery:Unknown asset pair`; more price decimals
than `pair_decimals` `EOrder:Invalid price:<altname> price can only be specified up to N decimals.`;
more volume decimals than `lot_decimals` `EGeneral:Invalid arguments:volume` (text chosen here: Kraken
documents none); volume below `ordermin` `EOrder:Order minimum not met`; cost below `costmin`
`EOrder:Cost minimum not met`; not enough free balance `EOrder:Insufficient funds`; a `cl_ord_id` that is not a UUID (36 or 32 hex) nor text of at most 18
characters `EGeneral:Invalid arguments:cl_ord_id`, one already used by an open order
`EOrder:Duplicate order` (both texts chosen here: Kraken documents the rules, not the words). A crossing limit
order takes the fake's public book (taker fills at the book's prices, the book shrinks); the rest
rests (IOC: the rest is cancelled; post-only that would cross: cancelled with reason
"Post only order", as Kraken does). `trade(symbol, price, qty)` makes the market trade through
resting orders (maker fills, partial when qty is short). Every fill and order change is sent on the
`executions` channel to the account's subscribed private sockets (and what a taker took from the
public book goes to the `book` subscribers as an update); `repeat_last_fill()` sends the
last fill report again (a duplicate, as after a venue resend).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import WSMsgType, web

AUTH_WS_PATH = "/v2-auth"
# cl_ord_id formats Kraken accepts (docs "Spot Client Order Identifiers"; ids longer than 18
# characters must be a long (36, hyphenated) or short (32 hex) UUID)
CL_ORD_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}|[^\s]{1,18}"
)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _decimals(text: str) -> int:
    return len(text.partition(".")[2].rstrip("0")) if "." in text else 0


@dataclass
class FakeOrder:
    txid: str
    account: str
    symbol: str  # v2 name
    altname: str
    side: str
    price: Decimal
    vol: Decimal
    cl_ord_id: str
    opentm: float
    vol_exec: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    status: str = "open"
    reason: str = ""
    post_only: bool = False

    def entry(self, pd: int, ld: int) -> dict[str, Any]:
        return {
            "refid": None,
            "userref": 0,
            "cl_ord_id": self.cl_ord_id or None,
            "status": self.status,
            "reason": self.reason or None,
            "opentm": self.opentm,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": self.altname,
                "type": self.side,
                "ordertype": "limit",
                "price": f"{self.price:.{pd}f}",
                "price2": "0",
                "leverage": "none",
                "order": f"{self.side} {self.vol:.{ld}f} {self.altname} @ limit {self.price:.{pd}f}",
                "close": "",
            },
            "vol": f"{self.vol:.{ld}f}",
            "vol_exec": f"{self.vol_exec:.{ld}f}",
            "cost": f"{self.cost:.{pd}f}",
            "fee": f"{self.fee:.{pd}f}",
            "price": f"{(self.cost / self.vol_exec if self.vol_exec else Decimal(0)):.{pd}f}",
            "misc": "",
            "oflags": "fciq,post" if self.post_only else "fciq",
        }


@dataclass
class Account:
    key: str
    secret: str  # base64, as Kraken shows it
    balances: dict[str, Decimal] = field(default_factory=dict)
    last_nonce: int = 0
    trades: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)


_ASSET = {"BTC": "XXBT", "USD": "ZUSD", "ETH": "XETH", "EUR": "ZEUR"}


class PrivateKraken:
    pairs: dict[str, Any]

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, FakeOrder] = {}
        self.private_subs: dict[web.WebSocketResponse, Account] = {}
        self.private_calls: list[tuple[str, list[str]]] = []  # (method, errors answered)
        self._last_fill: tuple[Account, dict[str, Any]] | None = None
        self._seq = 0
        self._ws_seq = 0
        self._refuse_next: list[tuple[str, str | None]] = []  # (error, method or None: any)
        # `lose_next_add_order`: the next AddOrder is answered by the gateway's 504 and stays in
        # flight (not at the matching engine, not in OpenOrders) until `land_after_next_open_orders`
        self._lose_next_add = False
        self._in_flight: list[tuple[Account, dict[str, str]]] = []
        self._land_after_open_orders = False

    # -- test setup ------------------------------------------------------------------------------
    def add_account(self, balances: dict[str, str] | None = None) -> tuple[str, str]:
        """A new API key with balances by our asset names ({"USD": "1000"}); returns (key, secret)."""
        key = base64.b64encode(secrets.token_bytes(42)).decode()
        secret = base64.b64encode(secrets.token_bytes(64)).decode()
        acct = Account(key, secret)
        for asset, amount in (balances or {}).items():
            acct.balances[_ASSET.get(asset, asset)] = Decimal(amount)
        self.accounts[key] = acct
        return key, secret

    def refuse_next(self, error: str = "EAPI:Rate limit exceeded", *, method: str | None = None) -> None:
        """Answer the next authenticated private call (the next call of `method`, e.g. "AddOrder",
        when given) with this Kraken error (a rate limit, a throttle, a market in cancel_only mode:
        conditions the fake does not model itself)."""
        self._refuse_next.append((error, method))

    def lose_next_add_order(self) -> None:
        """The next AddOrder gets the gateway's HTTP 504 (outcome unknown to the client) and is held
        in flight: it reaches the matching engine (placed as sent, or refused, e.g. a duplicate
        open cl_ord_id) only when `land_after_next_open_orders` lets it."""
        self.call(self._set, "_lose_next_add", True)  # type: ignore[attr-defined]

    def land_after_next_open_orders(self) -> None:
        """The order held in flight lands right after the next OpenOrders answer (which does not
        show it yet): a lookup just before it landed finds nothing."""
        self.call(self._set, "_land_after_open_orders", True)  # type: ignore[attr-defined]

    def land_in_flight(self) -> None:
        """The order held in flight reaches the matching engine now."""
        self.call(self._land)  # type: ignore[attr-defined]

    async def _land(self) -> None:
        landed, self._in_flight = self._in_flight, []
        for acct, form in landed:
            await self._p_AddOrder(acct, form)

    async def _set(self, name: str, value: Any) -> None:
        setattr(self, name, value)

    def balance(self, key: str, asset: str) -> Decimal:
        return self.accounts[key].balances.get(_ASSET.get(asset, asset), Decimal(0))

    # -- auth --------------------------------------------------------------------------------------
    def _authenticate(self, request: web.Request, body: bytes) -> tuple[Account | None, str]:
        acct = self.accounts.get(request.headers.get("API-Key", ""))
        if acct is None:
            return None, "EAPI:Invalid key"
        form = urllib.parse.parse_qs(body.decode(errors="replace"), keep_blank_values=True)
        nonce = (form.get("nonce") or [""])[0]
        digest = hashlib.sha256(nonce.encode() + body).digest()
        mac = hmac.new(base64.b64decode(acct.secret), request.path.encode() + digest, hashlib.sha512)
        expected = base64.b64encode(mac.digest()).decode()
        if not hmac.compare_digest(expected, request.headers.get("API-Sign", "")):
            return None, "EAPI:Invalid signature"
        if not nonce.isdigit() or int(nonce) <= acct.last_nonce:
            return None, "EAPI:Invalid nonce"
        acct.last_nonce = int(nonce)
        return acct, ""

    async def _private(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        acct, err = self._authenticate(request, body)
        if acct is None:
            self.private_calls.append((method, [err]))
            return web.json_response({"error": [err]})
        refusal = next((r for r in self._refuse_next if r[1] in (None, method)), None)
        if refusal is not None:
            self._refuse_next.remove(refusal)
            self.private_calls.append((method, [refusal[0]]))
            return web.json_response({"error": [refusal[0]]})
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()}
        if method == "AddOrder" and self._lose_next_add:
            self._lose_next_add = False
            self._in_flight.append((acct, form))
            self.private_calls.append((method, ["HTTP 504"]))
            return web.Response(status=504, text="upstream request timeout", content_type="text/plain")
        handler = getattr(self, f"_p_{method}", None)
        if handler is None:
            errors, result = ["EGeneral:Unknown method"], None
        else:
            errors, result = await handler(acct, form)
        self.private_calls.append((method, errors))
        if method == "OpenOrders" and self._land_after_open_orders and self._in_flight:
            self._land_after_open_orders = False
            await self._land()
        return web.json_response({"error": errors, "result": result} if not errors else {"error": errors})

    # -- helpers -------------------------------------------------------------------------------------
    def _pair(self, name: str) -> Any:
        for p in self.pairs.values():
            if name in (p.rest_name, p.entry.get("altname"), p.entry.get("wsname"), p.symbol):
                return p
        return None

    def _assets(self, pair: Any) -> tuple[str, str]:
        return str(pair.entry["base"]), str(pair.entry["quote"])

    def _held(self, acct: Account, asset: str) -> Decimal:
        held = Decimal(0)
        for o in self.orders.values():
            if o.account != acct.key or o.status != "open":
                continue
            pair = self.pairs[o.symbol]
            base, quote = self._assets(pair)
            rest = o.vol - o.vol_exec
            if o.side == "buy" and asset == quote:
                held += rest * o.price * (1 + self._fee(pair, False))
            elif o.side == "sell" and asset == base:
                held += rest
        return held

    def _fee(self, pair: Any, maker: bool) -> Decimal:
        tiers = pair.entry.get("fees_maker" if maker else "fees") or [[0, 0.26]]
        return Decimal(str(tiers[0][1])) / 100

    def _txid(self, prefix: str) -> str:
        self._seq += 1
        raw = secrets.token_hex(8).upper()
        return f"{prefix}{raw[:5]}-{raw[5:10]}-{self._seq:06d}"

    # -- endpoints -------------------------------------------------------------------------------------
    async def _p_Balance(self, acct: Account, form: dict[str, str]) -> tuple[list[str], Any]:  # noqa: N802
        return [], {a: f"{v:.4f}" for a, v in acct.balances.items()}

    async def _p_BalanceEx(self, acct: Account, form: dict[str, str]) -> tuple[list[str], Any]:  # noqa: N802
        return [], {
            a: {"balance": f"{v:.4f}", "hold_trade": f"{self._held(acct, a):.4f}"}
            for a, v in acct.balances.items()
        }

    async def _p_GetWebSocketsToken(self, acct: Account, form: dict[str, str]) -> tuple[list[str], Any]:  # noqa: N802
        token = secrets.token_urlsafe(32)
        acct.tokens.add(token)
        return [], {"token": token, "expires": 900}

    async def _p_AddOrder(self, acct: Account, form: dict[str, str]) -> tuple[list[str], Any]:  # noqa: N802
        pair = self._pair(form.get("pair", ""))
        if pair is None:
            return ["EQuery:Unknown asset pair"], None
        if form.get("ordertype") != "limit" or form.get("type") not in ("buy", "sell"):
            return ["EGeneral:Invalid arguments:ordertype"], None
        try:
            price, vol = Decimal(form["price"]), Decimal(form["volume"])
        except (KeyError, InvalidOperation):
            return ["EGeneral:Invalid arguments"], None
        altname = pair.entry["altname"]
        if _decimals(form["price"]) > pair.pd:
            return [
                f"EOrder:Invalid price:{altname} price can only be specified up to {pair.pd} decimals."
            ], None
        if _decimals(form["volume"]) > pair.ld or vol <= 0 or price <= 0:
            return ["EGeneral:Invalid arguments:volume"], None
        if vol < Decimal(str(pair.entry.get("ordermin", "0"))):
            return ["EOrder:Order minimum not met"], None
        if price * vol < Decimal(str(pair.entry.get("costmin", "0"))):
            return ["EOrder:Cost minimum not met"], None
        base, quote = self._assets(pair)
        side = form["type"]
        if side == "buy":
            need, asset = price * vol * (1 + self._fee(pair, False)), quote
        else:
            need, asset = vol, base
        if acct.balances.get(asset, Decimal(0)) - self._held(acct, asset) < need:
            return ["EOrder:Insufficient funds"], None
        cl = form.get("cl_ord_id", "")
        if cl and not CL_ORD_ID.fullmatch(cl):  # spot-clordid guide: UUID, 32 hex, or text <= 18
            return ["EGeneral:Invalid arguments:cl_ord_id"], None  # text chosen here
        if cl and any(
            o.cl_ord_id == cl and o.account == acct.key and o.status == "open" for o in self.orders.values()
        ):
            return ["EOrder:Duplicate order"], None  # chosen here: an open order already has this cl_ord_id
        order = FakeOrder(
            txid=self._txid("O"),
            account=acct.key,
            symbol=pair.symbol,
            altname=altname,
            side=side,
            price=price,
            vol=vol,
            cl_ord_id=cl,
            opentm=time.time(),
            post_only="post" in form.get("oflags", "").split(","),
        )
        self.orders[order.txid] = order
        await self._exec_report(acct, order, "pending_new")
        await self._exec_report(acct, order, "new")
        crosses = (side == "buy" and pair.asks and min(pair.asks) <= price) or (
            side == "sell" and pair.bids and max(pair.bids) >= price
        )
        if crosses and order.post_only:
            order.status, order.reason = "canceled", "Post only order"
            await self._exec_report(acct, order, "canceled")
        elif crosses:
            await self._take(acct, order, pair)
        if order.status == "open" and form.get("timeinforce") == "IOC":
            order.status, order.reason = "canceled", "Immediate or cancel"
            await self._exec_report(acct, order, "canceled")
        descr = f"{side} {vol:.{pair.ld}f} {altname} @ limit {price:.{pair.pd}f}"
        return [], {"descr": {"order": descr}, "txid": [order.txid]}

    async def _p_QueryOrders(self, acct: Account, form: dict[str, str]) -> tuple[list[str], Any]:  # noqa: N802
        out = {}
        for txid in form.get("txid", "").split(","):
            o = self.orders.get(txid)
            if o is None or o.account != acct.key:
                return ["EOrder:Invalid order"], None
            pair = self.pairs[o.symbol]
            out[txid] = o.entry(pair.pd, pair.ld)
        return [], out

    async def _p_CancelOrder(self, acct: Account, form: dict[str, str]) -> tuple[list[str], Any]:  # noqa: N802
        ref = form.get("txid") or form.get("cl_ord_id") or ""
        hit = [
            o
            for o in self.orders.values()
            if o.account == acct.key and o.status == "open" and ref in (o.txid, o.cl_ord_id)
        ]
        if not hit:
            return ["EOrder:Unknown order"], None
        for o in hit:
            o.status, o.reason = "canceled", "User requested"
            await self._exec_report(acct, o, "canceled")
        return [], {"count": len(hit)}

    async def _p_CancelAll(self, acct: Account, form: dict[str, str]) -> tuple[list[str], Any]:  # noqa: N802
        hit = [o for o in self.orders.values() if o.account == acct.key and o.status == "open"]
        for o in hit:
            o.status, o.reason = "canceled", "User requested"
            await self._exec_report(acct, o, "canceled")
        return [], {"count": len(hit)}

    async def _p_OpenOrders(self, acct: Account, form: dict[str, str]) -> tuple[list[str], Any]:  # noqa: N802
        out = {}
        for o in self.orders.values():
            if o.account == acct.key and o.status == "open":
                pair = self.pairs[o.symbol]
                out[o.txid] = o.entry(pair.pd, pair.ld)
        return [], {"open": out}

    async def _p_TradesHistory(self, acct: Account, form: dict[str, str]) -> tuple[list[str], Any]:  # noqa: N802
        start = Decimal(form.get("start") or "0")
        rows = sorted(
            ((tid, t) for tid, t in acct.trades.items() if Decimal(str(t["time"])) > start),
            key=lambda kv: -kv[1]["time"],  # newest first, as Kraken pages them
        )
        ofs = int(form.get("ofs") or 0)
        return [], {"trades": dict(rows[ofs : ofs + 50]), "count": len(rows)}

    # -- matching -------------------------------------------------------------------------------------
    async def _take(self, acct: Account, order: FakeOrder, pair: Any) -> None:
        book = pair.asks if order.side == "buy" else pair.bids
        while order.vol_exec < order.vol and book:
            best = min(book) if order.side == "buy" else max(book)
            if (order.side == "buy" and best > order.price) or (order.side == "sell" and best < order.price):
                break
            qty = min(book[best], order.vol - order.vol_exec)
            left = [(str(best), str(book[best] - qty))]
            # the public book changes for every `book` subscriber too (qty "0" removes the level)
            await self._update(
                pair.symbol, [] if order.side == "buy" else left, left if order.side == "buy" else []
            )  # type: ignore[attr-defined]
            await self._fill(acct, order, pair, best, qty, maker=False)

    def trade(self, symbol: str, price: str, qty: str) -> int:
        """The market trades `qty` at `price`: resting orders at that price or better fill (oldest
        first), partially when `qty` runs out; returns how many fills that made."""
        return self.call(self._trade, symbol, Decimal(price), Decimal(qty))

    async def _trade(self, symbol: str, price: Decimal, qty: Decimal) -> int:
        pair = self.pairs[symbol]
        fills = 0
        for o in sorted(self.orders.values(), key=lambda o: o.opentm):
            if qty <= 0:
                break
            if o.symbol != symbol or o.status != "open":
                continue
            if (o.side == "buy" and price > o.price) or (o.side == "sell" and price < o.price):
                continue
            take = min(qty, o.vol - o.vol_exec)
            qty -= take
            await self._fill(self.accounts[o.account], o, pair, o.price, take, maker=True)
            fills += 1
        return fills

    async def _fill(
        self, acct: Account, o: FakeOrder, pair: Any, px: Decimal, qty: Decimal, *, maker: bool
    ) -> None:
        base, quote = self._assets(pair)
        cost = px * qty
        fee = (cost * self._fee(pair, maker)).quantize(Decimal(1).scaleb(-pair.pd + -2))
        sign = 1 if o.side == "buy" else -1
        acct.balances[base] = acct.balances.get(base, Decimal(0)) + sign * qty
        acct.balances[quote] = acct.balances.get(quote, Decimal(0)) - sign * cost - fee
        o.vol_exec += qty
        o.cost += cost
        o.fee += fee
        if o.vol_exec >= o.vol:
            o.status = "closed"
        now = time.time()
        tid = self._txid("T")
        acct.trades[tid] = {
            "ordertxid": o.txid,
            "postxid": self._txid("P"),
            "pair": o.altname,
            "time": now,
            "type": o.side,
            "ordertype": "limit",
            "price": f"{px:.{pair.pd}f}",
            "cost": f"{cost:.{pair.pd + 2}f}",
            "fee": f"{fee:.{pair.pd + 2}f}",
            "vol": f"{qty:.{pair.ld}f}",
            "margin": "0.00000",
            "maker": maker,
            "misc": "",
            "trade_id": self._seq,
        }
        report = self._report(o, pair, "trade")
        report.update(
            {
                "exec_id": tid,
                "trade_id": self._seq,
                "last_qty": float(qty),
                "last_price": float(px),
                "liquidity_ind": "m" if maker else "t",
                "cost": float(cost),
                "fees": [{"asset": quote.lstrip("Z") if quote.startswith("Z") else quote, "qty": float(fee)}],
                "timestamp": _iso(now),
            }
        )
        self._last_fill = (acct, report)
        await self._send_exec(acct, [report])
        if o.status == "closed":
            await self._exec_report(acct, o, "filled")

    # -- executions channel ---------------------------------------------------------------------------
    def _report(self, o: FakeOrder, pair: Any, exec_type: str) -> dict[str, Any]:
        """An execution report shaped like the captured ones (ws_v2_captured_messages.jsonl):
        `pending_new` (and snapshots) carry the whole order; `new`, `canceled` and `filled` updates
        carry only the order id, status and what changed; a `trade` says `partially_filled` even
        when it completes the order (a separate `filled` update follows, as the docs warn)."""
        now = _iso(time.time())
        r: dict[str, Any] = {"order_id": o.txid, "exec_type": exec_type, "timestamp": now, "order_userref": 0}
        if exec_type in ("pending_new", "snapshot"):
            r.update(
                {
                    "exec_type": "pending_new" if exec_type == "pending_new" else "new",
                    "symbol": o.symbol,
                    "order_qty": float(o.vol),
                    "cum_qty": float(o.vol_exec),
                    "side": o.side,
                    "order_type": "limit",
                    "limit_price": float(o.price),
                    "time_in_force": "GTC",
                    "order_status": "pending_new"
                    if exec_type == "pending_new"
                    else ("partially_filled" if o.vol_exec else "new"),
                }
            )
        elif exec_type == "new":
            r["order_status"] = "new"
        elif exec_type == "canceled":
            r.update({"order_status": "canceled", "cum_qty": float(o.vol_exec), "reason": o.reason})
        elif exec_type == "filled":
            r.update({"order_status": "filled", "cum_qty": float(o.vol_exec)})
        elif exec_type == "trade":
            r.update({"order_status": "partially_filled", "symbol": o.symbol, "side": o.side})
        if o.cl_ord_id:
            r["cl_ord_id"] = o.cl_ord_id
        return r

    async def _exec_report(self, acct: Account, o: FakeOrder, exec_type: str) -> None:
        await self._send_exec(acct, [self._report(o, self.pairs[o.symbol], exec_type)])

    async def _send_exec(self, acct: Account, data: list[dict[str, Any]]) -> None:
        msg = json.dumps(
            {"channel": "executions", "type": "update", "data": data, "sequence": self._next_seq()}
        )
        for ws, who in list(self.private_subs.items()):
            if who is acct:
                await self.send(ws, msg)  # type: ignore[attr-defined]

    def _next_seq(self) -> int:
        self._ws_seq += 1
        return self._ws_seq

    def repeat_last_fill(self) -> None:
        """Send the last fill report again, unchanged (the same exec_id/trade_id)."""

        async def again() -> None:
            assert self._last_fill is not None, "no fill yet"
            await self._send_exec(self._last_fill[0], [self._last_fill[1]])

        self.call(again)  # type: ignore[attr-defined]

    def private_subscribed(self) -> int:
        return len(self.private_subs)

    async def _auth_ws_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                await self._auth_ws_message(ws, msg.data)
        finally:
            self.private_subs.pop(ws, None)
            task = self._hb_tasks.pop(ws, None)  # type: ignore[attr-defined]
            if task is not None:
                task.cancel()
        return ws

    async def _auth_ws_message(self, ws: web.WebSocketResponse, data: str) -> None:
        now = _iso(time.time())
        try:
            req = json.loads(data)
        except ValueError:
            await ws.send_str(json.dumps({"error": "EGeneral:Invalid arguments", "success": False}))
            return
        req_id = req.get("req_id")
        params = req.get("params") or {}
        base = {"method": req.get("method"), "time_in": now, "time_out": now}
        if req_id is not None:
            base["req_id"] = req_id
        if req.get("method") == "ping":
            await ws.send_str(json.dumps({"method": "pong", **({"req_id": req_id} if req_id else {})}))
            return
        if req.get("method") != "subscribe" or params.get("channel") != "executions":
            await ws.send_str(json.dumps({**base, "error": "Unsupported event", "success": False}))
            return
        token = params.get("token")
        acct = next((a for a in self.accounts.values() if token and token in a.tokens), None)
        if acct is None:  # the docs' wording for a bad or missing token
            await ws.send_str(json.dumps({**base, "error": "EAccount:Invalid token", "success": False}))
            return
        self.private_subs[ws] = acct
        self._ensure_heartbeat(ws)  # type: ignore[attr-defined]  # {"channel":"heartbeat"} about 1/s
        ack = {
            **base,
            "result": {"channel": "executions", "maxratecount": 180, "snapshot": True},
            "success": True,
        }
        await ws.send_str(json.dumps(ack))
        snap = []
        if params.get("snap_orders", True):
            snap = [
                self._report(o, self.pairs[o.symbol], "snapshot")
                for o in self.orders.values()
                if o.account == acct.key and o.status == "open"
            ]
        await ws.send_str(
            json.dumps({"channel": "executions", "type": "snapshot", "data": snap, "sequence": 1})
        )
