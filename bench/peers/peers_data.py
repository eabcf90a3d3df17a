"""What the bench/peers processes share: the exported day's layout and Sequence's market maker build."""

from __future__ import annotations

from typing import Any

COLUMNS = ("ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty")

# examples/algos/market_maker as "cancel, then join best bid and best ask": a 0.01 grid, 0.5 ETH
# quotes, no depth or inventory skew, top level only, a position limit it never reaches.
MM_ARGS = (
    "-DMM_TICK_1E9=10000000",
    "-DMM_ORDER_QTY_1E8=50000000",
    "-DMM_DEPTH_LEVELS=1",
    "-DMM_DEPTH_SKEW_TICKS=0",
    "-DMM_INV_SKEW_TICKS=0",
    "-DMM_MAX_POS_1E8=100000000000000000",
)
QTY_1E8 = 50_000_000  # the quote size, ×1e8


def load(path: str) -> dict[str, Any]:
    """The exported day as numpy columns: five int64 little-endian columns back to back (ts_ns,
    bid_px ×1e9, bid_qty ×1e8, ask_px, ask_qty)."""
    import numpy as np  # the peers' venvs have numpy; the repo's does not need it for the rest

    flat = np.fromfile(path, dtype="<i8")
    return dict(zip(COLUMNS, flat.reshape(len(COLUMNS), -1), strict=True))
