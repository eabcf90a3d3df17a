"""Kraken's public pair list (REST `GET /0/public/AssetPairs`) → our instruments.

Docs: https://docs.kraken.com/api/docs/rest-api/get-tradable-asset-pairs; the example body is in
/work/shared/venues/kraken/rest_doc_examples_api_specs.json. Each pair gives `tick_size` (price
grid), `pair_decimals` (price precision, which the book checksum is formatted at), `lot_decimals`
(volume precision, also the checksum's qty precision), `ordermin` (minimum base volume), `costmin`
(minimum quote cost), the fee tiers and `status`.

Names: REST keys are `XXBTZUSD`, `altname` `XBTUSD` and `wsname` `XBT/USD` — the v1 WebSocket name.
WebSocket v2 and our canonical symbols say `BTC/USD`, so the v1 asset codes are mapped explicitly
(XBT → BTC, XDG → DOGE); a v1 name on v2 is refused ("Currency pair not supported XBT/USD").

Kraken answers errors as HTTP 200 with an `error` array (`EQuery:Unknown asset pair`), so the body is
checked, not only the status.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from venues.instruments import Instrument, live_instrument
from venues.live.rest import RestClient

__all__ = [
    "KRAKEN_REST_URL",
    "KrakenError",
    "KrakenPair",
    "fetch_instruments",
    "fetch_pairs",
    "parse_asset_pairs",
    "v2_symbol",
]

KRAKEN_REST_URL = "https://api.kraken.com"
ASSET_PAIRS_PATH = "/0/public/AssetPairs"

# v1/REST asset codes that v2 spells differently (docs: v2 intro, "Pair symbols have been aligned
# into the more readable BTC/USD format").
_V1_TO_V2 = {"XBT": "BTC", "XDG": "DOGE"}

# Guards for paper orders (Kraken publishes no maximum): far beyond any real order, inside the ABI's
# signed 64-bit price ×1e9 and quantity ×1e8.
_MAX_PRICE = "1000000000"
_MAX_QTY = "1000000000"

# Statuses that still accept new limit orders (the others: cancel_only, reduce_only, delisted...).
_TRADABLE = frozenset({"online", "limit_only", "post_only"})


class KrakenError(Exception):
    """Kraken answered with a non-empty `error` array (or a body we can't read)."""


def v2_symbol(wsname: str) -> str:
    """`XBT/USD` (REST `wsname`, the v1 name) → `BTC/USD` (v2 and our canonical symbol)."""
    base, _, quote = wsname.partition("/")
    return f"{_V1_TO_V2.get(base, base)}/{_V1_TO_V2.get(quote, quote)}"


def _bps(tiers: Any) -> int:
    """The first fee tier ([[volume, percent], ...]) in basis points."""
    try:
        return int((Decimal(str(tiers[0][1])) * 100).to_integral_value())
    except (TypeError, IndexError, ValueError, ArithmeticError):
        return 0


@dataclass(frozen=True, slots=True)
class KrakenPair:
    symbol: str  # v2 / canonical: BTC/USD
    rest_name: str  # XXBTZUSD
    altname: str  # XBTUSD
    wsname: str  # XBT/USD (v1)
    pair_decimals: int
    lot_decimals: int
    tick_size: str
    ordermin: str
    costmin: str
    status: str
    maker_bps: int
    taker_bps: int

    @property
    def precision(self) -> tuple[int, int]:
        """(price decimals, qty decimals): what the book checksum is formatted at."""
        return (self.pair_decimals, self.lot_decimals)

    def instrument(self) -> Instrument:
        lot = f"{Decimal(1).scaleb(-self.lot_decimals):f}"
        min_qty = max(Decimal(self.ordermin), Decimal(lot))
        base, _, quote = self.symbol.partition("/")
        return live_instrument(
            venue="kraken",
            symbol=self.symbol,
            kind="spot",
            tick=self.tick_size,
            lot=lot,
            min_qty=f"{min_qty:f}",
            max_qty=_MAX_QTY,
            min_notional=self.costmin,
            max_price=_MAX_PRICE,
            fees_bps=(self.maker_bps, self.taker_bps),
            base=base,
            quote=quote,
            active=self.status in _TRADABLE,
        )


def parse_asset_pairs(body: Any) -> list[KrakenPair]:
    """The pairs of an AssetPairs answer. Raises KrakenError for an `error` array or a bad body;
    skips entries without a `wsname` (Kraken lists a few dark-pool `.d` pairs without one)."""
    if not isinstance(body, dict):
        raise KrakenError("AssetPairs: the body is not a JSON object")
    errors = body.get("error") or []
    if errors:
        raise KrakenError("AssetPairs: " + "; ".join(str(e) for e in errors))
    result = body.get("result")
    if not isinstance(result, dict):
        raise KrakenError("AssetPairs: no result")
    pairs = []
    for rest_name, p in result.items():
        if not isinstance(p, dict) or not p.get("wsname"):
            continue
        try:
            pairs.append(
                KrakenPair(
                    symbol=v2_symbol(p["wsname"]),
                    rest_name=rest_name,
                    altname=str(p.get("altname", rest_name)),
                    wsname=p["wsname"],
                    pair_decimals=int(p["pair_decimals"]),
                    lot_decimals=int(p["lot_decimals"]),
                    tick_size=str(p.get("tick_size") or Decimal(1).scaleb(-int(p["pair_decimals"]))),
                    ordermin=str(p.get("ordermin") or "0"),
                    costmin=str(p.get("costmin") or "0"),
                    status=str(p.get("status", "online")),
                    maker_bps=_bps(p.get("fees_maker")),
                    taker_bps=_bps(p.get("fees")),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KrakenError(f"AssetPairs: pair {rest_name!r} is malformed: {exc}") from None
    return pairs


def fetch_pairs(client: RestClient, pairs: list[str] | None = None) -> list[KrakenPair]:
    """Every pair (or the named ones: REST names or altnames, as Kraken's `pair` parameter takes)."""
    params = {"pair": ",".join(pairs)} if pairs else None
    return parse_asset_pairs(client.get_json(ASSET_PAIRS_PATH, params))


def fetch_instruments(client: RestClient) -> list[Instrument]:
    """Every Kraken pair as an instrument (venue rules only; see `venues.instruments.live_instrument`)."""
    out = []
    for pair in fetch_pairs(client):
        try:
            out.append(pair.instrument())
        except ValueError:  # a precision finer than the ABI's 1e-9 price / 1e-8 qty: not tradable here
            continue
    return out
