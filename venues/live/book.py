"""A level-2 order book kept from a venue's snapshot and incremental updates.

Prices and sizes are the ABI's integers (price ×1e9, quantity ×1e8): venues send decimal text, and
the protocols convert it exactly (`venues.instruments.to_price_1e9`/`to_qty_1e8`, never a float).
Each side is a dict price → size plus a sorted list of its prices, so an update is a dict write and,
for a new or emptied level, one bisect; the top of book and the first levels are read off the ends
of the list without sorting.
"""

from __future__ import annotations

from bisect import bisect_left, insort

from venues.book import BookSnapshot, Level

__all__ = ["L2Book", "snapshot_from_levels"]

BID = 0
ASK = 1


class L2Book:
    """One instrument's book. Not thread-safe: one feed owns it."""

    __slots__ = ("_sizes", "_prices")

    def __init__(self) -> None:
        self._sizes: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self._prices: tuple[list[int], list[int]] = ([], [])  # ascending, both sides

    def clear(self) -> None:
        for side in (BID, ASK):
            self._sizes[side].clear()
            self._prices[side].clear()

    def set(self, side: int, price_1e9: int, qty_1e8: int) -> None:
        """Set the size at a level (0 removes it). Removing an absent level is a no-op."""
        sizes = self._sizes[side]
        if qty_1e8 > 0:
            if price_1e9 not in sizes:
                insort(self._prices[side], price_1e9)
            sizes[price_1e9] = qty_1e8
        elif sizes.pop(price_1e9, None) is not None:
            prices = self._prices[side]
            del prices[bisect_left(prices, price_1e9)]

    def replace(self, bids: list[Level], asks: list[Level]) -> None:
        """Load a snapshot (levels in any order; zero sizes are skipped)."""
        for side, levels in ((BID, bids), (ASK, asks)):
            sizes = {px: qty for px, qty in levels if qty > 0}
            self._sizes[side].clear()
            self._sizes[side].update(sizes)
            self._prices[side][:] = sorted(sizes)

    def truncate(self, side: int, depth: int) -> None:
        """Keep only the best `depth` levels of a side (a venue that streams a fixed depth drops the
        levels pushed out of it without saying so: Kraken)."""
        prices = self._prices[side]
        extra = len(prices) - depth
        if extra <= 0:
            return
        sizes = self._sizes[side]
        if side == BID:  # worst bids are the lowest, at the front
            dropped = prices[:extra]
            del prices[:extra]
        else:
            dropped = prices[depth:]
            del prices[depth:]
        for px in dropped:
            del sizes[px]

    def best(self, side: int) -> Level | None:
        prices = self._prices[side]
        if not prices:
            return None
        px = prices[-1] if side == BID else prices[0]
        return (px, self._sizes[side][px])

    def levels(self, side: int, depth: int) -> list[Level]:
        """The best `depth` levels of a side, best first."""
        prices = self._prices[side]
        sizes = self._sizes[side]
        if side == BID:
            chosen = prices[: -depth - 1 : -1] if depth < len(prices) else prices[::-1]
        else:
            chosen = prices[:depth]
        return [(px, sizes[px]) for px in chosen]

    def depth(self, side: int) -> int:
        return len(self._prices[side])

    @property
    def crossed(self) -> bool:
        """True when the best bid is at or above the best ask (a book that can't be right)."""
        bids, asks = self._prices
        return bool(bids) and bool(asks) and bids[-1] >= asks[0]

    def snapshot(self, ts_ns: int, depth: int = 10) -> BookSnapshot:
        return snapshot_from_levels(ts_ns, self.levels(BID, depth), self.levels(ASK, depth))


def snapshot_from_levels(ts_ns: int, bids: list[Level], asks: list[Level]) -> BookSnapshot:
    """A `BookSnapshot` from levels that are already (int, int) pairs, best first (what `L2Book`
    produces): the same object `BookSnapshot(ts_ns, bids, asks)` builds, without re-checking every
    level on the hot path."""
    snap = BookSnapshot.__new__(BookSnapshot)
    b = tuple(bids)
    a = tuple(asks)
    snap.ts_ns = ts_ns
    snap.bid_px, snap.bid_qty = b[0] if b else (0, 0)
    snap.ask_px, snap.ask_qty = a[0] if a else (0, 0)
    snap._bids = b
    snap._asks = a
    return snap
