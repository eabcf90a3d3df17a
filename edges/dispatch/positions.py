"""A slot's position and PnL: read from its core's exact accumulators (`SlotPositions`), and what a
new slot continues from (`CarriedPosition`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from edges.core.instance import (
    A_COST,
    A_NOTIONAL,
    A_REALIZED,
    A_SESSION_REALIZED,
    S_CANCELS,
    S_FEES,
    S_FILLS,
    S_MARK,
    S_ORDERS,
    S_POSITION,
    S_REJECTS,
    S_SESSION_FEES,
    S_TRADES,
    S_VOLUME,
    AlgoCore,
)
from venues.accounting import average_entry_price_1e9, net_realized_pnl_1e9, position_summary

Q = 100_000_000  # the accumulators are ×1e9 prices times ×1e8 quantities: Q turns them into ×1e9
_M64 = (1 << 64) - 1


def _i128(G: Any, i: int) -> int:
    """The core's exact accumulators are i128 (low word, high word) pairs in G."""
    value: int = (G[i] & _M64) | (G[i + 1] << 64)
    return value


def set_i128(G: Any, i: int, value: int) -> None:
    low = value & _M64
    G[i] = low - (1 << 64) if low >= 1 << 63 else low
    G[i + 1] = value >> 64


@dataclass(frozen=True, slots=True)
class CarriedPosition:
    """What an algo's book continues from in a new slot (a new version of the algo, or an edge
    process that restarted): fees paid before are inside the realized figures."""

    position_1e8: int
    avg_entry_price_1e9: int
    realized_pnl_1e9: int
    session_realized_pnl_1e9: int


class SlotCore(Protocol):
    """What SlotPositions reads of its slot (an `AlgoSlot`, whose module imports this one)."""

    core: AlgoCore | None
    _zero: list[int]
    account: str
    symbol: str


class SlotPositions:
    """Position, PnL and counters of one slot, read from its core (PositionBook's field names and
    arithmetic: average cost, fees deducted from realized PnL, floors on the ×1e9 figures)."""

    __slots__ = ("_slot", "algo", "symbol")

    def __init__(self, slot: SlotCore) -> None:
        self._slot = slot
        self.algo = str(slot.account)
        self.symbol = slot.symbol

    def _g(self) -> Any:
        core = self._slot.core
        return core.G if core is not None else self._slot._zero

    position_1e8 = property(lambda self: int(self._g()[S_POSITION]))
    mark_price_1e9 = property(lambda self: int(self._g()[S_MARK]))
    fees_1e9 = property(lambda self: int(self._g()[S_FEES]))
    session_fees_1e9 = property(lambda self: int(self._g()[S_SESSION_FEES]))
    order_count = property(lambda self: int(self._g()[S_ORDERS]))
    reject_count = property(lambda self: int(self._g()[S_REJECTS]))
    cancel_count = property(lambda self: int(self._g()[S_CANCELS]))
    fill_count = property(lambda self: int(self._g()[S_FILLS]))
    trade_count = property(lambda self: int(self._g()[S_TRADES]))
    volume_1e8 = property(lambda self: int(self._g()[S_VOLUME]))

    @property
    def avg_entry_price_1e9(self) -> int:
        G = self._g()
        return average_entry_price_1e9(G[S_POSITION], _i128(G, A_COST))

    @property
    def realized_pnl_1e9(self) -> int:
        G = self._g()
        return net_realized_pnl_1e9(_i128(G, A_REALIZED), G[S_FEES])

    @property
    def gross_realized_pnl_1e9(self) -> int:
        return _i128(self._g(), A_REALIZED) // Q

    @property
    def session_realized_pnl_1e9(self) -> int:
        G = self._g()
        return net_realized_pnl_1e9(_i128(G, A_SESSION_REALIZED), G[S_SESSION_FEES])

    @property
    def unrealized_pnl_1e9(self) -> int:
        G = self._g()
        pos: int = G[S_POSITION]
        mark: int = G[S_MARK]
        if pos == 0 or mark == 0:
            return 0
        return (mark * pos - _i128(G, A_COST)) // Q

    @property
    def notional_1e9(self) -> int:
        return _i128(self._g(), A_NOTIONAL) // Q

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary with the API's field names."""
        return position_summary(self)

    def carried(self) -> CarriedPosition:
        return CarriedPosition(
            position_1e8=self.position_1e8,
            avg_entry_price_1e9=self.avg_entry_price_1e9,
            realized_pnl_1e9=self.realized_pnl_1e9,
            session_realized_pnl_1e9=self.session_realized_pnl_1e9,
        )
