"""Kalshi's order half (trade API v2 portfolio endpoints, RSA-PSS signed headers).

- Every REST call carries the three signed headers of `venues.kalshi.auth.KalshiSigner`, signed
  afresh over `timestamp + METHOD + path` (the full path from the root, without the query string).
- Our symbols are `<TICKER>-YES` / `<TICKER>-NO`: the suffix is Kalshi's `side` (yes/no), our
  buy/sell is its `action`, the price goes in cents as `yes_price` or `no_price`, `count` is whole
  contracts and `client_order_id` is ours (Kalshi dedupes on it: 409 for a second one).
- `POST /portfolio/orders` → 201 `{"order": {...}}`; `DELETE /portfolio/orders/{id}`;
  `GET /portfolio/orders?status=resting`; `GET /portfolio/fills?min_ts=` (seconds; `trade_id` is
  the fill id, as on the `fill` channel); `GET /portfolio/balance` (cents → dollars).
- Refusals: Kalshi's error body `{"error": {"code", "message", "details"}}` (shape from third-party
  material, ../shared/venues/kalshi/rest_orders.json) and its HTTP status map to `ERROR_CODES`; the
  venue's text is kept. A body that is not that shape still maps by status.
- The private stream subscribes to the `fill` and `user_orders` channels on the signed WebSocket.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit

from venues.instruments import Instrument
from venues.kalshi.auth import KalshiAuthError, KalshiSigner
from venues.orders import (
    Balance,
    OrderClient,
    OrderConfig,
    OrderError,
    OrderRequest,
    OrderUpdate,
    UserEvent,
    UserStreamProtocol,
    VenueFill,
    VenueOrder,
)

__all__ = ["KalshiOrderClient", "KalshiUserStream", "error_code", "split_symbol"]

REST_URL = "https://api.elections.kalshi.com/trade-api/v2"
WS_URL = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
_CENT = Decimal("0.01")
_TIMEOUT_S = 15.0


def split_symbol(symbol: str) -> tuple[str, str]:
    """`FED-23DEC-T3.00-YES` → ("FED-23DEC-T3.00", "yes")."""
    ticker, _, outcome = symbol.rpartition("-")
    outcome = outcome.lower()
    if not ticker or outcome not in ("yes", "no"):
        raise OrderError("unknown_symbol", f"not a Kalshi outcome symbol (<TICKER>-YES/-NO): {symbol}")
    return ticker, outcome


def _dec(value: Any, default: str = "0") -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(default)
    except InvalidOperation:
        return Decimal(default)


#: Kalshi error codes (the `code` of its error body) → ours; anything unknown maps by HTTP status.
_CODES = {
    "insufficient_balance": "insufficient_funds",
    "insufficient_funds": "insufficient_funds",
    "invalid_price": "bad_tick",
    "invalid_order_price": "bad_tick",
    "invalid_count": "bad_lot",
    "market_closed": "market_closed",
    "market_not_open": "market_closed",
    "trading_is_paused": "market_closed",
    "exchange_closed": "market_closed",
    "exchange_paused": "market_closed",
    "market_not_found": "unknown_symbol",
    "not_found": "unknown_order",
    "order_not_found": "unknown_order",
    "post_only_cross": "post_only_would_cross",
    "post_only_would_cross": "post_only_would_cross",
    "unauthorized": "auth_failed",
    "authentication_error": "auth_failed",
    "too_many_requests": "rate_limited",
}


def error_code(status: int, code: str, message: str) -> str:
    if status == 401 or status == 403:
        return "auth_failed"
    if status == 429:
        return "rate_limited"
    mapped = _CODES.get(code.lower())
    if mapped:
        return mapped
    low = f"{code} {message}".lower()
    for words, ours in (
        ("insufficient", "insufficient_funds"),
        ("post only", "post_only_would_cross"),
        ("post_only", "post_only_would_cross"),
        ("closed", "market_closed"),
        ("price", "bad_tick"),
    ):
        if words in low:
            return ours
    if status == 404:
        return "unknown_order"
    return "rejected"


def _order_state(raw: Mapping[str, Any]) -> str:
    status = str(raw.get("status", ""))
    filled = _dec(raw.get("fill_count_fp"))
    if status == "resting":
        return "partially_filled" if filled > 0 else "open"
    if status == "executed":
        return "filled"
    if status == "canceled":
        return "cancelled"
    if status == "pending":
        return "pending"
    return "rejected"


def _order(raw: Mapping[str, Any]) -> VenueOrder:
    side = str(raw.get("side", "yes"))
    price = _dec(raw.get(f"{side}_price_dollars"))
    if price == 0 and raw.get(f"{side}_price") is not None:  # legacy cents
        price = _dec(raw.get(f"{side}_price")) * _CENT
    filled = _dec(raw.get("fill_count_fp"))
    remaining = _dec(raw.get("remaining_count_fp"))
    return VenueOrder(
        venue_order_id=str(raw.get("order_id", "")),
        client_order_id=raw.get("client_order_id") or None,
        symbol=f"{raw.get('ticker', '')}-{side.upper()}",
        side="sell" if raw.get("action") == "sell" else "buy",
        price=price,
        qty=filled + remaining,
        filled_qty=filled,
        state=_order_state(raw),  # type: ignore[arg-type]
    )


def _fill(raw: Mapping[str, Any], ticker_key: str = "ticker") -> VenueFill:
    side = str(raw.get("side", "yes"))
    price = _dec(raw.get(f"{side}_price_dollars"))
    if price == 0 and side == "no" and raw.get("yes_price_dollars") is not None:
        price = Decimal(1) - _dec(raw.get("yes_price_dollars"))
    ts_ms = raw.get("ts_ms")
    ts_ns = int(ts_ms) * 1_000_000 if ts_ms is not None else int(_dec(raw.get("ts"))) * 1_000_000_000
    taker = raw.get("is_taker")
    return VenueFill(
        venue_fill_id=str(raw.get("trade_id") or raw.get("fill_id") or ""),
        venue_order_id=str(raw.get("order_id", "")),
        client_order_id=raw.get("client_order_id") or None,
        symbol=f"{raw.get(ticker_key) or raw.get('ticker') or raw.get('market_ticker')}-{side.upper()}",
        side="sell" if raw.get("action") == "sell" else "buy",
        price=price,
        qty=_dec(raw.get("count_fp") or raw.get("count")),
        fee=_dec(raw.get("fee_cost")),
        ts_ns=ts_ns,
        liquidity="" if taker is None else ("taker" if taker else "maker"),
    )


class KalshiOrderClient(OrderClient):
    venue = "kalshi"

    def __init__(
        self,
        credentials: Mapping[str, str],
        config: OrderConfig,
        *,
        instrument: Callable[[str], Instrument] | None = None,
    ) -> None:
        super().__init__(credentials, config, instrument=instrument)
        try:
            self._signer = KalshiSigner.from_pem(self.credentials["key_id"], self.credentials["private_key"])
        except KalshiAuthError as exc:
            raise OrderError("auth_failed", str(exc)) from None
        self._rest = (config.rest_url or REST_URL).rstrip("/")
        if not self._rest.endswith("/trade-api/v2"):
            self._rest += "/trade-api/v2"
        if urlsplit(self._rest).scheme not in ("http", "https"):
            raise OrderError("rejected", "the Kalshi REST URL must be http(s)")

    # -- transport ---------------------------------------------------------------------------------
    def _call(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None
    ) -> Any:
        url = self._rest + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json", **self._signer.headers(method, urlsplit(url).path)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        # the scheme is checked in __init__ (http/https only)
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=_TIMEOUT_S) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            code, message = "", text.strip() or exc.reason
            try:
                err = json.loads(text).get("error")
                if isinstance(err, dict):
                    code = str(err.get("code") or "")
                    message = str(err.get("message") or message)
                    if err.get("details"):
                        message = f"{message} ({err['details']})"
                elif isinstance(err, str):
                    message = err
            except (ValueError, AttributeError):
                pass
            raise OrderError(
                error_code(exc.code, code, message),
                f"{code}: {message}" if code else str(message),
                http_status=exc.code,
            ) from None
        return json.loads(raw) if raw else {}

    # -- OrderClient -------------------------------------------------------------------------------
    def balances(self) -> list[Balance]:
        body = self._call("GET", "/portfolio/balance")
        cash = _dec(body.get("balance")) * _CENT
        return [Balance(asset="USD", total=cash, available=cash)]

    def place(self, request: OrderRequest) -> VenueOrder:
        ticker, outcome = split_symbol(request.symbol)
        cents = request.price / _CENT
        if cents != cents.to_integral_value() or not 1 <= cents <= 99:
            raise OrderError("bad_tick", f"price {request.price} is not a whole cent in 0.01..0.99")
        if request.qty != request.qty.to_integral_value() or request.qty < 1:
            raise OrderError("bad_lot", f"count {request.qty} is not a whole number of contracts >= 1")
        body: dict[str, Any] = {
            "ticker": ticker,
            "action": request.side,
            "side": outcome,
            "count": int(request.qty),
            "type": "limit",
            f"{outcome}_price": int(cents),
            "client_order_id": request.client_order_id,
        }
        if request.time_in_force == "ioc":
            body["time_in_force"] = "immediate_or_cancel"
        if request.post_only:
            body["post_only"] = True
        order = _order(self._call("POST", "/portfolio/orders", body=body)["order"])
        if order.client_order_id is None:
            order = VenueOrder(**{**_asdict(order), "client_order_id": request.client_order_id})
        return order

    def cancel(self, symbol: str, venue_order_id: str) -> bool:
        try:
            self._call("DELETE", f"/portfolio/orders/{venue_order_id}")
        except OrderError as exc:
            if exc.code == "unknown_order":
                return False
            raise
        return True

    def open_orders(self, symbols: Sequence[str] | None = None) -> list[VenueOrder]:
        wanted = set(symbols) if symbols else None
        tickers: list[str | None] = [None]
        if wanted:
            tickers = [*sorted({split_symbol(s)[0] for s in wanted})]
        out: list[VenueOrder] = []
        for ticker in tickers:
            cursor = None
            while True:
                body = self._call(
                    "GET",
                    "/portfolio/orders",
                    query={"status": "resting", "ticker": ticker, "limit": 200, "cursor": cursor},
                )
                for raw in body.get("orders") or []:
                    order = _order(raw)
                    if wanted is None or order.symbol in wanted:
                        out.append(order)
                cursor = body.get("cursor") or None
                if not cursor:
                    break
        return out

    def recent_fills(self, since_ns: int) -> list[VenueFill]:
        out: list[VenueFill] = []
        cursor = None
        while True:
            body = self._call(
                "GET",
                "/portfolio/fills",
                query={"min_ts": since_ns // 1_000_000_000, "limit": 200, "cursor": cursor},
            )
            out.extend(f for f in (_fill(raw) for raw in body.get("fills") or []) if f.ts_ns >= since_ns)
            cursor = body.get("cursor") or None
            if not cursor:
                break
        return out

    def user_stream(self) -> UserStreamProtocol:
        return KalshiUserStream(self._signer, self.config.ws_url or WS_URL)


def _asdict(order: VenueOrder) -> dict[str, Any]:
    return {name: getattr(order, name) for name in VenueOrder.__slots__}  # type: ignore[attr-defined]


class KalshiUserStream(UserStreamProtocol):
    """The `fill` and `user_orders` channels on Kalshi's signed WebSocket."""

    venue = "kalshi"

    def __init__(self, signer: KalshiSigner, ws_url: str) -> None:
        self._signer = signer
        self._url = ws_url

    def url(self) -> str:
        return self._url

    def handshake_headers(self) -> dict[str, str]:
        return self._signer.ws_headers(self._url)

    def on_open(self) -> list[str]:
        return [
            json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["fill"]}}),
            json.dumps({"id": 2, "cmd": "subscribe", "params": {"channels": ["user_orders"]}}),
        ]

    def on_frame(self, data: str | bytes, recv_ns: int) -> list[UserEvent]:
        try:
            msg = json.loads(data)
        except ValueError:
            return []
        if not isinstance(msg, dict) or not isinstance(msg.get("msg"), dict):
            return []
        kind, body = msg.get("type"), msg["msg"]
        try:
            if kind == "fill":
                return [_fill(body, "market_ticker")]
            if kind == "user_order":
                return [OrderUpdate(_order(body))]
        except (ValueError, TypeError, KeyError):
            return []
        return []
