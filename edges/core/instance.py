"""AlgoCore: one algo and its seqcore instance in one wasmtime store (see seqcore.c); a replay's
symbols share one store, so that one core (the driver: `drive`, `merge`) can call the others.

The algo's `seq` imports are the core's exports (wasm to wasm, no Python), log() included: the core
spends its host-call budget and hands the line to Python (`_imp_core_log`) unless nobody will read
it (a backtest whose log sample is full: then it only counts it). A module with a start function
keeps log() as a Python host function (its lines arrive before instantiation returns its memory).
The core calls the algo's callbacks through its function table. One book update, or one backtest
block of thousands, is one raw call into the core (`on_book`, `core_merge`). Fuel is refilled before
every callback by native code (native/refuel.c, no Python; a Python closure on platforms without
the helper), so the per-callback budget holds inside a block; the core calls Python only around
sampled (traced) callbacks, for the lines someone reads, and when its record buffer is full.

Not thread-safe; one instance per (deployment, symbol), as AlgoInstance.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import random
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime

from edges.runtime import _raw, abi
from edges.runtime.engine import cached_module, get_engine
from edges.runtime.errors import AlgoLoadError, AlgoTrap
from edges.runtime.instance import AlgoMemoryMixin, trap_of
from edges.runtime.limits import RuntimeLimits
from edges.runtime.module import CompiledAlgo
from edges.runtime.validation import check_memory_fits, summarize_wasmtime_message
from venues.instruments import QTY_SCALE, Instrument

try:  # edges/core/native/fastbook.c, built by `pip install -e .`; the same work in Python without it
    from edges.core._fastbook import book_call as _book_call
except ImportError:  # pragma: no cover - a checkout whose extension was not built
    _book_call = None

CORE_WASM = Path(__file__).resolve().parent / "seqcore.wasm"
CORE_MAGIC = 0x5345514332

# G indices (seqcore.c's enum; keep in step)
(
    C_TICK, C_LOT, C_MIN_PX, C_MAX_PX, C_MIN_QTY, C_MAX_QTY, C_MIN_NOTIONAL_SCALED, C_FEE_MODEL,
    C_MAKER_BPS, C_TAKER_BPS, C_ACTIVE, C_MAX_OPEN, C_HAS_MAX_POS, C_MAX_POS, C_HAS_MAX_NOTIONAL,
    C_MAX_NOTIONAL, C_ALLOW_SHORT, C_FILL_PROB_BITS, C_MAX_ACTIONS, C_MAX_HOST_CALLS, C_MAX_LOGS,
    C_FN_BOOK, C_FN_FILL, C_FN_REJECT, C_FN_TIMER, C_TIMER_NS, C_TRACE_NS, C_MAX_QUEUED, C_CAPITAL,
    C_CURVE_STEP, C_EVENTS_OFF, C_HALTED, C_ROUTED,
) = range(1, 34)  # fmt: skip
C_MIN_NOTIONAL_RESTS = 39
(
    S_STATE, S_NOW, S_UPDATES, S_NEXT_ID, S_POSITION, S_OPEN_BUY, S_OPEN_SELL, S_NOPEN,
    S_ORDERS, S_REJECTS, S_CANCELS, S_FILLS, S_TRADES, S_VOLUME, S_FEES, S_SESSION_FEES, S_MARK,
    S_CALLBACK, S_CALLS_LEFT, S_ACTIONS_LEFT, S_LOGS_LEFT, S_NEV, S_TRACING, S_NACT, S_PENDING,
    S_LAST_CALL, S_NEXT_TIMER, S_NEXT_TRACE_BOOK, S_NEXT_TRACE_FILL, S_NEXT_TRACE_REJECT, S_FUELED,
    S_WINS, S_ROUND_TRIPS, S_EQUITY, S_PEAK, S_MAXDD_BITS, S_NEXT_SAMPLE, S_NCURVE, S_LOGLINES,
    S_PROCESSED, S_PAUSE, S_HAVE_BOOK, S_IN_CALLBACK,
) = range(40, 83)  # fmt: skip
S_ARGS = 84  # the traced callback's 5 arguments
A_COST, A_REALIZED, A_SESSION_REALIZED, A_NOTIONAL, A_ROUND_TRIP = 90, 92, 94, 96, 98
S_BID, S_ASK = 100, 101  # the current touch prices
# log(): served by the core; only the lines the host must read reach Python
S_IN_INIT, S_ALGO_MEM, S_COUNTED_LOGS, C_LOG_COUNT_ONLY = 120, 121, 122, 123

# The replay driver's state (seqcore.c's MERGE): then each symbol's PnL from M_SIZE
M_CAPITAL, M_EQUITY, M_PEAK, M_MAXDD_BITS, M_NEXT_SAMPLE, M_TOTAL_PNL, M_SEG, M_DONE, M_SIZE = range(9)
ST_ACCEPTED, ST_RUNNING, ST_PAUSED = 0, 1, 2
CB_BOOK, CB_FILL, CB_REJECT, CB_TIMER = 1, 2, 3, 4
CALLBACK_NAMES = {
    0: "the host",
    CB_BOOK: "on_book",
    CB_FILL: "on_fill",
    CB_REJECT: "on_reject",
    CB_TIMER: "on_timer",
}
EV_FILL, EV_REJECT, EV_RATE = 1, 2, 3
# Routed (live) mode: an order to send, an order to cancel (id, side, price, leaves, ts)
EV_ROUTE_PLACE, EV_ROUTE_CANCEL = 4, 5
ACT_PLACE, ACT_CANCEL, ACT_CANCEL_ALL, ACT_REFUSED = 1, 2, 3, 4
PEND_HOST_CALLS = 1
IMPORT_NAMES = {
    1: "place_order",
    2: "cancel_order",
    3: "cancel_all",
    4: "position_1e8",
    5: "open_order_count",
    6: "book_level",
    7: "now_ns",
    8: "log",
    9: "log_enabled",
}
PAUSE_FLAG = 0x40000000
MAX_QUEUED_EVENTS = 256  # fills/rejects delivered after one callback; more means an algo ping-pong
TIMER_EVERY_NS = 1_000_000_000
# Fuel for the core's own work in one update, on top of the algo's per-callback budget.
CORE_FUEL_ALLOWANCE = 200_000

_MASK32 = _raw.MASK32
_SIGN32 = 0x80000000
_WARN = int(abi.LogLevel.WARN)
_MAX_LOG_BYTES = abi.MAX_LOG_BYTES

_core_module: tuple[wasmtime.Engine, wasmtime.Module] | None = None

# The native refuel helper (native/refuel.c, built by build.py) for this platform. Without one (an
# unsupported platform, or SEQUENCE_NATIVE_REFUEL=0) refuel is a Python host function: the same
# results, ~0.4 µs more per callback.
_NATIVE_LIBS = {
    ("Linux", "x86_64"): "refuel-linux-x86_64.so",
    ("Linux", "aarch64"): "refuel-linux-aarch64.so",
    ("Darwin", "x86_64"): "refuel-darwin-x86_64.dylib",
    ("Darwin", "arm64"): "refuel-darwin-arm64.dylib",
}
# (library, address of seq_refuel, address of seq_call), None: none
_native_refuel: tuple[Any, int, int] | None | bool = False


class RefuelEnv(ctypes.Structure):
    """native/refuel.c's refuel_env: libwasmtime's functions it calls, and the fuel to set."""

    _fields_ = [("caller_context", ctypes.c_void_p), ("set_fuel", ctypes.c_void_p), ("fuel", ctypes.c_uint64)]


class CallEnv(ctypes.Structure):
    """native/refuel.c's call_env: what seq_call needs to refuel a store and call into it."""

    _fields_ = [
        ("set_fuel", ctypes.c_void_p),
        ("call_unchecked", ctypes.c_void_p),
        ("context", ctypes.c_void_p),
        ("args", ctypes.c_void_p),
        ("trap", ctypes.c_void_p),
        ("fuel", ctypes.c_uint64),
    ]


