"""Fixtures for the algo runtime tests: modules written in WAT, and a host that records every call.

No Django here: run alone with
    pytest -p no:django --confcutdir=tests/edges/runtime tests/edges/runtime
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import wasmtime

from edges.runtime import MODULE_CACHE

# The eight imports, for pasting into test modules.
SEQ_IMPORTS = """
  (import "seq" "place_order" (func $place_order (param i32 i64 i64) (result i64)))
  (import "seq" "cancel_order" (func $cancel_order (param i64) (result i32)))
  (import "seq" "cancel_all" (func $cancel_all))
  (import "seq" "log" (func $log (param i32 i32 i32)))
  (import "seq" "position_1e8" (func $position_1e8 (result i64)))
  (import "seq" "open_order_count" (func $open_order_count (result i32)))
  (import "seq" "book_level" (func $book_level (param i32 i32 i32) (result i64)))
  (import "seq" "now_ns" (func $now_ns (result i64)))
  (import "seq" "log_enabled" (func $log_enabled (param i32) (result i32)))
  (func $echo (param i64) (drop (call $cancel_order (local.get 0))))
"""
# $echo reports a value to the test: cancel_order passes any i64 straight to the host, which
# records it. Tests read values back from host.echoed().


@dataclass
class RecordingHost:
    """An AlgoHost that records calls as (name, *args) tuples and returns scripted values."""

    next_order_id: int = 1001
    place_result: int | None = None  # when set, place_order returns this instead of a new id
    position: int = 0
    open_orders: int = 0
    now: int = 0
    book: dict[tuple[int, int, int], int] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    raise_in: str | None = None  # name of a method that raises RuntimeError("boom")
    raise_exc: BaseException | None = None

    def _record(self, *call: Any) -> None:
        self.calls.append(call)
        if self.raise_in == call[0]:
            raise self.raise_exc or RuntimeError("boom")

    def place_order(self, side: int, price_1e9: int, qty_1e8: int) -> int:
        self._record("place_order", side, price_1e9, qty_1e8)
        if self.place_result is not None:
            return self.place_result
        self.next_order_id += 1
        return self.next_order_id - 1

    def cancel_order(self, order_id: int) -> int:
        self._record("cancel_order", order_id)
        return -1

    def cancel_all(self) -> None:
        self._record("cancel_all")

    def log(self, level: int, message: str) -> None:
        self._record("log", level, message)

    def position_1e8(self) -> int:
        self._record("position_1e8")
        return self.position

    def open_order_count(self) -> int:
        self._record("open_order_count")
        return self.open_orders

    def book_level(self, side: int, index: int, which: int) -> int:
        self._record("book_level", side, index, which)
        return self.book.get((side, index, which), 0)

    def now_ns(self) -> int:
        self._record("now_ns")
        return self.now

    def echoed(self) -> list[int]:
        return [c[1] for c in self.calls if c[0] == "cancel_order"]

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]


@pytest.fixture
def host() -> RecordingHost:
    return RecordingHost()


@pytest.fixture
def make_host() -> type[RecordingHost]:
    return RecordingHost


@pytest.fixture
def wasm() -> Callable[[str], bytes]:
    """Compile WAT text to wasm bytes."""
    return wasmtime.wat2wasm


@pytest.fixture
def algo_wat() -> Callable[[str], bytes]:
    """Wrap function definitions in a module with all imports, $echo and a 1-page memory."""

    def build(body: str, memory: str = '(memory (export "memory") 1)') -> bytes:
        return wasmtime.wat2wasm(f"(module {SEQ_IMPORTS} {memory} {body})")

    return build


@pytest.fixture
def minimal_wasm() -> bytes:
    """The smallest valid algo, as in docs/algo-abi.md."""
    return wasmtime.wat2wasm(
        """(module
             (memory (export "memory") 1)
             (func (export "on_book") (param i64 i64 i64 i64 i64)))"""
    )


@pytest.fixture(autouse=True)
def _fresh_module_cache() -> None:
    # Cache statistics are process-wide; each test starts from an empty cache.
    MODULE_CACHE.clear()
