"""The instrument catalog of the simulated venues: spot pairs and prediction-market outcome tokens.

Units follow the algo ABI: prices ×1e9 (`*_1e9`), quantities ×1e8 (`*_1e8`), money ×1e9.

- Spot (kraken, coinbase): BTC/USD, ETH/USD, XRP/USD, ETH/USDC, BTC/USDC with each venue's own
  tick and lot. Symbols are the canonical slash form; "BTC-USD" is accepted by the look-ups.
- Prediction (kalshi, polymarket): every binary market has two tradable outcome tokens, YES and NO,
  each an `Instrument`. Kalshi token symbols are the market ticker plus "-YES"/"-NO"; Polymarket
  token symbols are long decimal token ids. Prices are probabilities in 0.01..0.99. The NO token's
  book is the mirror of the YES book (NO bid = 1 - YES ask), which the simulator reproduces when
  both are run with the same seed. `PredictionMarket` rows describe markets for /v1/markets.

The catalog is static and built at import; everything here is immutable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from venues.symbols import is_spot_symbol, normalize_spot_symbol

__all__ = [
    "PRICE_SCALE",
    "QTY_SCALE",
    "VENUES",
    "SPOT_VENUES",
    "PREDICTION_VENUES",
    "Instrument",
    "PredictionMarket",
    "get_instrument",
    "instruments_for_venue",
    "all_instruments",
    "find_instrument",
    "find_instruments",
    "markets",
    "market_rows",
    "symbol_spellings",
    "get_market",
    "market_for_token",
    "to_price_1e9",
    "to_qty_1e8",
    "live_instrument",
]

PRICE_SCALE = 1_000_000_000  # price_1e9 and money_1e9 units per 1.0
QTY_SCALE = 100_000_000  # qty_1e8 units per 1.0

SPOT_VENUES: tuple[str, ...] = ("kraken", "coinbase")
PREDICTION_VENUES: tuple[str, ...] = ("kalshi", "polymarket")
VENUES: tuple[str, ...] = SPOT_VENUES + PREDICTION_VENUES

Kind = Literal["spot", "prediction"]
BookSides = Literal["both", "bids_only", "asks_only"]
FeeModel = Literal["bps", "kalshi"]

_NS_PER_DAY = 86_400 * 1_000_000_000


def to_price_1e9(value: str | int | Decimal) -> int:
    """Exact decimal string ("0.01", "98000.5") → price_1e9. Raises ValueError below 1e-9 precision."""
    scaled = Decimal(value) * PRICE_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"price {value!r} has more than 9 decimals")
    return int(scaled)


def decimal_text(units: int, scale: int) -> str:
    """A fixed-point value as plain decimal text without trailing zeros: (1, QTY_SCALE) → "0.00000001"
    (never "1E-8", which `str(Decimal)` would write and a client's float parser may not expect)."""
    return f"{(Decimal(units) / scale).normalize():f}"


def to_qty_1e8(value: str | int | Decimal) -> int:
    """Exact decimal string ("0.00005") → qty_1e8. Raises ValueError below 1e-8 precision."""
    scaled = Decimal(value) * QTY_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"quantity {value!r} has more than 8 decimals")
    return int(scaled)


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """One tradable symbol on one venue, with the venue rules and the simulator's parameters.

    Venue rules (enforced by the matching engine): `tick_1e9` price grid, `min_price_1e9` ..
    `max_price_1e9` inclusive, `lot_1e8` quantity step, `min_qty_1e8` .. `max_qty_1e8` (the upper
    bound is the "absurd quantity" guard), `min_notional_1e9` (price x quantity; Kraken's `costmin`,
    Coinbase's `quote_min_size`: a smaller order is refused as BAD_QTY, `BELOW_MIN_NOTIONAL`; with
    `min_notional_rests`, Polymarket's $1, it is accepted but rests forever and never crosses),
    fees (`fee_model` "bps": maker/taker bps of notional; "kalshi": taker 0.07·C·P·(1−P) rounded
    up to the cent, makers free).

    Simulator parameters: `ref_price_1e9` (spot: the level the market reverts to, the same on
    every venue listing the symbol; `volatility` is the same for every pair of a base asset, whose
    pairs and venues share one market;
    prediction: the start price), `volatility` (annualised; spot: relative, i.e. lognormal sigma;
    prediction: probability points at p=0.5, shrinking towards 0/1),
    `spread_ticks` (typical touch spread in calm markets), `max_spread_ticks`, `depth_levels`
    displayed per side, `level_gap_ticks` (max distance between displayed levels), `touch_qty_1e8`
    (median displayed size at the touch), `updates_per_day` (book updates per simulated day),
    `book_sides` ("bids_only"/"asks_only" for one-sided books).
    """

    venue: str
    symbol: str
    kind: Kind
    tick_1e9: int
    lot_1e8: int
    min_qty_1e8: int
    max_qty_1e8: int
    min_notional_1e9: int
    min_price_1e9: int
    max_price_1e9: int
    ref_price_1e9: int
    volatility: float
    spread_ticks: int
    max_spread_ticks: int
    depth_levels: int
    level_gap_ticks: int
    touch_qty_1e8: int
    maker_fee_bps: int
    taker_fee_bps: int
    updates_per_day: int
    fee_model: FeeModel = "bps"
    book_sides: BookSides = "both"
    active: bool = True
    # What an order under min_notional_1e9 gets: refused (False: Kraken, Coinbase) or accepted and
    # left resting, never filling (True: Polymarket, as the product documents describe it).
    min_notional_rests: bool = False
    # spot only
    base: str | None = None
    quote: str | None = None
    # prediction only: the market this token belongs to (Kalshi ticker / Polymarket market slug),
    # which outcome token it is, and for NO tokens the YES token whose book it mirrors.
    market: str | None = None
    outcome: Literal["YES", "NO"] | None = None
    mirror_of: str | None = None

    @property
    def is_prediction(self) -> bool:
        """True for Kalshi/Polymarket outcome tokens."""
        return self.kind == "prediction"

    @property
    def mean_interval_ns(self) -> int:
        """Mean time between simulated book updates, from `updates_per_day`."""
        return _NS_PER_DAY // self.updates_per_day

    @property
    def seed_key(self) -> str:
        """The key mixed into simulator seeds: shared by the YES and NO tokens of a market so that
        both books come from one latent probability path."""
        if self.market is not None:
            return f"{self.venue}|market|{self.market}"
        return f"{self.venue}|{self.symbol}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictionMarket:
    """One binary prediction market (one outcome of an event), as /v1/markets lists it.

    `liquidity` and `volume` are USD. `yes_token_id` / `no_token_id` are instrument symbols on the
    same venue. `is_placeholder_outcome` marks the catch-all "Other" outcome of a multi-outcome
    event, which strategies skip.
    """

    venue: str
    slug: str
    ticker: str
    title: str
    event: str
    event_title: str
    outcome_name: str
    yes_token_id: str
    no_token_id: str
    is_placeholder_outcome: bool
    liquidity: float
    volume: float
    active: bool
    tick_1e9: int
    yes_price_1e9: int
    close_time: str
    category: str
    book_sides: BookSides = "both"
    multi_outcome: bool = field(default=False)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready row (what the API returns per market)."""
        return {
            "venue": self.venue,
            "slug": self.slug,
            "ticker": self.ticker,
            "title": self.title,
            "event": self.event,
            "event_title": self.event_title,
            "outcome_name": self.outcome_name,
            "yes_token_id": self.yes_token_id,
            "no_token_id": self.no_token_id,
            "is_placeholder_outcome": self.is_placeholder_outcome,
            "liquidity": self.liquidity,
            "volume": self.volume,
            "active": self.active,
            "tick_size": str(Decimal(self.tick_1e9) / PRICE_SCALE),
            "yes_price_1e9": self.yes_price_1e9,
            "close_time": self.close_time,
            "category": self.category,
            "one_sided": self.book_sides != "both",
        }


# --------------------------------------------------------------------------------------------------
# Catalog construction


def _spot(
    venue: str,
    symbol: str,
    *,
    ref: str,
    tick: str,
    lot: str,
    min_qty: str,
    max_qty: str,
    vol: float,
    spread: int,
    max_spread: int,
    gap: int,
    touch: str,
    fees: tuple[int, int],
    per_day: int,
    depth: int = 10,
) -> Instrument:
    base, quote = symbol.split("/")
    tick_1e9 = to_price_1e9(tick)
    return Instrument(
        venue=venue,
        symbol=symbol,
        kind="spot",
        tick_1e9=tick_1e9,
        lot_1e8=to_qty_1e8(lot),
        min_qty_1e8=to_qty_1e8(min_qty),
        max_qty_1e8=to_qty_1e8(max_qty),
        min_notional_1e9=0,
        min_price_1e9=tick_1e9,
        # A price 100x the reference is a fat finger, not an order: reject it as BAD_PRICE.
        max_price_1e9=to_price_1e9(ref) * 100 // tick_1e9 * tick_1e9,
        ref_price_1e9=to_price_1e9(ref),
        volatility=vol,
        spread_ticks=spread,
        max_spread_ticks=max_spread,
        depth_levels=depth,
        level_gap_ticks=gap,
        touch_qty_1e8=to_qty_1e8(touch),
        maker_fee_bps=fees[0],
        taker_fee_bps=fees[1],
        updates_per_day=per_day,
        base=base,
        quote=quote,
    )


def live_instrument(
    *,
    venue: str,
    symbol: str,
    kind: Kind,
    tick: str,
    lot: str,
    min_qty: str,
    max_qty: str,
    min_notional: str = "0",
    min_price: str | None = None,
    max_price: str,
    fees_bps: tuple[int, int] = (0, 0),
    fee_model: FeeModel = "bps",
    **extra: Any,
) -> Instrument:
    """An instrument from a live venue's catalogue: the venue's own rules (decimal text, converted
    exactly), with the simulator's parameters left neutral (a live book is never simulated).
    `extra` takes the optional fields (`base`/`quote`, `market`/`outcome`/`mirror_of`, `active`,
    `book_sides`)."""
    tick_1e9 = to_price_1e9(tick)
    return Instrument(
        venue=venue,
        symbol=symbol,
        kind=kind,
        tick_1e9=tick_1e9,
        lot_1e8=to_qty_1e8(lot),
        min_qty_1e8=to_qty_1e8(min_qty),
        max_qty_1e8=to_qty_1e8(max_qty),
        min_notional_1e9=to_price_1e9(min_notional),
        min_price_1e9=to_price_1e9(min_price) if min_price is not None else tick_1e9,
        max_price_1e9=to_price_1e9(max_price),
        ref_price_1e9=0,
        volatility=0.0,
        spread_ticks=1,
        max_spread_ticks=1,
        depth_levels=10,
        level_gap_ticks=1,
        touch_qty_1e8=0,
        maker_fee_bps=fees_bps[0],
        taker_fee_bps=fees_bps[1],
        updates_per_day=1,
        fee_model=fee_model,
        **extra,
    )


_KRAKEN_FEES = (25, 40)  # Kraken Pro entry tier: 0.25% maker, 0.40% taker
_COINBASE_FEES = (40, 60)  # Coinbase Advanced low tier: 0.40% maker, 0.60% taker

# fmt: off
_SPOT: tuple[Instrument, ...] = (
    # kraken: BTC/USD quoted to 0.1, ETH to 0.01, XRP to 0.00001; lots of 1e-8 with venue minimums.
    _spot("kraken", "BTC/USD", ref="98000", tick="0.1", lot="0.00000001", min_qty="0.00005",
          max_qty="1000", vol=0.55, spread=1, max_spread=25, gap=40, touch="0.4",
          fees=_KRAKEN_FEES, per_day=90_000),
    _spot("kraken", "ETH/USD", ref="3400", tick="0.01", lot="0.00000001", min_qty="0.002",
          max_qty="20000", vol=0.70, spread=1, max_spread=30, gap=30, touch="8",
          fees=_KRAKEN_FEES, per_day=80_000),
    _spot("kraken", "XRP/USD", ref="2.2", tick="0.00001", lot="0.00000001", min_qty="2",
          max_qty="50000000", vol=0.90, spread=2, max_spread=30, gap=15, touch="15000",
          fees=_KRAKEN_FEES, per_day=50_000),
    _spot("kraken", "ETH/USDC", ref="3400.3", tick="0.01", lot="0.00000001", min_qty="0.002",
          max_qty="20000", vol=0.70, spread=3, max_spread=60, gap=60, touch="3",
          fees=_KRAKEN_FEES, per_day=25_000),
    _spot("kraken", "BTC/USDC", ref="98005", tick="0.01", lot="0.00000001", min_qty="0.00005",
          max_qty="1000", vol=0.55, spread=10, max_spread=400, gap=400, touch="0.15",
          fees=_KRAKEN_FEES, per_day=30_000),
    # coinbase: cent ticks on BTC/ETH, 0.0001 on XRP; base increments 1e-8 (XRP 1e-6).
    _spot("coinbase", "BTC/USD", ref="98000", tick="0.01", lot="0.00000001", min_qty="0.00000001",
          max_qty="1000", vol=0.55, spread=1, max_spread=200, gap=300, touch="0.3",
          fees=_COINBASE_FEES, per_day=110_000),
    _spot("coinbase", "ETH/USD", ref="3400", tick="0.01", lot="0.00000001", min_qty="0.00000001",
          max_qty="20000", vol=0.70, spread=1, max_spread=30, gap=30, touch="6",
          fees=_COINBASE_FEES, per_day=95_000),
    _spot("coinbase", "XRP/USD", ref="2.2", tick="0.0001", lot="0.000001", min_qty="0.000001",
          max_qty="50000000", vol=0.90, spread=1, max_spread=8, gap=3, touch="20000",
          fees=_COINBASE_FEES, per_day=60_000),
    _spot("coinbase", "ETH/USDC", ref="3400.3", tick="0.01", lot="0.00000001", min_qty="0.00000001",
          max_qty="20000", vol=0.70, spread=2, max_spread=40, gap=40, touch="4",
          fees=_COINBASE_FEES, per_day=40_000),
    _spot("coinbase", "BTC/USDC", ref="98005", tick="0.01", lot="0.00000001", min_qty="0.00000001",
          max_qty="1000", vol=0.55, spread=2, max_spread=300, gap=300, touch="0.2",
          fees=_COINBASE_FEES, per_day=45_000),
)
# fmt: on


def _polymarket_token_id(market_slug: str, outcome: str) -> str:
    """A stable 77..78 digit decimal id, shaped like Polymarket's CLOB token ids (uint256)."""
    digest = hashlib.sha256(f"polymarket|{market_slug}|{outcome}".encode()).digest()
    return str(int.from_bytes(digest, "big") | (1 << 255))


