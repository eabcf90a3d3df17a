"""Sequence's side of bench/peers: replays of the exported day through ``Replay`` (the public
entry bench/backtest_replay.py and the Celery job use), timed around ``run()``. Warm, as the peers
are: one replay outside the clock first (hftbacktest compiles its strategy on 2,000 events first,
the numba loop on 100), then the median of three timed ones (the day takes tens of milliseconds:
one run would measure a preemption as often as the engine).

    .venv/bin/python bench/peers/sequence_replay.py --wasm ALGO.wasm --data-dir DIR --day 2026-01-01 --seed 42

Prints one JSON line: events, seconds, fills, final position and traded notional. The algo, the
data directory (a ``MarketDataStore``) and the fill probability at the touch come from run.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edges.replay import Replay, ReplaySpec  # noqa: E402
from venues.instruments import get_instrument  # noqa: E402
from venues.marketdata.store import MarketDataStore  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--wasm", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--day", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--fill-prob", type=float, required=True)
    p.add_argument("--label", required=True)
    args = p.parse_args()
    day = date.fromisoformat(args.day)
    spec = ReplaySpec(
        instruments=(get_instrument("coinbase", "ETH/USD"),),
        first_day=day,
        last_day=day,
        seed=args.seed,
        capital_1e9=100_000 * 10**9,
        fill_prob_at_touch=args.fill_prob,
    )
    replay = Replay(wasm=Path(args.wasm).read_bytes(), spec=spec, store=MarketDataStore(args.data_dir))
    events = replay.prepare(generate=False)
    replay.run()  # warm-up, outside the clock
    walls, cpus = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        results = replay.run()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    seconds, cpu_seconds = statistics.median(walls), statistics.median(cpus)
    m = results["metrics"]
    out = {
        "engine": args.label,
        "events": events,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "fills": m["fill_count"],
        "position": results["summary"]["positions"]["ETH-USD"],
        "notional": m["volume_usd"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
