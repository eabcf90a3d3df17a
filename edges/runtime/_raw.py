"""The fast path: calls into and out of wasm through wasmtime's C API, skipping wasmtime-py's wrappers.

Why: `wasmtime.Func.__call__` costs ~49 µs per call (it re-reads the function type and builds value
objects every time); the same call through `wasmtime_func_call_unchecked` with a reused buffer costs
~1.2 µs. Host functions likewise go through `wasmtime_linker_define_func_unchecked`, whose callback
gets a bare pointer to the argument/result buffer instead of boxed values.

Everything here depends on wasmtime-py internals (`wasmtime._ffi.dll` and the struct layouts in
`wasmtime._bindings`), which is why pyproject.toml pins wasmtime exactly and the tests cover this
module end to end. Everything else in edges.runtime is built on these few functions.

The raw calling convention ("unchecked"): one array of `wasmtime_val_raw_t` (16-byte slots) holds
the arguments on entry and the results on return, in place; nothing checks types, so the caller
must match the export's signature exactly (validation guarantees it). i64 values are the slot's
first 8 bytes; an i32 is the first 4 bytes (little-endian), with undefined upper bytes when written
by wasm, so i32 values are read as `word & 0xFFFFFFFF`.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from ctypes import (
    CFUNCTYPE,
    POINTER,
    PYFUNCTYPE,
    addressof,
    c_bool,
    c_char_p,
    c_int64,
    c_size_t,
    c_uint64,
    c_void_p,
)
from typing import Any, NamedTuple, cast

import wasmtime
from wasmtime import _ffi as ffi  # the loaded libwasmtime and its struct types

WORDS_PER_SLOT = ctypes.sizeof(ffi.wasmtime_val_raw_t) // 8  # 2: an i64 word + padding for v128
MASK32 = 0xFFFFFFFF


def _proto(name: str, restype: Any, *argtypes: Any, release_gil: bool = False) -> Any:
    # Our own prototypes over the same library symbols, with plain-int argument types: passing ints
    # skips ctypes' per-argument pointer type checks and byref() objects, and leaves wasmtime-py's
    # own function objects (and their argtypes) untouched. Short calls keep the GIL (PYFUNCTYPE):
    # dropping and retaking it would cost more than the call.
    factory = CFUNCTYPE if release_gil else PYFUNCTYPE
    return factory(restype, *argtypes)((name, ffi.dll))


# error* wasmtime_func_call_unchecked(context*, const func*, val_raw* args_and_results, size_t, trap**)
# This one keeps the GIL too. Releasing it would let other Python threads run while wasm computes,
# but every host callback would then have to take it back (a mutex and condition-variable round
# trip, ~0.1-0.3 µs per host call; an on_book makes about ten). A callback's compute is bounded by
# its fuel (5,000,000 units: ~1-2 ms), below the interpreter's own switch interval (5 ms); the
# edge's only other thread waits on Redis.
_func_call_unchecked = _proto(
    "wasmtime_func_call_unchecked",
    c_void_p,
    c_void_p,
    c_void_p,
    c_void_p,
    c_size_t,
    c_void_p,
)
# error* wasmtime_context_set_fuel(context*, uint64) / wasmtime_context_get_fuel(context*, uint64*)
_set_fuel = _proto("wasmtime_context_set_fuel", c_void_p, c_void_p, c_uint64)
_get_fuel = _proto("wasmtime_context_get_fuel", c_void_p, c_void_p, c_void_p)
# error* wasmtime_linker_define_func_unchecked(linker*, module, len, name, len, functype*, cb, env, finalizer)
_linker_define_func_unchecked = _proto(
    "wasmtime_linker_define_func_unchecked",
    c_void_p,
    c_void_p,
    c_char_p,
    c_size_t,
    c_char_p,
    c_size_t,
    c_void_p,
    c_void_p,
    c_void_p,
    c_void_p,
)
# trap* wasmtime_trap_new(const char* msg, size_t len): ownership passes to whoever we return it to
_trap_new = _proto("wasmtime_trap_new", c_void_p, c_char_p, c_size_t)
# context* wasmtime_caller_context(caller*); uint8* wasmtime_memory_data(context*, const memory*); ...
_caller_context = _proto("wasmtime_caller_context", c_void_p, c_void_p)
_memory_data = _proto("wasmtime_memory_data", c_void_p, c_void_p, c_void_p)
_memory_data_size = _proto("wasmtime_memory_data_size", c_size_t, c_void_p, c_void_p)
# bool wasmtime_caller_export_get(caller*, const char* name, size_t len, wasmtime_extern_t* out)
_caller_export_get = _proto("wasmtime_caller_export_get", c_bool, c_void_p, c_char_p, c_size_t, c_void_p)
_EXTERN_OF_OFFSET = ffi.wasmtime_extern_t.of.offset
_EXTERN_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value

# The callback type wasmtime calls for an unchecked host function:
#   trap* cb(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args_and_results, size_t n)
# The buffer arrives as a plain address (`size_t`: the same ABI as a pointer). Declaring it
# `POINTER(c_int64)` would make ctypes build a new pointer object on every call; instead the
# callback looks the address up in an ArgViews, which hands back a cached word array over it:
# argument/result i is `args[2 * i]`. Returning 0 means success; returning the address of a trap
# from new_trap() makes the calling wasm trap with it.
HostCallback = CFUNCTYPE(c_size_t, c_void_p, c_void_p, c_size_t, c_size_t)
HostFn = Callable[[int | None, int | None, int, int], int]

# Host functions take at most 3 arguments and return at most 1 result: 3 slots of 2 words.
_ArgWords = c_int64 * (3 * WORDS_PER_SLOT)
_MAX_VIEWS = 256


class ArgViews(dict):  # type: ignore[type-arg]
    """address -> word array over the argument/result buffer at that address.

    wasmtime passes a buffer on its own native stack, so the address depends only on how deep the
    wasm stack is at the call: an algo shows a handful of distinct addresses. `views[addr]` is one
    C-level dict look-up when the address was seen before; a new one gets a new array (~0.3 µs).
    The arrays do not own memory and are only indexed while the callback that got the address runs.
    """

    __slots__ = ()

    def __missing__(self, addr: int) -> Any:
        if len(self) >= _MAX_VIEWS:  # an algo recursing through host calls: stay bounded
            self.clear()
        view = self[addr] = _ArgWords.from_address(addr)
        return view


class RawFailure(NamedTuple):
    """Why a raw call did not complete. `code` is None for traps raised by host functions."""

    code: wasmtime.TrapCode | None
    message: str


def new_trap(message: str) -> int:
    """Address of a new wasm trap carrying `message`, to return from a host callback."""
    data = message.encode("utf-8", "replace")
    return int(_trap_new(data, len(data)))


def define_host_func(
    linker: wasmtime.Linker, module: str, name: str, ty: wasmtime.FuncType, fn: HostFn
) -> Any:
    """Define `module::name` in `linker` as an unchecked host function calling `fn`.

    Returns the ctypes callback object: the caller MUST keep it referenced for as long as any store
    instantiated through this linker lives, or the C side calls freed memory. No env pointer and no
    finalizer: the closure carries its own state, and Python owns its lifetime.
    """
    callback = HostCallback(fn)
    module_b, name_b = module.encode(), name.encode()
    err = _linker_define_func_unchecked(
        ctypes.cast(linker.ptr(), c_void_p).value,
        module_b,
        len(module_b),
        name_b,
        len(name_b),
        ctypes.cast(ty.ptr(), c_void_p).value,  # copied by wasmtime
        ctypes.cast(callback, c_void_p).value,
        None,
        None,
    )
    if err:
        raise _take_error(err)
    return callback


def define_native_func(
    linker: wasmtime.Linker, module: str, name: str, ty: wasmtime.FuncType, fn_addr: int, env_addr: int
) -> None:
    """Define `module::name` in `linker` as an unchecked host function that is native code: `fn_addr`
    is a C function with the unchecked callback's signature, called with `env_addr` as its env.
    No Python runs when wasm calls it. The caller keeps whatever `env_addr` points at alive for as
    long as any store instantiated through this linker lives."""
    module_b, name_b = module.encode(), name.encode()
    err = _linker_define_func_unchecked(
        ctypes.cast(linker.ptr(), c_void_p).value,
        module_b,
        len(module_b),
        name_b,
        len(name_b),
        ctypes.cast(ty.ptr(), c_void_p).value,
        fn_addr,
        env_addr,
        None,
    )
    if err:
        raise _take_error(err)


def symbol_addr(name: str) -> int:
    """Address of a function of libwasmtime (for native code that calls it through a pointer)."""
    return ctypes.cast(getattr(ffi.dll, name), c_void_p).value or 0


def memory_bytes(caller: int | None, memory_addr: int, ptr: int, length: int) -> bytes | None:
    """Copy `length` bytes at `ptr` of the caller's memory, or None when out of bounds.

    Takes the base pointer afresh on every call: memory.grow may move linear memory. memory_addr 0
    means "not known yet" (an import called by the start function, before instantiation returned
    the exports): the `memory` export is then looked up through the caller.
    """
    if not memory_addr:
        item = ffi.wasmtime_extern_t()  # lives until we return, like the address taken from it
        found = _caller_export_get(caller, b"memory", 6, addressof(item))
        # ctypes reads a c_uint8 field as a Python int (the stubs type it as the c_ubyte).
        if not found or cast(int, item.kind) != _EXTERN_MEMORY:
            return None
        memory_addr = addressof(item) + _EXTERN_OF_OFFSET
    ctx = _caller_context(caller)
    if ptr + length > _memory_data_size(ctx, memory_addr):
        return None
    if length == 0:
        return b""
    return ctypes.string_at(_memory_data(ctx, memory_addr) + ptr, length)


def memory_base(ctx: int, memory_addr: int) -> int:
    """Address of byte 0 of a memory. Stable for the memory's lifetime only because the engine is
    configured with memory_may_move off (see engine.py); otherwise a memory.grow could move it."""
    return int(_memory_data(ctx, memory_addr) or 0)


def memory_size(ctx: int, memory_addr: int) -> int:
    """Current size of a memory in bytes (it only ever grows)."""
    return int(_memory_data_size(ctx, memory_addr))


def memory_view(base: int, size: int) -> memoryview:
    """A byte view of `size` bytes at `base` (a memory that does not move: see memory_base).

    It does not keep the memory alive: read it only while the store lives (inside its callbacks).
    Slicing it and decoding the slice costs a fraction of a ctypes.string_at call.
    """
    return memoryview((ctypes.c_char * size).from_address(base)).cast("B")


def func_addr(func: wasmtime.Func) -> int:
    """Address of the `wasmtime_func_t` inside a wasmtime-py Func (keep the Func referenced)."""
    return addressof(func._func)


def memory_addr(memory: wasmtime.Memory) -> int:
    """Address of the `wasmtime_memory_t` inside a wasmtime-py Memory (keep the Memory referenced)."""
    return addressof(memory._memory)


class RawStore:
    """One store's call state, allocated once: context pointer, argument/result buffer, trap slot."""

    __slots__ = ("_buf", "_buf_addr", "_store", "_trap", "_trap_addr", "ctx", "words")

    def __init__(self, store: wasmtime.Store, nslots: int = 8) -> None:
        self._store = store  # the context pointer is valid only while the store lives
        self.ctx: int = ctypes.cast(store._context(), c_void_p).value or 0
        self._buf = (ffi.wasmtime_val_raw_t * nslots)()
        # Word view of the same memory: callers write argument i at words[2 * i] and read result i
        # there, one C store/load each, with no union object per access.
        self.words = (c_int64 * (nslots * WORDS_PER_SLOT)).from_buffer(self._buf)
        self._buf_addr = addressof(self._buf)
        self._trap = c_void_p()  # wasmtime writes a trap* here only when the call traps
        self._trap_addr = addressof(self._trap)

    def call(self, func: int, nslots: int, fuel: int) -> RawFailure | None:
        """Refuel to exactly `fuel`, then call `func` on `self.words`. None means success.

        nslots = max(params, results) of the function.
        """
        ctx = self.ctx
        _set_fuel(ctx, fuel)  # cannot fail: the engine consumes fuel (see engine.py)
        err = _func_call_unchecked(ctx, func, self._buf_addr, nslots, self._trap_addr)
        if err is None and self._trap.value is None:
            return None
        return self._failure(err)

    def set_fuel(self, fuel: int) -> None:
        _set_fuel(self.ctx, fuel)

    # For a caller that makes the call itself (edges/core's seq_call): where wasmtime reads the
    # arguments and writes results, where it writes a trap, and what a failed call means.
    @property
    def buf_addr(self) -> int:
        return self._buf_addr

    @property
    def trap_addr(self) -> int:
        return self._trap_addr

    @property
    def trap_slot(self) -> c_void_p:
        return self._trap

    def failure(self, err: int | None) -> RawFailure:
        return self._failure(err)

    def fuel_left(self) -> int:
        remaining = c_uint64(0)
        err = _get_fuel(self.ctx, addressof(remaining))
        if err:
            raise _take_error(err)
        return remaining.value

    def _failure(self, err: int | None) -> RawFailure:
        # wasm traps (unreachable, out of fuel, ...) arrive in the trap slot; a trap returned by a
        # host callback arrives as an error instead. Both are owned by us and freed by the wrappers.
        if err:
            return RawFailure(None, str(_take_error(err)))
        trap_ptr = self._trap.value
        assert trap_ptr is not None, "neither an error nor a trap: the call succeeded"
        trap = wasmtime.Trap._from_ptr(ctypes.cast(trap_ptr, POINTER(ffi.wasm_trap_t)))
        self._trap.value = None  # wasmtime leaves the slot alone on success: clear it for the next call
        return RawFailure(trap.trap_code, trap.message)


def _take_error(err: int) -> wasmtime.WasmtimeError:
    return wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, POINTER(ffi.wasmtime_error_t)))