def _prediction(
    venue: str,
    *,
    event: str,
    event_title: str,
    ticker: str,
    slug: str,
    title: str,
    outcome_name: str,
    yes: str,
    vol: float,
    liquidity: float,
    volume: float,
    close_time: str,
    category: str,
    per_day: int,
    touch: str,
    tick: str = "0.01",
    spread: int = 1,
    one_sided: bool = False,
    placeholder: bool = False,
    active: bool = True,
    multi: bool = False,
) -> tuple[PredictionMarket, Instrument, Instrument]:
    """One binary market and its YES/NO tokens. `one_sided` models a far out-of-the-money market
    nobody bids YES on: the YES book has asks only, so the mirrored NO book has bids only."""
    if venue == "kalshi":
        yes_id, no_id = f"{ticker}-YES", f"{ticker}-NO"
        lot, min_notional = "1", 0  # whole contracts, no notional minimum
        fee_model: FeeModel = "kalshi"
    else:
        yes_id, no_id = _polymarket_token_id(slug, "YES"), _polymarket_token_id(slug, "NO")
        lot, min_notional = "0.01", PRICE_SCALE  # shares to 2 decimals; $1 minimum notional
        fee_model = "bps"
    tick_1e9 = to_price_1e9(tick)
    yes_1e9 = to_price_1e9(yes)
    if yes_1e9 % tick_1e9:
        raise ValueError(f"{ticker}: reference price {yes} is off the {tick} grid")
    max_spread = max(spread * 8, 10)
    common: dict[str, Any] = {
        "venue": venue,
        "kind": "prediction",
        "tick_1e9": tick_1e9,
        "lot_1e8": to_qty_1e8(lot),
        "min_qty_1e8": to_qty_1e8(lot),
        "max_qty_1e8": to_qty_1e8("1000000"),
        "min_notional_1e9": min_notional,
        "min_price_1e9": to_price_1e9("0.01"),
        "max_price_1e9": to_price_1e9("0.99"),
        "volatility": vol,
        "spread_ticks": spread,
        "max_spread_ticks": max_spread,
        "depth_levels": 8,
        "level_gap_ticks": 2 if tick == "0.01" else 10,
        "touch_qty_1e8": to_qty_1e8(touch),
        "maker_fee_bps": 0,
        "taker_fee_bps": 0,
        "fee_model": fee_model,
        "updates_per_day": per_day,
        "active": active,
        "market": ticker if venue == "kalshi" else slug,
        "min_notional_rests": venue == "polymarket",
    }
    yes_inst = Instrument(
        symbol=yes_id,
        ref_price_1e9=yes_1e9,
        book_sides="asks_only" if one_sided else "both",
        outcome="YES",
        **common,
    )
    no_inst = Instrument(
        symbol=no_id,
        ref_price_1e9=PRICE_SCALE - yes_1e9,
        book_sides="bids_only" if one_sided else "both",
        outcome="NO",
        mirror_of=yes_id,
        **common,
    )
    market = PredictionMarket(
        venue=venue,
        slug=slug,
        ticker=ticker,
        title=title,
        event=event,
        event_title=event_title,
        outcome_name=outcome_name,
        yes_token_id=yes_id,
        no_token_id=no_id,
        is_placeholder_outcome=placeholder,
        liquidity=liquidity,
        volume=volume,
        active=active,
        tick_1e9=tick_1e9,
        yes_price_1e9=yes_1e9,
        close_time=close_time,
        category=category,
        book_sides="asks_only" if one_sided else "both",
        multi_outcome=multi,
    )
    return market, yes_inst, no_inst


