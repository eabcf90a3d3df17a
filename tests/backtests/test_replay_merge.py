"""Several symbols in one replay (issue 17): their events merge by time inside the core (seqcore's
core_merge drives every symbol's core, wasm to wasm), so each symbol trades exactly as it would
alone, the portfolio has one equity, the trade list is in time order, and Python crosses into wasm
once per batch of thousands of segments, not once per run of one symbol. No database."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from edges.core.instance import AlgoCore
from edges.replay import MAX_TRADES, Replay, ReplayCancelled, ReplayFailed, ReplaySpec, results_json
from tests.backtests.conftest import IDLE_WAT, SCENARIO_CSV, trap_wat
from tests.edges.conftest import wat
from venues.instruments import get_instrument
from venues.marketdata.importer import parse_csv
from venues.marketdata.store import MarketDataStore

DAY = date(2026, 3, 2)
SYMBOLS = ("ETH/USD", "BTC/USD")


def _spec(*symbols: str, seed: int = 42) -> ReplaySpec:
    return ReplaySpec(
        instruments=tuple(get_instrument("coinbase", s) for s in symbols),
        first_day=DAY,
        last_day=DAY,
        seed=seed,
        capital_1e9=100_000 * 10**9,
    )


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory: pytest.TempPathFactory) -> MarketDataStore:
    store = MarketDataStore(tmp_path_factory.mktemp("merge-data"))
    Replay(wasm=wat(IDLE_WAT), spec=_spec(*SYMBOLS), store=store).prepare()  # simulated days, once
    return store


def _count_driver_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    merge = AlgoCore.merge

    def counted(self: AlgoCore, nseg: int) -> int:
        calls.append(nseg)
        return merge(self, nseg)

    monkeypatch.setattr(AlgoCore, "merge", counted)
    return calls


def test_each_symbol_trades_as_alone_in_one_portfolio_merged_in_the_core(sim_store, mm_wasm, monkeypatch):
    alone = {s: Replay(wasm=mm_wasm, spec=_spec(s), store=sim_store).run() for s in SYMBOLS}
    calls = _count_driver_calls(monkeypatch)
    replay = Replay(wasm=mm_wasm, spec=_spec(*SYMBOLS), store=sim_store)
    events = replay.prepare()
    both = replay.run()

    # The events interleave finely: tens of thousands of runs of one symbol; Python handed them to
    # the driver in under two hundred calls (thousands of segments a call once the log sample is full).
    assert (
        both["summary"]["events_processed"]
        == events
        == sum(r["summary"]["total_events"] for r in alone.values())
    )
    assert len(calls) < 200 and max(calls) > 1000

    m = both["metrics"]
    for key in ("fill_count", "order_count", "reject_count", "trade_count"):
        assert m[key] == sum(r["metrics"][key] for r in alone.values()), key
    for key in ("realized_pnl", "unrealized_pnl", "total_pnl", "fees", "volume_usd"):
        assert m[key] == pytest.approx(sum(r["metrics"][key] for r in alone.values()), abs=1e-6), key
    assert both["summary"]["positions"] == {
        s.replace("/", "-"): alone[s]["summary"]["positions"][s.replace("/", "-")] for s in SYMBOLS
    }
    assert m["fill_count"] > 2 * MAX_TRADES  # the trade list is full: the merge below is exercised

    # The trade list: the first MAX_TRADES fills of both symbols in time order (then symbol order).
    rank = {s.replace("/", "-"): k for k, s in enumerate(SYMBOLS)}
    merged = sorted(
        (t for s in SYMBOLS for t in alone[s]["trades"]), key=lambda t: (t["ts_ns"], rank[t["symbol"]])
    )
    assert both["trades"] == merged[:MAX_TRADES]

    # One equity: hourly samples, the last one the capital plus both symbols' PnL.
    curve = both["equity_curve"]
    assert [p["ts"] for p in curve] == [curve[0]["ts"] + 3600 * h for h in range(len(curve))]
    assert curve[-1]["equity"] == pytest.approx(100_000 + m["total_pnl"], abs=1e-6)
    assert m["final_equity"] == pytest.approx(100_000 + m["total_pnl"], abs=1e-9)

    again = Replay(wasm=mm_wasm, spec=_spec(*SYMBOLS), store=sim_store).run()
    assert results_json(again) == results_json(both)


def _two_symbols_store(tmp_path: Path, btc_first: bool) -> MarketDataStore:
    # The scenario's four updates on ETH/USD, and the same on BTC/USD half a second later (or
    # earlier): the events alternate between the symbols.
    store = MarketDataStore(tmp_path)
    store.import_table("coinbase", "ETH/USD", parse_csv(io.StringIO(SCENARIO_CSV)))
    shifted = SCENARIO_CSV
    for second in range(1, 5):
        moved = f"{second - 1:02d}.5Z" if btc_first else f"{second:02d}.5Z"
        shifted = shifted.replace(f"00:00:{second:02d}Z", f"00:00:{moved}")
    store.import_table("coinbase", "BTC/USD", parse_csv(io.StringIO(shifted)))
    return store


@pytest.mark.parametrize(("btc_first", "expected"), [(False, "5 (ETH-USD)"), (True, "5 (BTC-USD)")])
def test_a_trap_in_any_symbols_core_names_that_symbol_and_the_portfolios_event(tmp_path, btc_first, expected):
    # Each symbol's algo traps on its own 3rd update: the 5th event of the day, whichever symbol
    # comes first; the driver is the first symbol's core either way.
    store = _two_symbols_store(tmp_path, btc_first)
    with pytest.raises(ReplayFailed) as exc:
        Replay(wasm=trap_wat(3), spec=_spec(*SYMBOLS), store=store).run()
    assert exc.value.message.startswith(f"algo trapped at event {expected}: ")
    assert "unreachable" in exc.value.message
    assert exc.value.events_processed == 4


def test_progress_is_reported_at_exact_steps_across_symbols(sim_store):
    calls: list[int] = []

    def progress(n: int) -> bool:
        calls.append(n)
        return n < 30_000

    replay = Replay(wasm=wat(IDLE_WAT), spec=_spec(*SYMBOLS), store=sim_store, progress=progress)
    replay.progress_every = 10_000
    with pytest.raises(ReplayCancelled):
        replay.run()
    assert calls == [0, 10_000, 20_000, 30_000]


def test_a_second_run_of_the_same_replay_gives_the_same_results(sim_store):
    replay = Replay(wasm=wat(IDLE_WAT), spec=_spec(*SYMBOLS), store=sim_store)
    first = results_json(replay.run())
    assert results_json(replay.run()) == first
