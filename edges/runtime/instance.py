"""AlgoInstance: one instantiated algo (one per deployment and symbol) driven through the fast path.

Each instance owns a wasmtime Store (so its fuel, memory cap and traps are its own), a Linker whose
`seq` imports are closures over this instance, and a RawStore with the reusable call buffer.
Instantiation uses wasmtime-py's convenient API; every callback and every import goes through
edges.runtime._raw.

Not thread-safe: use an instance from one thread at a time (different instances may run in
different threads). Callbacks are not re-entrant: a host method must not call back into the same
instance (AlgoReentryError).
"""

from __future__ import annotations

import hashlib
from typing import Any

import wasmtime

from edges.runtime import _raw, abi
from edges.runtime.engine import MODULE_CACHE, get_engine
from edges.runtime.errors import AlgoError, AlgoLoadError, AlgoReentryError, AlgoTrap, AlgoValidationError
from edges.runtime.host import AlgoHost, NullHost
from edges.runtime.limits import RuntimeLimits
from edges.runtime.module import CompiledAlgo, ModuleInfo
from edges.runtime.validation import (
    check_header,
    check_memory_fits,
    compile_checked,
    summarize_wasmtime_message,
)

_MASK32 = _raw.MASK32
_SIGN32 = 0x80000000
_WARN = int(abi.LogLevel.WARN)
_ERR_RATE = abi.ERR_RATE
_ERR_BAD_SIDE = abi.ERR_BAD_SIDE
_ERR_BAD_PRICE = abi.ERR_BAD_PRICE
_ERR_BAD_QTY = abi.ERR_BAD_QTY
_MAX_LOG_BYTES = abi.MAX_LOG_BYTES

# Short, author-facing words for wasmtime's trap codes (out of fuel is reported separately).
_TRAP_WORDS: dict[wasmtime.TrapCode, str] = {
    wasmtime.TrapCode.UNREACHABLE: "unreachable executed",
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: "out-of-bounds memory access",
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: "integer divide by zero",
    wasmtime.TrapCode.INTEGER_OVERFLOW: "integer overflow",
    wasmtime.TrapCode.STACK_OVERFLOW: "stack overflow (call stack exhausted)",
    wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER: "invalid conversion of a float to an integer",
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: "indirect call to a null table entry",
    wasmtime.TrapCode.BAD_SIGNATURE: "indirect call with the wrong signature",
    wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS: "out-of-bounds table access",
    wasmtime.TrapCode.HEAP_MISALIGNED: "misaligned atomic memory access",
    wasmtime.TrapCode.INTERRUPT: "interrupted",
}

# Function types of the imports. wasmtime ties a function type to the first engine it is used with,
# so they are built afresh for each engine (a forked child gets a new one: engine.py).
_VALTYPES = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64}
_import_types_cache: tuple[wasmtime.Engine, dict[str, wasmtime.FuncType]] | None = None


def _import_types(engine: wasmtime.Engine) -> dict[str, wasmtime.FuncType]:
    global _import_types_cache
    if _import_types_cache is None or _import_types_cache[0] is not engine:
        types = {
            name: wasmtime.FuncType([_VALTYPES[p]() for p in params], [_VALTYPES[r]() for r in results])
            for name, (params, results) in abi.IMPORTS.items()
        }
        _import_types_cache = (engine, types)
    return _import_types_cache[1]


