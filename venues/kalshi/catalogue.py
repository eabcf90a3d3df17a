"""Kalshi's public market catalogue: `GET /markets` and `GET /events` (no auth), cursor-paged, turned
into our instrument rows (`venues.instruments.Instrument`, one YES and one NO token per market) and
/v1/markets rows (`PredictionMarket`).

API facts (docs.kalshi.com api-reference/market/get-markets and events/get-events, openapi 3.8;
../shared/venues/kalshi/NOTES.md items 20-21):

- Pages: `limit` (markets 1..1000, events 1..200) and an opaque `cursor`; the answer's `cursor` is
  empty on the last page. A cursor seen twice means the venue is looping: stop with an error rather
  than page forever.
- `status` filter words differ from the market's own statuses: `open` lists `active` markets.
  Multivariate combos are left out (`mve_filter=exclude`): they are not single binary books.
- Prices are 4-decimal dollar strings, counts 2-decimal strings. The tick grid is
  `price_level_structure` + `price_ranges` ({start, end, step} in dollars); `tick_size` (cents) is
  deprecated. A market whose grid is finer somewhere (tapered_deci_cent: 0.001 near 0 and 1, 0.01
  between) gets its finest step as its tick, so no price the venue takes is refused here.
- `liquidity_dollars` is deprecated and always "0.0000", so `liquidity` here is what rests at the
  top of the book in dollars: yes_bid x its size + (1 - yes_ask) x its size (the NO bids behind the
  YES ask). `volume` is the traded contracts x `notional_value_dollars` ($1).
- Event titles and categories come from `GET /events` (EventData.category is deprecated but still
  sent); a market whose event is missing keeps its own title.

Symbols follow `venues.instruments`: `<ticker>-YES` and `<ticker>-NO`; a market's slug is its
ticker in lower case. No Django here: the caller stores the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from venues.instruments import Instrument, PredictionMarket, live_instrument, to_price_1e9
from venues.kalshi.feed import outcome_symbols
from venues.live.rest import RestClient

__all__ = [
    "DEFAULT_REST_URL",
    "KalshiCatalogue",
    "build_catalogue",
    "KalshiCatalogueError",
    "fetch_catalogue",
    "fetch_events",
    "fetch_markets",
    "market_instruments",
    "market_row",
    "tick_of",
]

DEFAULT_REST_URL = "https://api.elections.kalshi.com/trade-api/v2"
MARKETS_PAGE = 1000  # the documented maximum
EVENTS_PAGE = 200
_STRUCTURE_TICK = {
    "linear_cent": Decimal("0.01"),
    "deci_cent": Decimal("0.001"),
    "tapered_deci_cent": Decimal("0.001"),
}


class KalshiCatalogueError(Exception):
    """The venue answered something a catalogue can't be built from."""


@dataclass
class KalshiCatalogue:
    markets: list[PredictionMarket] = field(default_factory=list)
    instruments: list[Instrument] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "TICKER: why" for rows that could not be read


def _pages(
    client: RestClient, path: str, key: str, params: dict[str, Any], max_pages: int
) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(max_pages):
        body = client.get_json(path, {**params, "cursor": cursor})
        if type(body) is not dict or type(body.get(key)) is not list:
            raise KalshiCatalogueError(f"GET {path}: the answer has no {key!r} list")
        for row in body[key]:
            if type(row) is dict:
                yield row
        nxt = body.get("cursor") or None
        if nxt is None:
            return
        if type(nxt) is not str or nxt in seen:
            raise KalshiCatalogueError(f"GET {path}: the cursor repeats; stopping")
        seen.add(nxt)
        cursor = nxt
    raise KalshiCatalogueError(f"GET {path}: more than {max_pages} pages")


def fetch_markets(
    client: RestClient, *, status: str | None = "open", max_pages: int = 1000
) -> list[dict[str, Any]]:
    """Every market with the given status filter word (`open` = active), all pages."""
    params = {"limit": MARKETS_PAGE, "status": status, "mve_filter": "exclude"}
    return list(_pages(client, "/markets", "markets", params, max_pages))


def fetch_events(
    client: RestClient, *, status: str | None = "open", max_pages: int = 1000
) -> list[dict[str, Any]]:
    """Every event with the given status filter word, all pages (without nested markets)."""
    return list(_pages(client, "/events", "events", {"limit": EVENTS_PAGE, "status": status}, max_pages))


def _dec(value: Any, name: str) -> Decimal:
    if type(value) is not str:
        raise ValueError(f"{name} is not a decimal string")
    try:
        out = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} is not a decimal string") from None
    if not out.is_finite():
        raise ValueError(f"{name} is not finite")
    return out