class BookEnv(ctypes.Structure):
    """native/fastbook.c's book_env: how to hand one book to the core (`AlgoCore.on_book_levels`)."""

    _fields_ = [
        ("call", ctypes.c_void_p),  # a CallEnv
        ("func", ctypes.c_void_p),  # core_on_book
        ("xbook", ctypes.c_void_p),  # XBOOK in the core's memory
        ("max_depth", ctypes.c_int64),
    ]


def native_book_calls() -> bool:
    """Does this checkout hand live books to the cores in one C call (edges.core._fastbook)?
    SEQUENCE_NATIVE_BOOK=0 turns it off (the Python path: the same results, slower)."""
    return _book_call is not None and os.environ.get("SEQUENCE_NATIVE_BOOK", "1") != "0"


# seq_call(call_env*, wasmtime_func_t*, nargs) -> wasmtime_error_t*; keeps the GIL, as _raw's calls
_SEQ_CALL = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)


def _native() -> tuple[Any, int, int] | None:
    global _native_refuel
    if _native_refuel is False:
        _native_refuel = None
        name = _NATIVE_LIBS.get((platform.system(), platform.machine()))
        if name and os.environ.get("SEQUENCE_NATIVE_REFUEL", "1") != "0":
            try:
                lib = ctypes.CDLL(str(Path(__file__).resolve().parent / "native" / name))
                _native_refuel = (
                    lib,
                    ctypes.cast(lib.seq_refuel, ctypes.c_void_p).value or 0,
                    ctypes.cast(lib.seq_call, ctypes.c_void_p).value or 0,
                )
            except (OSError, AttributeError):
                _native_refuel = None
    return _native_refuel if isinstance(_native_refuel, tuple) else None


def native_refuel_addr() -> int | None:
    """Address of the native seq_refuel, or None when there is none for this platform."""
    native = _native()
    return native[1] if native is not None else None


def native_call_addr() -> int | None:
    """Address of the native seq_call (refuel, then call), or None when there is none."""
    native = _native()
    return native[2] if native is not None else None


def _native_caller(
    raw: _raw.RawStore, fuel: int, addr: int, keep: list[Any]
) -> Callable[[int, int, int], Any]:
    """`raw.call` with the refuel and the call made in one native call (seq_call) when the fuel is
    the core's own per-callback budget (every update's call); other fuel goes the usual way."""
    env = CallEnv(
        _raw.symbol_addr("wasmtime_context_set_fuel"),
        _raw.symbol_addr("wasmtime_func_call_unchecked"),
        raw.ctx,
        raw.buf_addr,
        raw.trap_addr,
        fuel,
    )
    keep.append(env)  # seq_call reads it on every call: it lives as long as the core
    seq_call, env_addr = _SEQ_CALL(addr), ctypes.addressof(env)
    trap, slow, failure = raw.trap_slot, raw.call, raw.failure

    def call(func: int, nslots: int, with_fuel: int) -> _raw.RawFailure | None:
        if with_fuel != fuel:
            return slow(func, nslots, with_fuel)
        err = seq_call(env_addr, func, nslots)
        if err is None and trap.value is None:
            return None
        return failure(err)

    return call