class AlgoMemoryMixin:
    """What every host of an algo needs of its linear memory and its instantiation: log() text
    read through a cached view (the engine never moves a memory: engine.py), the bounds check, and
    the instantiation failures turned into AlgoLoadError. Users set `_raw`, `_memory_addr`,
    `_mem_size`, `_mem_view`, `_pending` and `_pending_exc`."""

    _raw: _raw.RawStore
    _memory_addr: int
    _mem_size: int
    _mem_view: memoryview | None
    _pending: AlgoTrap | None
    _pending_exc: BaseException | None

    def _log_text(self, caller: Any, ptr: int, length: int) -> str:
        """The text of a log() call whose bounds were checked (cut to MAX_LOG_BYTES)."""
        if length > _MAX_LOG_BYTES:
            length = _MAX_LOG_BYTES
        view = self._mem_view
        if view is not None:
            return str(view[ptr : ptr + length], "utf-8", "replace")
        # the start function, before instantiation returned: through the caller
        return (_raw.memory_bytes(caller, 0, ptr, length) or b"").decode("utf-8", "replace")

    def _log_in_bounds(self, caller: Any, ptr: int, length: int) -> bool:
        """Slow path of log()'s bounds check: the memory may have grown since we last looked."""
        if not self._memory_addr:  # the start function: instantiation has not returned yet
            return _raw.memory_bytes(caller, 0, ptr, length) is not None
        self._refresh_memory_view()
        return ptr + length <= self._mem_size

    def _refresh_memory_view(self) -> None:
        ctx, addr = self._raw.ctx, self._memory_addr
        size = _raw.memory_size(ctx, addr)
        if size != self._mem_size or self._mem_view is None:
            self._mem_size = size
            self._mem_view = _raw.memory_view(_raw.memory_base(ctx, addr), size) if size else None

    def _instantiation_error(self, exc: Exception, fuel: int) -> AlgoLoadError:
        """The AlgoLoadError for a failed instantiation (re-raises a KeyboardInterrupt & co that
        an import caught during the start function)."""
        pending, self._pending = self._pending, None
        if self._pending_exc is not None:
            exc_, self._pending_exc = self._pending_exc, None
            raise exc_ from None
        if pending is not None:
            reason = pending.reason
        elif isinstance(exc, wasmtime.Trap) and exc.trap_code == wasmtime.TrapCode.OUT_OF_FUEL:
            reason = f"out of fuel in the start function (budget {fuel})"
        elif isinstance(exc, wasmtime.Trap):
            # A data segment out of bounds traps here too, not only the start function.
            failure = _raw.RawFailure(exc.trap_code, exc.message)
            reason = f"wasm trap during instantiation: {_describe(failure)}"
        else:  # link-time: resource limits (table size, memory count), ...
            reason = summarize_wasmtime_message(str(exc))
        return AlgoLoadError(f"the module failed to instantiate: {reason}")