# fmt: off
def _kalshi() -> list[tuple[PredictionMarket, Instrument, Instrument]]:
    k = "kalshi"
    btc_event, btc_title = "KXBTC-26DEC31", "Bitcoin price on Dec 31, 2026"
    fed_event, fed_title = "KXFEDDECISION-26JUN", "Fed decision in June 2026"
    fed: dict[str, Any] = {"event": fed_event, "event_title": fed_title, "close_time": "2026-06-17T18:00:00Z",
           "category": "Economics", "vol": 0.9, "multi": True}
    return [
        _prediction(k, event=btc_event, event_title=btc_title, ticker="KXBTC-26DEC31-B100K",
                    slug="kxbtc-26dec31-b100k", title="Will Bitcoin be above $100,000 on Dec 31, 2026?",
                    outcome_name="Above $100,000", yes="0.56", vol=1.0, liquidity=245_000.0,
                    volume=4_180_000.0, close_time="2026-12-31T22:00:00Z", category="Crypto",
                    per_day=12_000, touch="600"),
        _prediction(k, event=btc_event, event_title=btc_title, ticker="KXBTC-26DEC31-B250K",
                    slug="kxbtc-26dec31-b250k", title="Will Bitcoin be above $250,000 on Dec 31, 2026?",
                    outcome_name="Above $250,000", yes="0.03", vol=0.5, liquidity=850.0,
                    volume=96_000.0, close_time="2026-12-31T22:00:00Z", category="Crypto",
                    per_day=1_500, touch="250", spread=2, one_sided=True),
        _prediction(k, ticker="KXFEDDECISION-26JUN-H0", slug="kxfeddecision-26jun-h0",
                    title="Will the Fed hold rates in June 2026?", outcome_name="Hold", yes="0.62",
                    liquidity=180_000.0, volume=2_650_000.0, per_day=9_000, touch="900", **fed),
        _prediction(k, ticker="KXFEDDECISION-26JUN-C25", slug="kxfeddecision-26jun-c25",
                    title="Will the Fed cut rates by 25bps in June 2026?", outcome_name="Cut 25bps",
                    yes="0.31", liquidity=120_000.0, volume=1_900_000.0, per_day=8_000, touch="700",
                    **fed),
        _prediction(k, ticker="KXFEDDECISION-26JUN-C26", slug="kxfeddecision-26jun-c26",
                    title="Will the Fed cut rates by more than 25bps in June 2026?",
                    outcome_name="Cut >25bps", yes="0.05", liquidity=9_500.0, volume=310_000.0,
                    per_day=3_000, touch="400", spread=2, **fed),
        _prediction(k, ticker="KXFEDDECISION-26JUN-H25", slug="kxfeddecision-26jun-h25",
                    title="Will the Fed hike rates in June 2026?", outcome_name="Hike", yes="0.02",
                    liquidity=400.0, volume=42_000.0, per_day=800, touch="300", spread=2,
                    one_sided=True, **fed),
        _prediction(k, event="KXHIGHNY-26JUL04", event_title="Highest temperature in NYC on Jul 4, 2026",
                    ticker="KXHIGHNY-26JUL04-T90", slug="kxhighny-26jul04-t90",
                    title="Will the high in NYC be above 90°F on Jul 4, 2026?", outcome_name="Above 90°F",
                    yes="0.35", vol=1.5, liquidity=60.0, volume=3_100.0,
                    close_time="2026-07-05T04:00:00Z", category="Climate", per_day=600, touch="40",
                    spread=3),
        _prediction(k, event="KXNBA-26", event_title="2026 NBA Champion", ticker="KXNBA-26-OKC",
                    slug="kxnba-26-okc", title="Will the Oklahoma City Thunder win the 2026 NBA Finals?",
                    outcome_name="Oklahoma City Thunder", yes="0.33", vol=1.2, liquidity=95_000.0,
                    volume=3_400_000.0, close_time="2026-06-30T00:00:00Z", category="Sports",
                    per_day=10_000, touch="800"),
        _prediction(k, event="KXRECSSNBER-26", event_title="US recession in 2026",
                    ticker="KXRECSSNBER-26", slug="kxrecssnber-26",
                    title="Will the NBER declare a US recession starting in 2026?", outcome_name="Recession",
                    yes="0.22", vol=0.6, liquidity=38_000.0, volume=870_000.0,
                    close_time="2027-06-30T00:00:00Z", category="Economics", per_day=4_000, touch="500"),
        _prediction(k, event="KXSB-26", event_title="Super Bowl LX Champion", ticker="KXSB-26-KC",
                    slug="kxsb-26-kc", title="Will Kansas City win Super Bowl LX?",
                    outcome_name="Kansas City Chiefs", yes="0.12", vol=1.0, liquidity=0.0,
                    volume=5_200_000.0, close_time="2026-02-08T23:30:00Z", category="Sports",
                    per_day=500, touch="100", active=False),
    ]


