"""The example algos in examples/algos: built from source with algo_build, checked against ABI v1.

Uses plain wasmtime (the slow `Func.__call__` path) and a small Python fake host for the "seq"
imports, so it needs neither the edge runtime nor Django.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import wasmtime
from wasmtime import Engine, FuncType, Linker, MemoryType, Module, Store, ValType

from sequence_markets import algo_build
from sequence_markets.algo_build import BuildError

REPO = Path(__file__).resolve().parents[2]
ALGOS = REPO / "examples" / "algos"

I32, I64 = "i32", "i64"
# ABI v1: name -> (params, results).
ABI_IMPORTS: dict[str, tuple[list[str], list[str]]] = {
    "place_order": ([I32, I64, I64], [I64]),
    "cancel_order": ([I64], [I32]),
    "cancel_all": ([], []),
    "log": ([I32, I32, I32], []),
    "position_1e8": ([], [I64]),
    "open_order_count": ([], [I32]),
    "book_level": ([I32, I32, I32], [I64]),
    "now_ns": ([], [I64]),
    "log_enabled": ([I32], [I32]),
}
ABI_EXPORTS: dict[str, tuple[list[str], list[str]]] = {
    "on_book": ([I64] * 5, []),
    "on_init": ([], []),
    "on_fill": ([I64, I32, I64, I64, I64], []),
    "on_reject": ([I64, I32], []),
    "on_timer": ([I64], []),
    "sequence_abi_version": ([], [I32]),
}
# rustc's cdylib always exports these two immutable i32 globals; the host ignores them.
RUST_EXTRA_GLOBALS = {"__data_end", "__heap_base"}

# The C market maker's compile-time defaults (examples/algos/market_maker/market_maker.c).
TICK = 1_000_000  # 0.001
QTY = 100_000_000  # 1.0
MAX_POS = 500_000_000  # 5.0
PX = 1_000_000_000  # 1.0 in price_1e9


# ---------------------------------------------------------------- building


def _build(name: str, out_dir: Path) -> Path:
    out = out_dir / f"{name}.wasm"
    if name == "c_market_maker":
        return algo_build.build_c(
            [ALGOS / "market_maker" / "market_maker.c"], out, include_dirs=[ALGOS / "include"]
        )
    if name == "zig_market_maker":
        return algo_build.build_zig(ALGOS / "zig" / "market_maker.zig", out)
    if name == "wat_minimal":
        return algo_build.build_wat(ALGOS / "wat" / "minimal.wat", out)
    if name == "wat_echo_logger":
        return algo_build.build_wat(ALGOS / "wat" / "echo_logger.wat", out)
    if name == "rust_market_maker":
        try:
            algo_build.find_rust_toolchain()
        except BuildError as exc:
            pytest.skip(f"no Rust toolchain for wasm32: {exc}")
        return algo_build.build_rust(
            ALGOS / "rust" / "market_maker", out, target_dir=out_dir / "cargo-target"
        )
    raise AssertionError(name)


ALL_ALGOS = ["c_market_maker", "zig_market_maker", "wat_minimal", "wat_echo_logger", "rust_market_maker"]


@pytest.fixture(scope="session")
def build_algo(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Builds each example at most once per session, on first use."""
    out_dir = tmp_path_factory.mktemp("algos")
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            cache[name] = _build(name, out_dir)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def mm_wasm(build_algo: Callable[[str], Path]) -> Path:
    return build_algo("c_market_maker")


# ---------------------------------------------------------------- fake host


def _sig(ft: FuncType) -> tuple[list[str], list[str]]:
    return [str(t) for t in ft.params], [str(t) for t in ft.results]


def _functype(params: list[str], results: list[str]) -> FuncType:
    vt = {I32: ValType.i32(), I64: ValType.i64()}
    return FuncType([vt[p] for p in params], [vt[r] for r in results])


