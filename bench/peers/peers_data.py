"""The exported day (run.py's ``export_day``) as numpy columns, for the peers' processes."""

from __future__ import annotations

import numpy as np

COLUMNS = ("ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty")


def load(path: str) -> dict[str, np.ndarray]:
    """Five int64 columns back to back: ts_ns, bid_px (×1e9), bid_qty (×1e8), ask_px, ask_qty."""
    flat = np.fromfile(path, dtype="<i8")
    return dict(zip(COLUMNS, flat.reshape(len(COLUMNS), -1), strict=True))