def core_module() -> wasmtime.Module:
    """seqcore compiled once per engine (a forked child gets a new engine: engine.py), or loaded
    from the compile cache (engine.cached_module) when a process compiled it before."""
    global _core_module
    engine = get_engine()
    if _core_module is None or _core_module[0] is not engine:
        _core_module = (engine, cached_module("seqcore", CORE_WASM.read_bytes()))
    return _core_module[1]


# XBOOK: nb, na, then max_depth (price, size) pairs of bids and max_depth of asks (wasm memory is
# little-endian). A side's n levels are one write of their bytes, each level's 16 bytes packed once
# and kept (`_LEVEL_BYTES`): a live book's update changes a level or two, and converting 20 large
# ints for struct on every update cost as much as the core's own work on it.
_XBOOK_COUNTS = struct.Struct("<2q")
_LEVEL_MEMO_SIZE = 1 << 16


class _LevelBytes(dict[tuple[int, int], bytes]):
    def __missing__(self, level: tuple[int, int]) -> bytes:
        if len(self) >= _LEVEL_MEMO_SIZE:  # bounded: a long session sees many prices and sizes
            self.clear()
        packed = self[level] = _LEVEL.pack(*level)
        return packed


_LEVEL = struct.Struct("<2q")
_LEVEL_BYTES = _LevelBytes()


def _i64_array(addr: int, n: int) -> Any:
    return (ctypes.c_int64 * n).from_address(addr)


def shared_store(n: int, limits: RuntimeLimits | None = None) -> wasmtime.Store:
    """A store for `n` algos and their cores (a replay's symbols: one driver calls them all, which
    only works within one store), with each memory and table capped as one algo's."""
    store = wasmtime.Store(get_engine())
    store.set_limits(
        memory_size=(limits or RuntimeLimits()).memory_limit_bytes,
        table_elements=abi.MAX_TABLE_ELEMENTS,
        instances=2 * n,
        memories=2 * n,
    )
    return store


