"""Coinbase's public product list → our instruments (tick, lot, minimum size and notional).

`GET {rest_url}/api/v3/brokerage/market/products?product_type=SPOT` needs no authentication (the
same path without `/market/` answers 401 without a JWT: ../shared/venues/coinbase/NOTES.md item 14)
and answers `{"products": [...], "num_products": N, "pagination": ...}` with every number as a
string (item 15; the capture rest_products_list.json). Per product:

- the price grid is `price_increment` ("Minimum amount price can be increased or decreased at
  once"; `quote_increment` when a row has none), the size step `base_increment`;
- sizes run from `base_min_size` to `base_max_size`; an order's notional must reach
  `quote_min_size` (BTC-USD: "1", one dollar), which becomes the instrument's minimum notional;
- a product trades when `status` is "online" and none of `trading_disabled`, `is_disabled`,
  `cancel_only`, `view_only` is set (`limit_only`/`post_only`/`auction_mode` still take limit orders);
- `alias` names the product whose book a product shares (BTC-USDC → BTC-USD), which the feed
  follows instead (`aliases()`).

Every text is converted exactly (`venues.instruments.live_instrument`); a row our units can't hold
(a price step finer than 1e-9, a size step finer than 1e-8) or with a missing field is skipped and
reported, never rounded. Fees are the account's, not the product's: the low tier (0.40% maker,
0.60% taker) the simulated Coinbase instruments use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from venues.instruments import Instrument, live_instrument
from venues.live.rest import RestClient

__all__ = [
    "DEFAULT_REST_URL",
    "PRODUCTS_PATH",
    "CoinbaseProduct",
    "aliases",
    "fetch_instruments",
    "fetch_products",
    "parse_product",
    "parse_products",
]

DEFAULT_REST_URL = "https://api.coinbase.com"
PRODUCTS_PATH = "/api/v3/brokerage/market/products"
COINBASE_FEES_BPS = (40, 60)  # Advanced Trade's low tier: 0.40% maker, 0.60% taker
_NO_PRICE_MAX = "1000000000"  # the price bound of a product with no last price
_FLAGS = (
    "trading_disabled",
    "is_disabled",
    "cancel_only",
    "limit_only",
    "post_only",
    "auction_mode",
    "view_only",
)


@dataclass(frozen=True, slots=True)
class CoinbaseProduct:
    """One spot product as Coinbase lists it, with the instrument it becomes."""

    product_id: str
    instrument: Instrument
    status: str
    alias: str  # "" or the product whose book this one shares
    alias_to: tuple[str, ...]
    trading_disabled: bool
    cancel_only: bool
    limit_only: bool
    post_only: bool
    auction_mode: bool
    view_only: bool
    price: str  # the last price text ("" when Coinbase gives none)
    volume_24h: str

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def active(self) -> bool:
        return self.instrument.active


def _text(row: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = row.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"{key} is missing")
        return ""
    if type(value) is not str:
        raise ValueError(f"{key} is not a string: {value!r}")
    return value


def _positive(row: dict[str, Any], key: str) -> str:
    text = _text(row, key)
    try:
        if not Decimal(text) > 0:
            raise ValueError(f"{key} {text!r} is not positive")
    except InvalidOperation:
        raise ValueError(f"{key} {text!r} is not a decimal") from None
    return text


def _flag(row: dict[str, Any], key: str) -> bool:
    value = row.get(key, False)
    if value is None:
        return False
    if type(value) is not bool:
        raise ValueError(f"{key} is not a boolean: {value!r}")
    return value


def parse_product(row: Any) -> CoinbaseProduct:
    """One product record → `CoinbaseProduct`. Raises ValueError, naming the product, for a
    record that can't be one (not SPOT, a missing or malformed field, a step our units can't hold)."""
    if type(row) is not dict:
        raise ValueError("a product is not an object")
    pid = _text(row, "product_id")
    try:
        return _parse(row, pid)
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{pid}: {exc}") from None


def _parse(row: dict[str, Any], pid: str) -> CoinbaseProduct:
    if row.get("product_type", "SPOT") != "SPOT":
        raise ValueError(f"product_type {row.get('product_type')!r} is not SPOT")
    base = _text(row, "base_currency_id").upper()
    quote = _text(row, "quote_currency_id").upper()
    tick = _positive(row, "price_increment" if row.get("price_increment") else "quote_increment")
    lot = _positive(row, "base_increment")
    min_qty = _text(row, "base_min_size")
    max_qty = _positive(row, "base_max_size")
    min_notional = _text(row, "quote_min_size", required=False) or "0"
    price = _text(row, "price", required=False)
    status = _text(row, "status")
    flags = {k: _flag(row, k) for k in _FLAGS}
    active = status == "online" and not (
        flags["trading_disabled"] or flags["is_disabled"] or flags["cancel_only"] or flags["view_only"]
    )
    tick_d = Decimal(tick)
    max_price = _NO_PRICE_MAX
    if price and Decimal(price) > 0:
        # A price 100x the last one is a fat finger (as the simulated instruments bound theirs).
        max_price = str((Decimal(price) * 100 // tick_d) * tick_d)
    min_qty_d = Decimal(min_qty)
    if min_qty_d < 0 or Decimal(min_notional) < 0:
        raise ValueError("a negative minimum size")
    inst = live_instrument(
        venue="coinbase",
        symbol=f"{base}/{quote}",
        kind="spot",
        tick=tick,
        lot=lot,
        min_qty=min_qty if min_qty_d > 0 else lot,
        max_qty=max_qty,
        min_notional=min_notional,
        max_price=max_price,
        fees_bps=COINBASE_FEES_BPS,
        base=base,
        quote=quote,
        active=active,
    )
    alias_to = row.get("alias_to") or []
    return CoinbaseProduct(
        product_id=pid,
        instrument=inst,
        status=status,
        alias=_text(row, "alias", required=False),
        alias_to=tuple(a for a in alias_to if type(a) is str) if type(alias_to) is list else (),
        trading_disabled=flags["trading_disabled"],
        cancel_only=flags["cancel_only"],
        limit_only=flags["limit_only"],
        post_only=flags["post_only"],
        auction_mode=flags["auction_mode"],
        view_only=flags["view_only"],
        price=price,
        volume_24h=_text(row, "volume_24h", required=False),
    )


def parse_products(payload: Any) -> tuple[list[CoinbaseProduct], list[str]]:
    """The list endpoint's answer → (products, one line per record skipped and why). Raises
    ValueError when the answer has no `products` list at all."""
    products = payload.get("products") if type(payload) is dict else None
    if type(products) is not list:
        raise ValueError("the product list answer has no 'products' list")
    out: list[CoinbaseProduct] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for row in products:
        if type(row) is dict and row.get("product_type", "SPOT") != "SPOT":
            continue  # futures and perpetuals are not spot instruments: not an error
        try:
            product = parse_product(row)
        except ValueError as exc:
            skipped.append(str(exc))
            continue
        if product.symbol in seen:
            skipped.append(f"{product.product_id}: duplicate of {product.symbol}")
            continue
        seen.add(product.symbol)
        out.append(product)
    return out, skipped


def aliases(products: Iterable[CoinbaseProduct]) -> dict[str, str]:
    """Symbol → the product whose `level2` book it reads, for products the venue aliases
    (BTC/USDC → "BTC-USD"): the feed's `aliases` argument."""
    return {p.symbol: p.alias for p in products if p.alias}


def fetch_products(client: RestClient) -> tuple[list[CoinbaseProduct], list[str]]:
    """GET the public spot product list and parse it (`RestError`/`OSError` when the venue can't
    answer, ValueError when the answer is not a product list)."""
    return parse_products(client.get_json(PRODUCTS_PATH, {"product_type": "SPOT"}))


def fetch_instruments(config: Any) -> list[Instrument]:
    """The `CATALOGUES` entry: every spot product's instrument from `config.rest_url` (a
    `venues.live.factory.FeedConfig`; Coinbase's own URL when empty)."""
    products, _skipped = fetch_products(RestClient(getattr(config, "rest_url", "") or DEFAULT_REST_URL))
    return [p.instrument for p in products]
