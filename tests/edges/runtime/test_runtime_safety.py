"""Fuel, memory cap, per-callback limits, and traps: every failure pauses one algo and nothing else."""

from __future__ import annotations

import time

import pytest

from edges.runtime import AlgoInstance, AlgoLoadError, AlgoTrap, RuntimeLimits

BOOK = (100, 1, 101, 1, 0)


def trap_of(algo: AlgoInstance, callback: str = "on_book") -> AlgoTrap:
    with pytest.raises(AlgoTrap) as info:
        if callback == "on_book":
            algo.on_book(*BOOK)
        else:
            getattr(algo, callback)()
    assert algo.trapped and algo.trap is info.value
    return info.value


def on_book(body: str) -> str:
    return f'(func (export "on_book") (param i64 i64 i64 i64 i64) {body})'


def test_an_endless_loop_runs_out_of_fuel_quickly(algo_wat, host) -> None:
    algo = AlgoInstance(algo_wat(on_book("(loop $l (br $l))")), host)

    started = time.perf_counter()
    trap = trap_of(algo)
    elapsed = time.perf_counter() - started

    assert trap.kind == "out_of_fuel"
    assert trap.reason == "out of fuel in on_book (budget 5000000): infinite loop?"
    assert trap.callback == "on_book"
    assert "all fuel consumed" in (trap.detail or "")
    assert elapsed < 1.0  # ~3 ms on the dev machines; generous for a loaded CI box
    assert algo.last_fuel_used == 5_000_000


def test_the_fuel_budget_is_configurable_and_refilled_per_callback(algo_wat, host) -> None:
    # Each on_book burns ~3000 fuel: fine once per callback under a 10,000 budget, however often.
    algo = AlgoInstance(
        algo_wat(
            on_book(
                """(local $i i32)
                   (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
                     (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))"""
            )
        ),
        host,
        limits=RuntimeLimits(fuel_per_callback=10_000),
    )
    for _ in range(50):
        algo.on_book(*BOOK)

    endless = AlgoInstance(
        algo_wat(on_book("(loop $l (br $l))")), host, limits=RuntimeLimits(fuel_per_callback=10_000)
    )
    assert trap_of(endless).reason == "out of fuel in on_book (budget 10000): infinite loop?"


def test_memory_grow_past_the_cap_returns_minus_one(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(
            on_book(
                """(call $echo (i64.extend_i32_s (memory.grow (i32.const 1))))
                   (call $echo (i64.extend_i32_s (memory.grow (i32.const 2))))
                   (call $echo (i64.extend_i32_s (memory.grow (i32.const 1))))
                   (call $echo (i64.extend_i32_s (memory.size)))"""
            )
        ),
        host,
        limits=RuntimeLimits(memory_limit_bytes=4 * 65536),
    )

    algo.on_book(*BOOK)

    assert host.echoed() == [1, 2, -1, 4]  # old sizes in pages, then -1 past 4 pages
    assert not algo.trapped


def test_memory_grow_past_the_default_cap_returns_minus_one(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(
            on_book(
                """(call $echo (i64.extend_i32_s (memory.grow (i32.const 255))))
                   (call $echo (i64.extend_i32_s (memory.grow (i32.const 1))))"""
            )
        ),
        host,
    )
    algo.on_book(*BOOK)
    assert host.echoed() == [1, -1]  # 256 pages = 16 MiB is the cap
    assert algo.memory_size_bytes == 16 * 1024 * 1024


def test_memory_minimum_above_the_cap_does_not_load(algo_wat, host) -> None:
    with pytest.raises(AlgoLoadError, match="asks for at least 16.0625 MiB"):
        AlgoInstance(algo_wat(on_book(""), memory='(memory (export "memory") 257)'), host)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("unreachable", "wasm trap in on_book: unreachable executed"),
        ("(drop (i32.div_s (i32.const 1) (i32.const 0)))", "wasm trap in on_book: integer divide by zero"),
        (
            "(drop (i32.div_s (i32.const -2147483648) (i32.const -1)))",
            "wasm trap in on_book: integer overflow",
        ),
        (
            "(drop (i32.load (i32.const 70000)))",
            "wasm trap in on_book: out-of-bounds memory access "
            "(memory fault at wasm address 0x11170 in linear memory of size 0x10000)",
        ),
        ("(call $recurse)", "wasm trap in on_book: stack overflow (call stack exhausted)"),
        ("(drop (i32.trunc_f64_s (f64.const 1e100)))", "wasm trap in on_book: integer overflow"),
    ],
)
def test_wasm_traps_pause_the_algo_with_a_reason(algo_wat, host, body: str, reason: str) -> None:
    algo = AlgoInstance(algo_wat(on_book(body) + "(func $recurse (call $recurse))"), host)

    trap = trap_of(algo)

    assert trap.kind == "trap"
    assert trap.reason == reason
    assert str(trap) == reason


