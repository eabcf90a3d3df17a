"""Checking an uploaded module against ABI v1 and compiling it (the static half of loading: the
trial run that completes it is `load_module` in instance.py, which needs an instance).

Speed does not matter here, so this uses wasmtime-py's convenient API throughout.
"""

from __future__ import annotations

import re

import wasmtime

from edges.runtime import abi
from edges.runtime.engine import get_engine
from edges.runtime.errors import AlgoLoadError, AlgoValidationError
from edges.runtime.limits import RuntimeLimits
from edges.runtime.module import CompiledAlgo, ModuleInfo, has_start_section

_WASM_MAGIC = b"\0asm"
_CORE_VERSION = b"\x01\x00\x00\x00"


def compile_checked(data: bytes, sha256: str, *, limits: RuntimeLimits) -> CompiledAlgo:
    """Compile bytes that passed `check_header` and check their imports, exports and memory against
    ABI v1 (no instance yet: instance.load_module runs it once before anyone uses it)."""
    try:
        module = wasmtime.Module(get_engine(), data)
    except wasmtime.WasmtimeError as exc:
        message = summarize_wasmtime_message(str(exc))
        # Malformed bytes versus well-formed bytes holding invalid code (a type error, say).
        prefix = "not a" if message.startswith("failed to parse") else "invalid"
        raise AlgoValidationError(f"{prefix} WebAssembly module: {message}") from None

    info = _inspect(module, sha256, len(data), has_start_section(data))
    check_memory_fits(info, limits.memory_limit_bytes, AlgoValidationError)
    return CompiledAlgo(module, info)


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


def check_header(wasm_bytes: bytes) -> bytes:
    """`wasm_bytes` as bytes when it is a core WebAssembly module within the size limit."""
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
        abi_version=abi.ABI_VERSION,  # confirmed by instance.load_module's trial run before anyone sees it
        imports=tuple(imports),
        callbacks=frozenset(callbacks),
        memory_min_bytes=memory_min,
        memory_max_bytes=memory_max,
        has_start=has_start,
    )


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"
