"""The simulated venue behind the `VenueAdapter` interface.

`SimVenueAdapter` runs a seeded `MarketSimulator` per subscribed symbol; the orders sent through it
(execution graphs' orders) are paper-matched by `venues.paper.PaperOrders` (a `MatchingEngine` per
(account, symbol)), the order half the live feeds share.
An algo's paper orders are matched in its own core (edges/core) with the settings
`engine_settings` gives; the adapter feeds it the books.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any

from venues.adapter import DEFAULT_ACCOUNT, BookUpdate, FillCallback
from venues.book import BookSnapshot
from venues.instruments import Instrument, get_instrument
from venues.matching import MatchingEngine, SubmitResult
from venues.paper import PaperOrders
from venues.sim.simulator import MarketSimulator

__all__ = ["SimVenueAdapter"]


class SimVenueAdapter:
    """The simulated venue: seeded market data for several symbols of one venue, merged in time
    order, and paper matching per (account, symbol).

    `seed` seeds every symbol's simulator (mixed with the symbol, so symbols differ; YES and NO
    tokens of one market stay mirrored). Symbols subscribed later start at the adapter's current
    event time. `engine_defaults` are keyword arguments for each new `MatchingEngine`
    (fill_prob_at_touch, risk limits); `configure_account` overrides them per (account, symbol).
    """

    def __init__(
        self,
        venue: str,
        *,
        seed: int | str,
        start_ns: int,
        symbols: Iterable[str] = (),
        mean_interval_ns: dict[str, int] | None = None,
        engine_defaults: dict[str, Any] | None = None,
    ) -> None:
        self.venue = venue
        self.seed = seed
        self.now_ns = int(start_ns)
        self._mean_interval = dict(mean_interval_ns or {})
        self._instruments: dict[str, Instrument] = {}
        self._sims: dict[str, MarketSimulator] = {}
        self._order: dict[str, int] = {}  # subscription rank: the tie-break for equal timestamps
        self._heap: list[tuple[int, int, str, BookSnapshot]] = []
        self._books: dict[str, BookSnapshot] = {}
        self.paper = PaperOrders(
            instrument=self._canonical, now_ns=lambda: self.now_ns, seed=seed, engine_defaults=engine_defaults
        )
        self._paper_on_book = self.paper.on_book
        self._rank = 0
        self.subscribe(symbols)

    # ------------------------------------------------------------------------------------------
    # market data

    def _canonical(self, symbol: str) -> Instrument:
        return get_instrument(self.venue, symbol)

    def subscribe(self, symbols: Iterable[str]) -> None:
        for raw in symbols:
            inst = self._canonical(raw)
            sym = inst.symbol
            if sym in self._sims:
                continue
            sim = MarketSimulator(inst, self.seed, self.now_ns, mean_interval_ns=self._mean_interval.get(sym))
            self._instruments[sym] = inst
            self._sims[sym] = sim
            self._order[sym] = self._rank
            self._rank += 1
            snap = sim.next_event()
            heapq.heappush(self._heap, (snap.ts_ns, self._order[sym], sym, snap))

    def unsubscribe(self, symbols: Iterable[str]) -> None:
        gone = {self._canonical(s).symbol for s in symbols}
        for sym in gone:
            self._sims.pop(sym, None)
        self._heap = [item for item in self._heap if item[2] not in gone]
        heapq.heapify(self._heap)

    @property
    def symbols(self) -> list[str]:
        """Subscribed symbols, in subscription order."""
        return list(self._sims)

    def instrument(self, symbol: str) -> Instrument:
        """The instrument behind a symbol of this venue."""
        return self._canonical(symbol)

    def book(self, symbol: str) -> BookSnapshot | None:
        return self._books.get(self._canonical(symbol).symbol)

    def next_ts(self) -> int | None:
        """Event time of the next pending update (None when nothing is subscribed)."""
        return self._heap[0][0] if self._heap else None

    def _step(self) -> BookUpdate:
        """Pop the earliest update, match it for every account on its symbol, refill the heap."""
        heap = self._heap
        ts, rank, sym, snap = heap[0]
        nxt = self._sims[sym].next_event()
        heapq.heapreplace(heap, (nxt.ts_ns, rank, sym, nxt))
        self.now_ns = ts
        self._books[sym] = snap
        self._paper_on_book(sym, snap)
        return (sym, snap)

    def poll(self, until_ns: int, max_events: int | None = None) -> list[BookUpdate]:
        out: list[BookUpdate] = []
        heap = self._heap
        while heap and heap[0][0] <= until_ns:
            if max_events is not None and len(out) >= max_events:
                return out  # more is due: event time stays at the last update delivered
            out.append(self._step())
        if until_ns > self.now_ns:
            self.now_ns = until_ns  # everything up to until_ns was delivered: time moves on
        return out

    def updates(self, end_ns: int | None = None) -> Iterator[BookUpdate]:
        """Every update with ts_ns < end_ns (None: forever), as fast as possible — the replay loop.
        Fills go to the callback before each update is yielded."""
        heap = self._heap
        step = self._step
        while heap and (end_ns is None or heap[0][0] < end_ns):
            yield step()

    # ------------------------------------------------------------------------------------------
    # orders: paper matching (venues.paper), shared with the live feeds

    def configure_account(self, account: str, symbol: str, **engine_kwargs: Any) -> MatchingEngine:
        """See `PaperOrders.configure_account`."""
        return self.paper.configure_account(account, symbol, **engine_kwargs)

    def engine_settings(self, symbol: str, *, account: str) -> dict[str, Any]:
        """MatchingEngine keyword arguments for (account, symbol) without creating an engine: an
        algo's paper matching runs inside its own core (edges/core) with these settings."""
        return self.paper.engine_settings(symbol, account=account)

    def engine(self, symbol: str, *, account: str = DEFAULT_ACCOUNT) -> MatchingEngine:
        """The engine of (account, symbol), created with the defaults on first use."""
        return self.paper.engine(symbol, account=account)

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
        return self.paper.submit(symbol, side, price_1e9, qty_1e8, order_id, account=account, ts_ns=ts_ns)

    def cancel(self, symbol: str, order_id: int, *, account: str = DEFAULT_ACCOUNT) -> bool:
        return self.paper.cancel(symbol, order_id, account=account)

    def cancel_all(self, symbol: str, *, account: str = DEFAULT_ACCOUNT) -> list[int]:
        return self.paper.cancel_all(symbol, account=account)

    def release_account(self, account: str, symbol: str) -> None:
        """See `PaperOrders.release_account`."""
        self.paper.release_account(account, symbol)

    def set_fill_callback(self, callback: FillCallback | None) -> None:
        self.paper.set_fill_callback(callback)

    def close(self) -> None:
        self._heap.clear()
        self._sims.clear()
