"""The price stream's wire format and group names, shared by the edge (which publishes) and the
websocket consumer (which delivers). No Django models: the edge imports it on its quote timer."""

from __future__ import annotations

import hashlib
from typing import Any

from venues.symbols import hyphen_symbol

PRICE_EVENT = "price.update"


def price_group(*, is_sandbox: bool, venue: str, symbol: str) -> str:
    """The channel-layer group of one (mode, venue, symbol). Hashed: group names must be short
    ASCII, and Polymarket token ids alone are 77 digits."""
    digest = hashlib.blake2b(f"{venue}:{symbol}".encode(), digest_size=10).hexdigest()
    return f"prices.{'test' if is_sandbox else 'live'}.{digest}"


def price_data(payload: dict[str, Any]) -> dict[str, Any]:
    """`data` of a `prices:{symbol}` message, from an edge's quote payload (`quote_payload`)."""
    bid, ask = payload["bid_px_1e9"], payload["ask_px_1e9"]
    return {
        "bid": bid / 1e9 if bid else None,
        "ask": ask / 1e9 if ask else None,
        "mid": (bid + ask) // 2 / 1e9 if bid and ask else None,
        "bid_size": payload["bid_qty_1e8"] / 1e8 if bid else None,
        "ask_size": payload["ask_qty_1e8"] / 1e8 if ask else None,
        "venue": payload["venue"],
        "symbol": hyphen_symbol(payload["symbol"]),
        "ts_ns": payload["ts_ns"],
    }


def price_event(*, is_sandbox: bool, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(group, channel-layer message) for one changed book."""
    group = price_group(is_sandbox=is_sandbox, venue=payload["venue"], symbol=payload["symbol"])
    return group, {"type": PRICE_EVENT, "group": group, "data": price_data(payload)}