def _polymarket() -> list[tuple[PredictionMarket, Instrument, Instrument]]:
    p = "polymarket"
    wc_event, wc_title = "2026-fifa-world-cup-winner", "2026 FIFA World Cup Winner"
    wc: dict[str, Any] = {"event": wc_event, "event_title": wc_title, "close_time": "2026-07-19T23:00:00Z",
          "category": "Sports", "vol": 1.0, "multi": True}
    fed_event, fed_title = "fed-decision-in-june-2026", "Fed decision in June 2026"
    fed: dict[str, Any] = {"event": fed_event, "event_title": fed_title, "close_time": "2026-06-17T18:00:00Z",
           "category": "Economics", "vol": 0.9, "multi": True}

    def team(name: str, slug_name: str, yes: str, liquidity: float, volume: float, **kw: Any
    ) -> tuple[PredictionMarket, Instrument, Instrument]:
        return _prediction(p, ticker=f"will-{slug_name}-win-the-2026-fifa-world-cup",
                           slug=f"will-{slug_name}-win-the-2026-fifa-world-cup",
                           title=f"Will {name} win the 2026 FIFA World Cup?", outcome_name=name, yes=yes,
                           liquidity=liquidity, volume=volume, **wc, **kw)

    return [
        team("Spain", "spain", "0.19", 1_450_000.0, 38_500_000.0, per_day=9_000, touch="4000"),
        team("France", "france", "0.16", 1_120_000.0, 31_200_000.0, per_day=8_000, touch="3500"),
        team("England", "england", "0.14", 980_000.0, 27_800_000.0, per_day=7_500, touch="3000"),
        team("Argentina", "argentina", "0.12", 890_000.0, 25_100_000.0, per_day=7_000, touch="3000"),
        team("Brazil", "brazil", "0.11", 910_000.0, 29_400_000.0, per_day=7_000, touch="3000"),
        team("Germany", "germany", "0.09", 420_000.0, 12_600_000.0, per_day=5_000, touch="2500"),
        team("Portugal", "portugal", "0.085", 380_000.0, 11_900_000.0, per_day=5_000, touch="2500",
             tick="0.001", spread=8),
        _prediction(p, ticker="2026-fifa-world-cup-winner-other", slug="2026-fifa-world-cup-winner-other",
                    title="Will another team win the 2026 FIFA World Cup?", outcome_name="Other",
                    yes="0.035", liquidity=650.0, volume=210_000.0, per_day=900, touch="800",
                    tick="0.001", spread=15, placeholder=True, **wc),
        _prediction(p, ticker="fed-decision-in-june-2026-no-change",
                    slug="fed-decision-in-june-2026-no-change", title="Fed decision in June 2026: no change?",
                    outcome_name="No change", yes="0.60",
                    liquidity=520_000.0, volume=14_300_000.0, per_day=8_000, touch="5000", **fed),
        _prediction(p, ticker="fed-decision-in-june-2026-25-bps-decrease",
                    slug="fed-decision-in-june-2026-25-bps-decrease",
                    title="Fed decision in June 2026: 25 bps decrease?", outcome_name="25 bps decrease",
                    yes="0.31", liquidity=410_000.0, volume=9_800_000.0, per_day=7_000, touch="4000", **fed),
        _prediction(p, ticker="fed-decision-in-june-2026-50-bps-decrease",
                    slug="fed-decision-in-june-2026-50-bps-decrease",
                    title="Fed decision in June 2026: 50+ bps decrease?", outcome_name="50+ bps decrease",
                    yes="0.05", liquidity=36_000.0, volume=1_700_000.0, per_day=2_500, touch="2000",
                    tick="0.001", spread=6, **fed),
        _prediction(p, ticker="fed-decision-in-june-2026-25-bps-increase",
                    slug="fed-decision-in-june-2026-25-bps-increase",
                    title="Fed decision in June 2026: 25+ bps increase?", outcome_name="25+ bps increase",
                    yes="0.02", liquidity=1_800.0, volume=640_000.0, per_day=1_200, touch="1500",
                    tick="0.001", spread=10, one_sided=True, **fed),
        _prediction(p, event="bitcoin-above-150k-on-december-31-2026",
                    event_title="Bitcoin above $150k on December 31, 2026?",
                    ticker="bitcoin-above-150k-on-december-31-2026",
                    slug="bitcoin-above-150k-on-december-31-2026",
                    title="Bitcoin above $150k on December 31, 2026?", outcome_name="Yes", yes="0.18",
                    vol=1.1, liquidity=240_000.0, volume=6_900_000.0, close_time="2026-12-31T17:00:00Z",
                    category="Crypto", per_day=9_000, touch="3000"),
        _prediction(p, event="which-party-will-win-the-house-in-2026",
                    event_title="Which party will win the House in 2026?",
                    ticker="will-the-democrats-win-the-house-in-2026",
                    slug="will-the-democrats-win-the-house-in-2026",
                    title="Will the Democrats win the House in 2026?", outcome_name="Democrats", yes="0.72",
                    vol=0.7, liquidity=760_000.0, volume=22_400_000.0, close_time="2026-11-03T23:00:00Z",
                    category="Politics", per_day=6_000, touch="6000"),
        _prediction(p, event="ethereum-above-10k-in-2026",
                    event_title="Will Ethereum reach $10,000 in 2026?",
                    ticker="will-ethereum-reach-10000-in-2026", slug="will-ethereum-reach-10000-in-2026",
                    title="Will Ethereum reach $10,000 in 2026?", outcome_name="Yes", yes="0.035", vol=0.5,
                    liquidity=4_200.0, volume=1_300_000.0, close_time="2026-12-31T23:59:00Z",
                    category="Crypto", per_day=1_000, touch="2500", tick="0.001", spread=12,
                    one_sided=True),
        _prediction(p, event="us-recession-in-2026", event_title="US recession in 2026?",
                    ticker="us-recession-in-2026", slug="us-recession-in-2026",
                    title="US recession in 2026?", outcome_name="Yes", yes="0.21", vol=0.6,
                    liquidity=310_000.0, volume=8_800_000.0, close_time="2027-02-28T23:00:00Z",
                    category="Economics", per_day=5_000, touch="3000"),
        _prediction(p, event="nba-champion-2025", event_title="NBA Champion 2025",
                    ticker="will-the-thunder-win-the-2025-nba-finals",
                    slug="will-the-thunder-win-the-2025-nba-finals",
                    title="Will the Thunder win the 2025 NBA Finals?", outcome_name="Oklahoma City Thunder",
                    yes="0.5", vol=1.0, liquidity=0.0, volume=41_000_000.0,
                    close_time="2025-06-23T03:00:00Z", category="Sports", per_day=500, touch="500",
                    active=False),
    ]


