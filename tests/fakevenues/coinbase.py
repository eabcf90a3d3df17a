"""A strict fake Coinbase Advanced Trade: the market-data WebSocket and the public REST product list.

Built from ../shared/venues/coinbase/ (NOTES.md, PROVENANCE.md, the captures) and Coinbase's own
pages; the fixtures it serves are in fixtures/coinbase/ (SOURCES.md says where each comes from).

WebSocket (at the root path, as `wss://advanced-trade-ws.coinbase.com` is):
- A client sends `{"type": "subscribe" | "unsubscribe", "product_ids": [...], "channel": "..."}`,
  one channel per message, `jwt` optional. Refused with `{"type": "error", "message": ...}` (no
  envelope; the socket stays open): a frame that is not JSON or not an object, another `type`, the
  Exchange feed's `channels` list, a missing/unknown `channel`, `user`/`futures_balance_summary`
  (a `user` subscribe needs a valid CDP JWT without `uri`, see below; `futures_balance_summary` is
  always refused: "authentication failure", the one captured text), a market channel without
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

Trading (issue 13). `add_account(key_name, public_key, balances)` registers a CDP key's public half
and its account (`new_cdp_key()` makes a key pair). Every private request must carry
`Authorization: Bearer <jwt>` that `verify_cdp_jwt` accepts: alg ES256, `kid` a registered key,
a `nonce`, `iss` "cdp", `sub` = kid, nbf <= now < exp, exp - nbf <= 120 s, the raw r||s signature
verifying against the key, and `uri` equal to "METHOD host/path" of this very request (a WebSocket
token must carry none); otherwise 401 with the `unauthenticated` body (`auth_refusals` says why;
`clock_offset_s` ages tokens). Routes: `POST /orders` (`limit_limit_gtc` with `post_only`,
`sor_limit_ioc`; a repeated client_order_id returns the first order: the behaviour Coinbase's
reference is quoted as describing, [unverified] here), `POST
/orders/batch_cancel`, `GET /orders/historical/batch` (`order_status`, `product_ids`),
`/orders/historical/{id}`, `/orders/historical/fills` (`start_sequence_timestamp`), `/accounts`.
An order is checked in this order: side, product, product online, configuration, price on the
grid (INVALID_PRICE_PRECISION), size on the lot (INVALID_SIZE_PRECISION), base/quote minimums
(preview_failure_reason PREVIEW_INVALID_BASE/QUOTE_SIZE_TOO_SMALL: the reason names are the SDK's
enum, the surrounding `error`/`message` texts are OURS), funds with the taker fee held
(INSUFFICIENT_FUND, the captured body), post-only crossing (INVALID_LIMIT_PRICE_POST_ONLY); every
refusal is HTTP 200 `success: false` in the captured shape. A crossing order takes the fake's public
`level2` book as taker (those levels shrink, `l2_data` updates go out); the rest rests (gtc) or is
cancelled (IOC). `trade()` is another participant taking our resting orders (maker fills, partial
when smaller). Fills carry a 64-hex `entry_id` and a `trade_id`; fees 0.40% maker / 0.60% taker.
The `user` channel sends the account's open orders as a `snapshot`, then an `update` per order change;
`resend_last_user_update()` sends the last one again (a duplicate fill's update).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.fakevenues.base import FakeVenueServer

__all__ = ["FIXTURES", "FakeCoinbase", "fixture", "new_cdp_key", "verify_cdp_jwt"]

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


def _txt(d: Decimal) -> str:
    """A decimal as Coinbase writes it: plain digits, no exponent."""
    text = format(d, "f")
    return text


# -- trading: CDP JWT, accounts, orders, fills, the user channel ---------------------------------------
#: Fees the fake charges (quote currency, on notional): Coinbase's entry-tier maker/taker rates.
MAKER_FEE = Decimal("0.004")
TAKER_FEE = Decimal("0.006")
JWT_MAX_LIFETIME_S = 120


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_cdp_key(name: str = "") -> tuple[str, str, ec.EllipticCurvePublicKey]:
    """A fresh CDP-style key: (key name, EC P-256 private PEM, public key) for tests."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = name or f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return name, pem, key.public_key()


