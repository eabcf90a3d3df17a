"""Sequence algo ABI v1: the constants both sides of the WebAssembly boundary agree on.

docs/algo-abi.md is the user-facing description of the same contract; keep the two in step.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

ABI_VERSION: Final = 1
IMPORT_MODULE: Final = "seq"

# Fixed-point units: every value crossing the boundary is an i64 scaled by one of these.
PRICE_SCALE: Final = 1_000_000_000  # price_1e9
QTY_SCALE: Final = 100_000_000  # qty_1e8
PNL_SCALE: Final = 1_000_000_000  # pnl_1e9


class Side(IntEnum):
    BUY = 0  # the bid side
    SELL = 1  # the ask side


# place_order() results below zero.
ERR_BAD_SIDE: Final = -1
ERR_BAD_PRICE: Final = -2
ERR_BAD_QTY: Final = -3
ERR_RISK: Final = -4
ERR_RATE: Final = -5
ERR_HALTED: Final = -6

# cancel_order() results (ERR_RATE is also possible once the per-callback action limit is spent).
CANCEL_OK: Final = 0
CANCEL_UNKNOWN: Final = -1


class LogLevel(IntEnum):
    DEBUG = 0
    INFO = 1
    WARN = 2
    ERROR = 3


class RejectReason(IntEnum):
    """reason_code passed to on_reject()."""

    BAD_PRICE = 1
    BAD_QTY = 2
    RISK_LIMIT = 3
    POST_ONLY_WOULD_CROSS = 4  # reserved: no order type produces it yet
    VENUE_REJECT = 5
    SELF_TRADE = 6
    MARKET_CLOSED = 7


# book_level(side, index, which): `which` selects the field.
BOOK_PRICE: Final = 0
BOOK_QTY: Final = 1

Signature = tuple[tuple[str, ...], tuple[str, ...]]

# Every host function an algo may import, all from module "seq". Nothing else links.
IMPORTS: Final[dict[str, Signature]] = {
    "place_order": (("i32", "i64", "i64"), ("i64",)),
    "cancel_order": (("i64",), ("i32",)),
    "cancel_all": ((), ()),
    "log": (("i32", "i32", "i32"), ()),
    "position_1e8": ((), ("i64",)),
    "open_order_count": ((), ("i32",)),
    "book_level": (("i32", "i32", "i32"), ("i64",)),
    "now_ns": ((), ("i64",)),
    "log_enabled": (("i32",), ("i32",)),
}

# Function exports the runtime looks for. `memory` is required too but is not a function.
EXPORTS: Final[dict[str, Signature]] = {
    "on_book": (("i64", "i64", "i64", "i64", "i64"), ()),
    "on_init": ((), ()),
    "on_fill": (("i64", "i32", "i64", "i64", "i64"), ()),
    "on_reject": (("i64", "i32"), ()),
    "on_timer": (("i64",), ()),
    "sequence_abi_version": ((), ("i32",)),
}
REQUIRED_FUNCTION_EXPORTS: Final = ("on_book",)
MEMORY_EXPORT: Final = "memory"
CALLBACK_EXPORTS: Final = ("on_init", "on_book", "on_fill", "on_reject", "on_timer")

# Limits. The per-callback ones are defaults of RuntimeLimits and can be changed per instance.
MAX_MODULE_BYTES: Final = 1_048_576  # 1 MiB
MAX_LOG_BYTES: Final = 1024
DEFAULT_FUEL_PER_CALLBACK: Final = 5_000_000
DEFAULT_MEMORY_LIMIT_BYTES: Final = 16 * 1024 * 1024
DEFAULT_MAX_ACTIONS_PER_CALLBACK: Final = 64
DEFAULT_MAX_LOG_LINES_PER_CALLBACK: Final = 64
DEFAULT_MAX_HOST_CALLS_PER_CALLBACK: Final = 10_000
MAX_TABLE_ELEMENTS: Final = 65_536
WASM_PAGE_BYTES: Final = 65_536


def format_signature(sig: Signature) -> str:
    """Render a signature the way the docs write it: `(i32, i64) -> i64`, `() -> ()`."""
    params, results = sig
    res = results[0] if len(results) == 1 else "(" + ", ".join(results) + ")"
    return "(" + ", ".join(params) + ") -> " + res
