"""Models of edges."""

from __future__ import annotations