class AlgoInstance(AlgoMemoryMixin):
    """One running algo. Build it, bind a host, call on_init() once, then feed it events.

    Callback methods return None or raise AlgoTrap; after a trap every further call raises the same
    AlgoTrap again (cheaply) and the edge should pause the algo with `trap.reason`. To resume,
    build a new instance (from the cached CompiledAlgo: no recompilation).

    Argument values must fit in i64 (i32 for sides and reason codes): the fast path does not check.
    """

    def __init__(
        self, algo: bytes | CompiledAlgo, host: AlgoHost, *, limits: RuntimeLimits | None = None
    ) -> None:
        self.limits = limits = limits or RuntimeLimits()
        compiled = algo if isinstance(algo, CompiledAlgo) else load_module(algo, limits=limits)
        check_memory_fits(compiled.info, limits.memory_limit_bytes, AlgoLoadError)
        self.info: ModuleInfo = compiled.info
        self._fuel = limits.fuel_per_callback
        self._max_actions = limits.max_actions_per_callback
        self._max_logs = limits.max_log_lines_per_callback
        self._max_host_calls = limits.max_host_calls_per_callback

        self.host = host  # property: caches the bound methods the imports call
        self._trap: AlgoTrap | None = None
        self._pending: AlgoTrap | None = None  # set by an import that traps, read after the call
        self._pending_exc: BaseException | None = None  # KeyboardInterrupt & co, re-raised after
        self._busy = False
        self._callback = "the start function"
        # What is left of this callback's budgets; each import counts itself down.
        self._calls_left = self._max_host_calls
        self._actions_left = self._max_actions
        self._logs_left = self._max_logs
        # Linear memory, known once instantiation returns (log() copes before that). The engine
        # never moves a memory (engine.py: memory_may_move off), so the base address stays valid;
        # memories only grow, so `_mem_size` is a lower bound, re-read when a log() reaches past it.
        self._memory_addr = 0
        self._mem_size = 0
        self._mem_view: memoryview | None = None  # the whole memory as bytes, renewed as it grows

        engine = get_engine()
        store = wasmtime.Store(engine)
        store.set_limits(
            memory_size=limits.memory_limit_bytes,
            table_elements=abi.MAX_TABLE_ELEMENTS,
            instances=1,
            memories=1,
        )
        self._store = store
        self._raw = _raw.RawStore(store)
        self._words = self._raw.words
        self._call = self._raw.call
        self._views = _raw.ArgViews()  # the imports' argument buffers, by address

        linker = wasmtime.Linker(engine)
        self._linker = linker
        import_types = _import_types(engine)
        # The C side holds raw pointers to these callbacks: they live as long as the instance.
        self._callbacks: list[Any] = [
            _raw.define_host_func(linker, abi.IMPORT_MODULE, name, import_types[name], fn)
            for name, fn in self._import_functions().items()
        ]

        self._instantiate(compiled.module)

    # -- callbacks ---------------------------------------------------------------------------

    def on_init(self) -> None:
        """Call once after construction (a no-op when the module has no on_init)."""
        if self._f_on_init:
            self._run(self._f_on_init, 0, "on_init")
        elif self._trap is not None:
            raise self._trap.with_traceback(None)

    def on_book(
        self, bid_px_1e9: int, bid_qty_1e8: int, ask_px_1e9: int, ask_qty_1e8: int, ts_ns: int
    ) -> None:
        """A missing side of a one-sided book is passed as price 0, quantity 0."""
        w = self._words  # argument i lives at word 2*i of the raw buffer (see _raw)
        w[0] = bid_px_1e9
        w[2] = bid_qty_1e8
        w[4] = ask_px_1e9
        w[6] = ask_qty_1e8
        w[8] = ts_ns
        self._run(self._f_on_book, 5, "on_book")

    def on_fill(self, order_id: int, side: int, price_1e9: int, qty_1e8: int, ts_ns: int) -> None:
        if self._f_on_fill:
            w = self._words
            w[0] = order_id
            w[2] = side
            w[4] = price_1e9
            w[6] = qty_1e8
            w[8] = ts_ns
            self._run(self._f_on_fill, 5, "on_fill")
        elif self._trap is not None:
            raise self._trap.with_traceback(None)

    def on_reject(self, order_id: int, reason: int) -> None:
        if self._f_on_reject:
            w = self._words
            w[0] = order_id
            w[2] = reason
            self._run(self._f_on_reject, 2, "on_reject")
        elif self._trap is not None:
            raise self._trap.with_traceback(None)

    def on_timer(self, ts_ns: int) -> None:
        if self._f_on_timer:
            self._words[0] = ts_ns
            self._run(self._f_on_timer, 1, "on_timer")
        elif self._trap is not None:
            raise self._trap.with_traceback(None)

    def abi_version(self) -> int:
        """What the module's sequence_abi_version() returns (1 when it does not export one)."""
        if not self._f_version:
            return abi.ABI_VERSION
        self._run(self._f_version, 1, "sequence_abi_version")
        return ((self._words[0] & _MASK32) ^ _SIGN32) - _SIGN32

    # -- state ---------------------------------------------------------------------------------

    @property
    def host(self) -> AlgoHost:
        """The host the imports call. Assigning another rebinds the instance to it: cheap (eight
        getattr of its bound methods), effective from the next import call."""
        return self._host

    @host.setter
    def host(self, host: AlgoHost) -> None:
        self._host = host
        self._h_place_order = host.place_order
        self._h_cancel_order = host.cancel_order
        self._h_cancel_all = host.cancel_all
        self._h_log = host.log
        self._h_position = host.position_1e8
        self._h_open_orders = host.open_order_count
        self._h_book_level = host.book_level
        self._h_now_ns = host.now_ns

    @property
    def trapped(self) -> bool:
        return self._trap is not None

    @property
    def trap(self) -> AlgoTrap | None:
        """The trap that stopped this instance, if any."""
        return self._trap

    @property
    def last_fuel_used(self) -> int:
        """Fuel the last callback consumed (valid until the next callback starts)."""
        return self._fuel - self._raw.fuel_left()

    @property
    def memory_size_bytes(self) -> int:
        return self._memory.data_len(self._store)

    def close(self) -> None:
        """Free the store now rather than at garbage collection. The instance is unusable after."""
        self._trap = self._trap or AlgoTrap("trap", "instance closed", self._callback)
        for name in ("_f_on_init", "_f_on_book", "_f_on_fill", "_f_on_reject", "_f_on_timer", "_f_version"):
            setattr(self, name, 0)
        self.__dict__.pop("_exports", None)
        self.__dict__.pop("_memory", None)
        self._mem_view = None
        self._mem_size = 0
        self._raw = None  # type: ignore[assignment]
        self._store = None  # type: ignore[assignment]
        self._linker = None  # type: ignore[assignment]
        self._callbacks = []

    # -- calling into wasm -------------------------------------------------------------------

    def _run(self, func: int, nslots: int, name: str) -> None:
        if self._trap is not None or self._busy:
            self._refuse(name)
        self._busy = True
        self._callback = name
        self._calls_left = self._max_host_calls
        self._actions_left = self._max_actions
        self._logs_left = self._max_logs
        try:
            failure = self._call(func, nslots, self._fuel)
        finally:
            self._busy = False
        if failure is not None:
            raise self._fail(failure)

    def _refuse(self, name: str) -> None:
        if self._trap is not None:
            raise self._trap.with_traceback(None)
        raise AlgoReentryError(
            f"{name} called while {self._callback} is running on the same algo instance; "
            "queue the event and deliver it after the running callback returns"
        )

    def _fail(self, failure: _raw.RawFailure) -> AlgoTrap:
        """Turn a failed call into the AlgoTrap that pauses the algo, and remember it."""
        name = self._callback
        trap = self._pending
        self._pending = None
        if trap is None:
            trap = trap_of(failure, name, self._fuel)
        self._trap = trap
        exc = self._pending_exc
        if exc is not None:
            self._pending_exc = None
            raise exc
        return trap

    def _instantiate(self, module: wasmtime.Module) -> None:
        self._raw.set_fuel(self._fuel)  # the start function, if any, runs on this budget
        self._busy = True
        try:
            instance = self._linker.instantiate(self._store, module)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            raise self._instantiation_error(exc, self._fuel) from None
        finally:
            self._busy = False
        exports = instance.exports(self._store)
        self._exports = exports  # keeps the Func/Memory objects whose addresses we call
        self._memory: wasmtime.Memory = exports[abi.MEMORY_EXPORT]  # type: ignore[assignment]
        self._memory_addr = _raw.memory_addr(self._memory)
        self._refresh_memory_view()

        def addr(name: str) -> int:
            func = exports.get(name)
            return _raw.func_addr(func) if isinstance(func, wasmtime.Func) else 0

        self._f_on_init = addr("on_init")
        self._f_on_book = addr("on_book")
        self._f_on_fill = addr("on_fill")
        self._f_on_reject = addr("on_reject")
        self._f_on_timer = addr("on_timer")
        self._f_version = addr("sequence_abi_version")

    # -- the `seq` imports -------------------------------------------------------------------
    #
    # Each runs as a raw callback: fn(env, caller, addr, nargs) -> 0 or a trap address, where addr
    # is the argument/result buffer; `self._views[addr]` is a cached word array over it. Argument i
    # is args[2*i] (an i32 is its low 32 bits); the result goes to args[0]. Every one catches
    # BaseException itself: an exception escaping a ctypes callback would be printed and ignored,
    # and wasm would carry on with garbage in the result slot. The budgets count down: one load,
    # one store and one compare per call.

    def _import_functions(self) -> dict[str, _raw.HostFn]:
        return {
            "place_order": self._imp_place_order,
            "cancel_order": self._imp_cancel_order,
            "cancel_all": self._imp_cancel_all,
            "log": self._imp_log,
            "position_1e8": self._imp_position,
            "open_order_count": self._imp_open_order_count,
            "book_level": self._imp_book_level,
            "now_ns": self._imp_now_ns,
            "log_enabled": self._imp_log_enabled,
        }

    def _imp_place_order(self, _env: Any, _caller: Any, addr: int, _n: int) -> int:
        try:
            left = self._calls_left - 1
            self._calls_left = left
            if left < 0:
                return self._too_many_host_calls("place_order")
            args = self._views[addr]
            left = self._actions_left - 1
            self._actions_left = left
            if left < 0:
                args[0] = _ERR_RATE
                self._rate_limited("place_order")
                return 0
            side = args[0] & _MASK32
            price = args[2]
            qty = args[4]
            if side > 1:
                args[0] = _ERR_BAD_SIDE
            elif price <= 0:
                args[0] = _ERR_BAD_PRICE
            elif qty <= 0:
                args[0] = _ERR_BAD_QTY
            else:
                args[0] = self._h_place_order(side, price, qty)
            return 0
        except BaseException as exc:
            return self._host_failed("place_order", exc)

    def _imp_cancel_order(self, _env: Any, _caller: Any, addr: int, _n: int) -> int:
        try:
            left = self._calls_left - 1
            self._calls_left = left
            if left < 0:
                return self._too_many_host_calls("cancel_order")
            args = self._views[addr]
            left = self._actions_left - 1
            self._actions_left = left
            if left < 0:
                args[0] = _ERR_RATE
                self._rate_limited("cancel_order")
                return 0
            args[0] = self._h_cancel_order(args[0])
            return 0
        except BaseException as exc:
            return self._host_failed("cancel_order", exc)

    def _imp_cancel_all(self, _env: Any, _caller: Any, _addr: int, _n: int) -> int:
        try:
            left = self._calls_left - 1
            self._calls_left = left
            if left < 0:
                return self._too_many_host_calls("cancel_all")
            left = self._actions_left - 1
            self._actions_left = left
            if left < 0:
                self._rate_limited("cancel_all")
                return 0
            self._h_cancel_all()
            return 0
        except BaseException as exc:
            return self._host_failed("cancel_all", exc)

    def _imp_log(self, _env: Any, caller: Any, addr: int, _n: int) -> int:
        try:
            left = self._calls_left - 1
            self._calls_left = left
            if left < 0:
                return self._too_many_host_calls("log")
            args = self._views[addr]
            level = ((args[0] & _MASK32) ^ _SIGN32) - _SIGN32
            ptr = args[2] & _MASK32  # i32 pointers and lengths are unsigned
            length = args[4] & _MASK32
            if ptr + length > self._mem_size and not self._log_in_bounds(caller, ptr, length):
                reason = f"log(): pointer out of bounds (ptr={ptr}, len={length}) in {self._callback}"
                self._pending = AlgoTrap("trap", reason, self._callback)
                return _raw.new_trap(reason)
            left = self._logs_left - 1
            self._logs_left = left
            if left < 0:
                if left == -1:
                    self._h_log(
                        _WARN,
                        f"log(): more than {self._max_logs} lines in {self._callback}; "
                        "further lines of this callback are dropped",
                    )
                return 0
            text = self._log_text(caller, ptr, length)
            self._h_log(0 if level < 0 else 3 if level > 3 else level, text)
            return 0
        except BaseException as exc:
            return self._host_failed("log", exc)

    def _imp_position(self, _env: Any, _caller: Any, addr: int, _n: int) -> int:
        try:
            left = self._calls_left - 1
            self._calls_left = left
            if left < 0:
                return self._too_many_host_calls("position_1e8")
            self._views[addr][0] = self._h_position()
            return 0
        except BaseException as exc:
            return self._host_failed("position_1e8", exc)

    def _imp_open_order_count(self, _env: Any, _caller: Any, addr: int, _n: int) -> int:
        try:
            left = self._calls_left - 1
            self._calls_left = left
            if left < 0:
                return self._too_many_host_calls("open_order_count")
            self._views[addr][0] = self._h_open_orders()
            return 0
        except BaseException as exc:
            return self._host_failed("open_order_count", exc)

    def _imp_book_level(self, _env: Any, _caller: Any, addr: int, _n: int) -> int:
        try:
            left = self._calls_left - 1
            self._calls_left = left
            if left < 0:
                return self._too_many_host_calls("book_level")
            args = self._views[addr]
            side = args[0] & _MASK32
            index = args[2] & _MASK32
            which = args[4] & _MASK32
            # Unsigned compares also reject negative i32s; the host sees only sane arguments.
            if side > 1 or which > 1 or index >= _SIGN32:
                args[0] = 0
            else:
                args[0] = self._h_book_level(side, index, which)
            return 0
        except BaseException as exc:
            return self._host_failed("book_level", exc)

    def _imp_now_ns(self, _env: Any, _caller: Any, addr: int, _n: int) -> int:
        try:
            left = self._calls_left - 1
            self._calls_left = left
            if left < 0:
                return self._too_many_host_calls("now_ns")
            self._views[addr][0] = self._h_now_ns()
            return 0
        except BaseException as exc:
            return self._host_failed("now_ns", exc)

    def _imp_log_enabled(self, _env: Any, _caller: Any, addr: int, _n: int) -> int:
        # This host reads every line within the callback's budget (the core's, seqcore.c, also
        # answers 0 for lines a backtest would only count).
        try:
            left = self._calls_left - 1
            self._calls_left = left
            if left < 0:
                return self._too_many_host_calls("log_enabled")
            self._views[addr][0] = 1 if self._logs_left > 0 else 0
            return 0
        except BaseException as exc:
            return self._host_failed("log_enabled", exc)

    # Rare paths, kept out of the imports above.

    def _rate_limited(self, what: str) -> None:
        if self._actions_left == -1:  # say it once per callback
            self._h_log(
                _WARN,
                f"{what}(): more than {self._max_actions} order actions in {self._callback}; "
                "further place_order/cancel_order return ERR_RATE (-5) and cancel_all does nothing",
            )

    def _too_many_host_calls(self, what: str) -> int:
        reason = f"too many host calls in {self._callback} (limit {self._max_host_calls}; last was {what}())"
        self._pending = AlgoTrap("trap", reason, self._callback)
        return _raw.new_trap(reason)

    def _host_failed(self, what: str, exc: BaseException) -> int:
        reason = f"host error in {what}() during {self._callback}: {type(exc).__name__}: {exc}"
        self._pending = AlgoTrap("host_error", reason, self._callback)
        if not isinstance(exc, Exception):
            self._pending_exc = exc  # KeyboardInterrupt, SystemExit: unwind the wasm, then re-raise
        return _raw.new_trap(reason)


