"""The order half of a sandbox venue: paper matching per (account, symbol), shared by the simulated
venue (`venues.sim.adapter`) and the live feeds (`venues.live.adapter`).

A sandbox edge paper-fills: its orders never leave the process. `PaperOrders` keeps one
`MatchingEngine` per (account, symbol) for orders sent through the adapter (execution graphs'
orders), matches them against every book the market-data half delivers (`on_book`), and gives an
algo's core the same engine settings (`engine_settings`) so that the orders an algo places inside
its core (edges/core) match by the same rules. The rules come from the instrument (tick, lot,
minimum size and notional, fees): the simulator's static catalogue or a live venue's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from venues.adapter import DEFAULT_ACCOUNT, FillCallback
from venues.book import BookSnapshot
from venues.instruments import Instrument
from venues.matching import MatchingEngine, SubmitResult

__all__ = ["DEFAULT_PAPER_SEED", "PaperOrders", "replay_rng_seed"]

# The seed of a live-fed sandbox edge's paper draws unless `run_edge --seed` says otherwise: the
# backtests' default seed, so a default backtest over a recorded session draws as the edge did.
DEFAULT_PAPER_SEED = 42


def replay_rng_seed(seed: int | str, symbol: str) -> str:
    """The seed of the fill-at-touch draws on `symbol` that a backtest with `seed` uses (one stream
    per symbol). A live-fed sandbox edge seeds its algos' engines the same way, so a backtest over
    its recorded session, with the edge's seed, reproduces its paper fills draw for draw."""
    return f"backtest|{seed}|{symbol}"


class PaperOrders:
    """Paper matching for one venue. `instrument(symbol)` resolves a symbol (raising KeyError for
    one the venue does not list); `now_ns()` is the venue's event time; `seed` makes the engines'
    random draws (fill probability at the touch) reproducible per (account, symbol), or, with
    `replayable`, per symbol exactly as a backtest with that seed draws (`replay_rng_seed`)."""

    def __init__(
        self,
        *,
        instrument: Callable[[str], Instrument],
        now_ns: Callable[[], int],
        seed: int | str,
        engine_defaults: dict[str, Any] | None = None,
        replayable: bool = False,
    ) -> None:
        self._instrument = instrument
        self._now_ns = now_ns
        self.seed = seed
        self.replayable = replayable
        self._engine_defaults = dict(engine_defaults or {})
        self._engines: dict[tuple[str, str], MatchingEngine] = {}
        self._engines_by_symbol: dict[str, list[tuple[str, MatchingEngine]]] = {}  # [(account, engine)]
        self._overrides: dict[tuple[str, str], dict[str, Any]] = {}  # configure_account's kwargs
        self._books: dict[str, BookSnapshot] = {}
        self._callback: FillCallback | None = None

    def on_book(self, symbol: str, snap: BookSnapshot) -> None:
        """A new book of `symbol` (canonical): match every engine on it; fills go to the callback."""
        self._books[symbol] = snap
        engines = self._engines_by_symbol.get(symbol)
        if engines:
            cb = self._callback
            for account, eng in engines:
                fills = eng.on_book(snap)
                if fills and cb is not None:
                    for f in fills:
                        cb(account, symbol, f)

    def set_instrument(self, instrument: Instrument) -> None:
        """The venue changed `instrument`'s rules (its tick): every engine on it checks new orders
        against them from now on (the caller's `instrument()` must already answer the new one)."""
        for _account, eng in self._engines_by_symbol.get(instrument.symbol, ()):
            eng.set_instrument(instrument)

    def configure_account(self, account: str, symbol: str, **engine_kwargs: Any) -> MatchingEngine:
        """Create (or replace, if it has no open orders) the engine of (account, symbol) with
        these MatchingEngine keyword arguments on top of the defaults and the account's earlier
        ones. They are kept: `engine_settings` gives them to the account's algo cores."""
        inst = self._instrument(symbol)
        key = (account, inst.symbol)
        old = self._engines.get(key)
        if old is not None and old.open_order_count:
            raise ValueError(f"{account}/{inst.symbol} has open orders; cancel them first")
        settings = {**self.engine_settings(symbol, account=account), **engine_kwargs}
        eng = MatchingEngine(inst, **settings)
        self._overrides[key] = {**self._overrides.get(key, {}), **engine_kwargs}
        if old is not None:
            eng.position_1e8 = old.position_1e8  # the position survives a limits change
            self._engines_by_symbol[inst.symbol].remove((account, old))
        self._engines[key] = eng
        self._engines_by_symbol.setdefault(inst.symbol, []).append((account, eng))
        book = self._books.get(inst.symbol)
        if book is not None:
            eng.on_book(book)  # the current book, for crossing checks; nothing rests yet
        return eng

    def engine_settings(self, symbol: str, *, account: str) -> dict[str, Any]:
        """MatchingEngine keyword arguments for (account, symbol) without creating an engine: an
        algo's paper matching runs inside its own core (edges/core) with these settings."""
        inst = self._instrument(symbol)
        kwargs = dict(self._engine_defaults)
        kwargs.setdefault(
            "rng_seed",
            replay_rng_seed(self.seed, inst.symbol)
            if self.replayable
            else f"{self.seed}|{account}|{inst.symbol}",
        )
        kwargs.update(self._overrides.get((account, inst.symbol), {}))
        return kwargs

    def engine(self, symbol: str, *, account: str = DEFAULT_ACCOUNT) -> MatchingEngine:
        """The engine of (account, symbol), created with the defaults on first use."""
        inst = self._instrument(symbol)
        eng = self._engines.get((account, inst.symbol))
        if eng is None:
            eng = self.configure_account(account, inst.symbol)
        return eng

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
        eng = self.engine(symbol, account=account)
        res = eng.submit(side, price_1e9, qty_1e8, self._now_ns() if ts_ns is None else ts_ns, order_id)
        cb = self._callback
        if res.fills and cb is not None:
            sym = eng.instrument.symbol
            for f in res.fills:
                cb(account, sym, f)
        return res

    def cancel(self, symbol: str, order_id: int, *, account: str = DEFAULT_ACCOUNT) -> bool:
        eng = self._engines.get((account, self._instrument(symbol).symbol))
        return eng.cancel(order_id) if eng is not None else False

    def cancel_all(self, symbol: str, *, account: str = DEFAULT_ACCOUNT) -> list[int]:
        eng = self._engines.get((account, self._instrument(symbol).symbol))
        return eng.cancel_all() if eng is not None else []

    def release_account(self, account: str, symbol: str) -> None:
        """Forget the engine of (account, symbol), open orders included: for accounts that live as
        long as one order (the execution graphs' orders). Not to be called from a fill callback."""
        inst = self._instrument(symbol)
        eng = self._engines.pop((account, inst.symbol), None)
        self._overrides.pop((account, inst.symbol), None)
        if eng is not None:
            self._engines_by_symbol[inst.symbol].remove((account, eng))

    def set_fill_callback(self, callback: FillCallback | None) -> None:
        self._callback = callback