class FakeHost:
    """Implements the "seq" imports in Python and records what the algo does."""

    def __init__(self, wasm: Path, *, first_order_id: int = 5001) -> None:
        self.engine = Engine()
        self.store = Store(self.engine)
        self.actions: list[tuple] = []  # ("cancel_all",) / ("place", side, px, qty) / ("cancel", id)
        self.logs: list[tuple[int, bytes]] = []
        self.position = 0
        self.now = 0
        self.levels: dict[int, list[tuple[int, int]]] = {0: [], 1: []}
        self.open: dict[int, tuple[int, int, int]] = {}  # id -> (side, px, qty)
        self.next_id = first_order_id
        self.place_result: int | None = None  # when set, place_order returns this error code

        linker = Linker(self.engine)
        handlers: dict[str, Callable] = {
            "place_order": self._place_order,
            "cancel_order": self._cancel_order,
            "cancel_all": self._cancel_all,
            "position_1e8": lambda: self.position,
            "open_order_count": lambda: len(self.open),
            "book_level": self._book_level,
            "now_ns": lambda: self.now,
            "log_enabled": lambda level: 1,  # this host reads every line
        }
        for name, (params, results) in ABI_IMPORTS.items():
            if name == "log":
                linker.define_func("seq", name, _functype(params, results), self._log, access_caller=True)
            else:
                linker.define_func("seq", name, _functype(params, results), handlers[name])
        self.module = Module.from_file(self.engine, str(wasm))
        self.instance = linker.instantiate(self.store, self.module)
        self.exports = self.instance.exports(self.store)

    # -- imports
    def _place_order(self, side: int, px: int, qty: int) -> int:
        self.actions.append(("place", side, px, qty))
        if self.place_result is not None:
            return self.place_result
        oid = self.next_id
        self.next_id += 1
        self.open[oid] = (side, px, qty)
        return oid

    def _cancel_order(self, oid: int) -> int:
        self.actions.append(("cancel", oid))
        return 0 if self.open.pop(oid, None) is not None else -1

    def _cancel_all(self) -> None:
        self.actions.append(("cancel_all",))
        self.open.clear()

    def _book_level(self, side: int, index: int, which: int) -> int:
        levels = self.levels.get(side, [])
        if not 0 <= index < len(levels) or which not in (0, 1):
            return 0
        return levels[index][which]

    def _log(self, caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
        memory = caller["memory"]
        assert isinstance(memory, wasmtime.Memory)
        if ptr < 0 or length < 0 or ptr + length > memory.data_len(caller):
            raise RuntimeError("log(): pointer out of bounds")
        self.logs.append((level, bytes(memory.read(caller, ptr, ptr + min(length, 1024)))))

    # -- driving the algo
    def has(self, name: str) -> bool:
        return self.exports.get(name) is not None

    def call(self, name: str, *args: int):
        func = self.exports[name]
        assert isinstance(func, wasmtime.Func)
        return func(self.store, *args)

    def book(
        self,
        bid: int,
        bid_qty: int,
        ask: int,
        ask_qty: int,
        *,
        deeper_bids: Sequence[tuple[int, int]] = (),
        deeper_asks: Sequence[tuple[int, int]] = (),
    ) -> list[tuple]:
        """One on_book call; returns the actions it took."""
        self.levels = {
            0: ([(bid, bid_qty)] if bid else []) + list(deeper_bids),
            1: ([(ask, ask_qty)] if ask else []) + list(deeper_asks),
        }
        self.now += 1_000_000
        self.actions = []
        self.call("on_book", bid, bid_qty, ask, ask_qty, self.now)
        return self.actions

    def fill(self, oid: int) -> None:
        side, px, qty = self.open.pop(oid)
        self.position += qty if side == 0 else -qty
        self.call("on_fill", oid, side, px, qty, self.now)

    def texts(self, level: int | None = None) -> list[str]:
        # Strict decoding: a log call with invalid UTF-8 fails the test here.
        return [raw.decode("utf-8") for lvl, raw in self.logs if level is None or lvl == level]


def _places(actions: list[tuple]) -> list[tuple[int, int, int]]:
    return [a[1:] for a in actions if a[0] == "place"]


# ---------------------------------------------------------------- ABI shape of every example


@pytest.mark.parametrize("name", ALL_ALGOS)
def test_module_follows_abi(name: str, build_algo: Callable[[str], Path]) -> None:
    wasm = build_algo(name)
    assert wasm.stat().st_size < 1024 * 1024
    module = Module.from_file(Engine(), str(wasm))

    for imp in module.imports:
        assert imp.module == "seq", f"import from {imp.module!r}"
        assert imp.name in ABI_IMPORTS, f"unknown import seq::{imp.name}"
        assert isinstance(imp.type, FuncType)
        assert _sig(imp.type) == ABI_IMPORTS[imp.name], imp.name

    exports = {e.name: e.type for e in module.exports}
    assert isinstance(exports.pop("memory", None), MemoryType)
    assert "on_book" in exports
    for ename, etype in exports.items():
        if isinstance(etype, FuncType):
            assert ename in ABI_EXPORTS, f"unexpected function export {ename}"
            assert _sig(etype) == ABI_EXPORTS[ename], ename
        else:
            assert name.startswith("rust_") and ename in RUST_EXTRA_GLOBALS, f"unexpected export {ename}"


@pytest.mark.parametrize("name", ALL_ALGOS)
def test_module_runs_against_fake_host(name: str, build_algo: Callable[[str], Path]) -> None:
    host = FakeHost(build_algo(name))
    if host.has("sequence_abi_version"):
        assert host.call("sequence_abi_version") == 1
    if host.has("on_init"):
        host.call("on_init")
    for i in range(20):
        bid = 2 * PX + i * TICK
        host.book(bid, QTY, bid + 5 * TICK, 2 * QTY)
        for side, px, qty in _places(host.actions):
            assert side in (0, 1) and px > 0 and qty > 0
    host.book(0, 0, 2 * PX, QTY)  # one-sided book
    if host.has("on_fill") and host.open:
        host.fill(next(iter(host.open)))
    if host.has("on_reject"):
        host.call("on_reject", 42, 3)
    if host.has("on_timer"):
        for _ in range(61):
            host.call("on_timer", host.now)
    for text in host.texts():
        assert text and "\x00" not in text


@pytest.mark.parametrize("name", ["c_market_maker", "zig_market_maker", "rust_market_maker"])
def test_market_makers_quote_both_sides_within_limits(name: str, build_algo: Callable[[str], Path]) -> None:
    host = FakeHost(build_algo(name))
    bid, ask = 1800 * TICK, 1810 * TICK
    actions = host.book(bid, QTY, ask, QTY)
    assert actions[0] == ("cancel_all",)
    places = _places(actions)
    assert sorted(p[0] for p in places) == [0, 1]
    for side, px, qty in places:
        assert px % TICK == 0 and qty > 0
        assert px < ask if side == 0 else px > bid
    assert any(t.startswith("BUY: order=") for t in host.texts(1))
    host.position = MAX_POS
    assert [p[0] for p in _places(host.book(bid, QTY, ask, QTY))] == [1]
    host.position = -MAX_POS
    assert [p[0] for p in _places(host.book(bid, QTY, ask, QTY))] == [0]


# ---------------------------------------------------------------- the C market maker


def test_mm_hello_and_first_quotes(mm_wasm: Path) -> None:
    host = FakeHost(mm_wasm)
    host.call("on_init")
    assert host.texts(1) == ["market_maker hello: tick=0.001 size=1 max_pos=5"]
    assert host.call("sequence_abi_version") == 1

    bid, ask = 1800 * TICK, 1810 * TICK
    actions = host.book(bid, 5 * QTY, ask, 5 * QTY)
    assert actions[0] == ("cancel_all",)
    places = _places(actions)
    assert [p[0] for p in places] == [0, 1], "exactly one bid then one ask"
    (_, my_bid, bid_qty), (_, my_ask, ask_qty) = places
    assert my_bid < ask and my_ask > bid and my_bid < my_ask
    assert my_bid % TICK == 0 and my_ask % TICK == 0
    assert bid_qty > 0 and ask_qty > 0
    # A balanced book and flat position quote the touch.
    assert (my_bid, my_ask) == (bid, ask)
    assert host.texts(1)[-2:] == ["BUY: order=5001 @1.800", "SELL: order=5002 @1.810"]


def test_mm_logs_quotes_only_every_1000th_update(mm_wasm: Path) -> None:
    host = FakeHost(mm_wasm)
    for _ in range(1001):
        actions = host.book(1800 * TICK, QTY, 1810 * TICK, QTY)
        assert actions[0] == ("cancel_all",) and len(_places(actions)) == 2
    quote_lines = [t for t in host.texts(1) if t.startswith(("BUY:", "SELL:"))]
    assert len(quote_lines) == 4  # updates 0 and 1000, one line per side


def test_mm_off_grid_market_prices(mm_wasm: Path) -> None:
    host = FakeHost(mm_wasm)
    # Off-grid market prices: the quotes still land on the grid, strictly inside the market.
    bid, ask = 1_800_400_000, 1_830_700_000
    (_, my_bid, _), (_, my_ask, _) = _places(host.book(bid, QTY, ask, QTY))
    assert my_bid % TICK == 0 and my_ask % TICK == 0
    assert bid - TICK < my_bid < ask and bid < my_ask < ask + TICK


def test_mm_one_tick_market(mm_wasm: Path) -> None:
    host = FakeHost(mm_wasm)
    bid, ask = 1800 * TICK, 1801 * TICK
    (_, my_bid, _), (_, my_ask, _) = _places(host.book(bid, QTY, ask, QTY))
    assert (my_bid, my_ask) == (bid, ask)


def test_mm_depth_skew_follows_heavier_side(mm_wasm: Path) -> None:
    host = FakeHost(mm_wasm)
    bid, ask = 1800 * TICK, 1810 * TICK
    balanced = _places(host.book(bid, QTY, ask, QTY))
    heavy_bids = _places(
        host.book(bid, QTY, ask, QTY, deeper_bids=[(bid - TICK, 50 * QTY), (bid - 2 * TICK, 50 * QTY)])
    )
    assert heavy_bids[0][1] > balanced[0][1] and heavy_bids[1][1] > balanced[1][1]
    assert heavy_bids[0][1] < ask  # still never crosses


def test_mm_fills_skew_and_stop_at_max_position(mm_wasm: Path) -> None:
    host = FakeHost(mm_wasm)
    bid, ask = 1800 * TICK, 1810 * TICK
    flat = _places(host.book(bid, QTY, ask, QTY))
    bid_id = next(oid for oid, (side, _, _) in host.open.items() if side == 0)
    host.fill(bid_id)
    assert host.position == QTY
    assert host.texts(1)[-1] == f"BUY FILL: order={bid_id} qty=1 @1.800 pos=1"

    # Long inventory lowers the quotes (sell more eagerly, buy less).
    long_quotes = _places(host.book(bid, QTY, ask, QTY))
    assert [p[0] for p in long_quotes] == [0, 1]
    assert long_quotes[1][1] <= flat[1][1] and long_quotes[0][1] <= flat[0][1]

    # Fill bids until the position reaches the maximum: the bid side stops.
    while host.position < MAX_POS:
        host.book(bid, QTY, ask, QTY)
        host.fill(next(oid for oid, (side, _, _) in host.open.items() if side == 0))
    assert host.position == MAX_POS
    actions = host.book(bid, QTY, ask, QTY)
    assert actions[0] == ("cancel_all",)
    assert [p[0] for p in _places(actions)] == [1], "only the ask once long the maximum"
    (_, only_ask, _) = _places(actions)[0]
    assert only_ask > bid and only_ask % TICK == 0

    # Beyond the maximum short: only the bid.
    host.position = -MAX_POS - QTY
    assert [p[0] for p in _places(host.book(bid, QTY, ask, QTY))] == [0]


def test_mm_warns_on_refused_orders_and_rejects(mm_wasm: Path) -> None:
    host = FakeHost(mm_wasm)
    host.place_result = -4  # ERR_RISK on every placement
    for _ in range(5):
        host.book(1800 * TICK, QTY, 1810 * TICK, QTY)
    warns = host.texts(2)
    # Throttled: the first refusal warns, the next ones stay quiet until the 1000th.
    assert warns == ["BUY rejected: RISK (-4) @1.800 errors=1"]

    host.call("on_reject", 5001, 3)
    assert host.texts(2)[-1] == "REJECT: order=5001 reason=RISK_LIMIT (3)"
    host.call("on_reject", 5002, 99)
    assert host.texts(2)[-1] == "REJECT: order=5002 reason=UNKNOWN (99)"


def test_mm_stays_out_of_bad_books(mm_wasm: Path) -> None:
    host = FakeHost(mm_wasm)
    for bid, ask in [(0, 1810 * TICK), (1800 * TICK, 0), (1810 * TICK, 1800 * TICK), (5, 5)]:
        assert host.book(bid, QTY, ask, QTY) == [("cancel_all",)]
    # Prices beyond 2^62 are ignored rather than risking overflow in the tick arithmetic.
    assert host.book(2**62, QTY, 2**63 - 1, QTY) == [("cancel_all",)]


def test_mm_extreme_values_do_not_trap(mm_wasm: Path) -> None:
    host = FakeHost(mm_wasm)
    big = 10**18  # a price of 1e9 in price_1e9: still quoted, on the grid
    places = _places(host.book(big, 2**63 - 1, big + 10 * TICK, 2**63 - 1))
    assert len(places) == 2 and all(px % TICK == 0 for _, px, _ in places)
    host.call("on_fill", 2**63 - 1, 1, 2**63 - 1, -(2**63), 0)
    assert host.texts(1)[-1] == (
        "SELL FILL: order=9223372036854775807 qty=-92233720368.54775808 @9223372036.854775807 pos=0"
    )


def test_mm_timer_stats(mm_wasm: Path) -> None:
    host = FakeHost(mm_wasm)
    host.book(1800 * TICK, QTY, 1810 * TICK, QTY)
    for i in range(60):
        host.call("on_timer", i * 1_000_000_000)
    stats = [t for t in host.texts(1) if t.startswith("STATS:")]
    assert stats == ["STATS: updates=1 fills=0 bought=0 sold=0 pos=0 open=2 rejects=0"]


def test_mm_binary_is_small(mm_wasm: Path) -> None:
    assert mm_wasm.stat().st_size < 6 * 1024
    memory = next(e.type for e in Module.from_file(Engine(), str(mm_wasm)).exports if e.name == "memory")
    assert isinstance(memory, MemoryType) and memory.limits.min <= 2  # the 64 KiB stack


# ---------------------------------------------------------------- algo_build itself


def test_detect_project_kinds(tmp_path: Path) -> None:
    assert algo_build.detect_project(ALGOS / "market_maker") == "c"
    assert algo_build.detect_project(ALGOS / "zig") == "zig"
    assert algo_build.detect_project(ALGOS / "wat") == "wat"
    assert algo_build.detect_project(ALGOS / "rust" / "market_maker") == "rust"
    with pytest.raises(BuildError, match="no Cargo.toml"):
        algo_build.detect_project(tmp_path)


def test_build_project_c_uses_shared_include(tmp_path: Path) -> None:
    out = algo_build.build_project(ALGOS / "market_maker", tmp_path)
    assert out == tmp_path / "market_maker.wasm" and out.stat().st_size > 0


def test_build_project_wat_needs_one_file(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="several .wat files"):
        algo_build.build_project(ALGOS / "wat", tmp_path)
    (tmp_path / "solo").mkdir()
    (tmp_path / "solo" / "algo.wat").write_text((ALGOS / "wat" / "minimal.wat").read_text())
    assert algo_build.build_project(tmp_path / "solo").name == "solo.wasm"


def test_build_errors_carry_compiler_output(tmp_path: Path) -> None:
    bad_c = tmp_path / "bad.c"
    bad_c.write_text("int broken = ;\n")
    with pytest.raises(BuildError, match="expected expression"):
        algo_build.build_c(bad_c, tmp_path / "bad.wasm")
    bad_wat = tmp_path / "bad.wat"
    bad_wat.write_text('(module (func (export "on_book") (i64.bogus)))')
    with pytest.raises(BuildError, match="WAT assembly"):
        algo_build.build_wat(bad_wat, tmp_path / "bad2.wasm")
    no_export = tmp_path / "x.zig"
    no_export.write_text("fn helper() void {}\n")
    with pytest.raises(BuildError, match="no `export fn`"):
        algo_build.build_zig(no_export, tmp_path / "x.wasm")


def test_build_c_defines_override_parameters(tmp_path: Path) -> None:
    out = algo_build.build_c(
        ALGOS / "market_maker" / "market_maker.c",
        tmp_path / "mm_tick10.wasm",
        include_dirs=[ALGOS / "include"],
        extra_args=["-DMM_TICK_1E9=10000000", "-DMM_ORDER_QTY_1E8=50000000"],
    )
    host = FakeHost(out)
    host.call("on_init")
    assert host.texts(1) == ["market_maker hello: tick=0.01 size=0.5 max_pos=5"]
    places = _places(host.book(1_800_000_000, QTY, 1_900_000_000, QTY))
    assert all(px % 10_000_000 == 0 and qty == 50_000_000 for _, px, qty in places)
