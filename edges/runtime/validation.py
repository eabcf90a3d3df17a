"""Checking an uploaded module against ABI v1, and compiling it once per sha256.

Speed does not matter here, so this uses wasmtime-py's convenient API throughout.
"""

from __future__ import annotations

import hashlib
import re

import wasmtime

from edges.runtime import abi
from edges.runtime.engine import MODULE_CACHE, get_engine
from edges.runtime.errors import AlgoError, AlgoLoadError, AlgoValidationError
from edges.runtime.limits import RuntimeLimits
from edges.runtime.module import CompiledAlgo, ModuleInfo, has_start_section

_WASM_MAGIC = b"\0asm"
_CORE_VERSION = b"\x01\x00\x00\x00"


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
    data = _check_header(wasm_bytes)
    sha256 = hashlib.sha256(data).hexdigest()
    compiled = MODULE_CACHE.get(sha256)
    if compiled is not None:
        check_memory_fits(compiled.info, limits.memory_limit_bytes, AlgoValidationError)
        return compiled

    try:
        module = wasmtime.Module(get_engine(), data)
    except wasmtime.WasmtimeError as exc:
        message = summarize_wasmtime_message(str(exc))
        # Malformed bytes versus well-formed bytes holding invalid code (a type error, say).
        prefix = "not a" if message.startswith("failed to parse") else "invalid"
        raise AlgoValidationError(f"{prefix} WebAssembly module: {message}") from None

    info = _inspect(module, sha256, len(data), has_start_section(data))
    check_memory_fits(info, limits.memory_limit_bytes, AlgoValidationError)
    compiled = CompiledAlgo(module, info)
    version = _trial_run(compiled, limits)
    if version != abi.ABI_VERSION:
        raise AlgoValidationError(
            f"sequence_abi_version() returned {version}; this runtime supports ABI version "
            f"{abi.ABI_VERSION} only"
        )
    MODULE_CACHE.put(compiled)
    return compiled


def check_memory_fits(info: ModuleInfo, limit_bytes: int, error: type[AlgoLoadError]) -> None:
    if info.memory_min_bytes > limit_bytes:
        raise error(
            f"memory: the module asks for at least {_mib(info.memory_min_bytes)} of linear memory "
            f"({info.memory_min_bytes // abi.WASM_PAGE_BYTES} pages); the limit is {_mib(limit_bytes)}"
        )


def summarize_wasmtime_message(message: str) -> str:
    """wasmtime's multi-line "x\\n\\nCaused by:\\n    0: y\\n    1: z" as one line "x: y: z"."""
    parts = []
    for line in message.splitlines():
        line = re.sub(r"^\d+: ", "", line.strip())
        if line and line != "Caused by:":
            parts.append(line)
    return ": ".join(parts)


def _check_header(wasm_bytes: bytes) -> bytes:
    if not isinstance(wasm_bytes, bytes | bytearray | memoryview):
        raise TypeError(f"wasm_bytes must be bytes, not {type(wasm_bytes).__name__}")
    data = bytes(wasm_bytes)
    if len(data) > abi.MAX_MODULE_BYTES:
        raise AlgoValidationError(
            f"module is {len(data):,} bytes; the limit is {abi.MAX_MODULE_BYTES:,} bytes (1 MiB)"
        )
    if not data.startswith(_WASM_MAGIC):
        if data.lstrip().startswith(b"("):
            raise AlgoValidationError(
                "not a WebAssembly module: this looks like WebAssembly text (WAT); "
                "upload the binary (.wasm) it compiles to"
            )
        raise AlgoValidationError("not a WebAssembly module: it does not start with the \\0asm magic bytes")
    version = data[4:8]
    if version != _CORE_VERSION:
        if len(version) == 4 and version[2:] == b"\x01\x00":
            raise AlgoValidationError(
                "not a WebAssembly module: this is a WebAssembly component; "
                "the Sequence ABI takes a core module"
            )
        raise AlgoValidationError(f"not a WebAssembly module: unsupported binary version {version.hex()}")
    return data


def _signature(ty: wasmtime.FuncType) -> abi.Signature:
    return tuple(str(t) for t in ty.params), tuple(str(t) for t in ty.results)


def _inspect(module: wasmtime.Module, sha256: str, size: int, has_start: bool) -> ModuleInfo:
    problems: list[str] = []

    imports: list[str] = []
    for imp in module.imports:
        qualified = f"{imp.module}::{imp.name}"
        expected = abi.IMPORTS.get(imp.name or "") if imp.module == abi.IMPORT_MODULE else None
        if expected is None:
            problems.append(
                f"import `{qualified}` is not part of the Sequence algo ABI v1 "
                f"(an algo may import only these functions from module `seq`: {', '.join(abi.IMPORTS)})"
            )
        elif not isinstance(imp.type, wasmtime.FuncType):
            problems.append(f"import `{qualified}` must be a function {abi.format_signature(expected)}")
        elif (got := _signature(imp.type)) != expected:
            problems.append(
                f"import `{qualified}` has the wrong signature: expected "
                f"{abi.format_signature(expected)}, got {abi.format_signature(got)}"
            )
        else:
            imports.append(imp.name or "")

    exports = {exp.name: exp.type for exp in module.exports}
    memory_min = 0
    memory_max: int | None = None
    memory = exports.get(abi.MEMORY_EXPORT)
    if memory is None:
        problems.append("missing required export `memory` (the algo's linear memory)")
    elif not isinstance(memory, wasmtime.MemoryType):
        problems.append("export `memory` must be a linear memory")
    elif memory.is_64 or memory.is_shared:
        problems.append("export `memory` must be a plain (32-bit, unshared) linear memory")
    else:
        page = memory.page_size
        memory_min = memory.limits.min * page
        memory_max = None if memory.limits.max is None else memory.limits.max * page

    callbacks = set()
    for name, expected in abi.EXPORTS.items():
        ty = exports.get(name)
        if ty is None:
            if name in abi.REQUIRED_FUNCTION_EXPORTS:
                problems.append(
                    f"missing required export `{name}`: a function {abi.format_signature(expected)}"
                )
            continue
        if not isinstance(ty, wasmtime.FuncType):
            problems.append(f"export `{name}` must be a function {abi.format_signature(expected)}")
        elif (got := _signature(ty)) != expected:
            problems.append(
                f"export `{name}` has the wrong signature: expected "
                f"{abi.format_signature(expected)}, got {abi.format_signature(got)}"
            )
        elif name in abi.CALLBACK_EXPORTS:
            callbacks.add(name)

    if problems:
        raise AlgoValidationError("; ".join(problems), problems)
    return ModuleInfo(
        sha256=sha256,
        size_bytes=size,
        abi_version=abi.ABI_VERSION,  # confirmed by _trial_run before anyone sees it
        imports=tuple(imports),
        callbacks=frozenset(callbacks),
        memory_min_bytes=memory_min,
        memory_max_bytes=memory_max,
        has_start=has_start,
    )


def _trial_run(compiled: CompiledAlgo, limits: RuntimeLimits) -> int:
    """Instantiate once with a host that refuses everything; return sequence_abi_version()."""
    from edges.runtime.host import NullHost
    from edges.runtime.instance import AlgoInstance  # instance.py imports this module

    try:
        instance = AlgoInstance(compiled, NullHost(), limits=limits)
        try:
            return instance.abi_version()
        finally:
            instance.close()
    except AlgoError as exc:
        raise AlgoValidationError(str(exc)) from None


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"
