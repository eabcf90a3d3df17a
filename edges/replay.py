"""The replay loop: market history from the store through a deployment's WASM algo. No Django.

One code path with the edges: each symbol's algo runs in an ``edges.dispatch.AlgoSlot``, whose
``AlgoCore`` (edges/core: the algo linked with seqcore, the paper matching, positions and dispatch
in wasm) is exactly what an edge runs for a book update.

Speed: each symbol's day is read from its block (``MarketDataStore.block_table``: one uncompressed
Arrow batch, memory-mapped), copied column by column straight into its core's input buffer in
chunks of 8,192 events (no Python objects per event). The symbols' events are merged by time into
segments (runs of one symbol's events: Arrow sorts, Python sees one item per chunk window), and one
call into the first symbol's core, ``core_merge``, runs thousands of them: it calls each symbol's
core wasm to wasm (all of a replay's cores share one wasmtime store), which loops over its events:
matching, the algo's callbacks (wasm to wasm; fuel refilled natively before each, no Python),
positions, the equity, its peak, the drawdown and the hourly curve. The portfolio's equity, peak,
drawdown and curve step pass from core to core in the driver, each core given the other symbols'
PnL as part of its capital, so the equity it keeps is the portfolio's. Python sees the first log
lines (one short segment a call until the sample is full), then the fill records in bulk for the
trade list (merged by time, until it is full, then only counters), and the callbacks the core
traces; the algo's later log() lines are counted in the core.

Determinism: event time only (no wall clock reaches the results), the fill-at-touch draws seeded
from the job's seed (Python's Mersenne Twister, reproduced in the core), simulated days seeded
from it too, and results serialised with sorted keys. Callback latencies are kept out of the
results.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import heapq
import json
import math
import struct
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from operator import itemgetter
from time import perf_counter_ns
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from edges.core.instance import (
    C_CURVE_STEP,
    C_EVENTS_OFF,
    EV_FILL,
    M_CAPITAL,
    M_DONE,
    M_EQUITY,
    M_MAXDD_BITS,
    M_NEXT_SAMPLE,
    M_PEAK,
    M_SIZE,
    M_TOTAL_PNL,
    S_LOGLINES,
    S_NCURVE,
    S_NEV,
    S_PAUSE,
    S_ROUND_TRIPS,
    S_WINS,
    core_module,
    shared_store,
)
from edges.dispatch import SELF_TRADING_REASON, AlgoSlot, SlotState
from edges.dispatch.decoding import RawTrace, trace_record
from edges.runtime import AlgoTrap, CompiledAlgo, load_module
from venues.instruments import Instrument
from venues.marketdata.store import DEPTH, DayData, MarketDataStore, day_bounds_ns
from venues.paper import replay_rng_seed
from venues.symbols import hyphen_symbol

__all__ = [
    "MAX_TRADES",
    "ReplayCancelled",
    "ReplayFailed",
    "ReplaySpec",
    "Replay",
    "results_json",
]

# The core's replay input columns, in its order: ts, then per level bid px/qty, ask px/qty.
_RUN_COLUMNS = (
    "ts_ns",
    *(f"{s}_{f}_{k}" for k in range(DEPTH) for s in ("bid", "ask") for f in ("px", "qty")),
)

MAX_TRADES = 5_000  # executions listed in the results (the metrics count all of them)
MAX_TRACES = 100  # sampled callbacks kept, spread evenly over the run
MAX_LOGS = 100  # first log lines kept
_SAMPLING_RUN = 256  # events per driver call while the log sample fills (Python reads every line then)
TRACE_EVERY_NS = 3_600 * 1_000_000_000  # one traced callback per type per hour of event time
CURVE_STEP_NS = 3_600 * 1_000_000_000  # the equity curve's resolution: hourly

# A core's fill record (EV_FILL, order id, side, price, qty, fee, ts, taker, -, position after, net
# realized, ...) as the trade list keeps it: (ts, order id, side, price, qty, fee, taker, net
# realized, position after), what the slots' fill observers hand on too.
_trade_fields = itemgetter(6, 1, 2, 3, 4, 5, 7, 10, 9)


def _is_fill(rec: tuple[int, ...]) -> bool:
    return rec[0] == EV_FILL


def _trade_ts(trade: tuple[str, tuple[int, ...]]) -> int:
    return trade[1][0]


_HOURS_PER_YEAR = 24 * 365
_E9 = 1_000_000_000
_E8 = 100_000_000

ProgressFn = Callable[[int], bool]  # events processed so far -> False to cancel
# A day's segments for the driver: symbols, first rows (in the symbol's table, and in its chunk
# window), counts (int32 arrays), and the indices of the segments that need another window loaded.
_Segments = tuple[pa.Int32Array, pa.Int32Array, pa.Int32Array, pa.Int32Array, list[int]]
# A day ready to replay: each symbol's table, its segments, and each symbol's run columns as the
# addresses of their int64 values.
_Day = tuple[list[pa.Table], _Segments, list[list[int]]]
_Days = Generator[_Day, None, None]


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
        from venues.marketdata.store import iter_days

        return list(iter_days(self.first_day, self.last_day))


class _Venue:
    """The VenuePort AlgoSlot needs: instruments, and fill draws seeded from the job's seed."""

    def __init__(self, spec: ReplaySpec) -> None:
        self._spec = spec
        self._by_symbol = {inst.symbol: inst for inst in spec.instruments}
        self.now_ns = day_bounds_ns(spec.first_day)[0]  # on_init runs at the range's start

    def instrument(self, symbol: str) -> Instrument:
        return self._by_symbol[symbol]

    def engine_settings(self, symbol: str, *, account: str) -> dict[str, Any]:
        return {
            "rng_seed": replay_rng_seed(self._spec.seed, symbol),
            "fill_prob_at_touch": self._spec.fill_prob_at_touch,
        }


