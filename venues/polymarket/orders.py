"""Polymarket's order half: CLOB V2 orders signed per EIP-712 with the user's wallet key, REST calls
signed with the L2 API-key triple (HMAC-SHA256), and the `user` WebSocket channel for order updates
and trades.

- L2 headers (every authenticated REST call): POLY_ADDRESS (the wallet address), POLY_SIGNATURE =
  urlsafe-base64(HMAC-SHA256(urlsafe-b64decode(api_secret), timestamp + METHOD + path + body)) with
  the padding kept, POLY_TIMESTAMP (seconds), POLY_API_KEY, POLY_PASSPHRASE. The path is signed
  without its query string and the body is sent byte-for-byte as signed (NOTES.md, auth vectors).
- Orders: EIP-712 typed data of the CTF Exchange V2 (domain version "2"); neg-risk markets sign
  against the neg-risk exchange. The typed-data hashing and the signature come from a library
  (eth-account, the signer Polymarket's own clients use), never hand-rolled here.
- Our symbols for Polymarket are the decimal token ids. Polymarket has no client order id: `place`
  returns the venue's order id (`orderID`) and the caller records the mapping.
- Amounts on the wire are integers in 1e-6 units (USDC and outcome tokens both have 6 decimals).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, ClassVar

from venues.instruments import Instrument
from venues.orders import (
    Balance,
    OrderConfig,
    OrderError,
    OrderRequest,
    OrderUpdate,
    StreamSend,
    UserEvent,
    UserStreamProtocol,
    VenueFill,
    VenueOrder,
)
from venues.orders import OrderClient as _OrderClient

__all__ = [
    "PolymarketOrderClient",
    "PolymarketUserStream",
    "l2_signature",
    "map_error",
    "order_typed_data",
]

DEFAULT_REST_URL = "https://clob.polymarket.com"
DEFAULT_WS_URL = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
POLYGON = 137
ZERO32 = "0x" + "00" * 32
UNIT = Decimal(1_000_000)  # 6 decimals on chain
END_CURSOR = "LTE="

# CLOB V2 exchange contracts (docs' V2 migration page; py-clob-client-v2 config.py).
EXCHANGES: dict[int, dict[bool, str]] = {
    137: {
        False: "0xE111180000d2663C0091e4f400237545B87B996B",
        True: "0xe2222d279d744050d28e00520010520000310F59",
    },
    80002: {
        False: "0xE111180000d2663C0091e4f400237545B87B996B",
        True: "0xe2222d279d744050d28e00520010520000310F59",
    },
}

ORDER_TYPES_V2 = {
    "Order": [
        {"name": "salt", "type": "uint256"},
        {"name": "maker", "type": "address"},
        {"name": "signer", "type": "address"},
        {"name": "tokenId", "type": "uint256"},
        {"name": "makerAmount", "type": "uint256"},
        {"name": "takerAmount", "type": "uint256"},
        {"name": "side", "type": "uint8"},
        {"name": "signatureType", "type": "uint8"},
        {"name": "timestamp", "type": "uint256"},
        {"name": "metadata", "type": "bytes32"},
        {"name": "builder", "type": "bytes32"},
    ]
}
ORDER_TYPES_V1 = {
    "Order": [
        {"name": "salt", "type": "uint256"},
        {"name": "maker", "type": "address"},
        {"name": "signer", "type": "address"},
        {"name": "taker", "type": "address"},
        {"name": "tokenId", "type": "uint256"},
        {"name": "makerAmount", "type": "uint256"},
        {"name": "takerAmount", "type": "uint256"},
        {"name": "expiration", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "feeRateBps", "type": "uint256"},
        {"name": "side", "type": "uint8"},
        {"name": "signatureType", "type": "uint8"},
    ]
}


def order_typed_data(domain: Mapping[str, Any], message: Mapping[str, Any]) -> dict[str, Any]:
    """The full EIP-712 document of one order (V1 or V2 by the domain's version)."""
    types = ORDER_TYPES_V1 if str(domain.get("version")) == "1" else ORDER_TYPES_V2
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **types,
        },
        "primaryType": "Order",
        "domain": dict(domain),
        "message": dict(message),
    }


