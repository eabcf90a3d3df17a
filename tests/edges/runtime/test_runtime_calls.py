"""Callbacks receive exact arguments; every import reaches the host with exact values; results flow back."""

from __future__ import annotations

import threading

import pytest

from edges.runtime import AlgoInstance, AlgoReentryError, AlgoTrap, NullHost

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)

ECHO_ON_BOOK = """
  (func (export "on_book") (param i64 i64 i64 i64 i64)
    (call $echo (local.get 0)) (call $echo (local.get 1)) (call $echo (local.get 2))
    (call $echo (local.get 3)) (call $echo (local.get 4)))
"""


def test_on_book_receives_exact_arguments(algo_wat, host) -> None:
    algo = AlgoInstance(algo_wat(ECHO_ON_BOOK), host)
    args = [I64_MAX, I64_MIN, 0, -1, 1_700_000_000_123_456_789]

    algo.on_book(*args)
    algo.on_book(1, 2, 3, 4, 5)

    assert host.echoed() == [*args, 1, 2, 3, 4, 5]


def test_on_fill_on_reject_on_timer_receive_exact_arguments(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(
            ECHO_ON_BOOK
            + """
            (func (export "on_fill") (param i64 i32 i64 i64 i64)
              (call $echo (local.get 0)) (call $echo (i64.extend_i32_s (local.get 1)))
              (call $echo (local.get 2)) (call $echo (local.get 3)) (call $echo (local.get 4)))
            (func (export "on_reject") (param i64 i32)
              (call $echo (local.get 0)) (call $echo (i64.extend_i32_s (local.get 1))))
            (func (export "on_timer") (param i64) (call $echo (local.get 0)))
            (func (export "on_init") (call $echo (i64.const 42)))"""
        ),
        host,
    )

    algo.on_init()
    algo.on_fill(1001, 1, 50_000_000_000_000, 25_000_000, 7)
    algo.on_fill(1002, 0, 1, 1, 8)
    algo.on_reject(1003, 7)
    algo.on_reject(-5, -1)
    algo.on_timer(I64_MAX)

    assert host.echoed() == [
        42,
        *(1001, 1, 50_000_000_000_000, 25_000_000, 7),
        *(1002, 0, 1, 1, 8),
        *(1003, 7),
        *(-5, -1),
        I64_MAX,
    ]


def test_absent_optional_callbacks_are_no_ops(minimal_wasm, host) -> None:
    algo = AlgoInstance(minimal_wasm, host)

    algo.on_init()
    algo.on_fill(1, 0, 1, 1, 1)
    algo.on_reject(1, 1)
    algo.on_timer(1)
    algo.on_book(1, 1, 2, 1, 1)

    assert host.calls == []
    assert algo.abi_version() == 1
    assert not algo.trapped


def test_place_order_reaches_the_host_and_its_result_flows_back(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(
            """(func (export "on_book") (param i64 i64 i64 i64 i64)
                 (call $echo (call $place_order (i32.const 0) (local.get 0) (local.get 1)))
                 (call $echo (call $place_order (i32.const 1) (local.get 2) (local.get 3))))"""
        ),
        host,
    )

    algo.on_book(99_500_000_000, 150_000_000, 100_500_000_000, 250_000_000, 1)
    host.place_result = -4  # ERR_RISK from the host flows back unchanged
    algo.on_book(1, 1, I64_MAX, I64_MAX, 2)

    assert host.calls == [
        ("place_order", 0, 99_500_000_000, 150_000_000),
        ("cancel_order", 1001),
        ("place_order", 1, 100_500_000_000, 250_000_000),
        ("cancel_order", 1002),
        ("place_order", 0, 1, 1),
        ("cancel_order", -4),
        ("place_order", 1, I64_MAX, I64_MAX),
        ("cancel_order", -4),
    ]


def test_place_order_arguments_checked_before_the_host(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(
            """(func (export "on_book") (param i64 i64 i64 i64 i64)
                 (call $echo (call $place_order (i32.const 2) (i64.const 1) (i64.const 1)))
                 (call $echo (call $place_order (i32.const -1) (i64.const 1) (i64.const 1)))
                 (call $echo (call $place_order (i32.const 0) (i64.const 0) (i64.const 1)))
                 (call $echo (call $place_order (i32.const 1) (i64.const -5) (i64.const 1)))
                 (call $echo (call $place_order (i32.const 0) (i64.const 1) (i64.const 0)))
                 (call $echo (call $place_order (i32.const 1) (i64.const 1) (i64.const -1))))"""
        ),
        host,
    )

    algo.on_book(0, 0, 0, 0, 0)

    assert host.named("place_order") == []
    assert host.echoed() == [-1, -1, -2, -2, -3, -3]


