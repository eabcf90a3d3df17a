"""services of strategies (see STYLE.md)."""

from __future__ import annotations
