"""Positions and PnL of one algo on one symbol, in exact integer arithmetic.

Method: **average cost**. Buys into a long (or sells into a short) add to the position and its
cost basis; fills against the position realise (exit − average entry) × closed quantity; a fill
larger than the position closes it and opens the rest on the other side at the fill price. Fees
are deducted from realized PnL as they are paid (opening fills included), so
`realized_pnl_1e9` is net of every fee and `unrealized_pnl_1e9` is gross (before exit fees).

Units: position ×1e8, prices ×1e9, PnL and fees ×1e9. The cost basis is kept as the exact sum of
price_1e9 × qty_1e8 (units of 1e17), and realized PnL at the same scale, so no rounding error
accumulates; the ×1e9 figures are floored from them when read (floor: a loss of a fraction of a
nano-dollar shows as −1, never as 0).
"""

from __future__ import annotations

from typing import Any

from venues.matching import BUY, SELL, Fill

__all__ = [
    "PositionBook",
    "average_cost_fill",
    "average_entry_price_1e9",
    "net_realized_pnl_1e9",
    "position_summary",
]

_Q = 100_000_000  # qty_1e8 per unit: (price_1e9 × qty_1e8) / _Q is in 1e9 money units


def average_cost_fill(
    position_1e8: int, cost_raw: int, signed_qty_1e8: int, price_1e9: int
) -> tuple[int, int, int]:
    """Apply one fill (`signed_qty_1e8` > 0 buys, < 0 sells) to a position and its cost basis.

    Returns `(new_position_1e8, new_cost_raw, realized_raw)`: the cost basis and the gross PnL the
    fill realized are exact sums at the 1e17 scale (price_1e9 × qty_1e8); realized is 0 when the
    fill only added to the position. Shared by `PositionBook` and the trading app's stored
    positions, so both account alike.
    """
    pos = position_1e8
    if pos == 0 or (pos > 0) == (signed_qty_1e8 > 0):
        return pos + signed_qty_1e8, cost_raw + price_1e9 * signed_qty_1e8, 0
    # Reducing (and maybe flipping) the position.
    abs_pos = pos if pos > 0 else -pos
    abs_qty = signed_qty_1e8 if signed_qty_1e8 > 0 else -signed_qty_1e8
    closed = abs_qty if abs_qty < abs_pos else abs_pos
    # Closing it all removes the whole basis, so no rounding residue survives a flat position;
    # a partial close removes the floored share and leaves the residue in the basis.
    removed = cost_raw if closed == abs_pos else cost_raw * closed // abs_pos
    # Long: proceeds − cost. Short: `removed` is −(entry value): entry value − buy-back cost.
    realized = price_1e9 * closed - removed if pos > 0 else -removed - price_1e9 * closed
    cost = cost_raw - removed
    new_pos = pos + signed_qty_1e8
    if new_pos == 0 or (new_pos > 0) != (pos > 0):
        # Flipped through zero: the remainder opens at the fill price.
        cost = price_1e9 * new_pos
    return new_pos, cost, realized


def average_entry_price_1e9(position_1e8: int, cost_raw: int) -> int:
    """Average entry price of an open position (floored), 0 when flat."""
    if position_1e8 == 0:
        return 0
    return cost_raw // position_1e8  # cost and position have the same sign


def net_realized_pnl_1e9(realized_raw: int, fees_1e9: int) -> int:
    """Realized PnL (raw, 1e17 scale) in 1e9 units, floored, net of the fees paid."""
    return realized_raw // _Q - fees_1e9


