"""CSV market data -> the store's schema (pure; the ``import_market_data`` command calls it).

Layout (docs/backtests.md): a header row, then one book state per row::

    timestamp,bid_px,bid_qty,ask_px,ask_qty[,bid_px_1,bid_qty_1,ask_px_1,ask_qty_1 ... _4]
        [,trade_px,trade_qty,trade_side]

``timestamp``: ISO 8601 (``2026-03-02T00:00:01.5Z``; no offset means UTC) or a Unix epoch number in
seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude). Prices and sizes are
decimal strings, read exactly (at most 9 / 8 decimals). An empty or missing side is 0. Trade columns
are accepted and checked but not replayed: the paper matching engine fills from the book.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import pyarrow as pa

from venues.instruments import to_price_1e9, to_qty_1e8
from venues.marketdata.store import COLUMNS, DEPTH, SCHEMA

REQUIRED = ("timestamp", "bid_px", "bid_qty", "ask_px", "ask_qty")


class ImportError_(ValueError):
    """A bad file; the message names the line."""


def parse_timestamp(text: str) -> int:
    """-> ns since the epoch (UTC)."""
    text = text.strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is not None and number.is_finite():
        magnitude = abs(number)
        if magnitude < Decimal(10) ** 11:  # seconds (until year 5138)
            scale = 10**9
        elif magnitude < Decimal(10) ** 14:
            scale = 10**6
        elif magnitude < Decimal(10) ** 17:
            scale = 10**3
        else:
            scale = 1
        return int(number * scale)
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    delta = stamp - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1_000


def _px(text: str | None) -> int:
    return to_price_1e9(text.strip()) if text and text.strip() else 0


def _qty(text: str | None) -> int:
    return to_qty_1e8(text.strip()) if text and text.strip() else 0


def parse_csv(lines: Iterable[str]) -> pa.Table:
    """Parse the CSV into a table in the store's schema; raises ImportError_ with the line number."""
    reader = csv.DictReader(lines)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportError_(
            f"missing column(s) {', '.join(missing)}; the header must start with {','.join(REQUIRED)}"
        )
    reader.fieldnames = header
    cols: dict[str, list[int]] = {name: [] for name in COLUMNS}
    for line_no, row in enumerate(reader, start=2):
        try:
            cols["ts_ns"].append(parse_timestamp(row["timestamp"] or ""))
            for i in range(DEPTH):
                suffix = "" if i == 0 else f"_{i}"
                for side in ("bid", "ask"):
                    px = _px(row.get(f"{side}_px{suffix}"))
                    qty = _qty(row.get(f"{side}_qty{suffix}"))
                    if px < 0 or qty < 0 or (px == 0) != (qty == 0):
                        raise ValueError(f"{side} level {i}: price and size must both be > 0, or both empty")
                    cols[f"{side}_px_{i}"].append(px)
                    cols[f"{side}_qty_{i}"].append(qty)
            bid, ask = cols["bid_px_0"][-1], cols["ask_px_0"][-1]
            if bid and ask and bid >= ask:
                raise ValueError(f"crossed book: bid {row['bid_px']} >= ask {row['ask_px']}")
            if row.get("trade_px"):
                _px(row.get("trade_px"))
                _qty(row.get("trade_qty"))
                if (row.get("trade_side") or "buy").strip().lower() not in ("buy", "sell"):
                    raise ValueError("trade_side must be buy or sell")
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise ImportError_(f"line {line_no}: {exc}") from None
    return pa.Table.from_pydict(cols, schema=SCHEMA)