def trap_of(failure: _raw.RawFailure, name: str, fuel: int) -> AlgoTrap:
    """The AlgoTrap for a wasm trap (or running out of `fuel`) in callback `name`."""
    if failure.code == wasmtime.TrapCode.OUT_OF_FUEL:
        return AlgoTrap(
            "out_of_fuel", f"out of fuel in {name} (budget {fuel}): infinite loop?", name, failure.message
        )
    return AlgoTrap("trap", f"wasm trap in {name}: {_describe(failure)}", name, failure.message)


def _describe(failure: _raw.RawFailure) -> str:
    words = _TRAP_WORDS.get(failure.code) if failure.code is not None else None
    summary = summarize_wasmtime_message(failure.message.split("Caused by:", 1)[-1])
    if words is None:
        return summary
    if failure.code == wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS and "memory fault" in summary:
        return f"{words} ({summary.split(': wasm trap')[0]})"
    return words


# -- loading: validation's static checks, then one trial instance ------------------------------------
def validate_module(wasm_bytes: bytes, *, limits: RuntimeLimits | None = None) -> ModuleInfo:
    """Check `wasm_bytes` against ABI v1; return what it contains or raise AlgoValidationError.

    Compiles the module (cached by sha256, so a later load_module() of the same bytes is a cache
    hit) and instantiates it once with a host that refuses everything, to run its start function
    and read sequence_abi_version().
    """
    return load_module(wasm_bytes, limits=limits).info