# fmt: on


_Catalog = tuple[
    dict[tuple[str, str], Instrument],
    dict[str, tuple[Instrument, ...]],
    dict[str, tuple[PredictionMarket, ...]],
]


def _build() -> _Catalog:
    by_key: dict[tuple[str, str], Instrument] = {}
    by_venue: dict[str, list[Instrument]] = {v: [] for v in VENUES}
    rows: dict[str, list[PredictionMarket]] = {v: [] for v in PREDICTION_VENUES}

    def add(inst: Instrument) -> None:
        key = (inst.venue, inst.symbol)
        if key in by_key:
            raise RuntimeError(f"duplicate instrument {key}")
        by_key[key] = inst
        by_venue[inst.venue].append(inst)

    for inst in _SPOT:
        add(inst)
    for market, yes, no in _kalshi() + _polymarket():
        rows[market.venue].append(market)
        add(yes)
        add(no)
    return (
        by_key,
        {v: tuple(items) for v, items in by_venue.items()},
        {v: tuple(items) for v, items in rows.items()},
    )


_BY_KEY, _BY_VENUE, _MARKETS = _build()
_BY_SYMBOL: dict[str, tuple[Instrument, ...]] = {}
for _inst in (i for v in VENUES for i in _BY_VENUE[v]):
    _BY_SYMBOL[_inst.symbol] = _BY_SYMBOL.get(_inst.symbol, ()) + (_inst,)