class AlgoCore(AlgoMemoryMixin):
    """An algo on one instrument with its paper matching, positions and dispatch in wasm.

    Hooks: `log(level, text)` gets the algo's log() lines as they happen (during a call);
    `on_events(n)` is called when the core's record buffer (`EV`, `ev_words` i64 per record, the
    count in `G[S_NEV]`) fills up during a call, so the host reads it and sets the count back to 0;
    after a call the host reads the remaining records itself. `on_trace(kind, phase)` runs around
    sampled callbacks (phase 0 before, 1 after; the actions are in `ACT`, the arguments in
    `G[S_ARGS:]`).
    """

    def __init__(
        self,
        compiled: CompiledAlgo,
        instrument: Instrument,
        *,
        limits: RuntimeLimits | None = None,
        rng_seed: int | str,
        fill_prob_at_touch: float = 0.05,
        max_open_orders: int = 64,
        max_position_1e8: int | None = None,
        max_order_notional_1e9: int | None = None,
        allow_short: bool = True,
        trace_every_ns: int = 1_000_000_000,
        next_order_id: int = 1,
        routed: bool = False,
        store: wasmtime.Store | None = None,
        log: Callable[[int, str], None],
        on_events: Callable[[int], None],
        on_trace: Callable[[int, int], None],
    ) -> None:
        self.limits = limits = limits or RuntimeLimits()
        check_memory_fits(compiled.info, limits.memory_limit_bytes, AlgoLoadError)
        if not 0.0 <= fill_prob_at_touch <= 1.0:
            raise ValueError("fill_prob_at_touch must be within [0, 1]")
        self.info = compiled.info
        self.instrument = instrument
        self._log = log
        self._on_events = on_events
        self._on_trace = on_trace
        self.fuel = limits.fuel_per_callback + CORE_FUEL_ALLOWANCE
        self._max_logs = limits.max_log_lines_per_callback
        self._max_host_calls = limits.max_host_calls_per_callback
        self.trap: AlgoTrap | None = None
        self._pending: AlgoTrap | None = None
        self._pending_exc: BaseException | None = None
        self._in_init = False
        self._shapes: dict[int, tuple[int, Any]] = {}
        self._counted_py = 0  # lines counted by _imp_log (the Python log import; see below)

        engine = get_engine()
        if store is None:  # a replay's cores share one store (shared_store), which sets the limits
            store = shared_store(1, limits)
        self._store = store
        self._raw = _raw.RawStore(store, nslots=8)
        self._words = self._raw.words
        self._callbacks: list[Any] = []  # native structs and ctypes callbacks the core's calls use
        call_addr = native_call_addr()
        if call_addr is not None:
            self._call = _native_caller(self._raw, self.fuel, call_addr, self._callbacks)
        else:
            self._call = self._raw.call
        self._views = _raw.ArgViews()

        # The core: its two host imports.
        core_linker = wasmtime.Linker(engine)
        void = wasmtime.FuncType([], [])
        trace_ty = wasmtime.FuncType([wasmtime.ValType.i32(), wasmtime.ValType.i32()], [])
        # refuel runs before every callback after an update's first (every callback of a backtest
        # block): native code when this platform has the helper, else a closure over locals, the
        # cheapest Python a ctypes callback can run.
        native = native_refuel_addr()
        self.native_refuel = native is not None
        if native is not None:
            env = RefuelEnv(
                _raw.symbol_addr("wasmtime_caller_context"),
                _raw.symbol_addr("wasmtime_context_set_fuel"),
                self.fuel,
            )
            self._callbacks.append(env)
            _raw.define_native_func(core_linker, "host", "refuel", void, native, ctypes.addressof(env))
        else:
            set_fuel, ctx, fuel = _raw._set_fuel, self._raw.ctx, self.fuel

            def refuel(_env: Any, _caller: Any, _addr: int, _n: int) -> int:
                set_fuel(ctx, fuel)
                return 0

            self._callbacks.append(_raw.define_host_func(core_linker, "host", "refuel", void, refuel))
        log_ty = wasmtime.FuncType([wasmtime.ValType.i32()] * 3, [])
        self._callbacks += [
            _raw.define_host_func(core_linker, "host", "trace", trace_ty, self._imp_trace),
            _raw.define_host_func(core_linker, "host", "flush", void, self._imp_flush),
            _raw.define_host_func(core_linker, "host", "log", log_ty, self._imp_core_log),
        ]
        try:
            core = core_linker.instantiate(store, core_module())
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            raise AlgoLoadError(
                "the host could not start within the memory limit "
                f"({limits.memory_limit_bytes} bytes): {summarize_wasmtime_message(str(exc))}"
            ) from None
        cx = core.exports(store)
        self._core_exports = cx
        self._core_memory: wasmtime.Memory = cx["memory"]  # type: ignore[assignment]
        self._sp: wasmtime.Global = cx["__stack_pointer"]  # type: ignore[assignment]
        self._sp0 = self._sp.value(store)

        def f(name: str) -> int:
            return _raw.func_addr(cx[name])  # type: ignore[arg-type]

        self._f_on_book = f("core_on_book")
        self._f_merge = f("core_merge")
        self._f_halt = f("core_halt")
        self._f_start = f("core_start")
        self._f_open_order = f("core_open_order")
        self._f_call_init = f("core_call_init")
        self._f_alloc_run = f("core_alloc_run")
        self._f_route_fill = f("core_route_fill")
        self._f_route_end = f("core_route_end")
        self._raw.set_fuel(10_000_000)  # the set-up calls below, into our own code
        self._f_addr = f("core_addr")
        self._f_limits = f("core_limits")
        limit = self._limit
        self.max_depth = limit(0)
        self.max_shapes = limit(1)
        self.ev_words = limit(3)
        self.act_words = limit(5)
        self.chunk = limit(6)
        self.chunk_depth = limit(7)
        self.max_curve = limit(8)
        self._addr = {k: self._where(k) for k in range(8)}
        self._base = _raw.memory_base(self._raw.ctx, _raw.memory_addr(self._core_memory))
        base = self._base
        self.G = _i64_array(base + self._addr[0], 128)
        self.EV = _i64_array(base + self._addr[1], limit(2) * self.ev_words)
        self.ACT = _i64_array(base + self._addr[2], limit(4) * self.act_words)
        self.SHAPES = _i64_array(base + self._addr[3], self.max_shapes * (2 + 2 * (self.max_depth - 1)))
        self.XBOOK = _i64_array(base + self._addr[4], 2 + 4 * self.max_depth)
        self._xbook_bytes = memoryview(self.XBOOK).cast("B")
        # The level tuples XBOOK's bid and ask parts hold (set_levels), None when something else
        # wrote there since: a live book hands the same tuple for a side no update reached.
        self._xbook_held: list[Any] = [None, None]
        # A live book (explicit levels) in one C call when edges.core._fastbook is built: the
        # levels into XBOOK and the call to core_on_book (`on_book_levels`).
        self.on_book_levels: Callable[..., int | tuple[int]] = self._on_book_levels
        if native_book_calls():
            book_call_env = CallEnv(
                _raw.symbol_addr("wasmtime_context_set_fuel"),
                _raw.symbol_addr("wasmtime_func_call_unchecked"),
                self._raw.ctx,
                self._raw.buf_addr,
                self._raw.trap_addr,
                self.fuel,
            )
            book_env = BookEnv(
                ctypes.addressof(book_call_env), self._f_on_book, base + self._addr[4], self.max_depth
            )
            self._callbacks += [book_call_env, book_env]  # read on every book: they live as the core
            self.on_book_levels = functools.partial(_book_call, ctypes.addressof(book_env), self._xbook_held)
        self.IN: Any = None
        self.CURVE: Any = None
        self.SEG: Any = None
        self.MERGE: Any = None
        self._driven: list[AlgoCore] = []

        self._configure(instrument, limits, rng_seed, fill_prob_at_touch, max_open_orders,
                        max_position_1e8, max_order_notional_1e9, allow_short, trace_every_ns,
                        next_order_id)  # fmt: skip
        self.routed = routed
        self.G[C_ROUTED] = 1 if routed else 0
        self._raw.set_fuel(10_000_000)
        cx["core_init"](store)  # type: ignore[operator]
        if self.G[0] != CORE_MAGIC:  # seqcore.wasm and this file disagree on the layout of G
            raise RuntimeError(f"{CORE_WASM} has another layout than edges/core/instance.py expects")

        # The algo, its imports served by the core. log() too (the core counts the lines nobody will
        # read and hands the rest to _imp_core_log), except for a module with a start function: its
        # log() lines arrive before instantiation returns the algo's memory, and only a host
        # function called by the algo itself can reach that memory then (through its caller).
        algo_linker = wasmtime.Linker(engine)
        self.core_log = not compiled.info.has_start
        for name in abi.IMPORTS:
            if name != "log" or self.core_log:
                algo_linker.define(store, abi.IMPORT_MODULE, name, cx[f"seq_{name}"])
        if not self.core_log:
            self._callbacks.append(
                _raw.define_host_func(algo_linker, abi.IMPORT_MODULE, "log", log_ty, self._imp_log)
            )
        self._memory_addr = 0
        self._mem_size = 0
        self._mem_view: memoryview | None = None
        self._raw.set_fuel(self.fuel)
        self._in_init = True
        # A start function runs during instantiation with on_init's budgets (the core sets them
        # per callback; at 0, its log() lines were dropped as over the limit).
        G = self.G
        G[S_LOGS_LEFT] = G[C_MAX_LOGS]
        G[S_CALLS_LEFT] = G[C_MAX_HOST_CALLS]
        G[S_ACTIONS_LEFT] = G[C_MAX_ACTIONS]
        G[S_IN_INIT] = 1
        try:
            instance = algo_linker.instantiate(store, compiled.module)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            raise self._instantiation_error(exc, limits.fuel_per_callback) from None
        finally:
            self._in_init = False
            G[S_IN_INIT] = 0
        ax = instance.exports(store)
        self._algo_exports = ax
        self._memory: wasmtime.Memory = ax[abi.MEMORY_EXPORT]  # type: ignore[assignment]
        self._memory_addr = _raw.memory_addr(self._memory)
        self._refresh_memory_view()

        table: wasmtime.Table = cx["__indirect_function_table"]  # type: ignore[assignment]
        first = table.grow(store, 5, None)
        G = self.G
        self._init_index = 0
        callbacks = (
            ("on_book", C_FN_BOOK),
            ("on_fill", C_FN_FILL),
            ("on_reject", C_FN_REJECT),
            ("on_timer", C_FN_TIMER),
            ("on_init", 0),
        )
        for k, (name, index) in enumerate(callbacks):
            func = ax.get(name)
            if isinstance(func, wasmtime.Func):
                table.set(store, first + k, func)
                if index:
                    G[index] = first + k
                else:
                    self._init_index = first + k
        self.has_on_fill = bool(G[C_FN_FILL])
        self.has_on_reject = bool(G[C_FN_REJECT])
        self.has_on_timer = bool(G[C_FN_TIMER])

    def _configure(
        self,
        inst: Instrument,
        limits: RuntimeLimits,
        rng_seed: int | str,
        prob: float,
        max_open: int,
        max_pos: int | None,
        max_notional: int | None,
        allow_short: bool,
        trace_every_ns: int,
        next_order_id: int,
    ) -> None:
        G = self.G
        G[C_TICK] = inst.tick_1e9
        G[C_LOT] = inst.lot_1e8
        G[C_MIN_PX] = inst.min_price_1e9
        G[C_MAX_PX] = inst.max_price_1e9
        G[C_MIN_QTY] = inst.min_qty_1e8
        G[C_MAX_QTY] = inst.max_qty_1e8
        G[C_MIN_NOTIONAL_SCALED] = inst.min_notional_1e9 * QTY_SCALE
        G[C_MIN_NOTIONAL_RESTS] = 1 if inst.min_notional_rests else 0
        G[C_FEE_MODEL] = 1 if inst.fee_model == "kalshi" else 0
        G[C_MAKER_BPS] = inst.maker_fee_bps
        G[C_TAKER_BPS] = inst.taker_fee_bps
        G[C_ACTIVE] = 1 if inst.active else 0
        G[C_MAX_OPEN] = min(max_open, 256)
        G[C_HAS_MAX_POS] = max_pos is not None
        G[C_MAX_POS] = max_pos or 0
        G[C_HAS_MAX_NOTIONAL] = max_notional is not None
        G[C_MAX_NOTIONAL] = max_notional or 0
        G[C_ALLOW_SHORT] = 1 if allow_short else 0
        G[C_FILL_PROB_BITS] = struct.unpack("<q", struct.pack("<d", float(prob)))[0]
        G[C_MAX_ACTIONS] = limits.max_actions_per_callback
        G[C_MAX_HOST_CALLS] = limits.max_host_calls_per_callback
        G[C_MAX_LOGS] = limits.max_log_lines_per_callback
        G[C_TIMER_NS] = TIMER_EVERY_NS
        G[C_TRACE_NS] = trace_every_ns
        G[C_MAX_QUEUED] = MAX_QUEUED_EVENTS
        G[S_NEXT_ID] = next_order_id
        # The matching engine's fill-at-touch draws: Python's own Mersenne Twister, state copied.
        state = random.Random(f"sequence-match|{rng_seed}").getstate()[1]
        mt = (ctypes.c_uint32 * 625).from_address(self._base + self._addr[5])
        for i, word in enumerate(state):
            mt[i] = word

    # -- log lines -------------------------------------------------------------------------------
    @property
    def count_only_logs(self) -> bool:
        """A backtest that has its sample of log lines only counts the rest (no text decoded, and
        in the core: no call into Python)."""
        return bool(self.G[C_LOG_COUNT_ONLY])

    @count_only_logs.setter
    def count_only_logs(self, value: bool) -> None:
        self.G[C_LOG_COUNT_ONLY] = 1 if value else 0

    @property
    def counted_logs(self) -> int:
        return int(self.G[S_COUNTED_LOGS]) + self._counted_py

    def _refresh_memory_view(self) -> None:
        super()._refresh_memory_view()
        self.G[S_ALGO_MEM] = self._mem_size  # the core's bounds check for the lines it only counts

    # -- calls -----------------------------------------------------------------------------------
    @property
    def trapped(self) -> bool:
        return self.trap is not None

    def call_init(self) -> None:
        """Call on_init once (a no-op without one)."""
        if not self._init_index or self.trap is not None:
            return
        self._words[0] = self._init_index
        self._in_init = True
        self.G[S_IN_INIT] = 1
        try:
            failure = self._call(self._f_call_init, 1, self.fuel)
        finally:
            self._in_init = False
            self.G[S_IN_INIT] = 0
        if failure is not None:
            raise self._fail(failure, "on_init")

    def on_book(
        self, ts: int, bid_px: int, bid_qty: int, ask_px: int, ask_qty: int, bshape: int, ashape: int
    ) -> int:
        """One book update. Returns the event count (| PAUSE_FLAG when the core wants a pause);
        raises AlgoTrap when the algo trapped."""
        w = self._words
        w[0] = ts
        w[2] = bid_px
        w[4] = bid_qty
        w[6] = ask_px
        w[8] = ask_qty
        w[10] = bshape
        w[12] = ashape
        failure = self._call(self._f_on_book, 7, self.fuel)
        if failure is not None:
            raise self._fail(failure, None)
        return w[0] & _MASK32

    def _on_book_levels(
        self, ts: int, bid_px: int, bid_qty: int, ask_px: int, ask_qty: int, bids: Any, asks: Any
    ) -> int | tuple[int]:
        """`set_levels(bids, asks)`, then `on_book` with explicit depth: what `on_book_levels` does
        in one C call (native/fastbook.c), which answers a failed call with a tuple for
        `book_failure` instead of raising; this one raises the AlgoTrap itself."""
        self.set_levels(bids, asks)
        return self.on_book(ts, bid_px, bid_qty, ask_px, ask_qty, -1, -1)

    def book_failure(self, answer: tuple[int]) -> AlgoTrap:
        """The AlgoTrap of an `on_book_levels` call that answered a tuple (the core or the algo
        trapped, or wasmtime failed the call)."""
        return self._fail(self._raw.failure(answer[0] or None), None)

    def route_fill(
        self, order_id: int, side: int, price_1e9: int, qty_1e8: int, fee_1e9: int, taker: bool, ts_ns: int
    ) -> int:
        """Routed mode: a venue fill of one of the algo's orders (positions, its record, on_fill).
        Returns as `on_book`; raises AlgoTrap when the algo trapped in on_fill."""
        w = self._words
        w[0] = order_id
        w[2] = side
        w[4] = price_1e9
        w[6] = qty_1e8
        w[8] = fee_1e9
        w[10] = 1 if taker else 0
        w[12] = ts_ns
        failure = self._call(self._f_route_fill, 7, self.fuel)
        if failure is not None:
            raise self._fail(failure, None)
        return w[0] & _MASK32

    def route_end(self, order_id: int, reason_code: int, ts_ns: int) -> int:
        """Routed mode: an open order ended at the venue without (more) fills: refused (`reason_code`
        > 0, on_reject) or cancelled/expired there (0). Unknown or closed ids change nothing."""
        w = self._words
        w[0] = order_id
        w[2] = reason_code
        w[4] = ts_ns
        failure = self._call(self._f_route_end, 3, self.fuel)
        if failure is not None:
            raise self._fail(failure, None)
        return w[0] & _MASK32

    def shape_index(self, shape: tuple[int, Any], bid: bool) -> int:
        """Register a simulator depth shape (limit, ((offset, qty), ...)) once; its index."""
        key = id(shape)
        found = self._shapes.get(key)
        if found is not None and found[1] is shape:
            return found[0]
        k = len(self._shapes)
        if k >= self.max_shapes:
            return -2  # no room: the core sees the touch only
        limit, pairs = shape
        width = 2 + 2 * (self.max_depth - 1)
        S = self.SHAPES
        o = k * width
        S[o] = limit
        n = min(len(pairs), self.max_depth - 1)
        S[o + 1] = n
        for j in range(n):
            S[o + 2 + 2 * j] = pairs[j][0]
            S[o + 3 + 2 * j] = pairs[j][1]
        self._shapes[key] = (k, shape)
        return k

    def set_levels(self, bids: Any, asks: Any) -> None:
        """Explicit depth for the next update (shape index -1): levels (price, qty) tuples, best
        first. A side is one write of its levels' kept bytes; a side that is the very object written
        last time (a live book's side an update did not reach) is already there and is not written
        again."""
        d = self.max_depth
        nb, na = len(bids), len(asks)
        if nb > d:
            nb = d
        if na > d:
            na = d
        X, held, packed = self._xbook_bytes, self._xbook_held, _LEVEL_BYTES.__getitem__
        _XBOOK_COUNTS.pack_into(X, 0, nb, na)
        if bids is not held[0]:
            X[16 : 16 + 16 * nb] = b"".join(map(packed, bids[:nb]))
            held[0] = bids if type(bids) is tuple else None  # a list may change in place
        if asks is not held[1]:
            o = 16 + 16 * d
            X[o : o + 16 * na] = b"".join(map(packed, asks[:na]))
            held[1] = asks if type(asks) is tuple else None

    def start(self, ts_ns: int) -> None:
        self._words[0] = ts_ns
        self._call(self._f_start, 1, self.fuel)

    def halt(self, state: int) -> int:
        """Cancel every open order and set the state (ST_ACCEPTED: stopped, ST_PAUSED). Returns
        how many orders were cancelled."""
        self._words[0] = state
        failure = self._call(self._f_halt, 1, self.fuel)
        if failure is not None:  # the core itself failed: nothing sane to report
            raise RuntimeError(f"seqcore halt failed: {failure.message}")
        return self._words[0]

    def open_orders(self) -> list[tuple[int, int, int, int, int, bool]]:
        """(id, side, price_1e9, qty_1e8, leaves_1e8, dormant) of each open order, oldest first."""
        out = []
        w = self._words
        scratch = self._addr[4] + 8 * (2 + 4 * self.max_depth) - 64  # the tail of XBOOK's area
        self._xbook_held[0] = self._xbook_held[1] = None
        raw = _i64_array(self._base + scratch, 6)
        for k in range(int(self.G[S_NOPEN])):
            w[0] = k
            w[2] = scratch
            self._call(self._f_open_order, 2, self.fuel)
            out.append((raw[0], raw[1], raw[2], raw[3], raw[4], bool(raw[5])))
        return out

    # -- carrying state over to a rebuilt instance (after a trap) ---------------------------------
    _CARRIED = (
        *range(S_STATE, S_CALLBACK),
        S_NEXT_TIMER,
        S_NEXT_TRACE_BOOK,
        S_NEXT_TRACE_FILL,
        S_NEXT_TRACE_REJECT,
        *range(S_WINS, S_PROCESSED),
        S_HAVE_BOOK,
        *range(A_COST, A_ROUND_TRIP + 1),
    )

    def carried_state(self) -> tuple[list[int], list[int]]:
        """What a replacement instance needs: positions, PnL, counters, schedules, the rng."""
        G = self.G
        mt = (ctypes.c_uint32 * 625).from_address(self._base + self._addr[5])
        return [G[i] for i in self._CARRIED], list(mt)

    def adopt_state(self, state: tuple[list[int], list[int]]) -> None:
        words, mt_words = state
        G = self.G
        for i, value in zip(self._CARRIED, words, strict=True):
            G[i] = value
        mt = (ctypes.c_uint32 * 625).from_address(self._base + self._addr[5])
        for i, value in enumerate(mt_words):
            mt[i] = value

    # -- backtests -------------------------------------------------------------------------------
    def alloc_run(self) -> None:
        """Make room for a replay's chunks, curve, records and segments (grows the core's memory)."""
        self._call(self._f_alloc_run, 1, self.fuel)
        if self._words[0] & _MASK32:
            raise AlgoLoadError("the memory limit leaves no room for the backtest buffers")
        base = _raw.memory_base(self._raw.ctx, _raw.memory_addr(self._core_memory))
        addr = self._where
        ncols = 1 + 4 * self.chunk_depth
        self.IN = _i64_array(base + addr(6), ncols * self.chunk)
        self.CURVE = _i64_array(base + addr(7), 2 * self.max_curve)
        self.EV = _i64_array(base + addr(1), 16384 * self.ev_words)
        self.in_addr = base + addr(6)
        self.max_seg = self._limit(12)
        self.seg_addr = base + addr(10)
        self.SEG = (ctypes.c_int32 * (3 * self.max_seg)).from_address(self.seg_addr)

    def drive(self, cores: list[AlgoCore]) -> None:
        """Make this core the replay's driver over `cores` (itself among them, all in its store):
        their core_seg and core_portfolio go into this core's function table, so core_merge calls
        them wasm to wasm. After alloc_run."""
        cx = self._core_exports
        store = self._store
        nsym = self._limit(11)
        if len(cores) > nsym:
            raise AlgoLoadError(f"a replay merges at most {nsym} symbols")
        table: wasmtime.Table = cx["__indirect_function_table"]  # type: ignore[assignment]
        first = table.grow(store, 2 * len(cores), None)
        fn = (ctypes.c_int32 * (2 * nsym)).from_address(self._base + self._where(9))
        for k, core in enumerate(cores):
            if core._store is not store:
                raise ValueError("a driver's cores share its store")
            table.set(store, first + 2 * k, core._core_exports["core_seg"])
            table.set(store, first + 2 * k + 1, core._core_exports["core_portfolio"])
            fn[2 * k], fn[2 * k + 1] = first + 2 * k, first + 2 * k + 1
        self.MERGE = _i64_array(self._base + self._where(8), M_SIZE + nsym)
        self._driven = list(cores)

    def merge(self, nseg: int) -> int:
        """Run the segments written in SEG (core_merge): returns the index of the segment it stopped
        after (nseg when all ran; MERGE[M_DONE]: how many of that one's events ran). A trap raises
        AlgoTrap from the symbol's core that trapped, with `core` (its index), `segment` and
        `events_done` (in that segment) set."""
        self._words[0] = nseg
        failure = self._call(self._f_merge, 1, self.fuel)
        if failure is None:
            return self._words[0] & _MASK32
        s = int(self.MERGE[M_SEG])
        k = int(self.SEG[s])
        core = self._driven[k]
        trap = core._fail(failure, None)  # resets that core's stack pointer; and the driver's:
        self._sp.set_value(self._store, self._sp0)
        trap.core, trap.segment = k, s  # type: ignore[attr-defined]
        trap.events_done = int(core.G[S_PROCESSED])  # type: ignore[attr-defined]
        raise trap

    def _limit(self, which: int) -> int:
        """core_limits(which), as a raw call (wasmtime's typed call costs ~40 µs of Python)."""
        self._words[0] = which
        self._call(self._f_limits, 1, self.fuel)
        return self._words[0] & _MASK32

    def _where(self, which: int) -> int:
        """core_addr(which): a buffer's address in the core's memory."""
        self._words[0] = which
        self._call(self._f_addr, 1, self.fuel)
        return self._words[0] & _MASK32

    # -- failures --------------------------------------------------------------------------------
    def _fail(self, failure: _raw.RawFailure, name: str | None) -> AlgoTrap:
        G = self.G
        if name is None:
            name = CALLBACK_NAMES.get(int(G[S_CALLBACK]), "the host")
        trap = self._pending
        self._pending = None
        if trap is None and G[S_PENDING] == PEND_HOST_CALLS:
            what = IMPORT_NAMES.get(int(G[S_LAST_CALL]), "?")
            reason = f"too many host calls in {name} (limit {self._max_host_calls}; last was {what}())"
            trap = AlgoTrap("trap", reason, name)
        if trap is None:
            trap = trap_of(failure, name, self.limits.fuel_per_callback)
        G[S_PENDING] = 0
        self._sp.set_value(self._store, self._sp0)  # the trap unwound the core's frames
        self.trap = trap
        exc = self._pending_exc
        if exc is not None:
            self._pending_exc = None
            raise exc
        return trap

    def close(self) -> None:
        self.trap = self.trap or AlgoTrap("trap", "instance closed", "close")
        self._mem_view = None
        self._raw = None  # type: ignore[assignment]
        self._store = None  # type: ignore[assignment]
        self._callbacks = []

    # -- host imports ----------------------------------------------------------------------------

    def _imp_flush(self, _env: Any, _caller: Any, _addr: int, _n: int) -> int:
        try:
            n = int(self.G[S_NEV])
            if n:
                self._on_events(n)
            self.G[S_NEV] = 0
            return 0
        except BaseException as exc:
            return self._host_failed("flush", exc)

    def _imp_trace(self, _env: Any, _caller: Any, addr: int, _n: int) -> int:
        try:
            args = self._views[addr]
            self._on_trace(args[0] & _MASK32, args[2] & _MASK32)
            return 0
        except BaseException as exc:
            return self._host_failed("trace", exc)

    def _imp_log(self, _env: Any, caller: Any, addr: int, _n: int) -> int:
        try:
            G = self.G
            left = G[S_CALLS_LEFT] - 1
            G[S_CALLS_LEFT] = left
            if left < 0 and not self._in_init:
                name = self._callback_name()
                reason = f"too many host calls in {name} (limit {self._max_host_calls}; last was log())"
                self._pending = AlgoTrap("trap", reason, name)
                return _raw.new_trap(reason)
            return self._imp_core_log(_env, caller, addr, _n)
        except BaseException as exc:
            return self._host_failed("log", exc)

    def _imp_core_log(self, _env: Any, caller: Any, addr: int, _n: int) -> int:
        """The lines seq_log (the core) hands on: _imp_log without the host-call budget, which the
        core has spent (and the rest of _imp_log, once it has spent the budget itself). From the
        core, the algo's memory is read through our view (the algo has no start function on that
        path: instantiation had returned its memory)."""
        try:
            G = self.G
            args = self._views[addr]
            ptr = args[2] & _MASK32
            length = args[4] & _MASK32
            if ptr + length > self._mem_size and not self._log_in_bounds(caller, ptr, length):
                name = self._callback_name()
                reason = f"log(): pointer out of bounds (ptr={ptr}, len={length}) in {name}"
                self._pending = AlgoTrap("trap", reason, name)
                return _raw.new_trap(reason)
            left = G[S_LOGS_LEFT] - 1
            G[S_LOGS_LEFT] = left
            if left < 0:
                if left == -1:
                    self._log(
                        _WARN,
                        f"log(): more than {self._max_logs} lines in {self._callback_name()}; "
                        "further lines of this callback are dropped",
                    )
                return 0
            if G[C_LOG_COUNT_ONLY] and not G[S_TRACING]:
                self._counted_py += 1
                return 0
            level = ((args[0] & _MASK32) ^ _SIGN32) - _SIGN32
            view = self._mem_view
            if view is not None and length <= _MAX_LOG_BYTES:
                text = str(view[ptr : ptr + length], "utf-8", "replace")
            else:
                text = self._log_text(caller, ptr, length)
            self._log(0 if level < 0 else 3 if level > 3 else level, text)
            return 0
        except BaseException as exc:
            return self._host_failed("log", exc)

    def _callback_name(self) -> str:
        if self._in_init:
            return "on_init"
        return CALLBACK_NAMES.get(int(self.G[S_CALLBACK]), "?")

    def _host_failed(self, what: str, exc: BaseException) -> int:
        name = CALLBACK_NAMES.get(int(self.G[S_CALLBACK]), "?")
        reason = f"host error in {what}() during {name}: {type(exc).__name__}: {exc}"
        self._pending = AlgoTrap("host_error", reason, name)
        if not isinstance(exc, Exception):
            self._pending_exc = exc
        return _raw.new_trap(reason)
