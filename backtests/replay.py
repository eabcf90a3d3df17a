"""The replay loop: market history from the store through a deployment's WASM algo. No Django.

One code path with the edges: each symbol's algo runs in an ``edges.dispatch.AlgoSlot`` (the edge's
host and dispatch) against a ``MatchingEngine`` (the simulated venue's paper matching), and every
event goes through exactly what the edge does with a book update — the engine matches resting
orders first (fills to ``slot.on_venue_fill``), then ``slot.on_book`` calls the algo.

Determinism: event time only (no wall clock reaches the results), the engines' fill-at-touch draws
seeded from the job's seed, simulated days seeded from it too, Python's ``random`` with string seeds
(SHA-512 based, independent of PYTHONHASHSEED), and results serialised with sorted keys. Callback
latencies are measured by the slot but kept out of the results.

Speed: a day's columns are turned into Python lists once (pyarrow ``to_pylist``), snapshots are
built with ``object.__new__`` and plain attribute stores, and the depth beyond the touch is only
materialised when the algo or the engine asks for it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from time import perf_counter_ns
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from backtests.store import DEPTH, DayData, MarketDataStore, day_bounds_ns
from edges.dispatch import AlgoSlot, SlotState
from edges.runtime import CompiledAlgo, load_module
from edges.venues.accounting import PositionBook
from edges.venues.instruments import Instrument
from edges.venues.matching import Fill, MatchingEngine, SubmitResult
from edges.venues.simulator import BookSnapshot

__all__ = [
    "MAX_TRADES",
    "ReplayCancelled",
    "ReplayFailed",
    "ReplaySpec",
    "Replay",
    "results_json",
]

MAX_TRADES = 5_000  # executions listed in the results (the metrics count all of them)
MAX_TRACES = 100  # sampled callbacks kept, spread evenly over the run
MAX_LOGS = 100  # first log lines kept
TRACE_EVERY_NS = 3_600 * 1_000_000_000  # one traced callback per type per hour of event time
CURVE_STEP_NS = 3_600 * 1_000_000_000  # the equity curve's resolution: hourly
_HOURS_PER_YEAR = 24 * 365
_E9 = 1_000_000_000
_E8 = 100_000_000

ProgressFn = Callable[[int], bool]  # events processed so far -> False to cancel


class ReplayFailed(Exception):
    """The algo could not run to the end (trap, load error): ``message`` is for the user."""

    def __init__(self, message: str, events_processed: int) -> None:
        super().__init__(message)
        self.message = message
        self.events_processed = events_processed


class ReplayCancelled(Exception):
    def __init__(self, events_processed: int) -> None:
        super().__init__("cancelled")
        self.events_processed = events_processed


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    """What to replay: ``instruments`` (one per symbol, all on one venue), UTC ``days`` (inclusive
    range, in order), the seed and the starting capital (×1e9)."""

    instruments: tuple[Instrument, ...]
    first_day: date
    last_day: date
    seed: int
    capital_1e9: int
    fill_prob_at_touch: float = 0.05  # the edges' MatchingEngine default

    @property
    def days(self) -> list[date]:
        from backtests.store import iter_days

        return list(iter_days(self.first_day, self.last_day))


class _DepthSnap(BookSnapshot):
    """A BookSnapshot whose levels beyond the touch are read from the day's columns on demand."""

    __slots__ = ("_i", "_day")

    @property
    def bids(self) -> tuple[tuple[int, int], ...]:
        try:
            return self._bids
        except AttributeError:
            pass
        levels = self._day.levels(0, self._i, self.bid_px, self.bid_qty)
        self._bids = levels
        return levels

    @property
    def asks(self) -> tuple[tuple[int, int], ...]:
        try:
            return self._asks
        except AttributeError:
            pass
        levels = self._day.levels(1, self._i, self.ask_px, self.ask_qty)
        self._asks = levels
        return levels


