"""seqcore (edges/core) against the reference model: the Python MatchingEngine and PositionBook.

Random order flows on random books, several instruments (bps and Kalshi fees, Polymarket's
minimum notional, risk limits): every fill (id, side, price, quantity, fee, maker/taker, what is
left), every reject reason, the open orders and the exact position/PnL figures must agree.
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
import wasmtime

from edges.core.instance import EV_FILL, S_NEV, AlgoCore
from edges.dispatch import SlotPositions
from edges.runtime import load_module
from tests.edges.conftest import REPO
from venues.accounting import PositionBook
from venues.book import BookSnapshot
from venues.instruments import get_instrument
from venues.matching import MatchingEngine

IDLE = wasmtime.wat2wasm(
    '(module (memory (export "memory") 1) (func (export "on_book") (param i64 i64 i64 i64 i64)))'
)


def test_committed_binary_is_built_from_the_source() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edges.core.build", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


class _Positions(SlotPositions):
    """SlotPositions over a bare core (no slot)."""

    __slots__ = ("_core",)

    def __init__(self, core: AlgoCore) -> None:
        self._core = core

    def _g(self):  # type: ignore[no-untyped-def]
        return self._core.G


def _core_fills(core: AlgoCore) -> list[tuple[int, ...]]:
    G, EV, w = core.G, core.EV, core.ev_words
    out = []
    for i in range(int(G[S_NEV])):
        o = i * w
        if EV[o] == EV_FILL:
            # order_id, side, price, qty, fee, ts, liquidity, leaves
            out.append(
                tuple(int(EV[o + k]) for k in (1, 2, 3, 4, 5, 6))
                + (("maker", "taker")[EV[o + 7]], int(EV[o + 8]))
            )
    return out


def _book(rng: random.Random, inst, mid_ticks: int, ts: int) -> BookSnapshot:
    tick, lot = inst.tick_1e9, inst.lot_1e8
    spread = rng.choice([1, 1, 2, 3])
    bid_t = mid_ticks - spread // 2 - (spread % 2)
    bids, asks = [], []
    for k in range(rng.randint(0, 6)):
        p = (bid_t - k - rng.randint(0, 1) * k) * tick
        if p >= inst.min_price_1e9:
            bids.append((p, max(lot, inst.min_qty_1e8) * rng.randint(1, 40)))
    for k in range(rng.randint(0, 6)):
        p = (bid_t + spread + k + rng.randint(0, 1) * k) * tick
        if p <= inst.max_price_1e9:
            asks.append((p, max(lot, inst.min_qty_1e8) * rng.randint(1, 40)))
    bids = sorted(set(bids), key=lambda lv: -lv[0])
    asks = sorted(set(asks), key=lambda lv: lv[0])
    # distinct prices per side
    bids = list({p: (p, q) for p, q in bids}.values())
    asks = list({p: (p, q) for p, q in asks}.values())
    return BookSnapshot(ts, bids, asks)


CASES = [
    ("coinbase", "ETH/USD", {}, {}),
    ("kraken", "BTC/USD", {"max_position_1e8": 300_000_000, "max_open_orders": 8}, {}),
    # a costmin that half the flow's orders miss (3..90 USD): refused as BAD_QTY by both
    ("kraken", "BTC/USD", {}, {"min_notional_1e9": 40 * 10**9}),
    ("kalshi", None, {"allow_short": False}, {}),
    ("polymarket", None, {"max_order_notional_1e9": 500 * 10**9}, {}),
]


@pytest.mark.parametrize(("venue", "symbol", "limits", "rules"), CASES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matching_and_accounting_agree_with_the_reference(venue, symbol, limits, rules, seed) -> None:
    import dataclasses

    from venues.instruments import instruments_for_venue

    inst = (
        get_instrument(venue, symbol) if symbol else [i for i in instruments_for_venue(venue) if i.active][0]
    )
    inst = dataclasses.replace(inst, **rules)
    rng = random.Random(seed)
    ref = MatchingEngine(inst, rng_seed=f"t{seed}", fill_prob_at_touch=0.3, **limits)
    book = PositionBook()
    core = AlgoCore(
        load_module(IDLE),
        inst,
        rng_seed=f"t{seed}",
        fill_prob_at_touch=0.3,
        log=lambda level, text: None,
        on_events=lambda n: None,
        on_trace=lambda kind, phase: None,
        **limits,
    )
    cx, store = core._core_exports, core._store
    core._raw.set_fuel(10**12)
    positions = _Positions(core)
    tick = inst.tick_1e9
    mid = (
        (inst.min_price_1e9 + inst.max_price_1e9) // 2 // tick
        if inst.max_price_1e9 < 10**12
        else 3000 * 10**9 // tick
    )
    if venue == "kraken":
        mid = 60_000 * 10**9 // tick
    ts = 1_000
    next_id = 1
    for step in range(400):
        ts += 1000
        mid += rng.randint(-2, 2)
        snap = _book(rng, inst, mid, ts)
        want = [tuple(f) for f in ref.on_book(snap)]
        core.set_levels(snap.bids, snap.asks)
        cx["core_set_book"](store, ts, snap.bid_px, snap.bid_qty, snap.ask_px, snap.ask_qty, -1, -1)
        got = _core_fills(core)
        assert got == want, f"resting fills differ at step {step}"
        for fill in want:
            book.on_fill(fill[1], fill[2], fill[3], fill[4])
        for _ in range(rng.randint(0, 4)):
            action = rng.random()
            if action < 0.7:
                side = rng.randint(0, 1)
                offset = rng.randint(-3, 3)
                price = (mid + offset) * tick + (tick // 2 if rng.random() < 0.03 else 0)
                unit = max(inst.min_qty_1e8, inst.lot_1e8) * (100 if venue == "polymarket" else 1)
                qty = unit * rng.randint(1, 30) if rng.random() > 0.02 else inst.lot_1e8 // 2 or -1
                result = ref.submit(side, price, qty, ts, next_id)
                got_id = cx["core_submit"](store, side, price, qty)
                if result.accepted:
                    assert got_id == next_id
                    assert _core_fills(core) == [tuple(f) for f in result.fills]
                    for fill in result.fills:
                        book.on_fill(fill.side, fill.price_1e9, fill.qty_1e8, fill.fee_1e9)
                else:
                    assert got_id == -result.reason, f"reject reason differs at step {step}"
                next_id += 1
            elif action < 0.9:
                open_ids = [o.order_id for o in ref.open_orders()]
                target = rng.choice(open_ids) if open_ids and rng.random() < 0.8 else next_id + 5
                assert cx["core_cancel"](store, target) == int(ref.cancel(target))
            else:
                assert cx["core_cancel_all"](store) == len(ref.cancel_all())
        assert [
            (o.order_id, o.side, o.price_1e9, o.qty_1e8, o.leaves_1e8, o.dormant) for o in ref.open_orders()
        ] == core.open_orders()
        book.mark(snap.mid_1e9)
        assert positions.position_1e8 == book.position_1e8 == ref.position_1e8
        assert positions.realized_pnl_1e9 == book.realized_pnl_1e9
        assert positions.unrealized_pnl_1e9 == book.unrealized_pnl_1e9
        assert positions.avg_entry_price_1e9 == book.avg_entry_price_1e9
        assert positions.fees_1e9 == book.fees_1e9
        assert positions.notional_1e9 == book.notional_1e9
        assert positions.trade_count == book.trade_count
    assert book.fill_count > 20, "the flow should produce fills"


def test_set_levels_writes_a_side_again_only_when_it_changed_or_was_overwritten() -> None:
    inst = get_instrument("kraken", "BTC/USD")
    core = AlgoCore(
        load_module(IDLE),
        inst,
        rng_seed="t",
        log=lambda level, text: None,
        on_events=lambda n: None,
        on_trace=lambda kind, phase: None,
    )
    d = core.max_depth
    X = core.XBOOK

    def held() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        nb, na = int(X[0]), int(X[1])
        bids = [(int(X[2 + 2 * k]), int(X[3 + 2 * k])) for k in range(nb)]
        asks = [(int(X[2 + 2 * d + 2 * k]), int(X[3 + 2 * d + 2 * k])) for k in range(na)]
        return bids, asks

    deep = tuple((10**9 * (60_000 + k), 10**8 + k) for k in range(d))  # fills XBOOK's ask part
    bids = tuple((10**9 * (59_999 - k), 10**8 + k) for k in range(5))
    core.set_levels(bids, deep)
    assert held() == (list(bids), list(deep))
    asks = deep[:3]
    core.set_levels(bids, asks)  # the same bids object: only the asks are written
    assert held() == (list(bids), list(asks))
    core.set_levels(bids, deep)
    core.open_orders()  # its scratch is the tail of XBOOK (the deepest asks)...
    X[1 + 4 * d] = 0  # ...as an open order would have written it
    core.set_levels(bids, deep)  # written again: the held tuples no longer say what is there
    assert held() == (list(bids), list(deep))
    wider = (*bids, (10**9 * 59_000, 1))
    core.set_levels(list(wider), ())  # a list is written every time: it may change in place
    assert held() == (list(wider), [])