def verify_cdp_jwt(
    token: str, keys: dict[str, ec.EllipticCurvePublicKey], uri: str | None, now: float
) -> tuple[str | None, str]:
    """(key name, "") when `token` is a valid CDP JWT for `uri` (None: a WebSocket token, which must
    carry no uri), else (None, why). Checked as Coinbase documents it (NOTES.md items 18-19 and
    'Token checks'): three base64url parts; header alg ES256, kid a registered key, a nonce; claims
    iss "cdp", sub = kid, nbf <= now < exp, exp - nbf <= 120 s; the signature (raw r||s) verifies
    against the key's public key; `uri` equal to "METHOD host/path"."""
    parts = token.split(".")
    if len(parts) != 3:
        return None, "not a JWT"
    try:
        header = orjson.loads(_b64url_decode(parts[0]))
        claims = orjson.loads(_b64url_decode(parts[1]))
        sig = _b64url_decode(parts[2])
    except (ValueError, orjson.JSONDecodeError):
        return None, "undecodable JWT"
    if type(header) is not dict or type(claims) is not dict:
        return None, "undecodable JWT"
    if header.get("alg") != "ES256":
        return None, "alg must be ES256"
    kid = header.get("kid")
    if type(kid) is not str or kid not in keys:
        return None, "unknown key"
    if type(header.get("nonce")) is not str or not header["nonce"]:
        return None, "missing nonce"
    if len(sig) != 64:
        return None, "bad signature"
    try:
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        keys[kid].verify(der, (parts[0] + "." + parts[1]).encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return None, "bad signature"
    if claims.get("iss") != "cdp" or claims.get("sub") != kid:
        return None, "bad iss/sub"
    nbf, exp = claims.get("nbf"), claims.get("exp")
    if type(nbf) is not int or type(exp) is not int:
        return None, "missing nbf/exp"
    if exp - nbf > JWT_MAX_LIFETIME_S or nbf > now + 1 or now >= exp:
        return None, "expired or not yet valid"
    if uri is None:
        if "uri" in claims:
            return None, "a REST token on the WebSocket"
    elif claims.get("uri") != uri:
        return None, "uri does not match the request"
    return kid, ""


class _Account:
    def __init__(self, name: str, balances: dict[str, Decimal]) -> None:
        self.name = name
        self.user_id = str(uuid.uuid4())
        self.accounts = {cur: str(uuid.uuid4()) for cur in balances}
        self.available = dict(balances)
        self.hold: dict[str, Decimal] = {cur: Decimal(0) for cur in balances}


class _Order:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


class _Conn:
    __slots__ = (
        "ws",
        "seq",
        "skip",
        "level2",
        "channels",
        "heartbeat",
        "counter",
        "times",
        "subscribed",
        "user_key",
    )

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
        self.user_key: str | None = None


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
        # trading
        self.keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self.accounts_by_key: dict[str, _Account] = {}
        self.orders: dict[str, _Order] = {}
        self.orders_by_client: dict[tuple[str, str], _Order] = {}
        self.fills: list[tuple[str, dict[str, Any]]] = []  # (key name, fill row)
        self.last_user_event: dict[str, dict[str, Any]] = {}
        self.auth_refusals: list[str] = []  # why each JWT was refused
        self.clock_offset_s = 0.0  # the venue's clock ahead of ours (tests age a token with it)
        # another participant's trade that reaches the matching engine just before the next cancel
        # request (`trade_before_next_cancel`): the race of a fill against our cancel
        self.trade_on_cancel: tuple[str, str, str, str] | None = None
        # the next order creation is placed, but the answer the client gets is the gateway's 504
        # (`gateway_timeout_after_next_create`): whether the order exists is unknown to the client
        self.gateway_timeout_next_create = False

    # -- REST --------------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v3/brokerage/market/products", self._list_products)
        app.router.add_get("/api/v3/brokerage/market/products/{product_id}", self._get_product)
        app.router.add_get("/api/v3/brokerage/products", self._private)
        app.router.add_get("/api/v3/brokerage/products/{product_id}", self._private)
        app.router.add_post("/api/v3/brokerage/orders", self._create_order_route)
        app.router.add_post("/api/v3/brokerage/orders/batch_cancel", self._batch_cancel)
        app.router.add_get("/api/v3/brokerage/orders/historical/batch", self._list_orders)
        app.router.add_get("/api/v3/brokerage/orders/historical/fills", self._list_fills)
        app.router.add_get("/api/v3/brokerage/orders/historical/{order_id}", self._get_order)
        app.router.add_get("/api/v3/brokerage/accounts", self._accounts)

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

    # -- trading (authenticated REST) ---------------------------------------------------------------
    def add_account(
        self, key_name: str, public_key: ec.EllipticCurvePublicKey, balances: dict[str, str]
    ) -> None:
        """Register a CDP key (its public half, as Coinbase keeps it) and its account's balances."""
        self.keys[key_name] = public_key
        self.accounts_by_key[key_name] = _Account(key_name, {c: Decimal(v) for c, v in balances.items()})

    def _auth(self, request: web.Request) -> _Account | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            self.auth_refusals.append("no bearer token")
            return None
        uri = f"{request.method} {request.host}{request.path}"
        kid, why = verify_cdp_jwt(header[len("Bearer ") :], self.keys, uri, time.time() + self.clock_offset_s)
        if kid is None:
            self.auth_refusals.append(why)
            return None
        return self.accounts_by_key[kid]

    def _unauthorized(self) -> web.Response:
        return web.json_response(self.rest_errors["unauthenticated"], status=401)

    def _check_size_price(
        self, row: dict[str, Any], size: Decimal, price: Decimal
    ) -> tuple[str, str, str] | None:
        if price <= 0 or price % Decimal(row.get("price_increment") or row["quote_increment"]) != 0:
            return ("INVALID_PRICE_PRECISION", "Invalid price precision", "PREVIEW_INVALID_PRICE_PRECISION")
        if size <= 0 or size % Decimal(row["base_increment"]) != 0:
            return ("INVALID_SIZE_PRECISION", "Invalid size precision", "PREVIEW_INVALID_SIZE_PRECISION")
        if size < Decimal(row["base_min_size"]):
            return ("UNKNOWN_FAILURE_REASON", "Order size too small", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL")
        if size * price < Decimal(row.get("quote_min_size") or "0"):
            return ("UNKNOWN_FAILURE_REASON", "Order size too small", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL")
        return None

    @staticmethod
    def _failure(cfg: Any, error: str, message: str, preview: str = "") -> web.Response:
        return web.json_response(
            {
                "success": False,
                "failure_reason": "UNKNOWN_FAILURE_REASON",
                "order_id": "",
                "error_response": {
                    "error": error,
                    "message": message,
                    "error_details": "",
                    "preview_failure_reason": preview or f"PREVIEW_{error}",
                },
                "order_configuration": cfg,
            }
        )

    async def _create_order_route(self, request: web.Request) -> web.Response:
        answer = await self._create_order(request)
        if self.gateway_timeout_next_create:
            self.gateway_timeout_next_create = False
            return web.Response(status=504, text="upstream request timeout", content_type="text/plain")
        return answer

    async def _create_order(self, request: web.Request) -> web.Response:
        acct = self._auth(request)
        if acct is None:
            return self._unauthorized()
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return web.json_response(self.rest_errors["bad_argument"], status=400)
        if (
            type(body) is not dict
            or type(body.get("client_order_id")) is not str
            or not body["client_order_id"]
        ):
            return web.json_response(self.rest_errors["bad_argument"], status=400)
        cfg = body.get("order_configuration")
        existing = self.orders_by_client.get((acct.name, body["client_order_id"]))
        if existing is not None:  # "the order with this ID will be returned instead"
            return self._success(existing, cfg)
        side = body.get("side")
        if side not in ("BUY", "SELL"):
            return self._failure(cfg, "INVALID_SIDE", "Invalid side")
        row = self.product_rows.get(str(body.get("product_id")))
        if row is None or row.get("product_type") != "SPOT":
            return self._failure(cfg, "INVALID_PRODUCT_ID", "Invalid product_id")
        if row.get("trading_disabled") or row.get("status") != "online":
            return self._failure(cfg, "ORDER_ENTRY_DISABLED", "Trading is disabled for this product")
        if type(cfg) is not dict or len(cfg) != 1:
            return self._failure(cfg, "UNSUPPORTED_ORDER_CONFIGURATION", "Unsupported order configuration")
        ((kind, leg),) = cfg.items()
        if kind not in ("limit_limit_gtc", "sor_limit_ioc") or type(leg) is not dict:
            return self._failure(cfg, "UNSUPPORTED_ORDER_CONFIGURATION", "Unsupported order configuration")
        try:
            size, price = Decimal(leg["base_size"]), Decimal(leg["limit_price"])
        except (KeyError, TypeError, ArithmeticError):
            return self._failure(cfg, "INVALID_REQUEST", "base_size and limit_price are decimal strings")
        post_only = leg.get("post_only", False) is True if kind == "limit_limit_gtc" else False
        bad = self._check_size_price(row, size, price)
        if bad:
            return self._failure(cfg, *bad)
        base, quote = row["base_currency_id"], row["quote_currency_id"]
        need_cur, need = (quote, size * price * (1 + TAKER_FEE)) if side == "BUY" else (base, size)
        if acct.available.get(need_cur, Decimal(0)) < need:
            return self._failure(cfg, "INSUFFICIENT_FUND", "Insufficient balance in source account")
        book_id = self.book_id(row["product_id"])
        crosses = self._crossing_levels(book_id, side, price)
        if post_only and crosses:
            return self._failure(cfg, "INVALID_LIMIT_PRICE_POST_ONLY", "Post only order would cross")
        now = _now_text()
        order = _Order(
            order_id=str(uuid.uuid4()),
            client_order_id=body["client_order_id"],
            account=acct,
            product_id=row["product_id"],
            book_id=book_id,
            base=base,
            quote=quote,
            side=side,
            kind=kind,
            size=size,
            price=price,
            post_only=post_only,
            filled=Decimal(0),
            filled_value=Decimal(0),
            fees=Decimal(0),
            status="OPEN",
            created=now,
            hold=Decimal(0),
            cancel_message="",
        )
        order.hold = need
        acct.available[need_cur] = acct.available.get(need_cur, Decimal(0)) - need
        acct.hold[need_cur] = acct.hold.get(need_cur, Decimal(0)) + need
        self.orders[order.order_id] = order
        self.orders_by_client[(acct.name, order.client_order_id)] = order
        for px, avail in crosses:  # taker against the public book
            take = min(avail, order.size - order.filled)
            if take <= 0:
                break
            await self._fill(order, px, take, "TAKER")
            left = avail - take
            await self._update(book_id, [("offer" if side == "BUY" else "bid", _txt(px), _txt(left))])
        if order.status == "OPEN" and kind == "sor_limit_ioc":
            order.status = "CANCELLED"
            order.cancel_message = "IOC order unfilled remainder cancelled"
            self._release(order)
        await self._push_order(order)
        return self._success(order, cfg)

    def _success(self, order: _Order, cfg: Any) -> web.Response:
        return web.json_response(
            {
                "success": True,
                "failure_reason": "UNKNOWN_FAILURE_REASON",
                "order_id": order.order_id,
                "success_response": {
                    "order_id": order.order_id,
                    "product_id": order.product_id,
                    "side": order.side,
                    "client_order_id": order.client_order_id,
                },
                "order_configuration": cfg,
            }
        )

    def _crossing_levels(self, book_id: str, side: str, price: Decimal) -> list[tuple[Decimal, Decimal]]:
        book = self.books.get(book_id, {"bid": {}, "offer": {}})
        if side == "BUY":
            levels = sorted((Decimal(p), Decimal(q)) for p, q in book["offer"].items() if Decimal(p) <= price)
        else:
            levels = sorted(
                ((Decimal(p), Decimal(q)) for p, q in book["bid"].items() if Decimal(p) >= price),
                reverse=True,
            )
        return [(p, q) for p, q in levels if q > 0]

    def _release(self, order: _Order) -> None:
        cur = order.quote if order.side == "BUY" else order.base
        acct = order.account
        acct.hold[cur] -= order.hold
        acct.available[cur] += order.hold
        order.hold = Decimal(0)

    async def _fill(self, order: _Order, price: Decimal, qty: Decimal, liquidity: str) -> dict[str, Any]:
        acct = order.account
        notional = price * qty
        fee = (notional * (MAKER_FEE if liquidity == "MAKER" else TAKER_FEE)).quantize(Decimal("0.00000001"))
        if order.side == "BUY":
            reserved = (
                (order.hold * qty / (order.size - order.filled)) if order.size > order.filled else order.hold
            )
            order.hold -= reserved
            acct.hold[order.quote] -= reserved
            acct.available[order.quote] += reserved - notional - fee
            acct.available[order.base] = acct.available.get(order.base, Decimal(0)) + qty
        else:
            order.hold -= qty
            acct.hold[order.base] -= qty
            acct.available[order.quote] = acct.available.get(order.quote, Decimal(0)) + notional - fee
        order.filled += qty
        order.filled_value += notional
        order.fees += fee
        if order.filled >= order.size:
            order.status = "FILLED"
            if order.hold:
                self._release(order)
        now = _now_text()
        fill = {
            "entry_id": uuid.uuid4().hex + uuid.uuid4().hex,
            "trade_id": str(uuid.uuid4()),
            "order_id": order.order_id,
            "trade_time": now,
            "trade_type": "FILL",
            "price": _txt(price),
            "size": _txt(qty),
            "commission": _txt(fee),
            "product_id": order.product_id,
            "sequence_timestamp": now,
            "liquidity_indicator": liquidity,
            "size_in_quote": False,
            "user_id": acct.user_id,
            "side": order.side,
        }
        self.fills.append((acct.name, fill))
        return fill

    def _order_row(self, order: _Order) -> dict[str, Any]:
        leg: dict[str, Any] = {"base_size": _txt(order.size), "limit_price": _txt(order.price)}
        if order.kind == "limit_limit_gtc":
            leg["post_only"] = order.post_only
        avg = order.filled_value / order.filled if order.filled else Decimal(0)
        return {
            "order_id": order.order_id,
            "product_id": order.product_id,
            "user_id": order.account.user_id,
            "order_configuration": {order.kind: leg},
            "side": order.side,
            "client_order_id": order.client_order_id,
            "status": order.status,
            "time_in_force": "GOOD_UNTIL_CANCELLED"
            if order.kind == "limit_limit_gtc"
            else "IMMEDIATE_OR_CANCEL",
            "created_time": order.created,
            "completion_percentage": _txt((order.filled / order.size * 100).quantize(Decimal("0.01"))),
            "filled_size": _txt(order.filled),
            "average_filled_price": _txt(avg),
            "number_of_fills": str(sum(1 for _, f in self.fills if f["order_id"] == order.order_id)),
            "filled_value": _txt(order.filled_value),
            "pending_cancel": False,
            "size_in_quote": False,
            "total_fees": _txt(order.fees),
            "order_type": "LIMIT",
            "reject_reason": "REJECT_REASON_UNSPECIFIED",
            "settled": order.status != "OPEN",
            "product_type": "SPOT",
            "reject_message": "",
            "cancel_message": order.cancel_message,
        }

    async def _get_order(self, request: web.Request) -> web.Response:
        acct = self._auth(request)
        if acct is None:
            return self._unauthorized()
        order = self.orders.get(request.match_info["order_id"])
        if order is None or order.account is not acct:
            return web.json_response(
                dict(self.rest_errors["not_found"], message="order not found"), status=404
            )
        return web.json_response({"order": self._order_row(order)})

    async def _list_orders(self, request: web.Request) -> web.Response:
        acct = self._auth(request)
        if acct is None:
            return self._unauthorized()
        statuses = request.query.getall("order_status", [])
        products = request.query.getall("product_ids", [])
        rows = [
            self._order_row(o)
            for o in self.orders.values()
            if o.account is acct
            and (not statuses or o.status in statuses)
            and (not products or o.product_id in products)
        ]
        return web.json_response({"orders": rows, "sequence": "0", "has_next": False, "cursor": ""})

    async def _list_fills(self, request: web.Request) -> web.Response:
        acct = self._auth(request)
        if acct is None:
            return self._unauthorized()
        since = request.query.get("start_sequence_timestamp", "")
        rows = [
            f
            for name, f in self.fills
            if name == acct.name and (not since or f["sequence_timestamp"] >= since)
        ]
        return web.json_response({"fills": rows, "cursor": ""})

    async def _batch_cancel(self, request: web.Request) -> web.Response:
        acct = self._auth(request)
        if acct is None:
            return self._unauthorized()
        try:
            body = orjson.loads(await request.read())
            ids = body["order_ids"]
            if type(ids) is not list:
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return web.json_response(self.rest_errors["bad_argument"], status=400)
        if self.trade_on_cancel is not None:
            trade, self.trade_on_cancel = self.trade_on_cancel, None
            await self._trade(*trade)
        results = []
        for oid in ids:
            order = self.orders.get(str(oid))
            if order is None or order.account is not acct or order.status != "OPEN":
                results.append(
                    {"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": str(oid)}
                )
            else:
                order.status = "CANCELLED"
                order.cancel_message = "User requested cancel"
                self._release(order)
                await self._push_order(order)
                results.append(
                    {
                        "success": True,
                        "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON",
                        "order_id": order.order_id,
                    }
                )
        return web.json_response({"results": results})

    async def _accounts(self, request: web.Request) -> web.Response:
        acct = self._auth(request)
        if acct is None:
            return self._unauthorized()
        rows = [
            {
                "uuid": acct.accounts.setdefault(cur, str(uuid.uuid4())),
                "name": f"{cur} Wallet",
                "currency": cur,
                "available_balance": {"value": _txt(acct.available[cur]), "currency": cur},
                "default": False,
                "active": True,
                "type": "ACCOUNT_TYPE_CRYPTO",
                "ready": True,
                "hold": {"value": _txt(acct.hold.get(cur, Decimal(0))), "currency": cur},
            }
            for cur in sorted(acct.available)
        ]
        return web.json_response({"accounts": rows, "has_next": False, "cursor": "", "size": len(rows)})

    # -- the user channel ----------------------------------------------------------------------------
    def _user_order(self, order: _Order) -> dict[str, Any]:
        avg = order.filled_value / order.filled if order.filled else Decimal(0)
        leaves = order.size - order.filled if order.status == "OPEN" else Decimal(0)
        return {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "cumulative_quantity": _txt(order.filled),
            "leaves_quantity": _txt(leaves),
            "avg_price": _txt(avg),
            "total_fees": _txt(order.fees),
            "status": order.status,
            "product_id": order.product_id,
            "creation_time": order.created,
            "order_side": order.side,
            "order_type": "Limit",
            "cancel_reason": order.cancel_message,
            "reject_reason": "",
            "limit_price": _txt(order.price),
            "product_type": "SPOT",
            "time_in_force": "GOOD_UNTIL_CANCELLED"
            if order.kind == "limit_limit_gtc"
            else "IMMEDIATE_OR_CANCEL",
        }

    async def _push_order(self, order: _Order) -> None:
        event = {"type": "update", "orders": [self._user_order(order)]}
        self.last_user_event[order.account.name] = event
        for conn in self._live():
            if conn.user_key == order.account.name:
                await self._deliver(conn, "user", [event])

    async def _subscribe_user(self, conn: _Conn, jwt: Any) -> None:
        kid, why = (
            (None, "no jwt")
            if type(jwt) is not str
            else verify_cdp_jwt(jwt, self.keys, None, time.time() + self.clock_offset_s)
        )
        if kid is None:
            self.auth_refusals.append(why)
            return await self._error(conn, "authentication_failure")
        conn.subscribed = True
        conn.channels.add("user")
        conn.user_key = kid
        await self._ack(conn)
        mine = [
            self._user_order(o) for o in self.orders.values() if o.account.name == kid and o.status == "OPEN"
        ]
        await self._deliver(conn, "user", [{"type": "snapshot", "orders": mine}])

    # -- what a test does (trading) --------------------------------------------------------------------
    def trade(self, product: str, side: str, price: str, qty: str) -> list[dict[str, Any]]:
        """Another participant's `side` ("BUY"/"SELL") order of `qty` at `price` takes resting orders
        of our accounts that it crosses (oldest first, at their prices): maker fills, partial when it
        is smaller. Returns the fills made."""
        return self.call(self._trade, product, side, price, qty)

    def gateway_timeout_after_next_create(self) -> None:
        """The next order creation is processed (placed, or refused), but its answer is lost: the
        client gets HTTP 504 from the gateway in front of the venue."""

        async def go() -> None:
            self.gateway_timeout_next_create = True

        self.call(go)

    def trade_before_next_cancel(self, product: str, side: str, price: str, qty: str) -> None:
        """`trade(...)` happens at the venue when the next cancel request arrives, before the cancel
        is processed (a fill that crossed our cancel on the way)."""

        async def go() -> None:
            self.trade_on_cancel = (product, side, price, qty)

        self.call(go)

    async def _trade(self, product: str, side: str, price: str, qty: str) -> list[dict[str, Any]]:
        left, limit, made = Decimal(qty), Decimal(price), []
        for order in list(self.orders.values()):
            if left <= 0:
                break
            if order.product_id != product or order.status != "OPEN" or order.side == side:
                continue
            if (side == "BUY" and order.price > limit) or (side == "SELL" and order.price < limit):
                continue
            take = min(left, order.size - order.filled)
            made.append(await self._fill(order, order.price, take, "MAKER"))
            left -= take
            await self._push_order(order)
        return made

    def resend_last_user_update(self, key_name: str) -> None:
        """Send the account's last order update (the same fill's state) again on the user channel."""

        async def go() -> None:
            event = self.last_user_event[key_name]
            for conn in self._live():
                if conn.user_key == key_name:
                    await self._deliver(conn, "user", [event])

        self.call(go)

    def balance(self, key_name: str, currency: str) -> tuple[Decimal, Decimal]:
        """(available, hold) of the account."""

        async def go() -> tuple[Decimal, Decimal]:
            acct = self.accounts_by_key[key_name]
            return acct.available.get(currency, Decimal(0)), acct.hold.get(currency, Decimal(0))

        return self.call(go)

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
        if channel == "user" and kind == "subscribe":
            return await self._subscribe_user(conn, jwt)
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