class _DayColumns:
    """One day's events of one symbol as Python lists; depth columns converted on first use."""

    __slots__ = ("table", "ts", "bp", "bq", "ap", "aq", "_depth")

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        col = self._col
        self.ts, self.bp, self.bq = col("ts_ns"), col("bid_px_0"), col("bid_qty_0")
        self.ap, self.aq = col("ask_px_0"), col("ask_qty_0")
        self._depth: tuple[list[tuple[list[int], list[int]]], list[tuple[list[int], list[int]]]] | None = None

    def _col(self, name: str) -> list[int]:
        return self.table.column(name).combine_chunks().to_pylist()

    def levels(self, side: int, i: int, px: int, qty: int) -> tuple[tuple[int, int], ...]:
        if not px:
            return ()
        depth = self._depth
        if depth is None:
            col = self._col
            depth = self._depth = (
                [(col(f"bid_px_{k}"), col(f"bid_qty_{k}")) for k in range(1, DEPTH)],
                [(col(f"ask_px_{k}"), col(f"ask_qty_{k}")) for k in range(1, DEPTH)],
            )
        out = [(px, qty)]
        for pxs, qtys in depth[side]:
            p = pxs[i]
            if not p:
                break
            out.append((p, qtys[i]))
        return tuple(out)


class _Engine(MatchingEngine):
    """The paper matching engine, also noting the immediate (taker) fills of ``submit`` so the
    replay sees every execution in order (resting fills it gets from ``on_book`` itself)."""

    __slots__ = ("executions",)

    def __init__(self, instrument: Instrument, **kwargs: Any) -> None:
        super().__init__(instrument, **kwargs)
        self.executions: list[Fill] = []

    def submit(self, side: int, price_1e9: int, qty_1e8: int, ts_ns: int, order_id: int) -> SubmitResult:
        result = super().submit(side, price_1e9, qty_1e8, ts_ns, order_id)
        if result.fills:
            self.executions.extend(result.fills)
        return result


class _Venue:
    """The VenuePort AlgoSlot needs: one engine per symbol, fill draws seeded from the job's seed."""

    def __init__(self, spec: ReplaySpec) -> None:
        self._spec = spec
        self._by_symbol = {inst.symbol: inst for inst in spec.instruments}
        self.engines: dict[str, _Engine] = {}

    def engine(self, symbol: str, *, account: str) -> _Engine:
        eng = self.engines.get(symbol)
        if eng is None:
            eng = self.engines[symbol] = _Engine(
                self._by_symbol[symbol],
                rng_seed=f"backtest|{self._spec.seed}|{symbol}",
                fill_prob_at_touch=self._spec.fill_prob_at_touch,
            )
        return eng


