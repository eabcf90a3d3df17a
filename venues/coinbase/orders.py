"""Coinbase Advanced Trade's order half: `CoinbaseOrderClient` (REST) and `CoinbaseUserStream` (the
`user` WebSocket channel), over a CDP API key.

Authentication (../shared/venues/coinbase/NOTES.md items 18-19; Coinbase's "JWT Authentication"
page and its SDK's `jwt_generator.py`): every REST request carries `Authorization: Bearer <jwt>`, a
fresh ES256 JWT whose header is {alg ES256, kid <key name>, nonce <random hex>, typ JWT} and whose
claims are {sub <key name>, iss "cdp", nbf now, exp now+120, uri "<METHOD> <host><path>"} (no
scheme, no query string). A WebSocket subscribe carries the same JWT without `uri`, fresh per
message. The signature is the JWS form of ECDSA P-256/SHA-256: raw r||s, 64 bytes, not DER. This is
`cryptography` directly (already a dependency): one curve, one hash, a few lines — PyJWT would add a
dependency for no gain.

Endpoints (Advanced Trade REST, /api/v3/brokerage):
- `POST /orders`: `client_order_id` is ours, `order_configuration` `limit_limit_gtc` {base_size,
  limit_price, post_only} or `sor_limit_ioc` {base_size, limit_price}. A business failure is HTTP 200
  with `success: false` and `error_response` {error, message, error_details, preview_failure_reason}
  (NOTES.md item 16): mapped to `OrderError` codes, Coinbase's words kept.
- `POST /orders/batch_cancel` {order_ids}: per-order {success, failure_reason, order_id}.
- `GET /orders/historical/batch?order_status=OPEN` (cursor pages): the open orders, with our
  `client_order_id` echoed, so a fresh client finds an order sent before a crash.
- `GET /orders/historical/fills` (cursor pages): fills; `venue_fill_id` is the fill's `entry_id`
  (one per ledger entry of the fill), `trade_id` only when a fill has none. [unverified] which id
  Coinbase guarantees unique: the captures and the SDK show both, the reference page was not read.
- `GET /accounts` (cursor pages): balances (`available_balance` + `hold` = total).

The `user` channel (wss://advanced-trade-ws-user.coinbase.com) sends `{type: snapshot|update,
orders: [...]}` events: order states with `cumulative_quantity`, `leaves_quantity`, `avg_price`,
`total_fees`, `status`. It carries NO fill id (no trade or entry id: see the captured snapshot and the
SDK's `UserOrder` fields), so the stream reports `OrderUpdate`s only; when an update shows
`filled_qty` rising, the caller reads the fills themselves (with their `entry_id`) through
`recent_fills()` — the one source of fill ids, so a fill is never counted twice under two keys.
"""

from __future__ import annotations

import base64
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from venues.coinbase.products import product_id, symbol_for_product
from venues.orders import (
    Balance,
    OrderClient,
    OrderError,
    OrderRequest,
    OrderState,
    OrderUpdate,
    StreamReconnect,
    UserEvent,
    UserStreamProtocol,
    VenueFill,
    VenueOrder,
)

__all__ = [
    "CoinbaseOrderClient",
    "CoinbaseUserStream",
    "ERROR_MAP",
    "build_jwt",
    "map_failure",
]

REST_URL = "https://api.coinbase.com"
USER_WS_URL = "wss://advanced-trade-ws-user.coinbase.com"
API = "/api/v3/brokerage"
JWT_LIFETIME_S = 120

#: Coinbase's `error_response.error` / `preview_failure_reason` / cancel `failure_reason` → our code.
ERROR_MAP: dict[str, str] = {
    "INSUFFICIENT_FUND": "insufficient_funds",
    "INSUFFICIENT_FUNDS": "insufficient_funds",
    "PREVIEW_INSUFFICIENT_FUND": "insufficient_funds",
    "INVALID_LEDGER_BALANCE": "insufficient_funds",
    "INVALID_LIMIT_PRICE_POST_ONLY": "post_only_would_cross",
    "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY": "post_only_would_cross",
    "INVALID_PRICE_PRECISION": "bad_tick",
    "PREVIEW_INVALID_PRICE_PRECISION": "bad_tick",
    "INVALID_LIMIT_PRICE": "bad_tick",
    "PREVIEW_INVALID_LIMIT_PRICE": "bad_tick",
    "INVALID_SIZE_PRECISION": "bad_lot",
    "PREVIEW_INVALID_SIZE_PRECISION": "bad_lot",
    "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL": "below_minimum",
    "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL": "below_minimum",
    "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE": "rejected",
    "INVALID_PRODUCT_ID": "unknown_symbol",
    "PREVIEW_INVALID_PRODUCT_ID": "unknown_symbol",
    "ORDER_ENTRY_DISABLED": "market_closed",
    "PREVIEW_ORDER_ENTRY_DISABLED": "market_closed",
    "INELIGIBLE_PAIR": "market_closed",
    "UNKNOWN_CANCEL_ORDER": "unknown_order",
    "UNAUTHENTICATED": "auth_failed",
    "PERMISSION_DENIED": "auth_failed",
    "RATE_LIMIT_EXCEEDED": "rate_limited",
    "NOT_FOUND": "unknown_order",
}

