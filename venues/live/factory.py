"""Which code runs each venue's live feed: a registry keyed by venue name.

`BUILDERS[venue](symbols, config)` returns that venue's `FeedProtocol` for `symbols` (our canonical
symbols); `CATALOGUES[venue](config)` fetches the venue's instruments (tick, lot, minimum size and
notional) from its public REST API, which paper fills on a live book obey. `config` is a
`FeedConfig`: the URLs and options the edge read from its settings (`VENUE_FEED_<VENUE>` and
friends), so the same code points at the real venue or at a local fake. Nothing here reads Django
settings: the caller passes them in.

Each venue package adds its own block at the end of this file (one block per venue, kept apart so
that branches adding different venues merge cleanly).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from venues.instruments import Instrument
from venues.live.protocol import FeedProtocol

__all__ = ["BUILDERS", "CATALOGUES", "FeedConfig", "build_protocol", "live_venues"]


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """Where a venue's live feed connects and how it behaves.

    `ws_url`/`rest_url`: the venue's WebSocket and REST base URLs (empty: the venue's real public
    URLs; tests point them at a fake). `silence_s`/`stale_after_s` override the protocol's own
    limits when set. `options` holds what one venue alone needs (Kalshi: "key_id",
    "private_key_pem"; Kraken: "depth"). `busy_poll_us`: how long the feed thread polls its socket
    without sleeping before it blocks (0: it blocks at once; see venues.live.connection).
    """

    ws_url: str = ""
    rest_url: str = ""
    silence_s: float | None = None
    stale_after_s: float | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    busy_poll_us: int = 0


Builder = Callable[[Sequence[str], FeedConfig], FeedProtocol]
CatalogueFetcher = Callable[[FeedConfig], list[Instrument]]

BUILDERS: dict[str, Builder] = {}
CATALOGUES: dict[str, CatalogueFetcher] = {}


def live_venues() -> tuple[str, ...]:
    """The venues that have a live feed in this build."""
    return tuple(sorted(BUILDERS))


def build_protocol(venue: str, symbols: Sequence[str], config: FeedConfig) -> FeedProtocol:
    """The venue's protocol for `symbols`, with the config's limits applied. KeyError for a venue
    without a live feed."""
    try:
        builder = BUILDERS[venue]
    except KeyError:
        raise KeyError(
            f"no live feed for venue {venue!r}; live venues: {', '.join(live_venues()) or 'none'}"
        ) from None
    protocol = builder(symbols, config)
    if config.silence_s is not None:
        protocol.silence_s = config.silence_s  # type: ignore[misc]  # per-instance override of the ClassVar
    if config.stale_after_s is not None:
        protocol.stale_after_s = config.stale_after_s  # type: ignore[misc]
    return protocol


# -- venues -------------------------------------------------------------------------------------------
# One block per venue below (imports inside the functions: a process loads only the venues it runs).


# -- kraken -------------------------------------------------------------------------------------------
def _kraken_protocol(symbols: Sequence[str], config: FeedConfig) -> FeedProtocol:
    # The book checksum is formatted at each pair's precision, which only AssetPairs tells.
    from venues.kraken.catalogue import KRAKEN_REST_URL, fetch_pairs
    from venues.kraken.feed import KRAKEN_WS_URL, KrakenBookProtocol
    from venues.live.rest import RestClient

    pairs = fetch_pairs(RestClient(config.rest_url or KRAKEN_REST_URL))
    return KrakenBookProtocol(
        symbols,
        ws_url=config.ws_url or KRAKEN_WS_URL,
        precision={p.symbol: p.precision for p in pairs},
        depth=int(config.options.get("depth", "10")),
    )


def _kraken_instruments(config: FeedConfig) -> list[Instrument]:
    from venues.kraken.catalogue import KRAKEN_REST_URL, fetch_instruments
    from venues.live.rest import RestClient

    return fetch_instruments(RestClient(config.rest_url or KRAKEN_REST_URL))


BUILDERS["kraken"] = _kraken_protocol
CATALOGUES["kraken"] = _kraken_instruments


# -- coinbase -----------------------------------------------------------------------------------------
def _coinbase_protocol(symbols: Sequence[str], config: FeedConfig) -> FeedProtocol:
    # No catalogue call: -USDC pairs read their -USD book by the documented rule (products.py).
    from venues.coinbase.feed import DEFAULT_WS_URL, CoinbaseFeed

    return CoinbaseFeed(
        symbols, ws_url=config.ws_url or DEFAULT_WS_URL, depth=int(config.options.get("depth", "10"))
    )


def _coinbase_instruments(config: FeedConfig) -> list[Instrument]:
    from venues.coinbase.catalogue import fetch_instruments

    return fetch_instruments(config)


BUILDERS["coinbase"] = _coinbase_protocol
CATALOGUES["coinbase"] = _coinbase_instruments


# -- kalshi -------------------------------------------------------------------------------------------
KALSHI_WS_URL = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
KALSHI_REST_URL = "https://external-api.kalshi.com/trade-api/v2"


def _kalshi_feed(symbols: Sequence[str], config: FeedConfig) -> FeedProtocol:
    """Kalshi `orderbook_delta`. The channel needs a signed handshake, so a key is required here
    (options "key_id" and "private_key_pem" or "private_key_path"): without one the venue would
    refuse every connection, so it is a configuration error, said at once."""
    from venues.kalshi.auth import KalshiAuthError, KalshiSigner
    from venues.kalshi.feed import KalshiFeed

    opts = config.options
    signer = KalshiSigner.from_settings(
        opts.get("key_id") or None,
        private_key_path=opts.get("private_key_path") or None,
        private_key_pem=opts.get("private_key_pem") or None,
    )
    if signer is None:
        raise KalshiAuthError(
            "Kalshi's live feed needs an API key: set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH "
            "(or KALSHI_PRIVATE_KEY)"
        )
    return KalshiFeed(symbols, ws_url=config.ws_url or KALSHI_WS_URL, signer=signer)


def _kalshi_catalogue(config: FeedConfig) -> list[Instrument]:
    """Every open Kalshi market's YES and NO instruments (public REST, no key)."""
    from venues.kalshi.catalogue import fetch_catalogue
    from venues.live.rest import RestClient

    return fetch_catalogue(RestClient(config.rest_url or KALSHI_REST_URL)).instruments


BUILDERS["kalshi"] = _kalshi_feed
CATALOGUES["kalshi"] = _kalshi_catalogue


# -- polymarket ----------------------------------------------------------------------------------------
# FeedConfig: ws_url = the CLOB market channel, rest_url = the Gamma API, options["clob_url"] = the
# CLOB REST API (its /book completes tick and minimum size where Gamma leaves them out).
def _polymarket_feed(symbols: Sequence[str], config: FeedConfig) -> FeedProtocol:
    from venues.polymarket.feed import DEFAULT_WS_URL, PolymarketFeed

    return PolymarketFeed(symbols, ws_url=config.ws_url or DEFAULT_WS_URL)


def _polymarket_catalogue(config: FeedConfig) -> list[Instrument]:
    from venues.live.rest import RestClient
    from venues.polymarket.catalogue import DEFAULT_CLOB_URL, DEFAULT_GAMMA_URL, fetch_catalogue

    gamma = RestClient(config.rest_url or DEFAULT_GAMMA_URL)
    clob = RestClient(config.options.get("clob_url") or DEFAULT_CLOB_URL)
    entries, _notes = fetch_catalogue(gamma, clob)
    return [inst for e in entries for inst in (e.yes, e.no)]


BUILDERS["polymarket"] = _polymarket_feed
CATALOGUES["polymarket"] = _polymarket_catalogue
