"""The order-book snapshot every venue produces and every consumer reads.

A `BookSnapshot` is one book state of one instrument at an event time, in the algo ABI's units
(price ×1e9, quantity ×1e8). The simulator (`venues.sim`) builds them through a fast path that
shares depth "shapes" between neighbours; the live feeds and recorded data build them from levels.
Pure Python, no Django.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BookSnapshot", "DepthShape", "Level"]

Level = tuple[int, int]  # (price_1e9, qty_1e8)
# The simulator's compact depth of one side: (the price past which levels stop, ((price offset from
# the top of book, qty_1e8), ...)), shared between snapshots until the shape changes.
DepthShape = tuple[int, tuple[tuple[int, int], ...]]


class BookSnapshot:
    """One order-book state of one instrument at `ts_ns`.

    Top of book as plain attributes (`bid_px`, `bid_qty`, `ask_px`, `ask_qty`; a missing side of a
    one-sided book is 0/0, exactly as the ABI passes it to `on_book`). The full depth, `bids`
    (best first, descending prices) and `asks` (best first, ascending), are tuples of
    (price_1e9, qty_1e8) built on first access. Treat snapshots as immutable; they are safe to keep.
    """

    __slots__ = ("ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty", "_bshape", "_ashape", "_bids", "_asks")

    ts_ns: int
    bid_px: int
    bid_qty: int
    ask_px: int
    ask_qty: int
    _bshape: DepthShape
    _ashape: DepthShape
    # None: "not built yet" (a simulator snapshot builds its levels from the shapes on first access).
    _bids: tuple[Level, ...] | None
    _asks: tuple[Level, ...] | None

    def __init__(
        self, ts_ns: int, bids: tuple[Level, ...] | list[Level], asks: tuple[Level, ...] | list[Level]
    ):
        """A snapshot from explicit levels (recorded data, tests). The simulator uses a faster path."""
        b = tuple((int(p), int(q)) for p, q in bids)
        a = tuple((int(p), int(q)) for p, q in asks)
        self.ts_ns = int(ts_ns)
        self.bid_px, self.bid_qty = b[0] if b else (0, 0)
        self.ask_px, self.ask_qty = a[0] if a else (0, 0)
        self._bids = b
        self._asks = a

    @property
    def bids(self) -> tuple[Level, ...]:
        """Bid levels, best (highest) first; () when the book has no bids."""
        # The simulator creates snapshots with _bids None ("not built yet"); other code that
        # builds them through object.__new__ may leave the slot unset.
        try:
            levels = self._bids
        except AttributeError:
            levels = None
        if levels is not None:
            return levels
        px = self.bid_px
        if px == 0:
            levels = ()
        else:
            limit, pairs = self._bshape
            out = [(px, self.bid_qty)]
            for off, qty in pairs:
                p = px - off
                if p < limit:
                    break
                out.append((p, qty))
            levels = tuple(out)
        self._bids = levels
        return levels

    @property
    def asks(self) -> tuple[Level, ...]:
        """Ask levels, best (lowest) first; () when the book has no asks."""
        # The simulator creates snapshots with _asks None ("not built yet"); other code that
        # builds them through object.__new__ may leave the slot unset.
        try:
            levels = self._asks
        except AttributeError:
            levels = None
        if levels is not None:
            return levels
        px = self.ask_px
        if px == 0:
            levels = ()
        else:
            limit, pairs = self._ashape
            out = [(px, self.ask_qty)]
            for off, qty in pairs:
                p = px + off
                if p > limit:
                    break
                out.append((p, qty))
            levels = tuple(out)
        self._asks = levels
        return levels

    @property
    def best_bid(self) -> Level | None:
        """(price_1e9, qty_1e8) of the best bid, or None when there are no bids."""
        return (self.bid_px, self.bid_qty) if self.bid_px else None

    @property
    def best_ask(self) -> Level | None:
        """(price_1e9, qty_1e8) of the best ask, or None when there are no asks."""
        return (self.ask_px, self.ask_qty) if self.ask_px else None

    @property
    def mid_1e9(self) -> int:
        """Mid price (floor of the average) of a two-sided book; the one present side of a one-sided
        book; 0 for an empty book."""
        b, a = self.bid_px, self.ask_px
        if b and a:
            return (b + a) // 2
        return b or a

    def level(self, side: int, index: int, which: int) -> int:
        """The ABI's `book_level`: side 0 bids / 1 asks, index 0 = best, which 0 = price_1e9,
        1 = qty_1e8. Returns 0 when the level does not exist or an argument is out of range.

        On the simulator's snapshots a deeper level is read straight from the depth shape (the
        offsets grow, so level i exists iff its own price is within the bound): an algo reading a
        few levels per update does not build the whole `bids`/`asks` tuples.
        """
        if which != 0 and which != 1:
            return 0
        if index == 0:
            if side == 0:
                return self.bid_qty if which else self.bid_px
            if side == 1:
                return self.ask_qty if which else self.ask_px
            return 0
        if index < 0 or (side != 0 and side != 1):
            return 0
        if type(self) is BookSnapshot:
            if side == 0:
                if self._bids is None:  # a simulator snapshot whose levels are not built yet
                    px = self.bid_px
                    if not px:
                        return 0
                    limit, pairs = self._bshape
                    if index > len(pairs):
                        return 0
                    off, qty = pairs[index - 1]
                    p = px - off
                    return 0 if p < limit else qty if which else p
            elif self._asks is None:
                px = self.ask_px
                if not px:
                    return 0
                limit, pairs = self._ashape
                if index > len(pairs):
                    return 0
                off, qty = pairs[index - 1]
                p = px + off
                return 0 if p > limit else qty if which else p
        levels = self.bids if side == 0 else self.asks
        if index < len(levels):
            return levels[index][which]
        return 0

    def as_tuple(self) -> tuple[int, tuple[Level, ...], tuple[Level, ...]]:
        """(ts_ns, bids, asks): the full content, for comparison, hashing and recording."""
        return (self.ts_ns, self.bids, self.asks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: {"ts_ns", "bids": [[px, qty], ...], "asks": [...]}."""
        return {
            "ts_ns": self.ts_ns,
            "bids": [list(lv) for lv in self.bids],
            "asks": [list(lv) for lv in self.asks],
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BookSnapshot):
            return NotImplemented
        return self.as_tuple() == other.as_tuple()

    __hash__ = None  # type: ignore[assignment]  # equality is by content, snapshots are not keys

    def __repr__(self) -> str:
        return (
            f"BookSnapshot(ts_ns={self.ts_ns}, bid={self.bid_px}x{self.bid_qty}, "
            f"ask={self.ask_px}x{self.ask_qty}, depth={len(self.bids)}/{len(self.asks)})"
        )
