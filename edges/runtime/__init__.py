"""The WebAssembly algo runtime (ABI v1, see docs/algo-abi.md). Imports no Django.

Typical use:

    info = validate_module(wasm_bytes)        # at upload: AlgoValidationError with clear messages
    algo = AlgoInstance(wasm_bytes, host)     # a Python host; compiled once per sha256, cached
    algo.on_init()
    algo.on_book(bid_px, bid_qty, ask_px, ask_qty, ts_ns)   # AlgoTrap -> pause with trap.reason

The edges and backtests run algos through edges.core.AlgoCore instead (the imports, matching and
positions in wasm next to the algo); both share this package's engine, module cache, validation,
raw calling convention and trap messages.
"""

from __future__ import annotations

from edges.runtime.abi import ABI_VERSION, LogLevel, RejectReason, Side
from edges.runtime.engine import MODULE_CACHE, ModuleCache, get_engine
from edges.runtime.errors import (
    AlgoError,
    AlgoLoadError,
    AlgoReentryError,
    AlgoTrap,
    AlgoValidationError,
    TrapKind,
)
from edges.runtime.host import AlgoHost, NullHost
from edges.runtime.instance import AlgoInstance, load_module, validate_module
from edges.runtime.limits import RuntimeLimits
from edges.runtime.module import CompiledAlgo, ModuleInfo

__all__ = [
    "ABI_VERSION",
    "MODULE_CACHE",
    "AlgoError",
    "AlgoHost",
    "AlgoInstance",
    "AlgoLoadError",
    "AlgoReentryError",
    "AlgoTrap",
    "AlgoValidationError",
    "CompiledAlgo",
    "LogLevel",
    "ModuleCache",
    "ModuleInfo",
    "NullHost",
    "RejectReason",
    "RuntimeLimits",
    "Side",
    "TrapKind",
    "get_engine",
    "load_module",
    "validate_module",
]
