"""Simulated venues: instrument catalog, seeded market data, paper matching, accounting, adapters.

Pure Python with no Django imports: the edge worker, the backtest replay loop and the benchmarks
import it directly. Units follow the algo ABI (price ×1e9, quantity ×1e8, PnL ×1e9; side 0 buy,
1 sell).
"""

from __future__ import annotations

from edges.venues.accounting import PositionBook
from edges.venues.adapter import SimVenueAdapter, VenueAdapter
from edges.venues.instruments import (
    PREDICTION_VENUES,
    SPOT_VENUES,
    VENUES,
    Instrument,
    PredictionMarket,
    find_instrument,
    get_instrument,
    instruments_for_venue,
    markets,
)
from edges.venues.matching import Fill, MatchingEngine, SubmitResult
from edges.venues.simulator import BookSnapshot, MarketSimulator
from edges.venues.symbols import normalize_spot_symbol

__all__ = [
    "PREDICTION_VENUES",
    "SPOT_VENUES",
    "VENUES",
    "BookSnapshot",
    "Fill",
    "Instrument",
    "MarketSimulator",
    "MatchingEngine",
    "PositionBook",
    "PredictionMarket",
    "SimVenueAdapter",
    "SubmitResult",
    "VenueAdapter",
    "find_instrument",
    "get_instrument",
    "instruments_for_venue",
    "markets",
    "normalize_spot_symbol",
]