def test_log_with_a_pointer_out_of_bounds_traps(algo_wat, host) -> None:
    algo = AlgoInstance(algo_wat(on_book("(call $log (i32.const 1) (i32.const 65530) (i32.const 10))")), host)

    trap = trap_of(algo)

    assert trap.kind == "trap"
    assert trap.reason == "log(): pointer out of bounds (ptr=65530, len=10) in on_book"
    assert host.named("log") == []


def test_log_with_a_negative_length_traps(algo_wat, host) -> None:
    algo = AlgoInstance(algo_wat(on_book("(call $log (i32.const 1) (i32.const 0) (i32.const -1))")), host)
    assert trap_of(algo).reason == "log(): pointer out of bounds (ptr=0, len=4294967295) in on_book"


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("place_order", "(drop (call $place_order (i32.const 0) (i64.const 1) (i64.const 1)))"),
        ("cancel_order", "(drop (call $cancel_order (i64.const 1)))"),
        ("cancel_all", "(call $cancel_all)"),
        ("log", "(call $log (i32.const 1) (i32.const 0) (i32.const 1))"),
        ("position_1e8", "(drop (call $position_1e8))"),
        ("open_order_count", "(drop (call $open_order_count))"),
        ("book_level", "(drop (call $book_level (i32.const 0) (i32.const 0) (i32.const 0)))"),
        ("now_ns", "(drop (call $now_ns))"),
    ],
)
def test_a_host_exception_traps_with_host_error(algo_wat, host, method: str, body: str) -> None:
    host.raise_in = method
    algo = AlgoInstance(algo_wat(on_book(body + "(call $echo (i64.const 99))")), host)

    trap = trap_of(algo)

    assert trap.kind == "host_error"
    assert trap.reason == f"host error in {method}() during on_book: RuntimeError: boom"
    assert 99 not in host.echoed()  # the wasm stopped at the failing import


def test_a_host_returning_a_non_int_traps_with_host_error(algo_wat, host) -> None:
    host.position_1e8 = lambda: None
    algo = AlgoInstance(algo_wat(on_book("(drop (call $position_1e8))")), host)
    algo.host = host
    assert trap_of(algo).kind == "host_error"


def test_keyboard_interrupt_in_the_host_propagates_after_unwinding(algo_wat, host) -> None:
    host.raise_in = "now_ns"
    host.raise_exc = KeyboardInterrupt()
    algo = AlgoInstance(algo_wat(on_book("(drop (call $now_ns))")), host)

    with pytest.raises(KeyboardInterrupt):
        algo.on_book(*BOOK)
    assert algo.trapped and algo.trap is not None and algo.trap.kind == "host_error"


def test_a_trapped_instance_refuses_further_calls(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(
            on_book("unreachable") + '(func (export "on_timer") (param i64) (call $echo (local.get 0)))'
        ),
        host,
    )
    first = trap_of(algo)

    for call in (
        lambda: algo.on_book(*BOOK),
        lambda: algo.on_timer(1),
        algo.on_init,
        lambda: algo.on_fill(1, 0, 1, 1, 1),
    ):
        with pytest.raises(AlgoTrap) as again:
            call()
        assert again.value is first
    assert host.calls == []


def test_a_trap_does_not_disturb_other_instances(algo_wat, make_host) -> None:
    wasm_bytes = algo_wat(
        on_book(
            """(if (i64.eq (local.get 4) (i64.const 13)) (then unreachable))
               (call $echo (local.get 0))"""
        )
    )
    loop_bytes = algo_wat(on_book("(loop $l (br $l))"))
    host_a, host_b, host_c = make_host(), make_host(), make_host()
    a = AlgoInstance(wasm_bytes, host_a)
    b = AlgoInstance(wasm_bytes, host_b)
    c = AlgoInstance(loop_bytes, host_c)

    a.on_book(1, 0, 0, 0, 0)
    with pytest.raises(AlgoTrap):
        a.on_book(2, 0, 0, 0, 13)
    with pytest.raises(AlgoTrap):
        c.on_book(3, 0, 0, 0, 0)
    for px in (4, 5, 6):
        b.on_book(px, 0, 0, 0, 0)

    assert a.trapped and c.trapped and not b.trapped
    assert host_a.echoed() == [1]
    assert host_b.echoed() == [4, 5, 6]
    assert b.last_fuel_used < 100


