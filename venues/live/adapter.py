"""A live venue's market data behind the `VenueAdapter` interface, with paper orders.

`LiveVenueAdapter` runs the venue's `FeedProtocol` in a `FeedThread`; `poll()` drains the coalesced
latest books (`LatestBooks`: a slow edge sees the newest book of each symbol, never a backlog) and
paper-matches them (`venues.paper.PaperOrders`, the simulator's order half) with the venue's own
rules from its catalogue (tick, lot, minimum size and notional). Event time is the wall-clock time a
frame was received: `poll(until_ns)` returns everything that has arrived, whatever `until_ns`.

Nothing is sent to the venue but the market-data subscription: a sandbox edge paper-trades the
real book. No Django here; the edge passes its settings in as a `FeedConfig`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from venues.adapter import DEFAULT_ACCOUNT, BookUpdate, FillCallback
from venues.book import BookSnapshot
from venues.instruments import PRICE_SCALE, Instrument
from venues.live.connection import Backoff, FeedThread
from venues.live.factory import CATALOGUES, FeedConfig, build_protocol
from venues.matching import MatchingEngine, SubmitResult
from venues.paper import DEFAULT_PAPER_SEED, PaperOrders
from venues.symbols import is_spot_symbol, normalize_spot_symbol

__all__ = ["LiveVenueAdapter"]


class LiveVenueAdapter:
    """Market data from a live venue (see the module docstring).

    `instruments`: the venue's catalogue (`CATALOGUES[venue](config)` when not given). Symbols are
    canonical; subscribing one the catalogue does not list raises KeyError.
    """

    def __init__(
        self,
        venue: str,
        config: FeedConfig,
        *,
        instruments: Iterable[Instrument] | None = None,
        symbols: Iterable[str] = (),
        seed: int | str = DEFAULT_PAPER_SEED,
        engine_defaults: dict[str, Any] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.venue = venue
        self.config = config
        if instruments is None:
            instruments = CATALOGUES[venue](config)
        self._instruments = {i.symbol: i for i in instruments}
        self.now_ns = time.time_ns()
        # Draws seeded as a backtest with `seed` seeds them: what this edge receives is recorded
        # (backtests.store.Recorder), and a backtest over that recording reproduces its paper fills.
        self.paper = PaperOrders(
            instrument=self.instrument,
            now_ns=lambda: self.now_ns,
            seed=seed,
            engine_defaults=engine_defaults,
            replayable=True,
        )
        self._backoff = backoff
        self._symbols: list[str] = []
        self.feed: FeedThread | None = None
        # Set after every read that published books (the edge's loop waits on it), unless a
        # consumer took them in the feed thread (`set_consumer`).
        self.wakeup = threading.Event()
        self._consumer: Callable[[], bool] | None = None
        self.tick_changes: list[tuple[str, int, int]] = []  # (symbol, old tick, new tick) applied
        self.subscribe(symbols)

    # -- market data ---------------------------------------------------------------------------
    def instrument(self, symbol: str) -> Instrument:
        for cand in (
            symbol,
            normalize_spot_symbol(symbol) if is_spot_symbol(symbol) else symbol,
            symbol.upper(),
        ):
            inst = self._instruments.get(cand)
            if inst is not None:
                return inst
        raise KeyError(f"{symbol!r} is not listed on {self.venue}")

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def add_instruments(self, instruments: Iterable[Instrument]) -> None:
        """Instruments the venue listed after the feed fetched its catalogue (a later catalogue
        sync); those already known keep their rules (a tick change applied stays)."""
        for inst in instruments:
            self._instruments.setdefault(inst.symbol, inst)

    def catalogue_symbols(self) -> list[str]:
        """Every active symbol of the venue's catalogue, in the venue's order."""
        return [s for s, i in self._instruments.items() if i.active]

    def listed(self, symbols: Iterable[str]) -> list[str]:
        """The canonical form of the symbols the venue lists (the others dropped)."""
        out = []
        for s in symbols:
            try:
                out.append(self.instrument(s).symbol)
            except KeyError:
                continue
        return out

    def subscribe(self, symbols: Iterable[str]) -> None:
        new = [self.instrument(s).symbol for s in symbols]
        wanted = list(dict.fromkeys([*self._symbols, *new]))
        if wanted == self._symbols:
            return
        self._symbols = wanted
        if self.feed is None:
            protocol = build_protocol(self.venue, wanted, self.config)
            self.feed = FeedThread(
                protocol,
                backoff=self._backoff,
                name=f"feed-{self.venue}",
                on_batch=self._on_batch,
                busy_poll_us=self.config.busy_poll_us,
            )
            self.feed.start()
        else:
            self.feed.set_symbols(wanted)

    def follow(self, symbols: Iterable[str]) -> None:
        """Follow exactly `symbols` (one resubscribe for what changed both ways)."""
        wanted = list(dict.fromkeys(self.instrument(s).symbol for s in symbols))
        if wanted == self._symbols:
            return
        if self.feed is None:
            self.subscribe(wanted)
            return
        self._symbols = wanted
        self.feed.set_symbols(wanted)

    def unsubscribe(self, symbols: Iterable[str]) -> None:
        gone = {self.instrument(s).symbol for s in symbols}
        self._symbols = [s for s in self._symbols if s not in gone]
        if self.feed is not None:
            self.feed.set_symbols(self._symbols)

    def set_consumer(self, consumer: Callable[[], bool] | None) -> None:
        """Hand the books to `consumer()` in the feed thread, after each read from the venue's
        socket that changed any (it `poll()`s them, the same coalesced latest book per symbol).
        It returns False when it could not take them now (the edge's loop holds its state); the
        books then stay pending and `wakeup` is set, so the loop takes them itself."""
        self._consumer = consumer

    def _on_batch(self) -> None:
        consumer = self._consumer
        if consumer is None or not consumer():
            self.wakeup.set()  # read through self: the edge's runner replaces the event

    def poll(self, until_ns: int, max_events: int | None = None) -> list[BookUpdate]:
        """Every book that arrived since the last poll (the latest per symbol), paper-matched."""
        if self.feed is None:
            return []
        for change in self.feed.drain_tick_changes():
            self._apply_tick_change(change.symbol, change.new_tick_1e9)
        updates = self.feed.books.drain()
        on_book = self.paper.on_book
        for sym, snap in updates:
            if snap.ts_ns > self.now_ns:
                self.now_ns = snap.ts_ns
            on_book(sym, snap)
        if until_ns > self.now_ns:
            self.now_ns = until_ns
        return updates

    def _apply_tick_change(self, symbol: str, tick_1e9: int) -> None:
        """The venue moved `symbol`'s price grid (Polymarket's tick_size_change): the catalogue and
        every paper engine on it take the new tick, so an order off the new grid is refused as the
        venue would refuse it. An algo loaded afterwards gets the new rules from `instrument()`."""
        inst = self._instruments.get(symbol)
        if inst is None or tick_1e9 <= 0 or inst.tick_1e9 == tick_1e9:
            return
        # The price bounds stay on the grid: one tick from each end, as the venue's own band.
        new = dataclasses.replace(
            inst,
            tick_1e9=tick_1e9,
            min_price_1e9=tick_1e9 if inst.kind == "prediction" else inst.min_price_1e9,
            max_price_1e9=PRICE_SCALE - tick_1e9 if inst.kind == "prediction" else inst.max_price_1e9,
        )
        self._instruments[symbol] = new
        self.paper.set_instrument(new)
        self.tick_changes.append((symbol, inst.tick_1e9, tick_1e9))

    def book(self, symbol: str) -> BookSnapshot | None:
        return self.feed.books.latest(self.instrument(symbol).symbol) if self.feed is not None else None

    def next_ts(self) -> int | None:
        return None  # live data has no schedule: wait on `wakeup`

    def stale_symbols(self, now_ns: int | None = None) -> list[str]:
        """Subscribed symbols whose book has not changed within the venue's staleness limit."""
        if self.feed is None:
            return []
        return self.feed.status.stale_symbols(self.feed.protocol.stale_after_s, now_ns)

    def feed_status(self) -> dict[str, Any]:
        """The feed's health for the edge's report and the dashboard."""
        if self.feed is None:
            return {"feed": "live", "venue": self.venue, "state": "idle"}
        status = self.feed.status.as_dict()
        status["feed"] = "live"
        status["coalesced"] = self.feed.books.coalesced
        status["stale_after_s"] = self.feed.protocol.stale_after_s
        status["stale_symbols"] = self.stale_symbols()
        return status

    # -- orders: paper matching ------------------------------------------------------------------
    def configure_account(self, account: str, symbol: str, **engine_kwargs: Any) -> MatchingEngine:
        return self.paper.configure_account(account, symbol, **engine_kwargs)

    def engine_settings(self, symbol: str, *, account: str) -> dict[str, Any]:
        return self.paper.engine_settings(symbol, account=account)

    def engine(self, symbol: str, *, account: str = DEFAULT_ACCOUNT) -> MatchingEngine:
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
        self.paper.release_account(account, symbol)

    def set_fill_callback(self, callback: FillCallback | None) -> None:
        self.paper.set_fill_callback(callback)

    def close(self) -> None:
        if self.feed is not None:
            self.feed.stop()
