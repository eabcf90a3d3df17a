"""Models of backtests."""

from __future__ import annotations