_STATUS: dict[str, OrderState] = {
    "PENDING": "pending",
    "QUEUED": "pending",
    "OPEN": "open",
    "CANCEL_QUEUED": "open",
    "EDIT_QUEUED": "open",
    "FILLED": "filled",
    "CANCELLED": "cancelled",
    "EXPIRED": "expired",
    "FAILED": "rejected",
}


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def build_jwt(key_name: str, private_key_pem: str, uri: str | None, *, now: int | None = None) -> str:
    """A CDP ES256 JWT (REST: with `uri` "METHOD host/path"; WebSocket: `uri` None). Raises
    OrderError("auth_failed") for a private key that is not an EC P-256 PEM."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError) as err:
        raise OrderError("auth_failed", f"the private key is not a readable PEM: {err}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise OrderError("auth_failed", "the private key must be an EC P-256 key (ES256)")
    t = int(time.time()) if now is None else now
    header = {"alg": "ES256", "kid": key_name, "nonce": secrets.token_hex(16), "typ": "JWT"}
    claims: dict[str, Any] = {"sub": key_name, "iss": "cdp", "nbf": t, "exp": t + JWT_LIFETIME_S}
    if uri is not None:
        claims["uri"] = uri
    signing_input = _b64url(orjson.dumps(header)) + "." + _b64url(orjson.dumps(claims))
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def map_failure(err: Mapping[str, Any]) -> OrderError:
    """Create-order `error_response` → OrderError, Coinbase's own words kept."""
    code = "rejected"
    for key in ("error", "preview_failure_reason", "new_order_failure_reason"):
        value = err.get(key)
        if isinstance(value, str) and value in ERROR_MAP:
            code = ERROR_MAP[value]
            break
    words = [str(err.get(k)) for k in ("error", "message", "error_details", "preview_failure_reason")]
    text = " · ".join(w for w in words if w and w not in ("None", "UNKNOWN_FAILURE_REASON"))
    return OrderError(code, text or "order refused")


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _ts_ns(text: Any) -> int:
    if not isinstance(text, str) or not text:
        return 0
    main, _, frac = text.rstrip("Z").partition(".")
    try:
        secs = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0
    digits = "".join(c for c in frac if c.isdigit())[:9].ljust(9, "0")
    return int(secs) * 1_000_000_000 + int(digits)


def _rfc3339(ns: int) -> str:
    secs, rem = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rem:09d}Z"


def _side(text: Any) -> str:
    return "sell" if str(text).upper() == "SELL" else "buy"


def _symbol(product: Any) -> str:
    try:
        return symbol_for_product(str(product))
    except ValueError:
        return str(product)


def _order_from_rest(o: Mapping[str, Any]) -> VenueOrder:
    cfg = o.get("order_configuration") or {}
    leg: Mapping[str, Any] = next(iter(cfg.values()), {}) if isinstance(cfg, Mapping) else {}
    filled = _dec(o.get("filled_size"))
    state = _STATUS.get(str(o.get("status")), "pending")
    if state == "open" and filled > 0:
        state = "partially_filled"
    message = str(o.get("reject_message") or o.get("cancel_message") or "")
    return VenueOrder(
        venue_order_id=str(o.get("order_id", "")),
        client_order_id=o.get("client_order_id") or None,
        symbol=_symbol(o.get("product_id")),
        side=_side(o.get("side")),  # type: ignore[arg-type]
        price=_dec(leg.get("limit_price")),
        qty=_dec(leg.get("base_size")),
        filled_qty=filled,
        state=state,
        venue_message=message,
    )