def tick_of(market: dict[str, Any]) -> Decimal:
    """The finest price step the market accepts (see the module docstring)."""
    steps = []
    for rng in market.get("price_ranges") or ():
        if type(rng) is dict and type(rng.get("step")) is str:
            try:
                step = Decimal(rng["step"])
            except InvalidOperation:
                continue
            if step > 0:
                steps.append(step)
    structure = _STRUCTURE_TICK.get(market.get("price_level_structure") or "")
    if structure is not None:
        steps.append(structure)
    if not steps:
        cents = market.get("tick_size")  # deprecated: cents, as an integer (or its text)
        try:
            steps.append(Decimal(str(cents)) / 100 if cents not in (None, "", 0, "0") else Decimal("0.01"))
        except InvalidOperation:
            steps.append(Decimal("0.01"))
    return min(steps)


def market_instruments(market: dict[str, Any]) -> tuple[Instrument, Instrument]:
    """The YES and NO instruments of one market object (ValueError when it can't be read)."""
    ticker = market.get("ticker")
    if type(ticker) is not str or not ticker:
        raise ValueError("no ticker")
    tick = tick_of(market)
    lot = "0.01" if market.get("fractional_trading_enabled") is True else "1"
    yes_sym, no_sym = outcome_symbols(ticker)
    common: dict[str, Any] = {
        "venue": "kalshi",
        "kind": "prediction",
        "tick": str(tick),
        "lot": lot,
        "min_qty": lot,
        "max_qty": "1000000",
        "min_price": str(tick),
        "max_price": str(Decimal(1) - tick),
        "fee_model": "kalshi",
        "market": ticker,
        "active": market.get("status") == "active",
    }
    yes = live_instrument(symbol=yes_sym, outcome="YES", **common)
    no = live_instrument(symbol=no_sym, outcome="NO", mirror_of=yes_sym, **common)
    return yes, no


def market_row(market: dict[str, Any], event: dict[str, Any] | None = None) -> PredictionMarket:
    """The /v1/markets row of one market object (and its event, for titles and category)."""
    ticker = market.get("ticker")
    if type(ticker) is not str or not ticker:
        raise ValueError("no ticker")
    tick = tick_of(market)
    yes_bid = _dec(market.get("yes_bid_dollars", "0"), "yes_bid_dollars")
    yes_ask = _dec(market.get("yes_ask_dollars", "0"), "yes_ask_dollars")
    bid_size = _dec(market.get("yes_bid_size_fp", "0"), "yes_bid_size_fp")
    ask_size = _dec(market.get("yes_ask_size_fp", "0"), "yes_ask_size_fp")
    liquidity = yes_bid * bid_size + ((Decimal(1) - yes_ask) * ask_size if yes_ask > 0 else Decimal(0))
    notional = _dec(market.get("notional_value_dollars", "1"), "notional_value_dollars")
    volume = _dec(market.get("volume_fp", "0"), "volume_fp") * notional
    if yes_bid > 0 and yes_ask > 0:
        ref = (yes_bid + yes_ask) / 2
    else:
        ref = _dec(market.get("last_price_dollars", "0"), "last_price_dollars")
    ref = (ref / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
    event = event or {}
    yes_sym, no_sym = outcome_symbols(ticker)
    event_title = event.get("title") if type(event.get("title")) is str else ""
    title = market.get("title") if type(market.get("title")) is str and market.get("title") else event_title
    outcome = market.get("yes_sub_title") if type(market.get("yes_sub_title")) is str else ""
    return PredictionMarket(
        venue="kalshi",
        slug=ticker.lower(),
        ticker=ticker,
        title=title or ticker,
        event=str(market.get("event_ticker") or ""),
        event_title=event_title or title or ticker,
        outcome_name=outcome or "Yes",
        yes_token_id=yes_sym,
        no_token_id=no_sym,
        is_placeholder_outcome=False,
        liquidity=float(round(liquidity, 2)),
        volume=float(round(volume, 2)),
        active=market.get("status") == "active",
        tick_1e9=to_price_1e9(tick),
        yes_price_1e9=to_price_1e9(ref) if 0 <= ref <= 1 else 0,
        close_time=str(market.get("close_time") or ""),
        category=str(event.get("category") or ""),
    )


def build_catalogue(markets: list[dict[str, Any]], events: list[dict[str, Any]]) -> KalshiCatalogue:
    """Rows and instruments from market and event objects; unreadable markets are skipped and named."""
    by_event = {e.get("event_ticker"): e for e in events}
    out = KalshiCatalogue()
    seen: set[str] = set()
    for m in markets:
        ticker = m.get("ticker")
        try:
            if ticker in seen:
                continue  # a market that moved between pages while we read them
            row = market_row(m, by_event.get(m.get("event_ticker")))
            yes, no = market_instruments(m)
        except (ValueError, ArithmeticError) as exc:
            out.skipped.append(f"{ticker}: {exc}")
            continue
        seen.add(row.ticker)
        out.markets.append(row)
        out.instruments += [yes, no]
    return out


def fetch_catalogue(client: RestClient, *, status: str | None = "open") -> KalshiCatalogue:
    """The whole catalogue for a status filter word: markets and events, every page."""
    return build_catalogue(fetch_markets(client, status=status), fetch_events(client, status=status))
