"""Models of algo_studio."""

from __future__ import annotations
