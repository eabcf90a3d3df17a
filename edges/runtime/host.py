"""What an AlgoInstance needs from the edge (or the backtest replay) that runs it."""

from __future__ import annotations

from typing import Protocol

from edges.runtime.abi import CANCEL_UNKNOWN, ERR_HALTED


class AlgoHost(Protocol):
    """The host side of the `seq` imports, for one algo on one symbol.

    The runtime has already checked the cheap things before calling: the per-callback action limit
    (place_order/cancel_order/cancel_all), side in {0, 1}, price and quantity > 0, book_level
    arguments in range, and it decoded log() bytes to text. The host checks the rest (tick grid,
    lots, risk, market state) and returns the ABI codes. Return values must be Python ints that fit
    the import's result type (i64, or i32 for cancel_order and open_order_count).

    Methods run inside a wasm call: they must not call back into the same AlgoInstance (queue fills
    and rejects and deliver them after the callback returns). An exception raised here traps the
    algo with kind "host_error"; it does not propagate.
    """

    def place_order(self, side: int, price_1e9: int, qty_1e8: int) -> int:
        """Order id > 0, or ERR_BAD_PRICE / ERR_BAD_QTY / ERR_RISK / ERR_HALTED."""
        ...

    def cancel_order(self, order_id: int) -> int:
        """CANCEL_OK (0) or CANCEL_UNKNOWN (-1)."""
        ...

    def cancel_all(self) -> None: ...

    def log(self, level: int, message: str) -> None:
        """level is already clamped to 0..3; message is at most 1024 bytes of UTF-8."""
        ...

    def position_1e8(self) -> int: ...

    def open_order_count(self) -> int: ...

    def book_level(self, side: int, index: int, which: int) -> int:
        """Price (which=0) or quantity (which=1) of level `index` (0 = best); 0 if absent."""
        ...

    def now_ns(self) -> int:
        """Event time of the current callback, never the wall clock."""
        ...


class NullHost:
    """A host that refuses every order and knows no market: used for trial instantiation."""

    def place_order(self, side: int, price_1e9: int, qty_1e8: int) -> int:
        return ERR_HALTED

    def cancel_order(self, order_id: int) -> int:
        return CANCEL_UNKNOWN

    def cancel_all(self) -> None:
        return None

    def log(self, level: int, message: str) -> None:
        return None

    def position_1e8(self) -> int:
        return 0

    def open_order_count(self) -> int:
        return 0

    def book_level(self, side: int, index: int, which: int) -> int:
        return 0

    def now_ns(self) -> int:
        return 0