def test_cancel_order_and_cancel_all_reach_the_host(algo_wat, host) -> None:
    host.cancel_order = lambda order_id: (
        host.calls.append(("cancel", order_id)) or (0 if order_id == 7 else -1)
    )
    algo = AlgoInstance(
        algo_wat(
            """(func (export "on_book") (param i64 i64 i64 i64 i64)
                 (call $cancel_all)
                 (call $log (i32.const 1) (i32.const 0)
                   (i32.add (i32.const 100) (call $cancel_order (i64.const 7))))
                 (call $log (i32.const 1) (i32.const 0)
                   (i32.add (i32.const 100) (call $cancel_order (i64.const 8)))))"""
        ),
        host,
    )
    algo.host = host  # rebinding picks up the patched method

    algo.on_book(0, 0, 0, 0, 0)

    # log(len = 100 + result): the result of cancel_order flows back as an i32.
    assert host.calls[:2] == [("cancel_all",), ("cancel", 7)]
    assert [c for c in host.calls if c[0] == "log"] == [("log", 1, "\0" * 100), ("log", 1, "\0" * 99)]


def test_queries_reach_the_host_and_results_flow_back(algo_wat, host) -> None:
    host.position = -123_456_789
    host.open_orders = 3
    host.now = 1_700_000_000_000_000_001
    host.book = {(0, 0, 0): 99_000_000_000, (1, 2, 1): 42}
    algo = AlgoInstance(
        algo_wat(
            """(func (export "on_book") (param i64 i64 i64 i64 i64)
                 (call $echo (call $position_1e8))
                 (call $echo (i64.extend_i32_s (call $open_order_count)))
                 (call $echo (call $now_ns))
                 (call $echo (call $book_level (i32.const 0) (i32.const 0) (i32.const 0)))
                 (call $echo (call $book_level (i32.const 1) (i32.const 2) (i32.const 1)))
                 (call $echo (call $book_level (i32.const 1) (i32.const 9) (i32.const 0))))"""
        ),
        host,
    )

    algo.on_book(0, 0, 0, 0, 0)

    assert host.echoed() == [-123_456_789, 3, 1_700_000_000_000_000_001, 99_000_000_000, 42, 0]
    assert host.named("book_level") == [
        ("book_level", 0, 0, 0),
        ("book_level", 1, 2, 1),
        ("book_level", 1, 9, 0),
    ]


def test_negative_open_order_count_round_trips_as_i32(algo_wat, host) -> None:
    host.open_orders = -2
    algo = AlgoInstance(
        algo_wat(
            """(func (export "on_book") (param i64 i64 i64 i64 i64)
                 (call $echo (i64.extend_i32_s (call $open_order_count))))"""
        ),
        host,
    )
    algo.on_book(0, 0, 0, 0, 0)
    assert host.echoed() == [-2]


def test_book_level_with_bad_arguments_is_zero_without_asking_the_host(algo_wat, host) -> None:
    host.book = {(0, 0, 0): 5}
    algo = AlgoInstance(
        algo_wat(
            """(func (export "on_book") (param i64 i64 i64 i64 i64)
                 (call $echo (call $book_level (i32.const 2) (i32.const 0) (i32.const 0)))
                 (call $echo (call $book_level (i32.const -1) (i32.const 0) (i32.const 0)))
                 (call $echo (call $book_level (i32.const 0) (i32.const -1) (i32.const 0)))
                 (call $echo (call $book_level (i32.const 0) (i32.const 0) (i32.const 2))))"""
        ),
        host,
    )

    algo.on_book(0, 0, 0, 0, 0)

    assert host.echoed() == [0, 0, 0, 0]
    assert host.named("book_level") == []


LOG_ALGO = """
  (data (i32.const 16) "h\\c3\\a9llo")
  (data (i32.const 32) "bad \\ff\\fe utf8")
  (func (export "on_book") (param i64 i64 i64 i64 i64)
    (call $log (i32.const 0) (i32.const 16) (i32.const 6))
    (call $log (i32.const 3) (i32.const 32) (i32.const 11))
    (call $log (i32.const 7) (i32.const 16) (i32.const 1))
    (call $log (i32.const -2) (i32.const 16) (i32.const 1))
    (call $log (i32.const 2) (i32.const 16) (i32.const 0))
    (call $log (i32.const 1) (i32.const 0) (i32.const 5000)))
"""


def test_log_decodes_clamps_and_truncates(algo_wat, host) -> None:
    algo = AlgoInstance(algo_wat(LOG_ALGO), host)

    algo.on_book(0, 0, 0, 0, 0)

    logs = host.named("log")
    assert logs[:5] == [
        ("log", 0, "héllo"),
        ("log", 3, "bad \ufffd\ufffd utf8"),
        ("log", 3, "h"),
        ("log", 0, "h"),
        ("log", 2, ""),
    ]
    first_kib = bytearray(1024)  # len 5000 is cut to the first 1024 bytes of memory
    first_kib[16:22] = b"h\xc3\xa9llo"
    first_kib[32:43] = b"bad \xff\xfe utf8"
    assert logs[5] == ("log", 1, first_kib.decode("utf-8", "replace"))