def order_digest(domain: Mapping[str, Any], message: Mapping[str, Any]) -> bytes:
    """keccak256(0x1901 || domainSeparator || hashStruct(order)), by eth-account."""
    from eth_account.messages import encode_typed_data
    from eth_utils import keccak

    signable = encode_typed_data(full_message=order_typed_data(domain, message))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_order(private_key: str, domain: Mapping[str, Any], message: Mapping[str, Any]) -> str:
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    signed = Account.sign_message(
        encode_typed_data(full_message=order_typed_data(domain, message)), private_key
    )
    signature: str = signed.signature.hex()
    return "0x" + signature.removeprefix("0x")


def recover_order_signer(domain: Mapping[str, Any], message: Mapping[str, Any], signature: str) -> str:
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    signer: str = Account.recover_message(
        encode_typed_data(full_message=order_typed_data(domain, message)), signature=signature
    )
    return signer


def l2_signature(secret: str, timestamp: str, method: str, path: str, body: str = "") -> str:
    """POLY_SIGNATURE: urlsafe-base64 HMAC-SHA256 over timestamp+method+path+body (padding kept)."""
    key = base64.urlsafe_b64decode(secret)
    digest = hmac.new(key, f"{timestamp}{method}{path}{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def map_error(status: int | None, text: str) -> OrderError:
    """A Polymarket refusal as an OrderError, its own words kept."""
    low = text.lower()
    if status == 401 or "unauthorized" in low or "invalid api key" in low or "l1 request headers" in low:
        code = "auth_failed"
    elif status == 429 or "too many requests" in low:
        code = "rate_limited"
    elif "signature" in low or "signer" in low:
        code = "auth_failed"
    elif "not enough balance" in low or "insufficient balance" in low or "allowance" in low:
        code = "insufficient_funds"
    elif "tick size" in low:
        code = "bad_tick"
    elif "lower than the minimum" in low or "min size" in low or "minimum" in low:
        code = "below_minimum"
    elif "post-only" in low or "post only" in low or "would cross" in low:
        code = "post_only_would_cross"
    elif "trading is currently" in low or "closed" in low or "not accepting" in low:
        code = "market_closed"
    elif "invalid token id" in low or "no orderbook exists" in low or "market not found" in low:
        code = "unknown_symbol"
    else:
        code = "rejected"
    return OrderError(code, text, http_status=status)


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


_STATES = {
    "LIVE": "open",
    "MATCHED": "filled",
    "CANCELED": "cancelled",
    "CANCELLED": "cancelled",
    "CANCELED_MARKET_RESOLVED": "cancelled",
    "INVALID": "rejected",
    "UNMATCHED": "cancelled",
    "DELAYED": "pending",
}


def _order_from(row: Mapping[str, Any]) -> VenueOrder:
    qty = _dec(row.get("original_size"))
    filled = _dec(row.get("size_matched"))
    state = _STATES.get(str(row.get("status", "")).upper(), "open")
    if state == "open" and filled > 0:
        state = "partially_filled" if filled < qty else "filled"
    return VenueOrder(
        venue_order_id=str(row.get("id", "")),
        client_order_id=None,
        symbol=str(row.get("asset_id", "")),
        side="buy" if str(row.get("side", "")).upper() == "BUY" else "sell",
        price=_dec(row.get("price")),
        qty=qty,
        filled_qty=filled,
        state=state,  # type: ignore[arg-type]
    )


def _ts_ns(value: Any) -> int:
    """A trade's time: unix seconds or milliseconds (text or number) or ISO-8601."""
    if value in (None, ""):
        return 0
    text = str(value)
    if text.isdigit():
        n = int(text)
        return n * 1_000_000 if n > 10**11 else n * 1_000_000_000
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000_000)
    except ValueError:
        return 0


