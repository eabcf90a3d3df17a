"""validate_module / load_module: what is refused at upload, with which message, and the module cache."""

from __future__ import annotations

import hashlib

import pytest
import wasmtime

from edges.runtime import (
    MODULE_CACHE,
    AlgoInstance,
    AlgoLoadError,
    AlgoValidationError,
    ModuleCache,
    NullHost,
    RuntimeLimits,
    load_module,
    validate_module,
)
from edges.runtime.abi import MAX_MODULE_BYTES

ON_BOOK = '(func (export "on_book") (param i64 i64 i64 i64 i64))'
MEMORY = '(memory (export "memory") 1)'


def module(*parts: str) -> bytes:
    return wasmtime.wat2wasm("(module " + " ".join(parts) + ")")


def refused(wasm_bytes: bytes) -> str:
    with pytest.raises(AlgoValidationError) as info:
        validate_module(wasm_bytes)
    return str(info.value)


def test_minimal_algo_is_valid(minimal_wasm: bytes) -> None:
    info = validate_module(minimal_wasm)

    assert info.sha256 == hashlib.sha256(minimal_wasm).hexdigest()
    assert info.size_bytes == len(minimal_wasm)
    assert info.abi_version == 1
    assert info.imports == ()
    assert info.callbacks == frozenset({"on_book"})
    assert not (info.has_on_init or info.has_on_fill or info.has_on_reject or info.has_on_timer)
    assert info.memory_min_bytes == 65536


def test_optional_callbacks_and_imports_are_reported(algo_wat) -> None:
    info = validate_module(
        algo_wat(
            ON_BOOK
            + """(func (export "on_init"))
                 (func (export "on_fill") (param i64 i32 i64 i64 i64))
                 (func (export "on_reject") (param i64 i32))
                 (func (export "on_timer") (param i64))
                 (func (export "sequence_abi_version") (result i32) i32.const 1)
                 (global (export "__heap_base") i32 (i32.const 1024))"""
        )
    )

    assert info.callbacks == {"on_book", "on_init", "on_fill", "on_reject", "on_timer"}
    assert info.has_on_init and info.has_on_fill and info.has_on_reject and info.has_on_timer
    assert set(info.imports) == {
        "place_order",
        "cancel_order",
        "cancel_all",
        "log",
        "position_1e8",
        "open_order_count",
        "book_level",
        "now_ns",
        "log_enabled",
    }


@pytest.mark.parametrize("garbage", [b"", b"hello world", b"\x7fELF\x02\x01\x01" + bytes(100)])
def test_garbage_is_not_wasm(garbage: bytes) -> None:
    assert refused(garbage).startswith("not a WebAssembly module: ")


def test_wat_text_is_not_wasm() -> None:
    message = refused(b'(module (memory (export "memory") 1))')
    assert message.startswith("not a WebAssembly module: this looks like WebAssembly text")


def test_truncated_module_is_not_wasm(minimal_wasm: bytes) -> None:
    message = refused(minimal_wasm[:-3])
    assert message.startswith("not a WebAssembly module: failed to parse")


def test_component_is_refused() -> None:
    assert "component" in refused(b"\0asm\x0d\x00\x01\x00")


def test_invalid_code_is_refused() -> None:
    message = refused(module(MEMORY, ON_BOOK, "(func (result i32) i64.const 1)"))
    assert message.startswith("invalid WebAssembly module: failed to compile")
    assert "type mismatch" in message


def test_more_than_one_mib_is_refused() -> None:
    big = b"\0asm\x01\x00\x00\x00" + bytes(MAX_MODULE_BYTES)
    assert refused(big) == (f"module is {len(big):,} bytes; the limit is 1,048,576 bytes (1 MiB)")


def test_exactly_one_mib_passes_the_size_check() -> None:
    # A custom section pads a valid module to exactly 1 MiB.
    base = module(MEMORY, ON_BOOK)
    name = b"pad"
    payload_len = MAX_MODULE_BYTES - len(base) - 1 - 4 - 1 - len(name)
    section = bytes([0]) + _leb128_fixed4(1 + len(name) + payload_len) + bytes([len(name)]) + name
    padded = base + section + bytes(payload_len)
    assert len(padded) == MAX_MODULE_BYTES
    assert validate_module(padded).size_bytes == MAX_MODULE_BYTES


def test_wasi_import_is_refused() -> None:
    message = refused(
        module(
            '(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))',
            MEMORY,
            ON_BOOK,
        )
    )
    assert message.startswith(
        "import `wasi_snapshot_preview1::fd_write` is not part of the Sequence algo ABI v1"
    )


def test_unknown_seq_import_is_refused() -> None:
    message = refused(module('(import "seq" "send_email" (func))', MEMORY, ON_BOOK))
    assert message.startswith("import `seq::send_email` is not part of the Sequence algo ABI v1")


def test_import_with_wrong_signature_is_refused() -> None:
    message = refused(
        module('(import "seq" "place_order" (func (param i32 i32 i32) (result i32)))', MEMORY, ON_BOOK)
    )
    assert message == (
        "import `seq::place_order` has the wrong signature: "
        "expected (i32, i64, i64) -> i64, got (i32, i32, i32) -> i32"
    )


def test_non_function_import_is_refused() -> None:
    message = refused(module('(import "seq" "log" (global i32))', MEMORY, ON_BOOK))
    assert message == "import `seq::log` must be a function (i32, i32, i32) -> ()"


def test_imported_memory_is_refused() -> None:
    message = refused(module('(import "seq" "memory" (memory 1))', ON_BOOK))
    assert "import `seq::memory` is not part of the Sequence algo ABI v1" in message