def test_log_reads_memory_after_it_grows(algo_wat, host) -> None:
    # Growing memory may move it: log() must take the base pointer afresh.
    algo = AlgoInstance(
        algo_wat(
            """(func (export "on_book") (param i64 i64 i64 i64 i64)
                 (drop (memory.grow (i32.const 100)))
                 (i32.store8 (i32.const 6000000) (i32.const 0x41))
                 (call $log (i32.const 1) (i32.const 6000000) (i32.const 1)))"""
        ),
        host,
    )
    algo.on_book(0, 0, 0, 0, 0)
    assert host.named("log") == [("log", 1, "A")]
    assert algo.memory_size_bytes == 101 * 65536


def test_host_can_be_rebound(algo_wat, host, make_host) -> None:
    algo = AlgoInstance(algo_wat(ECHO_ON_BOOK), host)
    other = make_host()

    algo.on_book(1, 1, 1, 1, 1)
    algo.host = other
    algo.on_book(2, 2, 2, 2, 2)

    assert host.echoed() == [1] * 5
    assert other.echoed() == [2] * 5
    assert algo.host is other


def test_fuel_used_by_the_last_callback_is_reported(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(
            """(func (export "on_book") (param i64 i64 i64 i64 i64) (local $i i32)
                 (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.wrap_i64 (local.get 0))))))"""
        ),
        host,
    )
    algo.on_book(10, 0, 0, 0, 0)
    small = algo.last_fuel_used
    algo.on_book(10_000, 0, 0, 0, 0)
    large = algo.last_fuel_used

    assert 0 < small < large < algo.limits.fuel_per_callback


def test_a_callback_from_inside_an_import_is_refused(algo_wat, host) -> None:
    algo = AlgoInstance(
        algo_wat(
            """(func (export "on_book") (param i64 i64 i64 i64 i64)
                 (drop (call $place_order (i32.const 0) (i64.const 1) (i64.const 1))))
               (func (export "on_fill") (param i64 i32 i64 i64 i64))"""
        ),
        host,
    )

    def fill_at_once(side: int, price: int, qty: int) -> int:
        algo.on_fill(1, side, price, qty, 0)  # wrong: must be queued until on_book returns
        return 1

    host.place_order = fill_at_once
    algo.host = host

    with pytest.raises(AlgoTrap) as info:
        algo.on_book(0, 0, 0, 0, 0)
    assert info.value.kind == "host_error"
    assert "AlgoReentryError" in info.value.reason
    assert issubclass(AlgoReentryError, RuntimeError)


def test_null_host_refuses_orders(algo_wat) -> None:
    algo = AlgoInstance(
        algo_wat(
            """(func (export "on_book") (param i64 i64 i64 i64 i64)
                 (call $echo (call $place_order (i32.const 0) (i64.const 1) (i64.const 1))))"""
        ),
        NullHost(),
    )
    algo.on_book(0, 0, 0, 0, 0)  # echo goes to NullHost.cancel_order: nothing to assert but no trap
    assert not algo.trapped


def test_imports_work_in_the_start_function(algo_wat, host) -> None:
    # Before instantiation returns there are no exports yet: log() finds memory through the caller.
    algo = AlgoInstance(
        algo_wat(
            """(data (i32.const 8) "start")
               (func $start (call $log (i32.const 1) (i32.const 8) (i32.const 5)) (call $echo (i64.const 5)))
               (start $start)
               (func (export "on_book") (param i64 i64 i64 i64 i64))"""
        ),
        host,
    )
    assert host.calls == [("log", 1, "start"), ("cancel_order", 5)]
    assert not algo.trapped


def test_instances_run_in_parallel_threads(algo_wat, make_host) -> None:
    # The wasm call releases the GIL and each import takes it back: separate instances in separate
    # threads must not see each other's arguments, results or counters.
    wasm_bytes = algo_wat(
        """(func (export "on_book") (param i64 i64 i64 i64 i64)
             (call $echo (i64.add (local.get 0)
               (call $place_order (i32.const 0) (local.get 0) (i64.const 1)))))"""
    )
    hosts = [make_host(next_order_id=1_000_000 * (k + 1)) for k in range(4)]
    algos = [AlgoInstance(wasm_bytes, h) for h in hosts]

    def run(k: int) -> None:
        for i in range(2000):
            algos[k].on_book(k * 10_000 + i + 1, 0, 0, 0, i)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    for k, h in enumerate(hosts):
        expected = [(k * 10_000 + i + 1) + (1_000_000 * (k + 1) + i) for i in range(2000)]
        assert h.echoed() == expected