def load_module(wasm_bytes: bytes, *, limits: RuntimeLimits | None = None) -> CompiledAlgo:
    """The validated, compiled module for `wasm_bytes`, from the cache when its sha256 is known."""
    limits = limits or RuntimeLimits()
    data = check_header(wasm_bytes)
    sha256 = hashlib.sha256(data).hexdigest()
    compiled = MODULE_CACHE.get(sha256)
    if compiled is not None:
        check_memory_fits(compiled.info, limits.memory_limit_bytes, AlgoValidationError)
        return compiled
    compiled = compile_checked(data, sha256, limits=limits)
    version = _trial_run(compiled, limits)
    if version != abi.ABI_VERSION:
        raise AlgoValidationError(
            f"sequence_abi_version() returned {version}; this runtime supports ABI version "
            f"{abi.ABI_VERSION} only"
        )
    MODULE_CACHE.put(compiled)
    return compiled


def _trial_run(compiled: CompiledAlgo, limits: RuntimeLimits) -> int:
    """Instantiate once with a host that refuses everything; return sequence_abi_version()."""
    try:
        instance = AlgoInstance(compiled, NullHost(), limits=limits)
        try:
            return instance.abi_version()
        finally:
            instance.close()
    except AlgoError as exc:
        raise AlgoValidationError(str(exc)) from None
