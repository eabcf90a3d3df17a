"""A level-2 order book kept from a venue's snapshot and incremental updates.

Prices and sizes are the ABI's integers (price ×1e9, quantity ×1e8): venues send decimal text, and
the protocols convert it exactly (`venues.instruments.to_price_1e9`/`to_qty_1e8`, never a float).
Each side is a dict price → level (the `(price, size)` tuple a snapshot hands out) plus a sorted
list of its prices, so an update is a dict write and, for a new or emptied level, one bisect; the
top of book and the first levels are read off the ends of the list without sorting.

The best levels of each side, as the tuple a `BookSnapshot` holds, are kept between snapshots and
built again only after a change within them: an update deeper in the book, or on the other side,
costs a snapshot nothing but the snapshot object itself.

This class is the reference. Where `pip install -e .` built venues/live/native/l2book.c, `L2Book` is
the same book as a C type (`NativeL2Book`: one sorted array per side, best level last): the same
answers and the same kept tuples, tested against this class (tests/venues/live/test_book.py), and a
few µs less Python per frame. `SEQUENCE_NATIVE_FEED=0` (read at import) keeps this class.
"""

from __future__ import annotations

import os
from bisect import bisect_left, insort
from typing import TYPE_CHECKING

from venues.book import BookSnapshot, Level

__all__ = ["L2Book", "PyL2Book", "NativeL2Book", "snapshot_of", "native_books"]

BID = 0
ASK = 1


class PyL2Book:
    """One instrument's book. Not thread-safe: one feed owns it."""

    __slots__ = ("_levels", "_prices", "_tops", "_top_depth")

    def __init__(self) -> None:
        self._levels: tuple[dict[int, Level], dict[int, Level]] = ({}, {})  # price → (price, size)
        self._prices: tuple[list[int], list[int]] = ([], [])  # ascending, both sides
        # The best `_top_depth` levels of each side, best first; None once a change reached them.
        self._tops: list[tuple[Level, ...] | None] = [None, None]
        self._top_depth = 0

    def clear(self) -> None:
        for side in (BID, ASK):
            self._levels[side].clear()
            self._prices[side].clear()
        self._tops[BID] = self._tops[ASK] = None

    def set(self, side: int, price_1e9: int, qty_1e8: int) -> None:
        """Set the size at a level (0 removes it). Removing an absent level is a no-op."""
        levels = self._levels[side]
        prices = self._prices[side]
        tops = self._tops
        kept = tops[side]
        if qty_1e8 > 0:
            level = (price_1e9, qty_1e8)
            if price_1e9 in levels:
                levels[price_1e9] = level
                if kept is not None:
                    # A new size at a price already there (most updates): the kept levels change
                    # only if the price is among them, and then in that one place.
                    at = bisect_left(prices, price_1e9)
                    i = len(prices) - 1 - at if side == BID else at
                    if i < len(kept):
                        tops[side] = (*kept[:i], level, *kept[i + 1 :])
                return
            levels[price_1e9] = level
            insort(prices, price_1e9)
        elif levels.pop(price_1e9, None) is not None:
            del prices[bisect_left(prices, price_1e9)]
        else:
            return
        if kept is not None:
            # A level added or removed within the kept best levels (or on a side too short to have
            # levels beyond them) moves them; one worse than the last kept one leaves them.
            # (A top of no levels, depth 0, no change reaches.)
            last = kept[-1][0] if kept else None
            if len(kept) < self._top_depth or (
                last is not None and (price_1e9 >= last if side == BID else price_1e9 <= last)
            ):
                tops[side] = None

    def add(self, side: int, price_1e9: int, delta_1e8: int) -> None:
        """Add a signed change to the size at a level (the level goes at <= 0): Kalshi's deltas."""
        lv = self._levels[side].get(price_1e9)
        self.set(side, price_1e9, lv[1] + delta_1e8 if lv is not None else delta_1e8)

    def size(self, side: int, price_1e9: int) -> int:
        """The size at a level (0 when there is none)."""
        lv = self._levels[side].get(price_1e9)
        return lv[1] if lv is not None else 0

    def replace(self, bids: list[Level], asks: list[Level]) -> None:
        """Load a snapshot (levels in any order; zero sizes are skipped)."""
        for side, given in ((BID, bids), (ASK, asks)):
            levels = {px: (px, qty) for px, qty in given if qty > 0}
            self._levels[side].clear()
            self._levels[side].update(levels)
            self._prices[side][:] = sorted(levels)
            self._tops[side] = None

    def truncate(self, side: int, depth: int) -> None:
        """Keep only the best `depth` levels of a side (a venue that streams a fixed depth drops the
        levels pushed out of it without saying so: Kraken)."""
        prices = self._prices[side]
        extra = len(prices) - depth
        if extra <= 0:
            return
        levels = self._levels[side]
        if side == BID:  # worst bids are the lowest, at the front
            dropped = prices[:extra]
            del prices[:extra]
        else:
            dropped = prices[depth:]
            del prices[depth:]
        for px in dropped:
            del levels[px]
        self._tops[side] = None

    def best(self, side: int) -> Level | None:
        prices = self._prices[side]
        if not prices:
            return None
        return self._levels[side][prices[-1] if side == BID else prices[0]]

    def best_prices(self) -> tuple[int | None, int | None]:
        """(best bid price, best ask price), None for an empty side: one call for the checks that
        read both (crossed, the venue's own top of book)."""
        bids, asks = self._prices
        return (bids[-1] if bids else None, asks[0] if asks else None)

    def levels(self, side: int, depth: int) -> list[Level]:
        """The best `depth` levels of a side, best first."""
        prices = self._prices[side]
        levels = self._levels[side]
        if side == BID:
            chosen = prices[: -depth - 1 : -1] if depth < len(prices) else prices[::-1]
        else:
            chosen = prices[:depth]
        return [levels[px] for px in chosen]

    def top(self, side: int, depth: int) -> tuple[Level, ...]:
        """`levels(side, depth)` as a tuple, the same tuple as last time when nothing in it changed
        (a consumer may compare by identity)."""
        tops = self._tops
        if depth != self._top_depth:
            self._top_depth = depth
            tops[BID] = tops[ASK] = None
        kept = tops[side]
        if kept is None:
            kept = tops[side] = tuple(self.levels(side, depth))
        return kept

    def depth(self, side: int) -> int:
        return len(self._prices[side])

    @property
    def crossed(self) -> bool:
        """True when the best bid is at or above the best ask (a book that can't be right)."""
        bids, asks = self._prices
        return bool(bids) and bool(asks) and bids[-1] >= asks[0]

    def snapshot(self, ts_ns: int, depth: int = 10) -> BookSnapshot:
        return snapshot_of(ts_ns, self.top(BID, depth), self.top(ASK, depth))


