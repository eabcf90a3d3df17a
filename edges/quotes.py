"""The quote hash: each edge writes its current books here (one Redis hash per mode, field
``<venue>:<symbol>``); the markets API (trading/selectors.py) reads it. This module owns its key and
its payload, so the writer and the readers import it and not each other."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from redis.client import Pipeline
from redis.typing import EncodableT, FieldT

from venues.book import BookSnapshot


def quote_payload(venue: str, symbol: str, snap: BookSnapshot, depth: int = 10) -> dict[str, Any]:
    """What the markets API and the price stream read: top of book plus ``depth`` levels a side."""
    return {
        "venue": venue,
        "symbol": symbol,
        "ts_ns": snap.ts_ns,
        "bid_px_1e9": snap.bid_px,
        "bid_qty_1e8": snap.bid_qty,
        "ask_px_1e9": snap.ask_px,
        "ask_qty_1e8": snap.ask_qty,
        "bids": [list(level) for level in snap.bids[:depth]],
        "asks": [list(level) for level in snap.asks[:depth]],
    }


def quotes_key(*, is_sandbox: bool) -> str:
    """Redis hash of current quotes per mode: field ``<venue>:<symbol>`` -> JSON (`quote_payload`)."""
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    return f"{prefix}:quotes:{'test' if is_sandbox else 'live'}"


def write_quotes(pipe: Pipeline, *, is_sandbox: bool, quotes: dict[str, dict[str, Any]]) -> None:
    """Queue on `pipe` the write of `quotes` (field -> `quote_payload`) into the mode's hash."""
    mapping: dict[FieldT, EncodableT] = {f: json.dumps(p) for f, p in quotes.items()}
    pipe.hset(quotes_key(is_sandbox=is_sandbox), mapping=mapping)
