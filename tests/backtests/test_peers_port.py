"""bench/peers compares Sequence's replay with ports of the same market maker to other engines, and
only means something while the ports make Sequence's fills. The plain Python loop port is the
reference the others are checked against in every `make bench-peers` run; here it is checked
against the replay itself on a whole simulated day, with and without the fill-at-touch draws."""

from __future__ import annotations

import random
import sys
from datetime import date
from pathlib import Path

import pytest

from edges.replay import Replay, ReplaySpec
from sequence_markets.algo_build import build_c
from venues.instruments import get_instrument
from venues.marketdata.store import MarketDataStore

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "peers"))

from peers_data import MM_ARGS, QTY_1E8  # noqa: E402
from plain_loop import market_maker  # noqa: E402

DAY, SEED = date(2026, 1, 1), 42


@pytest.fixture(scope="module")
def join_touch_wasm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("peers") / "mm.wasm"
    build_c(
        REPO / "examples/algos/market_maker/market_maker.c",
        out,
        include_dirs=[REPO / "examples/algos/include"],
        extra_args=list(MM_ARGS),
    )
    return out.read_bytes()


@pytest.mark.parametrize("fill_prob", [0.0, 0.05])
def test_plain_loop_port_makes_the_replays_fills(tmp_path, join_touch_wasm, fill_prob):
    inst = get_instrument("coinbase", "ETH/USD")
    store = MarketDataStore(tmp_path)
    store.ensure_simulated(inst, DAY, SEED)
    spec = ReplaySpec(
        instruments=(inst,), first_day=DAY, last_day=DAY, seed=SEED, capital_1e9=100_000 * 10**9,
        fill_prob_at_touch=fill_prob,
    )  # fmt: skip
    results = Replay(wasm=join_touch_wasm, spec=spec, store=store).run()

    table = store.read_day(store.day_data("coinbase", "ETH/USD", DAY, SEED))
    cols = [table.column(c).to_pylist() for c in ("bid_px_0", "bid_qty_0", "ask_px_0", "ask_qty_0")]
    rand = random.Random(f"sequence-match|backtest|{SEED}|ETH/USD").random
    fills, position, notional = market_maker(*cols, QTY_1E8, fill_prob, rand)

    m = results["metrics"]
    assert m["fill_count"] > 0.9 * len(cols[0])  # it trades on nearly every update
    assert fills == m["fill_count"]
    assert position / 1e8 == results["summary"]["positions"]["ETH-USD"]
    assert notional == pytest.approx(m["volume_usd"], rel=1e-9)
