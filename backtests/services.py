"""services of backtests (see STYLE.md)."""

from __future__ import annotations