def test_more_than_64_actions_get_err_rate(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(
            on_book(
                """(local $i i32)
                   (loop $l
                     (drop (call $place_order (i32.const 0) (i64.const 1) (i64.const 1)))
                     (local.set $i (i32.add (local.get $i) (i32.const 1)))
                     (br_if $l (i32.lt_u (local.get $i) (i32.const 63))))
                   (call $echo (call $place_order (i32.const 0) (i64.const 1) (i64.const 1)))
                   (call $echo (call $place_order (i32.const 0) (i64.const 1) (i64.const 1)))
                   (call $cancel_all)
                   (call $log (i32.const 1) (i32.const 0)
                     (i32.sub (i32.const 0) (call $cancel_order (i64.const 1))))"""
            )
        ),
        host,
    )

    algo.on_book(*BOOK)

    # 63 + 1 places reach the host (ids 1001..1064); the 65th place_order gets ERR_RATE (-5) and is
    # echoed through cancel_order, which is itself over the limit: the host never sees it.
    assert len(host.named("place_order")) == 64
    assert host.named("cancel_order") == []
    assert host.named("cancel_all") == []
    logs = host.named("log")
    assert logs[0][1] == 2 and "more than 64 order actions in on_book" in logs[0][2]
    assert logs[1:] == [("log", 1, "\0" * 5)]  # cancel_order over the limit returned -5
    assert not algo.trapped

    host.calls.clear()
    algo.on_book(*BOOK)  # the count starts again at the next callback
    assert len(host.named("place_order")) == 64


def test_log_lines_beyond_the_limit_are_dropped(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(
            on_book(
                """(local $i i32)
                   (loop $l
                     (call $log (i32.const 1) (i32.const 0) (i32.const 1))
                     (local.set $i (i32.add (local.get $i) (i32.const 1)))
                     (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))"""
            )
        ),
        host,
        limits=RuntimeLimits(max_log_lines_per_callback=10),
    )

    algo.on_book(*BOOK)

    logs = host.named("log")
    assert logs[:10] == [("log", 1, "\0")] * 10
    assert len(logs) == 11 and logs[10][1] == 2 and "more than 10 lines in on_book" in logs[10][2]


def test_log_enabled_says_no_once_the_callbacks_lines_are_spent(algo_wat, host) -> None:
    # the same 100 lines, each asked for first: ten are written, the rest skipped, no warning
    algo = AlgoInstance(
        algo_wat(
            on_book(
                """(local $i i32)
                   (loop $l
                     (if (call $log_enabled (i32.const 1))
                       (then (call $log (i32.const 1) (i32.const 0) (i32.const 1))))
                     (local.set $i (i32.add (local.get $i) (i32.const 1)))
                     (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))"""
            )
        ),
        host,
        limits=RuntimeLimits(max_log_lines_per_callback=10),
    )

    algo.on_book(*BOOK)
    algo.on_book(*BOOK)  # a new callback, a new budget

    assert host.named("log") == [("log", 1, "\0")] * 20


def test_too_many_host_calls_trap(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(on_book("(loop $l (drop (call $now_ns)) (br $l))")),
        host,
        limits=RuntimeLimits(max_host_calls_per_callback=100),
    )

    trap = trap_of(algo)

    assert trap.kind == "trap"
    assert trap.reason == "too many host calls in on_book (limit 100; last was now_ns())"
    assert len(host.named("now_ns")) == 100


def test_a_trap_in_on_init_is_reported_as_such(algo_wat, host) -> None:
    algo = AlgoInstance(algo_wat(on_book("") + '(func (export "on_init") unreachable)'), host)
    assert trap_of(algo, "on_init").reason == "wasm trap in on_init: unreachable executed"


def test_a_bad_log_in_the_start_function_fails_to_load(algo_wat, host) -> None:
    wasm_bytes = algo_wat(
        on_book("") + "(func $start (call $log (i32.const 1) (i32.const -8) (i32.const 8))) (start $start)"
    )
    with pytest.raises(AlgoLoadError, match=r"log\(\): pointer out of bounds .* in the start function"):
        AlgoInstance(wasm_bytes, host)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="fuel_per_callback"):
        RuntimeLimits(fuel_per_callback=0)


def test_close_releases_the_store(minimal_wasm, host) -> None:
    algo = AlgoInstance(minimal_wasm, host)
    algo.close()
    with pytest.raises(AlgoTrap, match="instance closed"):
        algo.on_book(*BOOK)
