"""The replay loop alone (no database): the hand-checkable scenario, determinism, traps."""

from __future__ import annotations

import io
from datetime import date

import pytest

from edges.replay import Replay, ReplayFailed, ReplaySpec, results_json
from tests.backtests.conftest import IDLE_WAT, SCENARIO_CSV, SCENARIO_WAT, trap_wat
from tests.edges.conftest import wat
from venues.instruments import get_instrument
from venues.marketdata.importer import parse_csv
from venues.marketdata.store import MarketDataStore

DAY = date(2026, 3, 2)


def spec(
    symbol: str = "ETH/USD", venue: str = "coinbase", *, seed: int = 42, capital: int = 1000, days: int = 1
):
    return ReplaySpec(
        instruments=(get_instrument(venue, symbol),),
        first_day=DAY,
        last_day=date(2026, 3, 1 + days),
        seed=seed,
        capital_1e9=capital * 10**9,
    )


@pytest.fixture
def scenario_store(tmp_path) -> MarketDataStore:
    store = MarketDataStore(tmp_path)
    store.import_table("coinbase", "ETH/USD", parse_csv(io.StringIO(SCENARIO_CSV)))
    return store


def test_scenario_gives_exactly_the_hand_computed_fills_pnl_and_drawdown(scenario_store):
    replay = Replay(wasm=wat(SCENARIO_WAT), spec=spec(), store=scenario_store)
    assert replay.prepare() == 4
    results = replay.run()
    m = results["metrics"]
    # Buy 1 @ 100.10 as taker (fee 0.6% = 0.6006), sell 1 @ 101.00 as taker (fee 0.606):
    # gross +0.90, fees 1.2066, net -0.3066.
    assert [(t["side"], t["price"], t["qty"], t["fee"], t["liquidity"]) for t in results["trades"]] == [
        ("buy", 100.10, 1.0, 0.6006, "taker"),
        ("sell", 101.00, 1.0, 0.606, "taker"),
    ]
    assert m["fill_count"] == 2 and m["trade_count"] == 1
    assert m["total_pnl"] == pytest.approx(-0.3066, abs=1e-12)
    assert m["fees"] == pytest.approx(1.2066, abs=1e-12)
    assert m["win_rate"] == 0.0
    assert m["turnover"] == pytest.approx((100.10 + 101.00) / 1000)
    # Equity: 1000 -> 999.3494 (fee, marked at mid 100.05) -> 998.3494 (mid 99.05) -> 999.6934.
    # The low is 998.3494 against a peak of 1000: 0.16506 %.
    assert m["max_drawdown_pct"] == pytest.approx(0.16506, abs=1e-9)
    assert results["equity_curve"][0] == {"ts": 1772409600, "equity": 1000.0}
    assert results["equity_curve"][-1]["equity"] == pytest.approx(999.6934)
    assert results["summary"]["data_days"] == {"recorded": 1, "simulated": 0}


def test_two_symbols_share_one_portfolio_equity_in_time_order(tmp_path):
    # The scenario on ETH/USD and the same prices on BTC/USD half a second later: the events
    # interleave (ETH, BTC, ETH, BTC, ...) and each symbol trades exactly as alone.
    store = MarketDataStore(tmp_path)
    store.import_table("coinbase", "ETH/USD", parse_csv(io.StringIO(SCENARIO_CSV)))
    btc_csv = SCENARIO_CSV.replace(":01Z", ":01.5Z").replace(":02Z", ":02.5Z")
    btc_csv = btc_csv.replace(":03Z", ":03.5Z").replace(":04Z", ":04.5Z")
    store.import_table("coinbase", "BTC/USD", parse_csv(io.StringIO(btc_csv)))
    two = ReplaySpec(
        instruments=(get_instrument("coinbase", "ETH/USD"), get_instrument("coinbase", "BTC/USD")),
        first_day=DAY,
        last_day=DAY,
        seed=42,
        capital_1e9=1000 * 10**9,
    )
    replay = Replay(wasm=wat(SCENARIO_WAT), spec=two, store=store)
    assert replay.prepare() == 8
    results = replay.run()
    m = results["metrics"]
    assert [(t["symbol"], t["side"]) for t in results["trades"]] == [
        ("ETH-USD", "buy"),
        ("BTC-USD", "buy"),
        ("ETH-USD", "sell"),
        ("BTC-USD", "sell"),
    ]
    assert m["fill_count"] == 4 and m["trade_count"] == 2
    assert m["total_pnl"] == pytest.approx(2 * -0.3066, abs=1e-12)
    assert m["fees"] == pytest.approx(2 * 1.2066, abs=1e-12)
    # One equity for the portfolio: 1000 -> 999.3494 -> 998.6988 -> 997.6988 -> 996.6988 (both
    # marked at 99.05: the low) -> 998.0428 -> 999.3868. Drawdown 0.33012 %, twice one symbol's.
    assert m["max_drawdown_pct"] == pytest.approx(0.33012, abs=1e-9)
    assert results["equity_curve"][-1]["equity"] == pytest.approx(999.3868)
    assert results["summary"]["events_processed"] == 8
    again = Replay(wasm=wat(SCENARIO_WAT), spec=two, store=store).run()
    assert results_json(again) == results_json(results)


def test_same_inputs_give_identical_bytes_and_another_seed_differs(tmp_path, mm_wasm):
    store = MarketDataStore(tmp_path)
    runs = [Replay(wasm=mm_wasm, spec=spec("ETH/USDC", "kraken", seed=s, capital=100_000), store=store).run()
            for s in (7, 7, 8)]  # fmt: skip
    first, second, other = (results_json(r) for r in runs)
    assert first == second
    assert runs[0]["metrics"]["fill_count"] > 0
    assert other != first


def test_trap_fails_with_the_event_number(scenario_store):
    with pytest.raises(ReplayFailed) as exc:
        Replay(wasm=trap_wat(3), spec=spec(), store=scenario_store).run()
    assert exc.value.message.startswith("algo trapped at event 3 (ETH-USD): ")
    assert "unreachable" in exc.value.message


def test_progress_callback_can_cancel(tmp_path):
    from edges.replay import ReplayCancelled

    calls: list[int] = []

    def progress(n: int) -> bool:
        calls.append(n)
        return n < 20_000

    replay = Replay(wasm=wat(IDLE_WAT), spec=spec("ETH/USDC", "kraken"), store=MarketDataStore(tmp_path),
                    progress=progress)  # fmt: skip
    replay.progress_every = 10_000
    with pytest.raises(ReplayCancelled):
        replay.run()
    assert calls == [0, 10_000, 20_000]


def test_store_and_replay_import_no_django():
    import subprocess
    import sys

    code = (
        "import sys, edges.replay, venues.marketdata.store, venues.marketdata.importer;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('django','ninja','channels','celery')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_account_that_loses_its_capital_is_flagged_as_a_margin_breach(scenario_store):
    # The scenario with 1 USD of capital: after the buy's fee and the drop to 99.05 the account is
    # worth -0.65 (1 - 0.6006 - 1.05), then ends at +0.69. It broke in between: flagged.
    broke = Replay(wasm=wat(SCENARIO_WAT), spec=spec(capital=1), store=scenario_store).run()
    assert broke["metrics"]["margin_breach"] is True
    assert broke["metrics"]["max_drawdown_pct"] > 100
    assert broke["metrics"]["final_equity"] == pytest.approx(1 - 0.3066)
    fine = Replay(wasm=wat(SCENARIO_WAT), spec=spec(capital=1000), store=scenario_store).run()
    assert fine["metrics"]["margin_breach"] is False
    assert fine["summary"]["margin_breach_ts"] is None