class CoinbaseOrderClient(OrderClient):
    venue = "coinbase"

    def __init__(self, credentials: Mapping[str, str], config: Any, *, instrument: Any = None) -> None:
        super().__init__(credentials, config, instrument=instrument)
        self.base_url = (config.rest_url or REST_URL).rstrip("/")
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"a venue REST URL must be http(s)://, not {self.base_url!r}")
        self.host = parts.netloc
        self.prefix = parts.path  # normally ""
        self.ws_url = config.ws_url or USER_WS_URL
        self.timeout_s = 15.0
        # Check the key now (a clear error at connect time, not at the first order).
        build_jwt(self.credentials["key_name"], self.credentials["private_key"], None)

    # -- transport ---------------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> Any:
        full_path = self.prefix + API + path
        token = build_jwt(
            self.credentials["key_name"], self.credentials["private_key"], f"{method} {self.host}{full_path}"
        )
        url = self.base_url + API + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        data = orjson.dumps(body) if body is not None else None
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (scheme checked)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 (scheme checked)
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raise self._http_error(err) from None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise OrderError("rejected", f"not JSON from Coinbase: {raw[:200]!r}") from None

    @staticmethod
    def _http_error(err: urllib.error.HTTPError) -> OrderError:
        text = err.read().decode("utf-8", "replace").strip()
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError:
            body = None
        venue_code = ""
        if isinstance(body, dict):
            venue_code = str(body.get("error") or "")
            words = [str(body.get(k) or "") for k in ("error", "message", "error_details")]
            text = " · ".join(w for w in words if w) or text
        if err.code in (401, 403):
            code = "auth_failed"
        elif err.code == 429:
            code = "rate_limited"
        else:
            code = ERROR_MAP.get(venue_code, "rejected")
        return OrderError(code, f"HTTP {err.code}: {text[:500] or err.reason}", http_status=err.code)

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(1000):  # a ceiling, never an endless loop on a venue bug
            query = dict(params)
            if cursor:
                query["cursor"] = cursor
            page = self._request("GET", path, query)
            rows.extend(page.get(key) or [])
            cursor = str(page.get("cursor") or "")
            has_next = page.get("has_next")
            if not cursor or has_next is False or not page.get(key):
                break
        return rows

    # -- the interface -----------------------------------------------------------------------------
    def balances(self) -> list[Balance]:
        out = []
        for acct in self._pages("/accounts", "accounts", {"limit": 250}):
            avail = _dec((acct.get("available_balance") or {}).get("value"))
            hold = _dec((acct.get("hold") or {}).get("value"))
            out.append(Balance(asset=str(acct.get("currency", "")), total=avail + hold, available=avail))
        return out

    def place(self, request: OrderRequest) -> VenueOrder:
        product = product_id(request.symbol)
        size, price = format(request.qty, "f"), format(request.price, "f")
        if request.time_in_force == "ioc":
            if request.post_only:
                raise OrderError("rejected", "post_only needs a resting (gtc) order")
            config: dict[str, dict[str, str | bool]] = {
                "sor_limit_ioc": {"base_size": size, "limit_price": price}
            }
        else:
            config = {
                "limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": request.post_only}
            }
        body = {
            "client_order_id": request.client_order_id,
            "product_id": product,
            "side": request.side.upper(),
            "order_configuration": config,
        }
        answer = self._request("POST", "/orders", body=body)
        if not answer.get("success"):
            raise map_failure(answer.get("error_response") or {"error": answer.get("failure_reason", "")})
        ok = answer.get("success_response") or {}
        order_id = str(ok.get("order_id") or answer.get("order_id") or "")
        # The create answer is an acknowledgement only; the order's state (filled at once, resting)
        # comes from the order itself.
        try:
            got = self._request("GET", f"/orders/historical/{urllib.parse.quote(order_id)}")
            if isinstance(got.get("order"), Mapping):
                return _order_from_rest(got["order"])
        except OrderError:
            pass
        return VenueOrder(
            venue_order_id=order_id,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            price=request.price,
            qty=request.qty,
            filled_qty=Decimal(0),
            state="pending",
        )

    def cancel(self, symbol: str, venue_order_id: str) -> bool:
        return venue_order_id in self._batch_cancel([venue_order_id])

    def _batch_cancel(self, order_ids: Sequence[str]) -> list[str]:
        done: list[str] = []
        for i in range(0, len(order_ids), 100):
            answer = self._request(
                "POST", "/orders/batch_cancel", body={"order_ids": list(order_ids[i : i + 100])}
            )
            for row in answer.get("results") or []:
                if row.get("success"):
                    done.append(str(row.get("order_id")))
        return done

    def cancel_all(self, symbols: Sequence[str] | None = None) -> list[str]:
        ids = [o.venue_order_id for o in self.open_orders(symbols)]
        return self._batch_cancel(ids) if ids else []

    def open_orders(self, symbols: Sequence[str] | None = None) -> list[VenueOrder]:
        params: dict[str, Any] = {"order_status": "OPEN", "limit": 1000}
        if symbols:
            params["product_ids"] = [product_id(s) for s in symbols]
        return [_order_from_rest(o) for o in self._pages("/orders/historical/batch", "orders", params)]

    def order_status(self, venue_order_id: str) -> VenueOrder:
        got = self._request("GET", f"/orders/historical/{urllib.parse.quote(venue_order_id)}")
        return _order_from_rest(got.get("order") or {})

    def recent_fills(self, since_ns: int) -> list[VenueFill]:
        params = {"start_sequence_timestamp": _rfc3339(since_ns), "limit": 1000}
        fills = []
        seen: set[str] = set()
        for f in self._pages("/orders/historical/fills", "fills", params):
            fill_id = str(f.get("entry_id") or f.get("trade_id") or "")
            if not fill_id or fill_id in seen:
                continue
            seen.add(fill_id)
            liq = str(f.get("liquidity_indicator", "")).upper()
            fills.append(
                VenueFill(
                    venue_fill_id=fill_id,
                    venue_order_id=str(f.get("order_id", "")),
                    client_order_id=f.get("client_order_id") or None,
                    symbol=_symbol(f.get("product_id")),
                    side=_side(f.get("side")),  # type: ignore[arg-type]
                    price=_dec(f.get("price")),
                    qty=_dec(f.get("size")),
                    fee=_dec(f.get("commission")),
                    ts_ns=_ts_ns(f.get("trade_time")),
                    liquidity="maker" if liq == "MAKER" else "taker" if liq == "TAKER" else "",
                )
            )
        return [f for f in fills if f.ts_ns >= since_ns]

    def user_stream(self) -> CoinbaseUserStream:
        return CoinbaseUserStream(self.credentials["key_name"], self.credentials["private_key"], self.ws_url)


