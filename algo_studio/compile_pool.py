"""Validating and compiling an uploaded module off the request path.

Compiling a ~900 KB module took 0.7 s of CPU inside the web process, and eight uploads at once
raised other clients' median latency from 8 to 54 ms. The compile now runs in a small pool of
worker processes (spawned, niced, so the web process keeps the CPU it needs to answer), with a
time limit, and its result is cached by sha256 so the same bytes are compiled once. Each edge still
compiles what it runs in its own process (compiled modules are per engine); this is the upload's
check only.

This module imports no Django: the pool's processes import it to run ``_validate``.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from edges.runtime import AlgoValidationError, validate_module
from edges.runtime.module import ModuleInfo

# One core always left to the web process: with both cores of a 2-core host compiling (even
# niced), other clients' median latency doubled during a burst; with one it stayed put
# (bench/upload_burst.py, docs/benchmarks.md). Uploads queue for the compiler instead.
WORKERS = max(1, (os.cpu_count() or 2) - 1)
COMPILE_TIMEOUT_SECONDS = 30.0
NICENESS = 10
_CACHE_SIZE = 512

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_cache: OrderedDict[str, ModuleInfo] = OrderedDict()


def _init_worker() -> None:
    # Lower priority than the web process: a burst of uploads waits, other clients' requests don't.
    os.nice(NICENESS)


def _validate(wasm: bytes) -> ModuleInfo:
    return validate_module(wasm)


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
            )
        return _pool


def _discard_pool(pool: ProcessPoolExecutor) -> None:
    """Kill a pool whose worker is stuck or dead; the next call starts a fresh one."""
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def validate_upload(wasm: bytes) -> ModuleInfo:
    """``validate_module`` in the pool: its ``ModuleInfo``, or ``AlgoValidationError`` (also when the
    compile runs past ``COMPILE_TIMEOUT_SECONDS``)."""
    sha256 = hashlib.sha256(wasm).hexdigest()
    with _lock:
        if (info := _cache.get(sha256)) is not None:
            _cache.move_to_end(sha256)
            return info
    pool = _get_pool()
    try:
        info = pool.submit(_validate, wasm).result(timeout=COMPILE_TIMEOUT_SECONDS)
    except FutureTimeout:
        _discard_pool(pool)
        raise AlgoValidationError(
            f"the module took more than {COMPILE_TIMEOUT_SECONDS:g} s to compile"
        ) from None
    except BrokenProcessPool:
        # A worker died (killed, out of memory) while compiling this module: refuse it, start afresh.
        _discard_pool(pool)
        raise AlgoValidationError("compiling the module crashed the compiler process") from None
    with _lock:
        _cache[sha256] = info
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return info
