"""The fast path's own mechanics: argument views by address, log() reading memory through a cached
view that follows memory growth, and the engine setting that keeps a memory's base in place."""

from __future__ import annotations

import ctypes

import pytest

from edges.runtime import AlgoInstance, AlgoTrap, RuntimeLimits, _raw

BOOK = (100, 1, 101, 1, 0)


def on_book(body: str) -> str:
    return f'(func (export "on_book") (param i64 i64 i64 i64 i64) {body})'


def test_arg_views_are_cached_per_address_and_bounded() -> None:
    views = _raw.ArgViews()
    buffers = [(ctypes.c_int64 * 6)() for _ in range(3)]
    first = views[ctypes.addressof(buffers[0])]
    assert views[ctypes.addressof(buffers[0])] is first  # a hit builds nothing
    first[2] = 7
    assert buffers[0][2] == 7  # the view writes the memory it was made for
    for i in range(_raw._MAX_VIEWS + 5):  # many distinct addresses: the cache stays bounded
        views[ctypes.addressof(buffers[1]) + 8 * (i % 2) + 16 * i]
    assert len(views) <= _raw._MAX_VIEWS


def test_the_engine_never_moves_a_memory_when_it_grows(algo_wat, host) -> None:
    algo = AlgoInstance(algo_wat(on_book("(drop (memory.grow (i32.const 200)))")), host)
    ctx, addr = algo._raw.ctx, algo._memory_addr
    base = _raw.memory_base(ctx, addr)
    algo.on_book(*BOOK)
    assert _raw.memory_size(ctx, addr) == 201 * 65536
    assert _raw.memory_base(ctx, addr) == base


def test_log_reads_memory_grown_during_the_callback(algo_wat, host) -> None:
    # Grow by one page, write "hi!" at the start of the new page, log it: the cached view covered
    # only the first page, so log() must notice the growth instead of refusing the pointer.
    algo = AlgoInstance(
        algo_wat(
            on_book(
                """(drop (memory.grow (i32.const 1)))
                   (i32.store8 (i32.const 65536) (i32.const 104))
                   (i32.store8 (i32.const 65537) (i32.const 105))
                   (i32.store8 (i32.const 65538) (i32.const 33))
                   (call $log (i32.const 1) (i32.const 65536) (i32.const 3))
                   (call $log (i32.const 1) (i32.const 131070) (i32.const 3))"""
            )
        ),
        host,
    )
    with pytest.raises(AlgoTrap) as info:  # the second log() reaches past the grown memory
        algo.on_book(*BOOK)
    assert host.named("log") == [("log", 1, "hi!")]
    assert info.value.reason == "log(): pointer out of bounds (ptr=131070, len=3) in on_book"


def test_log_is_capped_at_1024_bytes_and_decodes_invalid_utf8_with_replacement(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(
            '(data (i32.const 0) "\\ff")'
            + on_book("(call $log (i32.const 2) (i32.const 0) (i32.const 2000))")
        ),
        host,
    )
    algo.on_book(*BOOK)
    ((_, level, message),) = host.named("log")
    assert level == 2 and len(message) == 1024 and message[0] == "\ufffd" and message[1:] == "\0" * 1023


def test_a_log_in_the_start_function_reads_through_the_caller(algo_wat, host) -> None:
    AlgoInstance(
        algo_wat(
            '(data (i32.const 8) "start") (func $start (call $log (i32.const 1) (i32.const 8) (i32.const 5)))'
            "(start $start)" + on_book("")
        ),
        host,
    )
    assert host.named("log") == [("log", 1, "start")]


def test_the_engine_config_refuses_nothing_the_cap_allows(algo_wat, host) -> None:
    # memory_may_move is off: growth stays inside the reservation, up to the cap and no further.
    algo = AlgoInstance(
        algo_wat(on_book("(call $echo (i64.extend_i32_s (memory.grow (i32.const 63))))")),
        host,
        limits=RuntimeLimits(memory_limit_bytes=64 * 65536),
    )
    algo.on_book(*BOOK)
    assert host.echoed() == [1] and algo.memory_size_bytes == 64 * 65536