class CoinbaseUserStream(UserStreamProtocol):
    """The `user` channel: subscribe with a fresh JWT (no `uri`) plus `heartbeats` to keep the
    connection open; each order in a snapshot/update event becomes an `OrderUpdate`. An error
    message (e.g. "authentication failure") means reconnect (with a fresh JWT)."""

    venue: ClassVar[str] = "coinbase"
    silence_s: ClassVar[float] = 30.0

    def __init__(self, key_name: str, private_key: str, ws_url: str = USER_WS_URL) -> None:
        self.key_name = key_name
        self.private_key = private_key
        self.ws_url = ws_url
        self.next_seq: int | None = None
        self.subscribed = False

    def url(self) -> str:
        return self.ws_url

    def on_open(self) -> list[str]:
        self.next_seq = None
        self.subscribed = False
        frames = []
        for channel in ("heartbeats", "user"):
            jwt = build_jwt(self.key_name, self.private_key, None)
            frames.append(
                orjson.dumps(
                    {"type": "subscribe", "channel": channel, "product_ids": [], "jwt": jwt}
                ).decode()
            )
        return frames

    def on_frame(self, data: str | bytes, recv_ns: int) -> list[UserEvent]:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(msg, dict):
            return []
        if msg.get("type") == "error":
            return [StreamReconnect(f"coinbase: {msg.get('message', '')}")]
        seq = msg.get("sequence_num")
        if isinstance(seq, int):
            gap = self.next_seq is not None and seq > self.next_seq
            self.next_seq = max(seq + 1, self.next_seq or 0)
            if gap:
                # an order update may be lost: reconnect, after which the caller reconciles
                return [StreamReconnect("coinbase user channel: sequence gap")]
        if msg.get("channel") == "subscriptions":
            self.subscribed = True
            return []
        if msg.get("channel") != "user":
            return []
        out: list[UserEvent] = []
        for event in msg.get("events") or []:
            if not isinstance(event, dict):
                continue
            for o in event.get("orders") or []:
                if isinstance(o, dict):
                    out.append(OrderUpdate(self._order(o)))
        return out

    @staticmethod
    def _order(o: Mapping[str, Any]) -> VenueOrder:
        filled = _dec(o.get("cumulative_quantity"))
        leaves = _dec(o.get("leaves_quantity"))
        state = _STATUS.get(str(o.get("status")), "pending")
        if state == "open" and filled > 0:
            state = "partially_filled"
        return VenueOrder(
            venue_order_id=str(o.get("order_id", "")),
            client_order_id=o.get("client_order_id") or None,
            symbol=_symbol(o.get("product_id")),
            side=_side(o.get("order_side")),  # type: ignore[arg-type]
            price=_dec(o.get("limit_price")),
            qty=filled + leaves,
            filled_qty=filled,
            state=state,
            venue_message=str(o.get("reject_reason") or o.get("cancel_reason") or ""),
        )