class PositionBook:
    """Position, PnL and counters of one (algo, symbol).

    `position_1e8` (signed), `avg_entry_price_1e9` (0 when flat), `realized_pnl_1e9` (lifetime,
    net of fees), `session_realized_pnl_1e9` (since `reset_session()`, net of fees),
    `unrealized_pnl_1e9` (at the last `mark`), `fees_1e9`; counters `order_count` (orders sent,
    rejected ones included), `reject_count`, `cancel_count`, `fill_count` (fill events),
    `trade_count` (round trips: times the position went back to flat or through zero),
    `volume_1e8` (quantity filled) and `notional_1e9` (value filled).
    """

    __slots__ = (
        "algo",
        "symbol",
        "position_1e8",
        "mark_price_1e9",
        "fees_1e9",
        "session_fees_1e9",
        "order_count",
        "reject_count",
        "cancel_count",
        "fill_count",
        "trade_count",
        "volume_1e8",
        "_notional_raw",
        "_cost_raw",
        "_realized_raw",
        "_session_realized_raw",
    )

    def __init__(self, algo: str = "", symbol: str = "") -> None:
        self.algo = algo
        self.symbol = symbol
        self.position_1e8 = 0
        self.mark_price_1e9 = 0
        self.fees_1e9 = 0
        self.session_fees_1e9 = 0
        self.order_count = 0
        self.reject_count = 0
        self.cancel_count = 0
        self.fill_count = 0
        self.trade_count = 0
        self.volume_1e8 = 0
        self._notional_raw = 0
        self._cost_raw = 0  # Σ price_1e9 × signed qty_1e8 of the open position
        self._realized_raw = 0  # gross realized PnL × 1e8 (1e17 units)
        self._session_realized_raw = 0

    # ------------------------------------------------------------------------------------------
    # events

    def on_fill(self, side: int, price_1e9: int, qty_1e8: int, fee_1e9: int = 0) -> int:
        """Apply one fill. Returns the gross PnL it realized (1e9 units, floored; 0 when it only
        added to the position); the fee is deducted separately in `realized_pnl_1e9`."""
        if qty_1e8 <= 0:
            raise ValueError("fill quantity must be > 0")
        if side == BUY:
            signed = qty_1e8
        elif side == SELL:
            signed = -qty_1e8
        else:
            raise ValueError(f"bad side {side!r}")
        self.fill_count += 1
        self.volume_1e8 += qty_1e8
        self._notional_raw += price_1e9 * qty_1e8
        self.fees_1e9 += fee_1e9
        self.session_fees_1e9 += fee_1e9

        pos = self.position_1e8
        new_pos, self._cost_raw, realized = average_cost_fill(pos, self._cost_raw, signed, price_1e9)
        self.position_1e8 = new_pos
        self._realized_raw += realized
        self._session_realized_raw += realized
        if pos != 0 and (new_pos == 0 or (new_pos > 0) != (pos > 0)):
            self.trade_count += 1  # back to flat, or through zero
        return realized // _Q

    def apply_fill(self, fill: Fill) -> int:
        """`on_fill` for a matching-engine `Fill`; returns the gross PnL it realized."""
        return self.on_fill(fill.side, fill.price_1e9, fill.qty_1e8, fill.fee_1e9)

    def on_order(self) -> None:
        """Count one order sent (call it for rejected orders too)."""
        self.order_count += 1

    def on_reject(self) -> None:
        """Count one rejected order."""
        self.reject_count += 1

    def on_cancel(self, n: int = 1) -> None:
        """Count `n` cancelled orders."""
        self.cancel_count += n

    def mark(self, price_1e9: int) -> None:
        """Set the mark price for unrealized PnL (the book mid). O(1): no PnL is computed here, so
        it can be called on every book update; a price of 0 (empty book) keeps the old mark."""
        if price_1e9:
            self.mark_price_1e9 = price_1e9

    def reset_session(self) -> None:
        """Start a new session (algo start): session PnL and fees back to 0; the position, its
        basis and the lifetime figures carry over."""
        self._session_realized_raw = 0
        self.session_fees_1e9 = 0

    # ------------------------------------------------------------------------------------------
    # reads

    @property
    def avg_entry_price_1e9(self) -> int:
        """Average entry price of the open position (floored), 0 when flat."""
        return average_entry_price_1e9(self.position_1e8, self._cost_raw)

    @property
    def realized_pnl_1e9(self) -> int:
        """Lifetime realized PnL, net of all fees paid."""
        return net_realized_pnl_1e9(self._realized_raw, self.fees_1e9)

    @property
    def gross_realized_pnl_1e9(self) -> int:
        """Lifetime realized PnL before fees."""
        return self._realized_raw // _Q

    @property
    def session_realized_pnl_1e9(self) -> int:
        """Realized PnL since `reset_session()`, net of the fees paid in the session."""
        return net_realized_pnl_1e9(self._session_realized_raw, self.session_fees_1e9)

    @property
    def unrealized_pnl_1e9(self) -> int:
        """(mark − average entry) × position at the last mark; 0 when flat or never marked."""
        if self.position_1e8 == 0 or self.mark_price_1e9 == 0:
            return 0
        return (self.mark_price_1e9 * self.position_1e8 - self._cost_raw) // _Q

    def unrealized_at(self, price_1e9: int) -> int:
        """Unrealized PnL if marked at `price_1e9` (does not change the mark)."""
        if self.position_1e8 == 0:
            return 0
        return (price_1e9 * self.position_1e8 - self._cost_raw) // _Q

    @property
    def notional_1e9(self) -> int:
        """Total value filled (floored)."""
        return self._notional_raw // _Q

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary with the API's field names."""
        return position_summary(self)


_SUMMARY_FIELDS = (
    "algo",
    "symbol",
    "position_1e8",
    "avg_entry_price_1e9",
    "realized_pnl_1e9",
    "session_realized_pnl_1e9",
    "unrealized_pnl_1e9",
    "mark_price_1e9",
    "fees_1e9",
    "order_count",
    "reject_count",
    "cancel_count",
    "fill_count",
    "trade_count",
    "volume_1e8",
    "notional_1e9",
)


def position_summary(book: Any) -> dict[str, Any]:
    """The API's summary of a position book (PositionBook, or a slot's view of its core)."""
    return {name: getattr(book, name) for name in _SUMMARY_FIELDS}
