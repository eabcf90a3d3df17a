"""The simulated venue: seeded market data with realistic microstructure and its adapter.

No Django; nothing here imports an app. `make run` and the tests use it by default (`--feed sim`).
"""

from __future__ import annotations

from venues.sim.adapter import SimVenueAdapter
from venues.sim.simulator import MarketSimulator, ReferencePath, reference_path

__all__ = ["MarketSimulator", "ReferencePath", "SimVenueAdapter", "reference_path"]
