"""Kraken's order half: authenticated Spot REST (AddOrder, CancelOrder, OpenOrders, TradesHistory,
BalanceEx) and the private WebSocket v2 `executions` channel (docs.kraken.com/api/docs/guides/
spot-rest-auth; /work/shared/venues/kraken/NOTES.md §5).

Signing: `API-Sign` = base64(HMAC-SHA512(key=base64decode(secret), msg=uri_path + SHA256(nonce +
postdata))), `API-Key` the key; the nonce strictly increases per key (milliseconds, bumped past the
last one used in this process). Our client_order_id goes in `cl_ord_id`, so after a crash
`open_orders()` finds the order by it. Errors keep Kraken's text and map to ERROR_CODES.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar

from venues.orders import (
    Balance,
    OrderClient,
    OrderError,
    OrderRequest,
    OrderUpdate,
    UserEvent,
    UserStreamProtocol,
    VenueFill,
    VenueOrder,
)

REST_URL = "https://api.kraken.com"
# cl_ord_id: a long UUID, a short (32 hex) UUID or free text of at most 18 characters (docs "Spot
# Client Order Identifiers"); unique among the account's open orders.
CL_ORD_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}|[^\s]{1,18}"
)
WS_AUTH_URL = "wss://ws-auth.kraken.com/v2"

# Kraken's error prefixes → ours (errors guide; NOTES.md §6). Checked in order, first match wins.
_ERROR_MAP: tuple[tuple[str, str], ...] = (
    ("EAPI:Invalid key", "auth_failed"),
    ("EAPI:Invalid signature", "auth_failed"),
    ("EAPI:Invalid nonce", "auth_failed"),
    ("EAPI:Bad request", "rejected"),
    ("EGeneral:Permission denied", "auth_failed"),
    ("EAPI:Rate limit exceeded", "rate_limited"),
    ("EOrder:Rate limit exceeded", "rate_limited"),
    ("EService: Throttled", "rate_limited"),
    ("EService:Throttled", "rate_limited"),
    ("EOrder:Insufficient funds", "insufficient_funds"),
    ("EOrder:Order minimum not met", "below_minimum"),
    ("EOrder:Cost minimum not met", "below_minimum"),
    ("EGeneral:Invalid arguments:volume minimum not met", "below_minimum"),
    ("EGeneral:Invalid arguments:volume", "bad_lot"),
    ("EOrder:Invalid price", "bad_tick"),
    ("EGeneral:Invalid arguments:price", "bad_tick"),
    ("EOrder:Post only order", "post_only_would_cross"),
    ("EOrder:Unknown order", "unknown_order"),
    ("EOrder:Duplicate order", "duplicate_client_order_id"),
    ("EOrder:Invalid order", "unknown_order"),
    ("EQuery:Unknown asset pair", "unknown_symbol"),
    ("EQuery:Invalid asset pair", "unknown_symbol"),
    ("EService:Market in cancel_only mode", "market_closed"),
    ("EService:Market in post_only mode", "market_closed"),
    ("EService:Market in limit_only mode", "market_closed"),
    ("EService:Unavailable", "market_closed"),
)

_ASSETS = {"XXBT": "BTC", "XBT": "BTC", "ZUSD": "USD", "XETH": "ETH", "ZEUR": "EUR", "XXDG": "DOGE"}
_STATES = {
    "pending": "pending",
    "open": "open",
    "closed": "filled",
    "canceled": "cancelled",
    "expired": "expired",
}


def error_code(text: str) -> str:
    for prefix, code in _ERROR_MAP:
        if text.startswith(prefix):
            return code
    return "rejected"


def api_sign(secret_b64: str, uri_path: str, nonce: str, postdata: str) -> str:
    """Kraken's API-Sign (checked against the documented example in the tests)."""
    digest = hashlib.sha256((nonce + postdata).encode()).digest()
    mac = hmac.new(base64.b64decode(secret_b64), uri_path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def rest_pair(symbol: str) -> str:
    """Our canonical `BTC/USD` → Kraken's altname `XBTUSD` (what the private endpoints take)."""
    m = {"BTC": "XBT", "DOGE": "XDG"}
    base, _, quote = symbol.partition("/")
    return m.get(base, base) + m.get(quote, quote)


def asset_name(kraken_asset: str) -> str:
    return _ASSETS.get(kraken_asset, kraken_asset)


def _places(step: Decimal) -> int:
    """Decimal places of a tick or lot size (0.0001 -> 4, 1 -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class _Nonce:
    """Strictly increasing per process (shared by every client: several clients may share a key)."""

    _lock = threading.Lock()
    _last = 0

    @classmethod
    def next(cls) -> str:
        with cls._lock:
            cls._last = max(cls._last + 1, time.time_ns() // 1_000_000)
            return str(cls._last)


class KrakenOrderClient(OrderClient):
    venue: ClassVar[str] = "kraken"

    def __init__(self, credentials: Mapping[str, str], config: Any, *, instrument: Any = None) -> None:
        super().__init__(credentials, config, instrument=instrument)
        self.rest_url = (config.rest_url or REST_URL).rstrip("/")
        self.ws_url = config.ws_url or WS_AUTH_URL
        self.timeout_s = 15.0
        self._symbols: dict[str, str] = {}  # altname → our symbol, filled as orders go out

    # -- transport ----------------------------------------------------------------------------------
    def _private(self, method: str, params: Mapping[str, str] | None = None) -> Any:
        try:
            return self._private_once(method, params)
        except OrderError as exc:
            # Kraken refuses a stale nonce before acting on the request, so one retry with a fresh
            # nonce cannot send anything twice (another process may have used the key meanwhile).
            if exc.venue_message != "EAPI:Invalid nonce":
                raise
            return self._private_once(method, params)

    def _private_once(self, method: str, params: Mapping[str, str] | None) -> Any:
        path = f"/0/private/{method}"
        nonce = _Nonce.next()
        body = urllib.parse.urlencode({"nonce": nonce, **(params or {})})
        try:
            sign = api_sign(self.credentials["api_secret"], path, nonce, body)
        except (ValueError, TypeError) as exc:  # not base64: Kraken would refuse the signature
            raise OrderError("auth_failed", "api_secret is not valid base64") from exc
        if not self.rest_url.startswith(("https://", "http://")):
            raise OrderError("rejected", f"not an http(s) URL: {self.rest_url!r}")
        req = urllib.request.Request(  # noqa: S310 (scheme checked above)
            self.rest_url + path,
            data=body.encode(),
            method="POST",
            headers={
                "API-Key": self.credentials["api_key"],
                "API-Sign": sign,
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "Accept": "application/json",
            },
        )
        status = 200
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            doc = json.loads(raw)
        except ValueError:
            if status == 429:
                raise OrderError("rate_limited", f"HTTP 429: {raw[:200]!r}", http_status=status) from None
            raise OrderError("rejected", f"HTTP {status}: {raw[:200]!r}", http_status=status) from None
        errors = (doc.get("error") or []) if isinstance(doc, dict) else [f"malformed answer: {raw[:200]!r}"]
        if isinstance(errors, str):
            errors = [errors]
        if errors:
            text = "; ".join(str(e) for e in errors)
            code = error_code(str(errors[0]))
            if code == "rejected" and status == 429:
                code = "rate_limited"
            raise OrderError(code, text, http_status=status)
        if status != 200:
            raise OrderError("rejected", f"HTTP {status}: {raw[:200]!r}", http_status=status)
        return doc.get("result")

    # -- formatting -----------------------------------------------------------------------------------
    def _decimals(self, symbol: str) -> tuple[int | None, int | None]:
        if self.instrument is None:
            return None, None
        inst = self.instrument(symbol)
        return _places(Decimal(inst.tick_1e9).scaleb(-9)), _places(Decimal(inst.lot_1e8).scaleb(-8))

    def _fmt(self, symbol: str, price: Decimal, qty: Decimal) -> tuple[str, str]:
        pd, ld = self._decimals(symbol)
        if pd is not None and price != price.quantize(Decimal(1).scaleb(-pd), rounding=ROUND_DOWN):
            raise OrderError("bad_tick", f"price {price} has more than {pd} decimals for {symbol}")
        if ld is not None and qty != qty.quantize(Decimal(1).scaleb(-ld), rounding=ROUND_DOWN):
            raise OrderError("bad_lot", f"volume {qty} has more than {ld} decimals for {symbol}")
        p = f"{price:.{pd}f}" if pd is not None else format(price.normalize(), "f")
        q = f"{qty:.{ld}f}" if ld is not None else format(qty.normalize(), "f")
        return p, q

    def _symbol(self, altname: str) -> str:
        if altname in self._symbols:
            return self._symbols[altname]
        inv = {"XBT": "BTC", "XDG": "DOGE"}
        for quote in ("USDT", "USDC", "USD", "EUR", "XBT", "ETH", "GBP"):
            if altname.endswith(quote) and len(altname) > len(quote):
                base = altname[: -len(quote)]
                return f"{inv.get(base, base)}/{inv.get(quote, quote)}"
        return altname

    # -- OrderClient ----------------------------------------------------------------------------------
    def balances(self) -> list[Balance]:
        result = self._private("BalanceEx") or {}
        out = []
        for asset, entry in sorted(result.items()):
            total = Decimal(str(entry.get("balance", "0")))
            hold = Decimal(str(entry.get("hold_trade", "0")))
            out.append(Balance(asset=asset_name(asset), total=total, available=total - hold))
        return out

    def place(self, request: OrderRequest) -> VenueOrder:
        if not CL_ORD_ID.fullmatch(request.client_order_id):
            raise OrderError(
                "rejected",
                f"client_order_id {request.client_order_id!r}: Kraken's cl_ord_id takes a UUID "
                "(36 with hyphens or 32 hex) or free text of at most 18 characters",
            )
        price, qty = self._fmt(request.symbol, request.price, request.qty)
        pair = rest_pair(request.symbol)
        self._symbols[pair] = request.symbol
        params = {
            "ordertype": "limit",
            "type": request.side,
            "volume": qty,
            "pair": pair,
            "price": price,
            "cl_ord_id": request.client_order_id,
        }
        if request.post_only:
            params["oflags"] = "post"
        if request.time_in_force == "ioc":
            params["timeinforce"] = "IOC"
        result = self._private("AddOrder", params)
        txid = result["txid"][0]
        # AddOrder answers only the txid: ask for the order's state (it may have filled at once).
        # The order is placed whatever this read says: a refused or failed read (a rate limit) must
        # not turn an order resting at Kraken into a refusal; its state comes with the next reads.
        try:
            got = self._query(txid)
        except (OrderError, OSError, TimeoutError):
            got = None
        if got is not None:
            return got
        return VenueOrder(
            venue_order_id=txid,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            price=request.price,
            qty=request.qty,
            filled_qty=Decimal(0),
            state="open",
        )

    def _query(self, txid: str) -> VenueOrder | None:
        result = self._private("QueryOrders", {"txid": txid, "trades": "false"}) or {}
        entry = result.get(txid)
        return self._order(txid, entry) if entry else None

    def _order(self, txid: str, o: Mapping[str, Any]) -> VenueOrder:
        descr = o.get("descr") or {}
        state = _STATES.get(str(o.get("status")), "open")
        vol = Decimal(str(o.get("vol", "0")))
        done = Decimal(str(o.get("vol_exec", "0")))
        if state == "open" and done > 0:
            state = "partially_filled"
        return VenueOrder(
            venue_order_id=txid,
            client_order_id=o.get("cl_ord_id") or None,
            symbol=self._symbol(str(descr.get("pair", ""))),
            side="buy" if descr.get("type") == "buy" else "sell",
            price=Decimal(str(descr.get("price", "0"))),
            qty=vol,
            filled_qty=done,
            state=state,  # type: ignore[arg-type]
            venue_message=str(o.get("reason") or ""),
        )

    def cancel(self, symbol: str, venue_order_id: str) -> bool:
        try:
            result = self._private("CancelOrder", {"txid": venue_order_id})
        except OrderError as exc:
            if exc.code == "unknown_order":
                return False
            raise
        return int((result or {}).get("count", 0)) > 0

    def open_orders(self, symbols: Sequence[str] | None = None) -> list[VenueOrder]:
        result = self._private("OpenOrders") or {}
        orders = [self._order(txid, o) for txid, o in (result.get("open") or {}).items()]
        if symbols is not None:
            wanted = set(symbols)
            orders = [o for o in orders if o.symbol in wanted]
        return orders

    def recent_fills(self, since_ns: int) -> list[VenueFill]:
        fills: list[VenueFill] = []
        offset = 0
        start = f"{since_ns / 1e9:.4f}"
        while True:
            result = self._private("TradesHistory", {"start": start, "ofs": str(offset)}) or {}
            trades = result.get("trades") or {}
            for trade_id, t in trades.items():
                fills.append(self._fill(trade_id, t))
            offset += len(trades)
            if not trades or offset >= int(result.get("count", 0)):
                break
        fills.sort(key=lambda f: f.ts_ns)
        return fills

    def _fill(self, trade_id: str, t: Mapping[str, Any]) -> VenueFill:
        maker = t.get("maker")
        return VenueFill(
            venue_fill_id=trade_id,
            venue_order_id=str(t.get("ordertxid", "")),
            client_order_id=t.get("cl_ord_id") or None,
            symbol=self._symbol(str(t.get("pair", ""))),
            side="buy" if t.get("type") == "buy" else "sell",
            price=Decimal(str(t.get("price", "0"))),
            qty=Decimal(str(t.get("vol", "0"))),
            fee=Decimal(str(t.get("fee", "0"))),
            ts_ns=int(Decimal(str(t.get("time", "0"))) * 1_000_000_000),
            liquidity="" if maker is None else ("maker" if maker else "taker"),
        )

    def cancel_all(self, symbols: Sequence[str] | None = None) -> list[str]:
        if symbols is not None:
            return super().cancel_all(symbols)
        ids = [o.venue_order_id for o in self.open_orders()]
        if ids:
            self._private("CancelAll")
        return ids

    def ws_token(self) -> str:
        return str((self._private("GetWebSocketsToken") or {})["token"])

    def user_stream(self) -> UserStreamProtocol:
        return KrakenExecutions(self)


def _ts_ns(text: str) -> int:
    from datetime import datetime

    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


_EXEC_STATES = {
    "pending_new": "pending",
    "new": "open",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "cancelled",
    "expired": "expired",
}


class KrakenExecutions(UserStreamProtocol):
    """WebSocket v2 `executions` (docs.kraken.com/api/docs/websocket-v2/executions): subscribe with a
    token from GetWebSocketsToken (fetched afresh at each connection); `trade` reports are fills
    (fill id = `exec_id`, the same id as the TradesHistory key `recent_fills` uses); the other exec
    types are order updates."""

    venue: ClassVar[str] = "kraken"
    silence_s: ClassVar[float] = 30.0  # Kraken sends a heartbeat every second
    # a trade report's exec_id is the TradesHistory key `recent_fills` uses: the edge may count a
    # stream fill at once, and the same fill read later by REST is the same fill
    fill_ids_match_recent_fills: ClassVar[bool] = True

    def __init__(self, client: KrakenOrderClient) -> None:
        self.client = client
        self._req = 0
        self._orders: dict[str, dict[str, Any]] = {}  # order_id → the fields its reports gave so far

    def url(self) -> str:
        return self.client.ws_url

    def on_open(self) -> list[str]:
        self._req += 1
        token = self.client.ws_token()
        frame = {
            "method": "subscribe",
            "params": {"channel": "executions", "token": token, "snap_orders": True, "snap_trades": False},
            "req_id": self._req,
        }
        return [json.dumps(frame)]

    def on_frame(self, data: str | bytes, recv_ns: int) -> list[UserEvent]:
        try:
            msg = json.loads(data)
        except ValueError:
            return []
        if not isinstance(msg, dict):
            return []
        if msg.get("method") == "subscribe" and msg.get("success") is False:
            from venues.orders import StreamReconnect

            return [StreamReconnect(f"executions subscribe refused: {msg.get('error')}")]
        if msg.get("channel") != "executions" or not isinstance(msg.get("data"), list):
            return []
        events: list[UserEvent] = []
        for r in msg["data"]:
            try:
                events.extend(self._report(r))
            except (KeyError, TypeError, ValueError, ArithmeticError):
                continue
        return events

    def _report(self, raw: Mapping[str, Any]) -> list[UserEvent]:
        # Later reports of an order carry only what changed (a `new` or `canceled` update may hold
        # no symbol, side or quantity): merge each into what the earlier ones said.
        oid = str(raw["order_id"])
        known = self._orders.setdefault(oid, {})
        known.update(
            {k: v for k, v in raw.items() if k not in ("exec_type", "exec_id", "last_qty", "last_price")}
        )
        r = {**known, **raw}
        symbol = str(r.get("symbol", ""))
        side = "buy" if r.get("side") == "buy" else "sell"
        cl = r.get("cl_ord_id") or None
        out: list[UserEvent] = []
        if r.get("exec_type") == "trade":
            fee = Decimal(0)
            for f in r.get("fees") or []:
                fee += Decimal(str(f.get("qty", "0")))
            liq = r.get("liquidity_ind")
            out.append(
                VenueFill(
                    # exec_id of a trade report is the trade's id, the key of TradesHistory
                    venue_fill_id=str(r["exec_id"]),
                    venue_order_id=oid,
                    client_order_id=cl,
                    symbol=symbol,
                    side=side,  # type: ignore[arg-type]
                    price=Decimal(str(r["last_price"])),
                    qty=Decimal(str(r["last_qty"])),
                    fee=fee,
                    ts_ns=_ts_ns(str(r.get("timestamp", ""))),
                    liquidity="maker" if liq == "m" else "taker" if liq == "t" else "",
                )
            )
            # "A trade event can report order_status: partially_filled even when that trade fills
            # the entire order": the state comes from the separate `filled` update, not from here.
            return out
        status = _EXEC_STATES.get(str(r.get("order_status")))
        if status is not None:
            if status in ("filled", "cancelled", "expired"):
                self._orders.pop(oid, None)
            out.append(
                OrderUpdate(
                    VenueOrder(
                        venue_order_id=oid,
                        client_order_id=cl,
                        symbol=symbol,
                        side=side,  # type: ignore[arg-type]
                        price=Decimal(str(r.get("limit_price", "0"))),
                        qty=Decimal(str(r.get("order_qty", "0"))),
                        filled_qty=Decimal(str(r.get("cum_qty", "0"))),
                        state=status,  # type: ignore[arg-type]
                        venue_message=str(r.get("reason") or ""),
                    )
                )
            )
        return out
