"""The venue adapter interface: what an edge needs from a venue, simulated or live.

An edge worker talks to one venue through a `VenueAdapter`: market data in (subscribe, then poll
book updates), orders out (submit/cancel), fills back (a callback). `venues.sim.SimVenueAdapter`
implements it over the seeded simulator; the live venues implement it over their real protocols.

Time is event time, never the wall clock: `poll(until_ns)` returns every update up to `until_ns`,
so an edge paces the simulated venue by passing its clock, and a replay passes the end of its
window (or iterates `updates()`) to run as fast as possible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from venues.book import BookSnapshot
from venues.instruments import Instrument
from venues.matching import Fill, SubmitResult

__all__ = ["DEFAULT_ACCOUNT", "BookUpdate", "FillCallback", "VenueAdapter"]

#: fill callback(account, symbol, fill)
FillCallback = Callable[[str, str, Fill], None]
#: one market-data event: (symbol, snapshot)
BookUpdate = tuple[str, BookSnapshot]

DEFAULT_ACCOUNT = "default"


@runtime_checkable
class VenueAdapter(Protocol):
    """What an edge needs from a venue, simulated or live.

    Contract: fills are delivered only through the callback set with `set_fill_callback` — for
    immediate fills of a crossing order that happens before `submit` returns. `submit` reports
    acceptance or rejection; it never raises for a bad order. Symbols are the venue's canonical
    instrument symbols.
    """

    venue: str
    now_ns: int  # event time: the last update delivered (or the last `poll` horizon)

    def subscribe(self, symbols: Iterable[str]) -> None:
        """Start market data for `symbols` (idempotent). Raises KeyError for unknown symbols."""
        ...

    def unsubscribe(self, symbols: Iterable[str]) -> None:
        """Stop market data for `symbols`; open orders on them stay open."""
        ...

    def poll(self, until_ns: int, max_events: int | None = None) -> list[BookUpdate]:
        """Book updates with ts_ns <= until_ns, in time order (at most `max_events`). Fills those
        updates cause are delivered to the callback before poll returns."""
        ...

    def book(self, symbol: str) -> BookSnapshot | None:
        """The latest book of `symbol`, or None before its first update."""
        ...

    def next_ts(self) -> int | None:
        """Event time of the next pending update (None when nothing is subscribed)."""
        ...

    def instrument(self, symbol: str) -> Instrument:
        """The instrument behind a symbol of this venue."""
        ...

    def engine_settings(self, symbol: str, *, account: str) -> dict[str, Any]:
        """The paper-matching settings of (account, symbol) for an algo's core (edges/core)."""
        ...

    def submit(
        self,
        symbol: str,
        side: int,
        price_1e9: int,
        qty_1e8: int,
        order_id: int,
        *,
        account: str = DEFAULT_ACCOUNT,
        ts_ns: int | None = None,
    ) -> SubmitResult:
        """Send a limit order with a caller-assigned id."""
        ...

    def cancel(self, symbol: str, order_id: int, *, account: str = DEFAULT_ACCOUNT) -> bool:
        """Cancel one order; False when unknown or already done."""
        ...

    def cancel_all(self, symbol: str, *, account: str = DEFAULT_ACCOUNT) -> list[int]:
        """Cancel every open order of `account` on `symbol`; returns the ids."""
        ...

    def release_account(self, account: str, symbol: str) -> None:
        """Forget (account, symbol) once it has nothing open."""
        ...

    def set_fill_callback(self, callback: FillCallback | None) -> None:
        """Where fills go: callback(account, symbol, fill)."""
        ...

    def close(self) -> None:
        """Release connections/resources."""
        ...