class _Sink:
    """Keeps the first log lines and every trace (sampled down at the end), minus wall-clock data.
    Traces are kept as the core's ints (``trace_later``) and made into records only for the
    sample: one in fifteen of a month's."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []
        self.log_count = 0
        self.traces: list[tuple[str, RawTrace]] = []

    def log(self, slot: AlgoSlot, ts_ns: int, level: str, message: str) -> None:
        self.log_count += 1
        if len(self.logs) < MAX_LOGS:
            self.logs.append(
                {"ts_ns": ts_ns, "symbol": hyphen_symbol(slot.symbol), "level": level, "message": message}
            )

    def trace_later(self, slot: AlgoSlot, raw: RawTrace) -> None:
        self.traces.append((slot.symbol, raw))

    def trace(self, slot: AlgoSlot, record: dict[str, Any]) -> None:  # SlotSink's; unused here
        raise AssertionError("the replay's slots hand their traces to trace_later")

    def sampled_traces(self) -> list[dict[str, Any]]:
        traces = self.traces
        if len(traces) > MAX_TRACES:
            # Evenly spread, always including the last one (a trap's trace is the last).
            step = (len(traces) - 1) / (MAX_TRACES - 1)
            traces = [traces[round(k * step)] for k in range(MAX_TRACES)]
        out = []
        for symbol, raw in traces:
            record = trace_record(raw)
            record.pop("latency_ns", None)  # wall clock: would make two runs differ
            record["symbol"] = hyphen_symbol(symbol)
            out.append(record)
        return out


@dataclass
class _Accounts:
    """The trade list (the first MAX_TRADES executions, kept as (symbol, record) until the results
    are built), the equity path and its drawdown."""

    capital_1e9: int
    symbols: list[str] = field(default_factory=list)  # hyphenated, in the cores' order
    trades: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    peak_1e9: int = 0
    max_dd: float = 0.0
    curve: list[tuple[int, int]] = field(default_factory=list)

    def observer(self, symbol: str) -> Callable[[tuple[int, ...]], None]:
        """A slot's fill observer: (ts_ns, order_id, side, price_1e9, qty_1e8, fee_1e9, taker,
        net_realized_1e9, position_after_1e8) of each fill, while the list has room."""
        trades = self.trades

        def fill(rec: tuple[int, ...]) -> None:
            if len(trades) < MAX_TRADES:
                trades.append((symbol, rec))

        return fill

    def trade_list(self) -> list[dict[str, Any]]:
        return [
            {
                "ts_ns": ts,
                "symbol": symbol,
                "order_id": order_id,
                "side": "buy" if side == 0 else "sell",
                "price": price / _E9,
                "qty": qty / _E8,
                "fee": fee / _E9,
                "liquidity": "taker" if taker else "maker",
                "realized_pnl": net / _E9,
                "position": after / _E8,
            }
            for symbol, (ts, order_id, side, price, qty, fee, taker, net, after) in self.trades
        ]


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
        core_module()  # seqcore compiled here too, with the algo (once per process: 40-170 ms)
        self.day_data: dict[tuple[str, date], DayData] = {}
        self.total_events = 0
        self.processed = 0
        self.timings_ns: dict[str, int] = {"decode": 0, "core": 0, "host": 0}

    # -- preparation ----------------------------------------------------------------------------
    def prepare(
        self,
        *,
        generate: bool = True,
        should_continue: Callable[[], bool] | None = None,
        on_day: Callable[[int, int], None] | None = None,
    ) -> int:
        """Find each (symbol, day)'s data, generate missing simulated days, count the events.

        ``should_continue`` is asked after each (symbol, day): False raises ``ReplayCancelled(0)``,
        so a cancel is seen while a long range is still being generated, not only once replay starts.
        ``on_day(done, total)`` is told each (symbol, day) as it is ready (the job's "day 12 of 30").
        """
        spec = self.spec
        total = 0
        pairs = len(spec.days) * len(spec.instruments)
        for day in spec.days:
            for inst in spec.instruments:
                data = self.store.day_data(inst.venue, inst.symbol, day, spec.seed)
                if not data.paths and generate:
                    self.store.ensure_simulated(inst, day, spec.seed)
                    data = self.store.day_data(inst.venue, inst.symbol, day, spec.seed)
                self.day_data[(inst.symbol, day)] = data
                total += data.num_rows()
                if on_day is not None:
                    on_day(len(self.day_data), pairs)
                if should_continue is not None and not should_continue():
                    raise ReplayCancelled(0)
        self.total_events = total
        return total

    def sources(self) -> dict[str, int]:
        """How many (symbol, day) pairs came from recorded/imported data and how many were simulated."""
        out = {"recorded": 0, "simulated": 0}
        for data in self.day_data.values():
            out[data.source] += 1
        return out

    def _day_segments(self, day: date, chunk: int) -> tuple[list[pa.Table], _Segments]:
        """The day's table per symbol, and the day as segments, runs of consecutive events of one
        symbol in time order (then symbol order), for the driver (seqcore's core_merge): symbol
        index, first row in the symbol's table and within its chunk window (windows of ``chunk``
        rows from row 0), count, as int32 arrays; plus the segments where a symbol's core needs
        another window: its first of the day, one that starts in a window after its previous
        one's, or one that crosses a window's end (sorted indices). Vectorised: Python sees one
        item per window."""
        tables = [self.store.block_table(self.day_data[(inst.symbol, day)]) for inst in self.spec.instruments]
        if len(tables) == 1:
            n = tables[0].num_rows
            zero = pa.array([0] if n else [], pa.int32())
            return tables, (zero, zero, zero, pa.array([n] if n else [], pa.int32()), [0] if n else [])
        ts = pa.concat_arrays([t.column("ts_ns").combine_chunks() for t in tables])
        sym = pa.concat_arrays([pa.nulls(t.num_rows, pa.int64()).fill_null(k) for k, t in enumerate(tables)])
        order = pc.sort_indices(pa.table({"ts": ts, "sym": sym}), [("ts", "ascending"), ("sym", "ascending")])
        sym = sym.take(order)
        offsets = pa.array([sum(t.num_rows for t in tables[:k]) for k in range(len(tables))], pa.int64())
        row = pc.subtract(order.cast(pa.int64()), offsets.take(sym))  # row within its symbol's table
        n = len(sym)
        if n == 0:
            empty = pa.array([], pa.int32())
            return tables, (empty, empty, empty, empty, [])
        changed = pc.not_equal(sym.slice(1), sym.slice(0, n - 1))
        starts = pa.concat_arrays(
            [pa.array([0], pa.int64()), pc.add(pc.indices_nonzero(changed), 1).cast(pa.int64())]
        )
        ends = pa.concat_arrays([starts.slice(1), pa.array([n], pa.int64())])
        seg_sym = sym.take(starts)
        seg_row = row.take(starts)
        seg_n = pc.subtract(ends, starts)
        first_w = pc.divide(seg_row, chunk)  # integer division (int64 inputs)
        last_w = pc.divide(pc.subtract(pc.add(seg_row, seg_n), 1), chunk)
        breaks = pc.indices_nonzero(pc.not_equal(first_w, last_w)).to_pylist()
        for k in range(len(tables)):
            idx = pc.indices_nonzero(pc.equal(seg_sym, k))
            if not len(idx):
                continue
            w0, w1 = first_w.take(idx), last_w.take(idx)
            moved = pc.indices_nonzero(pc.not_equal(w0.slice(1), w1.slice(0, len(idx) - 1)))
            breaks.append(idx[0].as_py())
            breaks += idx.take(pc.add(moved, 1)).to_pylist()
        rel = pc.subtract(seg_row, pc.multiply(first_w, chunk))
        i32 = pa.int32()
        return tables, (
            seg_sym.cast(i32),
            seg_row.cast(i32),
            rel.cast(i32),
            seg_n.cast(i32),
            sorted(set(breaks)),
        )

    # -- the run --------------------------------------------------------------------------------
    def run(self, *, profile: bool = False) -> dict[str, Any]:
        """Replay every event; ``profile`` times the column copies (decode), the core's runs and
        the host's work on their output separately (the benchmark's cost split). Runs again from
        the start when called again (the benchmarks' warm runs)."""
        if not self.day_data:
            self.prepare()
        self.processed = 0
        spec = self.spec
        venue = _Venue(spec)
        sink = _Sink()
        start_ns = day_bounds_ns(spec.first_day)[0]
        end_ns = day_bounds_ns(spec.last_day)[1]
        acc = _Accounts(
            capital_1e9=spec.capital_1e9,
            symbols=[hyphen_symbol(inst.symbol) for inst in spec.instruments],
            peak_1e9=spec.capital_1e9,
        )
        acc.curve.append((start_ns, spec.capital_1e9))
        slots: list[AlgoSlot] = []
        wasm_store = shared_store(len(spec.instruments))
        for inst in spec.instruments:
            slot = AlgoSlot(
                key=inst.symbol,
                symbol=inst.symbol,
                venue=venue,
                account=inst.symbol,
                compiled=self.compiled,
                sink=sink,
                trace_every_ns=TRACE_EVERY_NS,
                store=wasm_store,
            )
            if slot.state is SlotState.REJECTED:
                raise ReplayFailed(f"algo could not be loaded: {slot.pause_reason}", 0)
            slot.start(start_ns)
            if slot.state is not SlotState.RUNNING:
                raise ReplayFailed(f"algo trapped in on_init: {slot.pause_reason}", 0)
            slot.fill_observer = acc.observer(acc.symbols[len(slots)])
            slots.append(slot)
        self._report(0)
        # No cyclic garbage collection while the cores run and the results are built: what the
        # replay allocates meanwhile (trade records, curve samples, log lines, the results' dicts)
        # holds no reference cycles, and the collections its thousands of small objects would
        # trigger walk the process's heap (a worker's: all of Django) for nothing. Cycles made
        # elsewhere meanwhile are collected once it is enabled again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            with contextlib.closing(self._read_ahead(profile, slots[0].core.chunk)) as days:  # type: ignore[union-attr]
                equity = self._run_cores(slots, sink, acc, start_ns, profile, days)
            next_sample = acc.curve[-1][0] + CURVE_STEP_NS
            while next_sample <= end_ns:
                acc.curve.append((next_sample, equity))
                next_sample += CURVE_STEP_NS
            results = self._results(slots, sink, acc, equity)
        finally:
            if collecting:
                gc.enable()
        self._report(self.processed, final=True)
        return results

    def _report(self, processed: int, *, final: bool = False) -> None:
        if self.progress is not None and not self.progress(processed) and not final:
            raise ReplayCancelled(processed)

    def _failed(self, slot: AlgoSlot, at: int) -> ReplayFailed:
        self.processed = at
        symbol = hyphen_symbol(slot.symbol)
        return ReplayFailed(f"algo trapped at event {at + 1} ({symbol}): {slot.pause_reason}", at)

    def _run_cores(
        self, slots: list[AlgoSlot], sink: _Sink, acc: _Accounts, start_ns: int, profile: bool, days: _Days
    ) -> int:
        """Every symbol's events in time order through the driver (seqcore's core_merge, in the
        first symbol's core). Python loads each symbol's chunk windows into its core and writes the
        segments (runs of one symbol's events) up to the next one that needs another window; the
        driver calls each symbol's core per segment, wasm to wasm, handing the portfolio's equity,
        peak, drawdown and curve step from core to core (a core computes the equity as its
        ``C_CAPITAL``, the capital plus the other symbols' PnL, plus its own PnL). Python reads
        what the cores report once a batch: curve samples, fill records (merged by time), pauses.
        Returns the final equity."""
        cores: list[Any] = [s.core for s in slots]
        for core in cores:
            core.alloc_run()
            core.G[C_CURVE_STEP] = CURVE_STEP_NS
        driver = cores[0]
        driver.drive(cores)
        capital = acc.capital_1e9
        M = driver.MERGE
        M[M_CAPITAL], M[M_EQUITY], M[M_PEAK], M[M_MAXDD_BITS] = capital, capital, capital, 0
        M[M_NEXT_SAMPLE], M[M_TOTAL_PNL] = start_ns + CURVE_STEP_NS, 0
        for k in range(len(cores)):
            M[M_SIZE + k] = 0
        every = self.progress_every
        clock = perf_counter_ns if profile else None
        timings = self.timings_ns
        events_off: list[int] | None = None  # each core's S_LOGLINES when records stopped being read
        logs_full = False
        memmove = ctypes.memmove
        chunk, max_seg, seg_addr, SEG = driver.chunk, driver.max_seg, driver.seg_addr, driver.SEG
        first_n = 2 * max_seg  # SEG's counts column
        for tables, (seg_k, seg_row, seg_rel, seg_n, breaks), addrs in days:
            nseg = len(seg_k)
            columns = [a.buffers()[1].address + 4 * a.offset for a in (seg_k, seg_rel, seg_n)]
            window = [-1] * len(cores)  # the chunk window loaded in each core
            pos = off = nb = 0  # the next segment, its events already run, the next break's index
            while pos < nseg:
                t0 = clock() if clock else 0
                k = seg_k[pos].as_py()
                n_pos = seg_n[pos].as_py()
                row = seg_row[pos].as_py() + off
                w = row // chunk
                if window[k] != w:
                    core = cores[k]
                    m = 8 * min(chunk, tables[k].num_rows - w * chunk)
                    into, step = core.in_addr, 8 * chunk
                    for c, addr in enumerate(addrs[k]):
                        memmove(into + step * c, addr + 8 * w * chunk, m)
                    window[k] = w
                # The batch: this segment's events within its window (few while the log sample
                # fills: Python reads every line then), and the following segments up to the next
                # that needs another window, all ending at the next progress boundary.
                to_report = every - self.processed % every
                piece = min(n_pos - off, (w + 1) * chunk - row, to_report)
                if not logs_full:
                    piece = min(piece, _SAMPLING_RUN)
                count, last_n = 1, piece
                if logs_full and piece == n_pos - off:
                    while nb < len(breaks) and breaks[nb] <= pos:
                        nb += 1
                    count = min((breaks[nb] if nb < len(breaks) else nseg) - pos, max_seg)
                    if count > 1:
                        after = pc.cumulative_sum(seg_n.slice(pos + 1, count - 1))
                        fit = pc.sum(pc.less_equal(after, to_report - piece)).as_py() or 0
                        if fit < count - 1:  # segment pos + fit + 1 crosses the boundary
                            count = fit + 2
                        # the last segment runs up to the boundary at most
                        before_last = after[count - 3].as_py() if count > 2 else 0
                        last_n = min(seg_n[pos + count - 1].as_py(), to_report - piece - before_last)
                for c, addr in enumerate(columns):
                    memmove(seg_addr + 4 * max_seg * c, addr + 4 * pos, 4 * count)
                SEG[max_seg] = row - w * chunk
                SEG[first_n] = piece
                if count > 1:
                    SEG[first_n + count - 1] = last_n
                t1 = clock() if clock else 0
                trap: AlgoTrap | None = None
                try:
                    stop = driver.merge(count)
                    done = last_n if stop == count else int(M[M_DONE])
                except AlgoTrap as exc:
                    trap, stop, done = exc, exc.segment, exc.events_done  # type: ignore[attr-defined]
                t2 = clock() if clock else 0
                stop = min(stop, count - 1)  # the segment it ended in, and `done` of its events
                # events run: the segments before `stop` in full (none of them is the last), then
                ran = (
                    done
                    if stop == 0
                    else piece + (pc.sum(seg_n.slice(pos + 1, stop - 1)).as_py() or 0) + done
                )
                k_stop = SEG[stop]
                if trap is not None:
                    slots[k_stop]._trapped(trap)
                    raise self._failed(slots[k_stop], self.processed + ran)
                self._collect(cores, slots, sink, acc, logs_full)
                slot = slots[k_stop]  # only the core the batch ended in can have paused
                if cores[k_stop].G[S_PAUSE] and slot.state is SlotState.RUNNING:
                    slot.pause(SELF_TRADING_REASON)
                if slot.state is not SlotState.RUNNING:
                    raise self._failed(slot, self.processed + ran - 1)
                if not logs_full and len(sink.logs) >= MAX_LOGS:
                    # The log sample is full: the algo's lines are only counted (in the core),
                    # and the records are read in bulk, for the trade list only.
                    logs_full = True
                    for other in cores:
                        other.count_only_logs = True
                if events_off is None and len(acc.trades) >= MAX_TRADES and logs_full:
                    events_off = []
                    for other in cores:  # only counters from here on
                        other.G[C_EVENTS_OFF] = 1
                        events_off.append(int(other.G[S_LOGLINES]))
                # the next batch starts after the events that ran
                if stop:
                    pos, off = pos + stop, done
                else:
                    off += done
                if off >= seg_n[pos].as_py():
                    pos, off = pos + 1, 0
                before = self.processed
                self.processed += ran
                if self.processed // every != before // every:
                    self._report(self.processed)
                if clock:
                    t3 = clock()
                    timings["decode"] += t1 - t0
                    timings["core"] += t2 - t1
                    timings["host"] += t3 - t2
        # lines counted but not formatted: the algo's log() calls once the sample was full, and the
        # cores' own records (fills, rejects) once they stopped being written
        for core in cores:
            sink.log_count += core.counted_logs
        if events_off is not None:
            for core, at in zip(cores, events_off, strict=True):
                sink.log_count += int(core.G[S_LOGLINES]) - at
        acc.peak_1e9 = int(M[M_PEAK])
        acc.max_dd = struct.unpack("<d", struct.pack("<q", int(M[M_MAXDD_BITS])))[0]
        return int(M[M_EQUITY])

    @staticmethod
    def _collect(
        cores: list[Any], slots: list[AlgoSlot], sink: _Sink, acc: _Accounts, logs_full: bool
    ) -> None:
        """What the cores reported in a batch: their curve samples (each time is sampled once, by
        the core whose event passed it: merged by time) and their records. While the log sample
        fills, a slot drains its own (the lines formatted); then the fill records of every core
        feed the trade list in time order (then symbol order, as the events ran) until it is full,
        and every record counts as a log line."""
        samples: list[tuple[int, int]] = []
        taken: list[list[tuple[str, tuple[int, ...]]]] = []  # per core: (symbol, fill record)
        need = MAX_TRADES - len(acc.trades)  # fills the trade list still takes
        for k, core in enumerate(cores):
            G = core.G
            n = int(G[S_NCURVE])
            if n:
                C = core.CURVE
                samples += [(C[2 * c], C[2 * c + 1]) for c in range(n)]
                G[S_NCURVE] = 0
            slot = slots[k]
            if not logs_full:
                if G[S_NEV] or slot._pending:
                    slot._drain_output()
                continue
            pending = slot._pending
            if pending:
                sink.log_count += len(pending)
                pending.clear()
            nev = int(G[S_NEV])
            if not nev:
                continue
            sink.log_count += nev
            if need > 0:
                # this core's first `need` fills at most (the list's next fills are among them),
                # unpacked in C; each kept as the trade list's record, with its symbol
                w = core.ev_words
                raw = ctypes.string_at(ctypes.addressof(core.EV), 8 * w * nev)
                fills = islice(filter(_is_fill, struct.iter_unpack(f"<{w}q", raw)), need)
                symbol = acc.symbols[k]
                taken.append([(symbol, rec) for rec in map(_trade_fields, fills)])
            G[S_NEV] = 0
        if samples:
            samples.sort()
            acc.curve += samples
        if taken:
            # Each core's fills are in time order already: merged by time, ties in core order (the
            # order the events ran), as one sorted list would have them.
            merged = taken[0] if len(taken) == 1 else heapq.merge(*taken, key=_trade_ts)
            acc.trades += islice(merged, need)

    def _read_ahead(self, profile: bool, chunk: int) -> _Days:
        """The days ready to replay, in order: each symbol's table, the runs of ``_day_segments``
        and each symbol's run columns as the addresses of their int64 values (one chunk per column:
        block_table; a symbol with no events that day has none). The next day is mapped (or, cold,
        decoded from Parquet and its block written) by a thread while the cores replay this one:
        Arrow and the core both run without the GIL, so on a free core a day's preparation costs
        the replay nothing. The stage clock ("decode") counts the wait for it."""

        def prepare(day: date) -> _Day:
            tables, segments = self._day_segments(day, chunk)
            addrs = []
            for t in tables:
                cols = [t.column(name).chunk(0) for name in _RUN_COLUMNS] if t.num_rows else []
                addrs.append([col.buffers()[1].address + 8 * col.offset for col in cols])
            return tables, segments, addrs

        clock = perf_counter_ns if profile else None
        days = self.spec.days
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-read-ahead") as pool:
            pending = pool.submit(prepare, days[0]) if days else None
            for i in range(len(days)):
                assert pending is not None
                t0 = clock() if clock else 0
                ready = pending.result()
                if clock:
                    self.timings_ns["decode"] += clock() - t0
                pending = pool.submit(prepare, days[i + 1]) if i + 1 < len(days) else None
                yield ready

    # -- results --------------------------------------------------------------------------------
    def _results(self, slots: list[AlgoSlot], sink: _Sink, acc: _Accounts, equity: int) -> dict[str, Any]:
        spec = self.spec
        capital = spec.capital_1e9
        fills = sum(s.positions.fill_count for s in slots)
        round_trips = sum(int(s.core.G[S_ROUND_TRIPS]) for s in slots if s.core is not None)
        wins = sum(int(s.core.G[S_WINS]) for s in slots if s.core is not None)
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
            "trade_count": round_trips,
            "fees": fees / _E9,
            "turnover": round(notional / capital, 6) if capital else 0.0,
            "volume_usd": notional / _E9,
            "win_rate": round(wins / round_trips, 6) if round_trips else 0.0,
            "final_equity": equity / _E9,
            "realized_pnl": sum(s.positions.realized_pnl_1e9 for s in slots) / _E9,
            "unrealized_pnl": sum(s.positions.unrealized_pnl_1e9 for s in slots) / _E9,
            "order_count": sum(s.positions.order_count for s in slots),
            "reject_count": sum(s.positions.reject_count for s in slots),
            # The account lost all its capital at some point (equity at or below zero: a 100 %
            # drawdown, measured on every event by the core). A real venue would have liquidated
            # it there; the replay goes on so the curve shows how far, and the results say so.
            "margin_breach": acc.max_dd >= 1.0,
        }
        return {
            "metrics": metrics,
            "equity_curve": curve,
            "trades": acc.trade_list(),
            "traces": sink.sampled_traces(),
            "logs": sink.logs,
            "summary": {
                "venue": spec.instruments[0].venue,
                "symbols": [hyphen_symbol(inst.symbol) for inst in spec.instruments],
                "start_date": spec.first_day.isoformat(),
                "end_date": spec.last_day.isoformat(),
                "seed": spec.seed,
                "capital_usd": capital / _E9,
                "total_events": self.total_events,
                "events_processed": self.processed,
                "data_days": self.sources(),
                # The first equity sample at or below zero (UTC seconds), when the account broke.
                "margin_breach_ts": next((ts // _E9 for ts, value in acc.curve if value <= 0), None),
                "log_lines": sink.log_count,
                "positions": {hyphen_symbol(s.symbol): s.positions.position_1e8 / _E8 for s in slots},
            },
        }


def results_json(results: dict[str, Any]) -> str:
    """The canonical serialisation: sorted keys, no spaces; equal results give equal bytes."""
    return json.dumps(results, sort_keys=True, separators=(",", ":"), allow_nan=False)