def fills_from_trade(trade: Mapping[str, Any], address: str, owner: str) -> list[VenueFill]:
    """Our fills in one trade (REST `/data/trades` row or `user`-channel `trade` event): as taker the
    trade itself, as maker each of our `maker_orders`. The fill id is the trade id (with the maker
    order id when we were a maker, since one trade can fill several of our orders)."""
    trade_id = str(trade.get("id", ""))
    ts = _ts_ns(trade.get("match_time") or trade.get("matchtime") or trade.get("last_update"))
    out: list[VenueFill] = []
    addr = address.lower()
    ours_as_maker = [
        m
        for m in trade.get("maker_orders") or []
        if str(m.get("maker_address", "")).lower() == addr or (owner and m.get("owner") == owner)
    ]
    taker_is_us = str(trade.get("trader_side", "")).upper() == "TAKER" or (
        not ours_as_maker
        and (trade.get("owner") == owner or str(trade.get("maker_address", "")).lower() == addr)
    )
    if ours_as_maker and str(trade.get("trader_side", "")).upper() != "TAKER":
        taker_is_us = False
    if taker_is_us:
        bps = _dec(trade.get("fee_rate_bps"))
        price, size = _dec(trade.get("price")), _dec(trade.get("size"))
        out.append(
            VenueFill(
                venue_fill_id=trade_id,
                venue_order_id=str(trade.get("taker_order_id", "")),
                client_order_id=None,
                symbol=str(trade.get("asset_id", "")),
                side="buy" if str(trade.get("side", "")).upper() == "BUY" else "sell",
                price=price,
                qty=size,
                fee=(price * size * bps / Decimal(10_000)),
                ts_ns=ts,
                liquidity="taker",
            )
        )
    for m in ours_as_maker:
        price, size = _dec(m.get("price")), _dec(m.get("matched_amount"))
        side = str(m.get("side", "")).upper()
        if not side:  # a maker is on the other side of the taker for the same token
            taker_side = str(trade.get("side", "")).upper()
            same_token = str(m.get("asset_id")) == str(trade.get("asset_id"))
            side = ("SELL" if taker_side == "BUY" else "BUY") if same_token else taker_side
        out.append(
            VenueFill(
                venue_fill_id=f"{trade_id}:{m.get('order_id', '')}",
                venue_order_id=str(m.get("order_id", "")),
                client_order_id=None,
                symbol=str(m.get("asset_id", "")),
                side="buy" if side == "BUY" else "sell",
                price=price,
                qty=size,
                fee=price * size * _dec(m.get("fee_rate_bps")) / Decimal(10_000),
                ts_ns=ts,
                liquidity="maker",
            )
        )
    return out


