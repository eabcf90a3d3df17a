"""A process forked after its parent used the runtime (a Celery prefork child, say) can compile and
run algos: the child gets a new engine, compiles without the parent's thread pool, and builds its
own function types (wasmtime ties one to the first engine it is used with)."""

from __future__ import annotations

import os
import signal
import time

import wasmtime

from edges.core.instance import AlgoCore
from edges.runtime import load_module
from venues.instruments import get_instrument

IDLE = wasmtime.wat2wasm(
    '(module (memory (export "memory") 1) (func (export "on_book") (param i64 i64 i64 i64 i64)))'
)


def _core(wasm: bytes) -> AlgoCore:
    return AlgoCore(
        load_module(wasm),
        get_instrument("coinbase", "ETH/USD"),
        rng_seed=1,
        log=lambda level, text: None,
        on_events=lambda n: None,
        on_trace=lambda kind, phase: None,
    )


def test_a_forked_child_compiles_and_runs_algos() -> None:
    _core(IDLE).on_book(1, 10**12, 10**8, 10**12 + 10**7, 10**8, -2, -2)  # the parent used it
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if a new module compiles and runs
        code = 1
        try:
            # the child's engine is new: the module is compiled again, not taken from the cache
            _core(IDLE).on_book(1, 10**12, 10**8, 10**12 + 10**7, 10**8, -2, -2)
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child hung compiling an algo")