class _Sink:
    """Keeps the first log lines and every trace (sampled down at the end), minus wall-clock data."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []
        self.log_count = 0
        self.traces: list[dict[str, Any]] = []

    def log(self, slot: AlgoSlot, ts_ns: int, level: str, message: str) -> None:
        self.log_count += 1
        if len(self.logs) < MAX_LOGS:
            self.logs.append({"ts_ns": ts_ns, "symbol": slot.symbol, "level": level, "message": message})

    def trace(self, slot: AlgoSlot, record: dict[str, Any]) -> None:
        record = dict(record)
        record.pop("latency_ns", None)  # wall clock: would make two runs differ
        record["symbol"] = slot.symbol
        self.traces.append(record)

    def sampled_traces(self) -> list[dict[str, Any]]:
        traces = self.traces
        if len(traces) <= MAX_TRACES:
            return traces
        # Evenly spread, always including the last one (a trap's trace is the last).
        step = (len(traces) - 1) / (MAX_TRACES - 1)
        return [traces[round(k * step)] for k in range(MAX_TRACES)]


@dataclass
class _Accounts:
    """Executions, round trips and the equity path (for drawdown, the curve and Sharpe)."""

    capital_1e9: int
    books: dict[str, PositionBook] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    round_trip_pnl: dict[str, int] = field(default_factory=dict)
    wins: int = 0
    round_trips: int = 0
    peak_1e9: int = 0
    max_dd: float = 0.0
    curve: list[tuple[int, int]] = field(default_factory=list)

    def execution(self, symbol: str, fill: Fill) -> None:
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = PositionBook(algo="backtest", symbol=symbol)
        before = book.position_1e8
        gross = book.apply_fill(fill)
        net = gross - fill.fee_1e9
        # A round trip is open from flat until flat again (or through zero): its PnL is every
        # realisation and fee in between; the fill that closes it decides win or loss.
        running = self.round_trip_pnl.get(symbol, 0) + net
        after = book.position_1e8
        if before != 0 and (after == 0 or (after > 0) != (before > 0)):
            self.round_trips += 1
            if running > 0:
                self.wins += 1
            # Flipped: the opening part's fee was charged to the closing trip; the new one starts at 0.
            running = 0
        self.round_trip_pnl[symbol] = running
        if len(self.trades) < MAX_TRADES:
            self.trades.append(
                {
                    "ts_ns": fill.ts_ns,
                    "symbol": symbol,
                    "order_id": fill.order_id,
                    "side": "buy" if fill.side == 0 else "sell",
                    "price": fill.price_1e9 / _E9,
                    "qty": fill.qty_1e8 / _E8,
                    "fee": fill.fee_1e9 / _E9,
                    "liquidity": fill.liquidity,
                    "realized_pnl": net / _E9,
                    "position": after / _E8,
                }
            )


class Replay:
    """One backtest run. ``run()`` returns the results dict (no job id, no wall-clock data)."""

    def __init__(
        self,
        *,
        wasm: bytes | CompiledAlgo,
        spec: ReplaySpec,
        store: MarketDataStore,
        progress: ProgressFn | None = None,
        progress_every: int = 16_384,
    ) -> None:
        self.spec = spec
        self.store = store
        self.progress = progress
        self.progress_every = progress_every
        self.compiled = wasm if isinstance(wasm, CompiledAlgo) else load_module(wasm)
        self.day_data: dict[tuple[str, date], DayData] = {}
        self.total_events = 0
        self.processed = 0
        self.timings_ns: dict[str, int] = {"decode": 0, "matching": 0, "callback": 0, "accounting": 0}

    # -- preparation ----------------------------------------------------------------------------
    def prepare(self, *, generate: bool = True) -> int:
        """Find each (symbol, day)'s data, generate missing simulated days, count the events."""
        spec = self.spec
        total = 0
        for day in spec.days:
            for inst in spec.instruments:
                data = self.store.day_data(inst.venue, inst.symbol, day, spec.seed)
                if not data.paths and generate:
                    self.store.ensure_simulated(inst, day, spec.seed)
                    data = self.store.day_data(inst.venue, inst.symbol, day, spec.seed)
                self.day_data[(inst.symbol, day)] = data
                total += data.num_rows()
        self.total_events = total
        return total

    def sources(self) -> dict[str, int]:
        """How many (symbol, day) pairs came from recorded/imported data and how many were simulated."""
        out = {"recorded": 0, "simulated": 0}
        for data in self.day_data.values():
            out[data.source] += 1
        return out

    def _day_events(self, day: date) -> tuple[list[_DayColumns], list[int] | None, list[int] | None]:
        """The day's columns per symbol, and for several symbols the merged order: parallel lists of
        (symbol index, row index), by time then symbol order."""
        cols = []
        tables = []
        for inst in self.spec.instruments:
            table = self.store.read_day(self.day_data[(inst.symbol, day)])
            tables.append(table)
            cols.append(_DayColumns(table))
        if len(cols) == 1:
            return cols, None, None
        ts = pa.concat_arrays([t.column("ts_ns").combine_chunks() for t in tables])
        sym = pa.concat_arrays([pa.array([k] * t.num_rows, pa.int64()) for k, t in enumerate(tables)])
        row = pa.concat_arrays([pa.array(range(t.num_rows), pa.int64()) for t in tables])
        merged = pa.table({"ts": ts, "sym": sym, "row": row})
        order = pc.sort_indices(merged, [("ts", "ascending"), ("sym", "ascending")])
        merged = merged.take(order)
        return cols, merged.column("sym").to_pylist(), merged.column("row").to_pylist()

    # -- the run --------------------------------------------------------------------------------
    def run(self, *, profile: bool = False) -> dict[str, Any]:
        if not self.day_data:
            self.prepare()
        spec = self.spec
        venue = _Venue(spec)
        sink = _Sink()
        start_ns = day_bounds_ns(spec.first_day)[0]
        end_ns = day_bounds_ns(spec.last_day)[1]
        slots: list[AlgoSlot] = []
        for inst in spec.instruments:
            slot = AlgoSlot(
                key=inst.symbol,
                symbol=inst.symbol,
                venue=venue,
                account=inst.symbol,
                compiled=self.compiled,
                sink=sink,
                trace_every_ns=TRACE_EVERY_NS,
            )
            if slot.state is SlotState.REJECTED:
                raise ReplayFailed(f"algo could not be loaded: {slot.pause_reason}", 0)
            slot.start(start_ns)
            if slot.state is not SlotState.RUNNING:
                raise ReplayFailed(f"algo trapped in on_init: {slot.pause_reason}", 0)
            slots.append(slot)
        engines = [venue.engines[inst.symbol] for inst in spec.instruments]
        acc = _Accounts(capital_1e9=spec.capital_1e9, peak_1e9=spec.capital_1e9)
        acc.curve.append((start_ns, spec.capital_1e9))
        self._report(0)
        loop = self._loop_profiled if profile else self._loop
        next_sample = start_ns + CURVE_STEP_NS
        equity = spec.capital_1e9
        for day in spec.days:
            t0 = perf_counter_ns() if profile else 0
            cols, syms, rows = self._day_events(day)
            if profile:
                self.timings_ns["decode"] += perf_counter_ns() - t0
            next_sample, equity = loop(slots, engines, cols, syms, rows, acc, next_sample, equity)
        while next_sample <= end_ns:
            acc.curve.append((next_sample, equity))
            next_sample += CURVE_STEP_NS
        self._report(self.processed, final=True)
        return self._results(slots, sink, acc, equity)

    def _report(self, processed: int, *, final: bool = False) -> None:
        if self.progress is not None and not self.progress(processed) and not final:
            raise ReplayCancelled(processed)

    def _loop(
        self,
        slots: list[AlgoSlot],
        engines: list[_Engine],
        cols: list[_DayColumns],
        syms: list[int] | None,
        rows: list[int] | None,
        acc: _Accounts,
        next_sample: int,
        equity: int,
    ) -> tuple[int, int]:
        """The hot loop. Locals for everything; one symbol needs no merge indirection."""
        new = object.__new__
        snap_cls = _DepthSnap
        running = SlotState.RUNNING
        capital = acc.capital_1e9
        peak, max_dd = acc.peak_1e9, acc.max_dd
        curve_append = acc.curve.append
        execution = acc.execution
        books = [s.positions for s in slots]
        single = syms is None
        n = len(cols[0].ts) if single else len(syms)  # type: ignore[arg-type]
        processed = self.processed
        every = self.progress_every
        next_report = processed - processed % every + every
        k = 0
        day = cols[0]
        ts_l, bp_l, bq_l, ap_l, aq_l = day.ts, day.bp, day.bq, day.ap, day.aq
        slot, engine, book = slots[0], engines[0], books[0]
        on_book, slot_on_book, on_venue_fill = engine.on_book, slot.on_book, slot.on_venue_fill
        symbol = slot.symbol
        executions = engine.executions
        for j in range(n):
            if single:
                i = j
            else:
                k = syms[j]  # type: ignore[index]
                i = rows[j]  # type: ignore[index]
                day = cols[k]
                ts_l, bp_l, bq_l, ap_l, aq_l = day.ts, day.bp, day.bq, day.ap, day.aq
                slot, engine = slots[k], engines[k]
                on_book, slot_on_book, on_venue_fill = engine.on_book, slot.on_book, slot.on_venue_fill
                symbol = slot.symbol
                executions = engine.executions
            ts = ts_l[i]
            if ts >= next_sample:
                while ts >= next_sample:
                    curve_append((next_sample, equity))
                    next_sample += CURVE_STEP_NS
            snap = new(snap_cls)
            snap.ts_ns = ts
            snap.bid_px = bp_l[i]
            snap.bid_qty = bq_l[i]
            snap.ask_px = ap_l[i]
            snap.ask_qty = aq_l[i]
            snap._i = i
            snap._day = day
            fills = on_book(snap)
            if fills:
                for f in fills:
                    execution(symbol, f)
                    on_venue_fill(f)
            slot_on_book(snap)
            if executions:
                for f in executions:
                    execution(symbol, f)
                executions.clear()
            if slot.state is not running:
                self.processed = processed + j + 1
                raise ReplayFailed(
                    f"algo trapped at event {processed + j + 1} ({symbol}): {slot.pause_reason}",
                    processed + j,
                )
            if single:
                equity = capital + book.realized_pnl_1e9 + book.unrealized_pnl_1e9
            else:
                equity = capital + sum(b.realized_pnl_1e9 + b.unrealized_pnl_1e9 for b in books)
            if equity > peak:
                peak = equity
            elif equity < peak:
                dd = (peak - equity) / peak
                if dd > max_dd:
                    max_dd = dd
            if processed + j + 1 >= next_report:
                next_report += every
                acc.peak_1e9, acc.max_dd = peak, max_dd
                self._report(processed + j + 1)
        self.processed = processed + n
        acc.peak_1e9, acc.max_dd = peak, max_dd
        return next_sample, equity

    def _loop_profiled(
        self,
        slots: list[AlgoSlot],
        engines: list[_Engine],
        cols: list[_DayColumns],
        syms: list[int] | None,
        rows: list[int] | None,
        acc: _Accounts,
        next_sample: int,
        equity: int,
    ) -> tuple[int, int]:
        """The same loop for one symbol with a clock around each stage (the benchmark's cost split;
        the clock reads add ~4 × 40 ns per event)."""
        if syms is not None:
            raise ValueError("the profiled loop takes one symbol")
        clock = perf_counter_ns
        t = self.timings_ns
        new = object.__new__
        running = SlotState.RUNNING
        capital = acc.capital_1e9
        peak, max_dd = acc.peak_1e9, acc.max_dd
        day = cols[0]
        slot, engine, book = slots[0], engines[0], slots[0].positions
        symbol = slot.symbol
        executions = engine.executions
        decode = matching = callback = accounting = 0
        for i in range(len(day.ts)):
            c0 = clock()
            ts = day.ts[i]
            while ts >= next_sample:
                acc.curve.append((next_sample, equity))
                next_sample += CURVE_STEP_NS
            snap = new(_DepthSnap)
            snap.ts_ns = ts
            snap.bid_px = day.bp[i]
            snap.bid_qty = day.bq[i]
            snap.ask_px = day.ap[i]
            snap.ask_qty = day.aq[i]
            snap._i = i
            snap._day = day
            c1 = clock()
            fills = engine.on_book(snap)
            c2 = clock()
            if fills:
                for f in fills:
                    acc.execution(symbol, f)
            c3 = clock()
            if fills:
                for f in fills:
                    slot.on_venue_fill(f)  # the algo's on_fill: callback time
            slot.on_book(snap)
            c4 = clock()
            for f in executions:
                acc.execution(symbol, f)
            executions.clear()
            if slot.state is not running:
                raise ReplayFailed(f"algo trapped at event {self.processed + i + 1}: {slot.pause_reason}", i)
            equity = capital + book.realized_pnl_1e9 + book.unrealized_pnl_1e9
            if equity > peak:
                peak = equity
            elif equity < peak:
                max_dd = max(max_dd, (peak - equity) / peak)
            c5 = clock()
            decode += c1 - c0
            matching += c2 - c1
            accounting += (c3 - c2) + (c5 - c4)
            callback += c4 - c3
        t["decode"] += decode
        t["matching"] += matching
        t["callback"] += callback
        t["accounting"] += accounting
        self.processed += len(day.ts)
        acc.peak_1e9, acc.max_dd = peak, max_dd
        return next_sample, equity

    # -- results --------------------------------------------------------------------------------
    def _results(self, slots: list[AlgoSlot], sink: _Sink, acc: _Accounts, equity: int) -> dict[str, Any]:
        spec = self.spec
        capital = spec.capital_1e9
        fills = sum(s.positions.fill_count for s in slots)
        fees = sum(s.positions.fees_1e9 for s in slots)
        notional = sum(s.positions.notional_1e9 for s in slots)
        curve = [{"ts": ts // _E9, "equity": value / _E9} for ts, value in acc.curve]
        returns = [b / a - 1.0 for (_, a), (_, b) in zip(acc.curve, acc.curve[1:], strict=False) if a > 0]
        sharpe = 0.0
        if len(returns) >= 2:
            mean = math.fsum(returns) / len(returns)
            var = math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
            if var > 0:
                sharpe = mean / math.sqrt(var) * math.sqrt(_HOURS_PER_YEAR)
        metrics = {
            "total_pnl": (equity - capital) / _E9,
            "sharpe": round(sharpe, 6),
            "max_drawdown_pct": round(acc.max_dd * 100, 6),
            "fill_count": fills,
            "trade_count": acc.round_trips,
            "fees": fees / _E9,
            "turnover": round(notional / capital, 6) if capital else 0.0,
            "volume_usd": notional / _E9,
            "win_rate": round(acc.wins / acc.round_trips, 6) if acc.round_trips else 0.0,
            "final_equity": equity / _E9,
            "realized_pnl": sum(s.positions.realized_pnl_1e9 for s in slots) / _E9,
            "unrealized_pnl": sum(s.positions.unrealized_pnl_1e9 for s in slots) / _E9,
            "order_count": sum(s.positions.order_count for s in slots),
            "reject_count": sum(s.positions.reject_count for s in slots),
        }
        return {
            "metrics": metrics,
            "equity_curve": curve,
            "trades": acc.trades,
            "traces": sink.sampled_traces(),
            "logs": sink.logs,
            "summary": {
                "venue": spec.instruments[0].venue,
                "symbols": [inst.symbol for inst in spec.instruments],
                "start_date": spec.first_day.isoformat(),
                "end_date": spec.last_day.isoformat(),
                "seed": spec.seed,
                "capital_usd": capital / _E9,
                "total_events": self.total_events,
                "events_processed": self.processed,
                "data_days": self.sources(),
                "log_lines": sink.log_count,
                "positions": {s.symbol: s.positions.position_1e8 / _E8 for s in slots},
            },
        }


def results_json(results: dict[str, Any]) -> str:
    """The canonical serialisation: sorted keys, no spaces; equal results give equal bytes."""
    return json.dumps(results, sort_keys=True, separators=(",", ":"), allow_nan=False)


def replay_events(
    *,
    wasm: bytes | CompiledAlgo,
    spec: ReplaySpec,
    store: MarketDataStore,
    progress: ProgressFn | None = None,
) -> tuple[Replay, dict[str, Any]]:
    """Prepare and run; returns the replay (for its counters) and the results."""
    replay = Replay(wasm=wasm, spec=spec, store=store, progress=progress)
    replay.prepare()
    return replay, replay.run()
