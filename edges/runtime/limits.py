"""Per-instance resource limits."""

from __future__ import annotations

from dataclasses import dataclass, fields

from edges.runtime.abi import (
    DEFAULT_FUEL_PER_CALLBACK,
    DEFAULT_MAX_ACTIONS_PER_CALLBACK,
    DEFAULT_MAX_HOST_CALLS_PER_CALLBACK,
    DEFAULT_MAX_LOG_LINES_PER_CALLBACK,
    DEFAULT_MEMORY_LIMIT_BYTES,
)


@dataclass(frozen=True, slots=True)
class RuntimeLimits:
    """Bounds on what one callback (or one instance) may use. The defaults are ABI v1's.

    fuel_per_callback: fuel given afresh before every callback (and before instantiation, for the
        start function). ~1 unit per wasm instruction; 5,000,000 runs out in a few ms.
    memory_limit_bytes: cap on linear memory; memory.grow past it returns -1, and a module whose
        declared minimum is above it does not load.
    max_actions_per_callback: place_order + cancel_order + cancel_all calls per callback; beyond it
        place_order and cancel_order return ERR_RATE (-5) and cancel_all does nothing.
    max_log_lines_per_callback: log() lines kept per callback; further lines are dropped.
    max_host_calls_per_callback: calls to any import per callback; one more traps the algo (a loop
        around position_1e8() would otherwise spend seconds in Python before fuel ran out).
    """

    fuel_per_callback: int = DEFAULT_FUEL_PER_CALLBACK
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES
    max_actions_per_callback: int = DEFAULT_MAX_ACTIONS_PER_CALLBACK
    max_log_lines_per_callback: int = DEFAULT_MAX_LOG_LINES_PER_CALLBACK
    max_host_calls_per_callback: int = DEFAULT_MAX_HOST_CALLS_PER_CALLBACK

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"RuntimeLimits.{f.name} must be a positive int, got {value!r}")