class PolymarketOrderClient(_OrderClient):
    """One user's CLOB session (credentials: private_key, api_key, api_secret, api_passphrase;
    options: chain_id (137), signature_type (0 = EOA), funder (the maker address when it is not the
    signer's own, e.g. a proxy wallet))."""

    venue: ClassVar[str] = "polymarket"

    def __init__(
        self,
        credentials: Mapping[str, str],
        config: OrderConfig,
        *,
        instrument: Callable[[str], Instrument] | None = None,
    ) -> None:
        super().__init__(credentials, config, instrument=instrument)
        from eth_account import Account

        try:
            self._signer = Account.from_key(self.credentials["private_key"]).address
        except Exception:  # noqa: BLE001 (never echo the key)
            raise OrderError("auth_failed", "private_key is not a valid wallet key") from None
        opts = config.options or {}
        self.chain_id = int(opts.get("chain_id", POLYGON))
        self.signature_type = int(opts.get("signature_type", 0))
        self.funder = opts.get("funder") or self._signer
        self.rest_url = (config.rest_url or DEFAULT_REST_URL).rstrip("/")
        if not self.rest_url.startswith(("https://", "http://")):
            raise ValueError(f"rest_url must be http(s): {self.rest_url!r}")
        self.ws_url = config.ws_url or DEFAULT_WS_URL
        self.timeout_s = float(opts.get("timeout_s", 10))
        self._market_cache: dict[str, tuple[Decimal, bool, Decimal]] = {}

    # -- transport -------------------------------------------------------------------------------
    def _headers(self, method: str, path: str, body: str) -> dict[str, str]:
        ts = str(int(time.time()))
        return {
            "POLY_ADDRESS": self._signer,
            "POLY_SIGNATURE": l2_signature(self.credentials["api_secret"], ts, method, path, body),
            "POLY_TIMESTAMP": ts,
            "POLY_API_KEY": self.credentials["api_key"],
            "POLY_PASSPHRASE": self.credentials["api_passphrase"],
        }

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        payload: Any = None,
        auth: bool = True,
    ) -> Any:
        body = "" if payload is None else json.dumps(payload, separators=(",", ":"))
        url = self.rest_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v not in (None, "")})
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers.update(self._headers(method, path, body))
        data = body.encode() if body else None
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (http(s) only, checked in __init__)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 (https/our fake)
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                parsed = json.loads(text)
                message = parsed.get("error") or parsed.get("errorMsg") or text
            except (ValueError, AttributeError):
                message = text or exc.reason
            raise map_error(exc.code, str(message)) from None
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise OrderError("rejected", f"unreadable answer: {raw[:200]!r}") from None

    # -- market facts ------------------------------------------------------------------------------
    def _market(self, token_id: str) -> tuple[Decimal, bool, Decimal]:
        """(tick size, neg risk, min order size) of a token, from the CLOB."""
        if token_id not in self._market_cache:
            book = self._request("GET", "/book", query={"token_id": token_id}, auth=False) or {}
            tick = _dec(book.get("tick_size") or "0.01")
            neg = book.get("neg_risk")
            if neg is None:
                neg = (self._request("GET", "/neg-risk", query={"token_id": token_id}, auth=False) or {}).get(
                    "neg_risk", False
                )
            self._market_cache[token_id] = (tick, bool(neg), _dec(book.get("min_order_size") or "0"))
        return self._market_cache[token_id]

    def signed_order(self, request: OrderRequest, *, tick: Decimal, neg_risk: bool) -> dict[str, Any]:
        """The V2 order JSON for POST /order, signed."""
        if tick > 0 and request.price % tick != 0:
            raise OrderError("bad_tick", f"price {request.price} is not a multiple of the tick size {tick}")
        if not (Decimal(0) < request.price < Decimal(1)):
            raise OrderError("bad_tick", f"price {request.price} is outside (0, 1)")
        size = request.qty.quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        if size != request.qty or size <= 0:
            raise OrderError("bad_lot", f"size {request.qty} must be positive with at most 2 decimals")
        notional = request.price * size
        tokens, usdc = int(size * UNIT), int(notional * UNIT)
        maker_amount, taker_amount = (usdc, tokens) if request.side == "buy" else (tokens, usdc)
        message = {
            "salt": secrets.randbits(40),
            "maker": self.funder,
            "signer": self._signer,
            "tokenId": int(request.symbol),
            "makerAmount": maker_amount,
            "takerAmount": taker_amount,
            "side": 0 if request.side == "buy" else 1,
            "signatureType": self.signature_type,
            "timestamp": int(time.time() * 1000),
            "metadata": ZERO32,
            "builder": ZERO32,
        }
        domain = self.domain(neg_risk)
        signature = sign_order(self.credentials["private_key"], domain, message)
        return {
            "salt": message["salt"],
            "maker": message["maker"],
            "signer": message["signer"],
            "tokenId": request.symbol,
            "makerAmount": str(maker_amount),
            "takerAmount": str(taker_amount),
            "side": "BUY" if request.side == "buy" else "SELL",
            "signatureType": self.signature_type,
            "expiration": "0",
            "timestamp": str(message["timestamp"]),
            "metadata": ZERO32,
            "builder": ZERO32,
            "signature": signature,
        }

    def domain(self, neg_risk: bool) -> dict[str, Any]:
        contracts = EXCHANGES.get(self.chain_id, EXCHANGES[POLYGON])
        return {
            "name": "Polymarket CTF Exchange",
            "version": "2",
            "chainId": self.chain_id,
            "verifyingContract": contracts[neg_risk],
        }

    # -- OrderClient -------------------------------------------------------------------------------
    def balances(self) -> list[Balance]:
        data = self._request(
            "GET",
            "/balance-allowance",
            query={"asset_type": "COLLATERAL", "signature_type": self.signature_type},
        )
        amount = _dec((data or {}).get("balance")) / UNIT
        return [Balance(asset="USDC", total=amount, available=amount)]

    def place(self, request: OrderRequest) -> VenueOrder:
        if not request.symbol.isdigit():
            raise OrderError("unknown_symbol", f"{request.symbol!r} is not a Polymarket token id")
        tick, neg_risk, _min_size = self._market(request.symbol)
        order = self.signed_order(request, tick=tick, neg_risk=neg_risk)
        order_type = "GTC" if request.time_in_force == "gtc" else "FAK"
        payload = {
            "order": order,
            "owner": self.credentials["api_key"],
            "orderType": order_type,
            "postOnly": bool(request.post_only),
        }
        data = self._request("POST", "/order", payload=payload) or {}
        if data.get("errorMsg") or not data.get("orderID"):
            raise map_error(None, str(data.get("errorMsg") or "order not placed"))
        status = str(data.get("status", "live")).lower()
        filled = Decimal(0)
        if data.get("makingAmount") or data.get("takingAmount"):
            tokens = data.get("takingAmount") if request.side == "buy" else data.get("makingAmount")
            filled = _dec(tokens)
        state = {"live": "open", "matched": "filled", "delayed": "pending", "unmatched": "cancelled"}.get(
            status, "open"
        )
        if state == "open" and filled > 0:
            state = "partially_filled"
        if state == "filled" and filled and filled < request.qty:
            state = "partially_filled"
        return VenueOrder(
            venue_order_id=str(data.get("orderID", "")),
            client_order_id=None,
            symbol=request.symbol,
            side=request.side,
            price=request.price,
            qty=request.qty,
            filled_qty=filled if state != "filled" else request.qty,
            state=state,  # type: ignore[arg-type]
        )

    def cancel(self, symbol: str, venue_order_id: str) -> bool:
        data = self._request("DELETE", "/order", payload={"orderID": venue_order_id}) or {}
        return venue_order_id in (data.get("canceled") or [])

    def open_orders(self, symbols: Sequence[str] | None = None) -> list[VenueOrder]:
        out: list[VenueOrder] = []
        assets: list[str | None] = list(symbols) if symbols else [None]
        for asset in assets:
            cursor = "MA=="
            while cursor != END_CURSOR:
                query = {"asset_id": asset, "next_cursor": cursor}
                data = self._request("GET", "/data/orders", query=query) or {}
                out.extend(_order_from(row) for row in data.get("data") or [])
                cursor = data.get("next_cursor") or END_CURSOR
        return out

    def recent_fills(self, since_ns: int) -> list[VenueFill]:
        """Our trades since `since_ns` (seconds on the venue: a fill in the same second may come
        again; the caller counts fills by id), as taker and as maker."""
        after = str(since_ns // 1_000_000_000) if since_ns else None
        fills: dict[str, VenueFill] = {}
        cursor = "MA=="
        while cursor != END_CURSOR:
            query = {"maker_address": self.funder, "after": after, "next_cursor": cursor}
            data = self._request("GET", "/data/trades", query=query) or {}
            for trade in data.get("data") or []:
                for fill in fills_from_trade(trade, self.funder, self.credentials["api_key"]):
                    fills.setdefault(fill.venue_fill_id, fill)
            cursor = data.get("next_cursor") or END_CURSOR
        return list(fills.values())

    def cancel_all(self, symbols: Sequence[str] | None = None) -> list[str]:
        if symbols:
            return super().cancel_all(symbols)
        data = self._request("DELETE", "/cancel-all") or {}
        return list(data.get("canceled") or [])

    def user_stream(self, markets: Sequence[str] = ()) -> PolymarketUserStream:
        return PolymarketUserStream(self.ws_url, self.credentials, address=self.funder, markets=list(markets))


class PolymarketUserStream(UserStreamProtocol):
    """The `user` channel: auth in the subscribe message; `order` events → OrderUpdate, `trade`
    events → VenueFill (our side of it). Text `PING` every 10 s keeps it open."""

    venue: ClassVar[str] = "polymarket"
    ping_interval_s: ClassVar[float | None] = 10.0
    silence_s: ClassVar[float] = 30.0

    def __init__(
        self, url: str, credentials: Mapping[str, str], *, address: str, markets: list[str] | None = None
    ) -> None:
        self._url = url
        self._credentials = credentials
        self._address = address
        self._markets = markets or []

    def __repr__(self) -> str:
        return f"<PolymarketUserStream {self._url}>"

    def url(self) -> str:
        return self._url

    def on_open(self) -> list[str]:
        return [
            json.dumps(
                {
                    "auth": {
                        "apiKey": self._credentials["api_key"],
                        "secret": self._credentials["api_secret"],
                        "passphrase": self._credentials["api_passphrase"],
                    },
                    "markets": self._markets,
                    "type": "user",
                }
            )
        ]

    def ping_frame(self) -> str | None:
        return "PING"

    def on_frame(self, data: str | bytes, recv_ns: int) -> list[UserEvent]:
        try:
            text = data.decode() if isinstance(data, bytes) else data
            if text.strip() in ("PONG", "PING"):
                return [StreamSend("PONG")] if text.strip() == "PING" else []
            parsed = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            return []
        events: list[UserEvent] = []
        for msg in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(msg, dict):
                continue
            try:
                kind = msg.get("event_type")
                if kind == "trade":
                    events.extend(fills_from_trade(msg, self._address, self._credentials["api_key"]))
                elif kind == "order":
                    order = _order_from(msg)
                    if str(msg.get("type", "")).upper() == "CANCELLATION":
                        order = VenueOrder(**{**_asdict(order), "state": "cancelled"})
                    events.append(OrderUpdate(order))
            except (TypeError, ValueError, AttributeError):
                continue
        return events


def _asdict(order: VenueOrder) -> dict[str, Any]:
    return {name: getattr(order, name) for name in VenueOrder.__slots__}
