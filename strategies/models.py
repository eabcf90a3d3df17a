"""Models of strategies."""

from __future__ import annotations
