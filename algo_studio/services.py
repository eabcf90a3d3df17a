"""services of algo_studio (see STYLE.md)."""

from __future__ import annotations