_new_snapshot = object.__new__


def snapshot_of(ts_ns: int, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> BookSnapshot:
    """A `BookSnapshot` from level tuples that are already (int, int) pairs, best first (what
    `L2Book` keeps): the same object `BookSnapshot(ts_ns, bids, asks)` builds, without re-checking
    every level on the hot path."""
    snap = _new_snapshot(BookSnapshot)
    snap.ts_ns = ts_ns
    snap.bid_px, snap.bid_qty = bids[0] if bids else (0, 0)
    snap.ask_px, snap.ask_qty = asks[0] if asks else (0, 0)
    snap._bids = bids
    snap._asks = asks
    return snap


try:  # venues/live/native/l2book.c, built by `pip install -e .`
    from venues.live._l2book import L2Book as _CBook
except ImportError:  # pragma: no cover - a checkout whose extension was not built
    _CBook = None

if _CBook is not None:

    class NativeL2Book(_CBook):  # type: ignore[misc,valid-type]
        """`PyL2Book` in C (venues/live/native/l2book.c), with the same `snapshot`."""

        __slots__ = ()

        def snapshot(self, ts_ns: int, depth: int = 10) -> BookSnapshot:
            return snapshot_of(ts_ns, self.top(BID, depth), self.top(ASK, depth))

else:  # pragma: no cover
    NativeL2Book = None  # type: ignore[assignment,misc]


def native_books() -> bool:
    """True when `L2Book` is the C type (built, and not turned off by SEQUENCE_NATIVE_FEED=0)."""
    return NativeL2Book is not None and os.environ.get("SEQUENCE_NATIVE_FEED", "1") != "0"


if TYPE_CHECKING or not native_books():  # noqa: SIM108 - the type checker sees the reference
    L2Book = PyL2Book
else:
    L2Book = NativeL2Book