_MARKET_BY_TOKEN: dict[tuple[str, str], PredictionMarket] = {
    (m.venue, tok): m
    for v in PREDICTION_VENUES
    for m in _MARKETS[v]
    for tok in (m.yes_token_id, m.no_token_id)
}
del _inst


# --------------------------------------------------------------------------------------------------
# Look-ups


def _check_venue(venue: str) -> str:
    v = venue.lower() if isinstance(venue, str) else venue
    if v not in VENUES:
        raise KeyError(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
    return v


def symbol_spellings(symbol: str) -> Iterable[str]:
    """Spellings to try for a user-supplied symbol: as given, spot-normalized, upper-cased."""
    if not isinstance(symbol, str):
        return
    yield symbol
    if is_spot_symbol(symbol):
        yield normalize_spot_symbol(symbol)
    yield symbol.upper()  # Kalshi tickers are case-insensitive in practice


def get_instrument(venue: str, symbol: str) -> Instrument:
    """The instrument `symbol` on `venue`. Spot symbols may be "BTC-USD" or "btc/usd".

    Raises KeyError for an unknown venue or a symbol the venue does not list.
    """
    v = _check_venue(venue)
    for cand in symbol_spellings(symbol):
        inst = _BY_KEY.get((v, cand))
        if inst is not None:
            return inst
    raise KeyError(f"{symbol!r} is not listed on {v}")


def instruments_for_venue(venue: str) -> tuple[Instrument, ...]:
    """Every instrument listed on `venue` (prediction venues: YES and NO tokens), catalog order."""
    return _BY_VENUE[_check_venue(venue)]


def all_instruments() -> tuple[Instrument, ...]:
    """Every instrument on every venue, in VENUES order."""
    return tuple(i for v in VENUES for i in _BY_VENUE[v])


def find_instruments(symbol: str) -> tuple[Instrument, ...]:
    """All instruments named `symbol` on any venue, in VENUES order (spot pairs are listed on both
    kraken and coinbase; prediction tokens are unique). Empty when nothing matches."""
    for cand in symbol_spellings(symbol):
        found = _BY_SYMBOL.get(cand)
        if found:
            return found
    return ()


def find_instrument(symbol: str) -> Instrument | None:
    """The instrument named `symbol` on any venue, or None. A spot pair listed on several venues
    returns the first in VENUES order (kraken before coinbase); use `find_instruments` to see all."""
    found = find_instruments(symbol)
    return found[0] if found else None


def get_market(venue: str, slug_or_ticker: str) -> PredictionMarket:
    """The prediction market with this slug or ticker on `venue`. Raises KeyError when unknown."""
    v = _check_venue(venue)
    for m in _MARKETS.get(v, ()):
        if slug_or_ticker in (m.slug, m.ticker) or slug_or_ticker.upper() == m.ticker.upper():
            return m
    raise KeyError(f"no market {slug_or_ticker!r} on {v}")


def market_for_token(venue: str, token_id: str) -> PredictionMarket | None:
    """The market a YES/NO token belongs to, or None for spot symbols and unknown tokens."""
    return _MARKET_BY_TOKEN.get((venue, token_id))


def markets(
    venue: str,
    *,
    expand_outcomes: bool = False,
    active: bool | None = None,
    order: Literal["volume", "liquidity"] | None = None,
) -> list[dict[str, Any]]:
    """Prediction-market rows for /v1/markets (JSON-ready dicts; see `PredictionMarket.as_dict`).

    Kalshi lists one row per binary market. Polymarket lists one row per event: a multi-outcome
    event ("2026 FIFA World Cup Winner") is a single row with `yes_token_id`/`no_token_id` None and
    its outcome rows under "outcomes", unless `expand_outcomes` flattens it into one row per
    outcome (each with its tokens). `active` filters on the active flag; `order` sorts descending.
    Spot venues have no markets: returns [].
    """
    v = _check_venue(venue)
    return market_rows(v, _MARKETS.get(v, ()), expand_outcomes=expand_outcomes, active=active, order=order)


def market_rows(
    venue: str,
    catalogue: Iterable[PredictionMarket],
    *,
    expand_outcomes: bool = False,
    active: bool | None = None,
    order: Literal["volume", "liquidity"] | None = None,
) -> list[dict[str, Any]]:
    """`markets()` over any catalogue of `venue`'s markets: the simulated one, or a live venue's
    catalogue as synced into the database (edges/catalogue.py)."""
    v = venue
    items = [m for m in catalogue if active is None or m.active == active]
    rows: list[dict[str, Any]] = []
    if v == "kalshi" or expand_outcomes:
        rows = [m.as_dict() for m in items]
    else:
        groups: dict[str, list[PredictionMarket]] = {}
        for m in items:
            groups.setdefault(m.event, []).append(m)
        for event, members in groups.items():
            if len(members) == 1 and not members[0].multi_outcome:
                rows.append(members[0].as_dict())
                continue
            first = members[0]
            rows.append(
                {
                    "venue": v,
                    "slug": event,
                    "ticker": event,
                    "title": first.event_title,
                    "event": event,
                    "event_title": first.event_title,
                    "outcome_name": None,
                    "yes_token_id": None,
                    "no_token_id": None,
                    "is_placeholder_outcome": False,
                    "liquidity": sum(m.liquidity for m in members),
                    "volume": sum(m.volume for m in members),
                    "active": any(m.active for m in members),
                    "tick_size": None,
                    "yes_price_1e9": None,
                    "close_time": first.close_time,
                    "category": first.category,
                    "one_sided": False,
                    "outcomes": [m.as_dict() for m in members],
                }
            )
    if order is not None:
        if order not in ("volume", "liquidity"):
            raise ValueError(f"order must be 'volume' or 'liquidity', not {order!r}")
        rows.sort(key=lambda r: r[order], reverse=True)  # stable: ties keep catalog order
    return rows
