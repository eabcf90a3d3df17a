"""The process-wide wasmtime Engine and the cache of compiled modules keyed by artifact sha256."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import wasmtime

if TYPE_CHECKING:
    from edges.runtime.module import CompiledAlgo

_engine: wasmtime.Engine | None = None
_engine_lock = threading.Lock()
# What a compiled module depends on besides its bytes: the wasmtime release and the engine's
# settings below (a serialized module only loads into an engine like the one that compiled it).
_ENGINE_KEY = ""


def _new_engine() -> wasmtime.Engine:
    global _ENGINE_KEY
    config = wasmtime.Config()
    # Fuel bounds every callback (see RuntimeLimits.fuel_per_callback); it has no measurable call
    # cost and, unlike an epoch deadline, needs no ticker thread and is deterministic in replays.
    config.consume_fuel = True
    # SEQUENCE_WASM_PERFMAP=1: wasmtime writes /tmp/perf-<pid>.map, so `perf record` names the
    # compiled wasm functions (how the replay's cost split in docs/benchmarks.md was found).
    if os.environ.get("SEQUENCE_WASM_PERFMAP") == "1":
        config.profiler = "perfmap"
    # No shared memories: an algo is single-threaded and its memory belongs to one store.
    config.wasm_threads = False
    # A linear memory keeps its base address when it grows (it grows inside its virtual
    # reservation, 4 GiB for a wasm32 memory on 64-bit hosts, far above the memory cap), so the
    # runtime reads log() bytes from a base address taken once per instance instead of asking
    # wasmtime for it on every call.
    config.memory_may_move = False
    # Compile on the calling thread. Parallel compilation keeps a thread pool, which a forked child
    # (a Celery prefork worker started after its parent compiled anything) inherits without its
    # threads: the child's first compile then hangs. Algos are small (≤ 1 MiB; milliseconds).
    config.parallel_compilation = False
    perfmap = os.environ.get("SEQUENCE_WASM_PERFMAP") == "1"
    _ENGINE_KEY = f"wasmtime {importlib.metadata.version('wasmtime')}; fuel; perfmap {perfmap}; fixed memory"
    return wasmtime.Engine(config)


def get_engine() -> wasmtime.Engine:
    """The one Engine of this process (created on first use). Engines are thread-safe."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = _new_engine()
    return _engine


def compile_cache_dir() -> Path | None:
    """Where our own modules' compiled code is kept between processes (``SEQUENCE_WASM_CACHE_DIR``,
    by default var/wasm-cache beside the data; empty: no cache)."""
    configured = os.environ.get("SEQUENCE_WASM_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    var = os.environ.get("SEQUENCE_VAR_DIR") or str(Path(__file__).resolve().parents[2] / "var")
    return Path(var) / "wasm-cache"


def cached_module(name: str, wasm: bytes) -> wasmtime.Module:
    """``wasm`` (one of the platform's own modules, never an upload) compiled by this process's
    engine, through a file cache: a fresh process (a new worker, a forked child) loads the machine
    code compiled before instead of compiling again (seqcore: ~80 ms to compile, ~0.2 ms to load).

    The file is named after the module's bytes, the wasmtime release and the engine's settings, and
    wasmtime itself refuses a file compiled for another engine or release (then it is compiled and
    written again). Files are written whole (temporary name, then rename); older files of the same
    ``name`` are removed, so the cache holds one file per module."""
    engine = get_engine()
    folder = compile_cache_dir()
    if folder is None:
        return wasmtime.Module(engine, wasm)
    key = hashlib.sha256(wasm + _ENGINE_KEY.encode()).hexdigest()[:24]
    path = folder / f"{name}-{key}.cwasm"
    # Read, not mapped (deserialize_file maps it): a file cut short under a mapping would kill
    # the process with SIGBUS. Under 100 KB: a fraction of a millisecond.
    with contextlib.suppress(OSError):
        try:
            return wasmtime.Module.deserialize(engine, path.read_bytes())
        except wasmtime.WasmtimeError:
            pass  # another wasmtime build or a damaged file: compile again below
    module = wasmtime.Module(engine, wasm)
    with contextlib.suppress(OSError):  # a read-only or full disk: no cache, same module
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".cwasm", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(module.serialize())
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        for old in folder.glob(f"{name}-*.cwasm"):
            if old != path:
                old.unlink(missing_ok=True)
    return module


class ModuleCache:
    """LRU of compiled, validated modules keyed by sha256 hex. Thread-safe.

    Compiling costs milliseconds; every (deployment, symbol) instance of the same artifact shares
    one compiled module.
    """

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, CompiledAlgo] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sha256: str) -> CompiledAlgo | None:
        with self._lock:
            item = self._items.get(sha256)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(sha256)
            self.hits += 1
            return item

    def put(self, compiled: CompiledAlgo) -> None:
        with self._lock:
            self._items[compiled.info.sha256] = compiled
            self._items.move_to_end(compiled.info.sha256)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = 0
            self.misses = 0

    def __contains__(self, sha256: object) -> bool:
        with self._lock:
            return sha256 in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


MODULE_CACHE = ModuleCache()


def _reset_after_fork() -> None:
    # A forked child must not reuse the parent's engine (its compiler threads did not survive the
    # fork); modules compiled by that engine go with it.
    global _engine, _engine_lock
    _engine = None
    _engine_lock = threading.Lock()
    MODULE_CACHE._items.clear()
    MODULE_CACHE._lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)
