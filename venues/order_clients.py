"""The registry of live order clients: venue -> factory of its `OrderClient` (venues/orders.py says
what one is). Apart from venues/orders.py because each venue's client module imports that one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from venues.instruments import Instrument
from venues.orders import OrderClient, OrderConfig

__all__ = ["ORDER_CLIENTS", "OrderClientFactory", "build_order_client"]

OrderClientFactory = Callable[
    [Mapping[str, str], OrderConfig, "Callable[[str], Instrument] | None"], OrderClient
]
ORDER_CLIENTS: dict[str, OrderClientFactory] = {}


def build_order_client(
    venue: str,
    credentials: Mapping[str, str],
    config: OrderConfig,
    *,
    instrument: Callable[[str], Instrument] | None = None,
) -> OrderClient:
    """The venue's OrderClient; KeyError for a venue without one in this build."""
    try:
        factory = ORDER_CLIENTS[venue]
    except KeyError:
        raise KeyError(f"no live order client for venue {venue!r}") from None
    return factory(credentials, config, instrument)


# One block per venue below (imports inside the functions, so a process loads only what it uses;
# kept apart so that branches adding different venues merge cleanly).


# -- kraken -----------------------------------------------------------------------------------------
def _kraken(
    credentials: Mapping[str, str], config: OrderConfig, instrument: Callable[[str], Instrument] | None
) -> OrderClient:
    from venues.kraken.orders import KrakenOrderClient

    return KrakenOrderClient(credentials, config, instrument=instrument)


ORDER_CLIENTS["kraken"] = _kraken


# -- coinbase ---------------------------------------------------------------------------------------
def _coinbase(
    credentials: Mapping[str, str], config: OrderConfig, instrument: Callable[[str], Instrument] | None
) -> OrderClient:
    from venues.coinbase.orders import CoinbaseOrderClient

    return CoinbaseOrderClient(credentials, config, instrument=instrument)


ORDER_CLIENTS["coinbase"] = _coinbase


# -- kalshi -----------------------------------------------------------------------------------------
def _kalshi(
    credentials: Mapping[str, str], config: OrderConfig, instrument: Callable[[str], Instrument] | None
) -> OrderClient:
    from venues.kalshi.orders import KalshiOrderClient

    return KalshiOrderClient(credentials, config, instrument=instrument)


ORDER_CLIENTS["kalshi"] = _kalshi


# -- polymarket -------------------------------------------------------------------------------------
def _polymarket(
    credentials: Mapping[str, str], config: OrderConfig, instrument: Callable[[str], Instrument] | None
) -> OrderClient:
    from venues.polymarket.orders import PolymarketOrderClient

    return PolymarketOrderClient(credentials, config, instrument=instrument)


ORDER_CLIENTS["polymarket"] = _polymarket
