"""services of edges (see STYLE.md)."""

from __future__ import annotations