def test_missing_on_book_is_refused() -> None:
    assert refused(module(MEMORY)) == (
        "missing required export `on_book`: a function (i64, i64, i64, i64, i64) -> ()"
    )


def test_on_book_with_wrong_signature_is_refused() -> None:
    message = refused(module(MEMORY, '(func (export "on_book") (param i64 i64 i64 i64))'))
    assert message == (
        "export `on_book` has the wrong signature: "
        "expected (i64, i64, i64, i64, i64) -> (), got (i64, i64, i64, i64) -> ()"
    )


def test_optional_callback_with_wrong_signature_is_refused() -> None:
    message = refused(module(MEMORY, ON_BOOK, '(func (export "on_fill") (param i64 i64 i64 i64 i64))'))
    assert message.startswith("export `on_fill` has the wrong signature")


def test_missing_memory_is_refused() -> None:
    assert refused(module(ON_BOOK)) == "missing required export `memory` (the algo's linear memory)"


def test_memory64_is_refused() -> None:
    assert "32-bit" in refused(module('(memory (export "memory") i64 1)', ON_BOOK))


def test_every_problem_is_listed() -> None:
    with pytest.raises(AlgoValidationError) as info:
        validate_module(module('(import "env" "abort" (func))'))
    assert len(info.value.problems) == 3
    assert str(info.value) == "; ".join(info.value.problems)


def test_abi_version_2_is_refused() -> None:
    message = refused(
        module(MEMORY, ON_BOOK, '(func (export "sequence_abi_version") (result i32) i32.const 2)')
    )
    assert message == "sequence_abi_version() returned 2; this runtime supports ABI version 1 only"


def test_abi_version_1_is_accepted() -> None:
    wasm_bytes = module(MEMORY, ON_BOOK, '(func (export "sequence_abi_version") (result i32) i32.const 1)')
    assert validate_module(wasm_bytes).abi_version == 1


def test_abi_version_with_wrong_signature_is_refused() -> None:
    message = refused(
        module(MEMORY, ON_BOOK, '(func (export "sequence_abi_version") (result i64) i64.const 1)')
    )
    assert message.startswith("export `sequence_abi_version` has the wrong signature")


def test_memory_minimum_above_the_cap_is_refused() -> None:
    wasm_bytes = module('(memory (export "memory") 512)', ON_BOOK)  # 32 MiB
    assert refused(wasm_bytes) == (
        "memory: the module asks for at least 32 MiB of linear memory (512 pages); the limit is 16 MiB"
    )


def test_memory_minimum_above_an_instance_cap_fails_to_load() -> None:
    wasm_bytes = module('(memory (export "memory") 32)', ON_BOOK)  # 2 MiB: fine by default
    validate_module(wasm_bytes)

    with pytest.raises(AlgoLoadError, match="asks for at least 2 MiB .* the limit is 1 MiB"):
        AlgoInstance(wasm_bytes, NullHost(), limits=RuntimeLimits(memory_limit_bytes=1024 * 1024))


def test_a_trap_in_the_start_function_is_refused() -> None:
    message = refused(module(MEMORY, ON_BOOK, "(func $start unreachable) (start $start)"))
    assert message == "the module failed to instantiate: wasm trap during instantiation: unreachable executed"


def test_an_endless_start_function_is_refused() -> None:
    message = refused(module(MEMORY, ON_BOOK, "(func $start (loop $l (br $l))) (start $start)"))
    assert message == "the module failed to instantiate: out of fuel in the start function (budget 5000000)"


def test_compiled_module_is_cached_by_sha256(minimal_wasm: bytes) -> None:
    first = load_module(minimal_wasm)
    assert (MODULE_CACHE.hits, MODULE_CACHE.misses) == (0, 1)
    assert first.info.sha256 in MODULE_CACHE

    second = load_module(bytearray(minimal_wasm))
    AlgoInstance(minimal_wasm, NullHost())

    assert second is first
    assert (MODULE_CACHE.hits, MODULE_CACHE.misses) == (2, 1)
    assert len(MODULE_CACHE) == 1


def test_refused_modules_are_not_cached() -> None:
    with pytest.raises(AlgoValidationError):
        validate_module(module(MEMORY))
    assert len(MODULE_CACHE) == 0


def test_module_cache_is_a_bounded_lru(minimal_wasm: bytes) -> None:
    cache = ModuleCache(maxsize=2)
    a = load_module(minimal_wasm)
    b = load_module(module(MEMORY, ON_BOOK, '(func (export "on_init"))'))
    c = load_module(module(MEMORY, ON_BOOK, '(func (export "on_timer") (param i64))'))
    cache.put(a)
    cache.put(b)
    assert cache.get(a.info.sha256) is a  # a is now the most recently used
    cache.put(c)

    assert a.info.sha256 in cache and c.info.sha256 in cache
    assert b.info.sha256 not in cache
    assert len(cache) == 2


def test_a_data_segment_out_of_bounds_is_refused() -> None:
    message = refused(module(MEMORY, ON_BOOK, '(data (i32.const 70000) "x")'))
    assert message == (
        "the module failed to instantiate: wasm trap during instantiation: out-of-bounds memory access"
    )


def test_non_bytes_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        validate_module("(module)")  # type: ignore[arg-type]


def _leb128_fixed4(n: int) -> bytes:
    # Section sizes as 4-byte LEB128 (padded), so the section header length is known in advance.
    return bytes([(n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, ((n >> 14) & 0x7F) | 0x80, (n >> 21) & 0x7F])
