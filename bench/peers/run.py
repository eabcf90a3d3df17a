"""Sequence's replay against its peers on the same day and the same market maker (`make bench-peers`).

    .venv/bin/python bench/peers/run.py --hftbacktest-python P311 --nautilus-python P312 [--rounds 3]

1. Exports one simulated day of Coinbase ETH/USD (generated and cached by ``MarketDataStore`` in
   MARKET_DATA_DIR) as top-of-book columns to var/bench-peers/<day>.i64 for the peers: five
   int64 little-endian columns back to back (ts_ns, bid_px, bid_qty, ask_px, ask_qty; ×1e9 prices,
   ×1e8 sizes as in the store), read with ``peers_data.load``.
2. Builds Sequence's algos: examples/algos/market_maker set to join the touch (no skews, one
   level, no position limit) and the do-nothing examples/algos/wat/minimal.wat.
3. Runs every engine interleaved, ``--rounds`` rounds, each run its own process (Sequence in the
   repo's venv, the peers in theirs); each times only its own replay of the day and prints one
   JSON line. The peers' clocks start with the day already in their engine's format and their
   strategy compiled; Sequence's ``Replay.run()`` reads the day from its store inside its clock,
   as every replay does (the wasm is compiled before).
4. Prints events/s by the wall clock (median of the rounds, and the range) and per second of the
   process's CPU time (steadier on a shared machine), fills, and the CPU-time ratio to Sequence's
   replay of the same strategy, and checks that every market-maker port made the same fills
   (count, final position, traded notional) as Sequence. Exits 1 when they differ.

The strategy, in every engine: on every book update cancel both quotes, then, when the book is
two-sided and not crossed, bid 0.5 ETH at the best bid and offer 0.5 ETH at the best ask. Fills
follow Sequence's paper matching (edges/replay.py, edges/core/seqcore.c) with
fill_prob_at_touch 0: a resting order fills at its price when the other side of the book reaches
it. The default 0.05 draws a random fill for quotes at the touch, which the peers' engines cannot
reproduce; --fill-prob 0.05 still checks the plain loop against Sequence (same generator).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sequence_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from peers_data import MM_ARGS  # noqa: E402

from sequence_markets.algo_build import build_c, build_wat  # noqa: E402
from venues.instruments import get_instrument  # noqa: E402
from venues.marketdata.store import MarketDataStore  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = REPO / "var" / "bench-peers"
VENUE, SYMBOL = "coinbase", "ETH/USD"


def export_day(day: date, seed: int) -> tuple[Path, int]:
    store = MarketDataStore(settings.MARKET_DATA_DIR)
    inst = get_instrument(VENUE, SYMBOL)
    data = store.day_data(VENUE, SYMBOL, day, seed)
    if not data.paths:
        store.ensure_simulated(inst, day, seed)
        data = store.day_data(VENUE, SYMBOL, day, seed)
    table = store.read_day(data)
    path = OUT / f"{VENUE}-{SYMBOL.replace('/', '-')}-{day}-{seed}.i64"
    with path.open("wb") as f:
        for name in ("ts_ns", "bid_px_0", "bid_qty_0", "ask_px_0", "ask_qty_0"):
            col = table.column(name).combine_chunks().fill_null(0)
            f.write(col.buffers()[1].to_pybytes()[8 * col.offset : 8 * (col.offset + len(col))])
    return path, table.num_rows


def build_algos() -> tuple[Path, Path]:
    mm = build_c(
        REPO / "examples/algos/market_maker/market_maker.c",
        OUT / "market_maker.wasm",
        include_dirs=[REPO / "examples/algos/include"],
        extra_args=list(MM_ARGS),
    )
    idle = build_wat(REPO / "examples/algos/wat/minimal.wat", OUT / "do_nothing.wasm")
    return mm, idle


def run(cmd: list[str]) -> dict:
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--hftbacktest-python", required=True, help="python of the 3.11 venv (hftbacktest, numba)")
    p.add_argument("--nautilus-python", required=True, help="python of the 3.12 venv (nautilus_trader)")
    p.add_argument("--day", default="2026-01-01")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rounds", type=int, default=3, choices=range(1, 100), metavar="N")
    p.add_argument("--fill-prob", type=float, default=0.0)
    p.add_argument("--only", default="", help="comma-separated run names (default: all)")
    p.add_argument(
        "--sequence-before",
        metavar="CHECKOUT",
        help="also run Sequence's replay from another checkout (an older commit) in the same rounds",
    )
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    day = date.fromisoformat(args.day)
    data, n = export_day(day, args.seed)
    mm_wasm, idle_wasm = build_algos()
    print(f"{VENUE} {SYMBOL} {day} seed {args.seed}: {n:,} events -> {data}", file=sys.stderr)

    seq = [sys.executable, str(HERE / "sequence_replay.py"), "--data-dir", str(settings.MARKET_DATA_DIR)]
    seq += ["--day", args.day, "--seed", str(args.seed), "--fill-prob", str(args.fill_prob)]
    hbt, naut = args.hftbacktest_python, args.nautilus_python
    rng_seed = f"backtest|{args.seed}|{SYMBOL}"
    plain = [str(HERE / "plain_loop.py"), "--data", str(data), "--fill-prob", str(args.fill_prob)]
    plain += ["--rng-seed", rng_seed]
    day_args = ["--data", str(data), "--strategy"]
    before = []
    if args.sequence_before:
        # this script's Sequence runner, importing the other checkout's code (its parents[2])
        checkout = Path(args.sequence_before).resolve()
        runner = checkout / "bench" / "peers" / "sequence_replay.py"
        runner.parent.mkdir(parents=True, exist_ok=True)
        runner.write_text((HERE / "sequence_replay.py").read_text())
        commit = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        label = f"Sequence replay at {commit}"
        old = [sys.executable, str(runner), *seq[2:]]
        before = [
            (label, "mm", [*old, "--wasm", str(mm_wasm), "--label", label]),
            (label, "idle", [*old, "--wasm", str(idle_wasm), "--label", label]),
        ]
    # (name, strategy, command); Sequence first: the others are compared with it
    runs = [
        ("Sequence replay", "mm", [*seq, "--wasm", str(mm_wasm), "--label", "Sequence replay"]),
        ("Sequence replay", "idle", [*seq, "--wasm", str(idle_wasm), "--label", "Sequence replay"]),
        *before,
        ("hftbacktest", "mm", [hbt, str(HERE / "hftbacktest_mm.py"), *day_args, "mm"]),
        ("hftbacktest", "idle", [hbt, str(HERE / "hftbacktest_mm.py"), *day_args, "idle"]),
        ("NautilusTrader", "mm", [naut, str(HERE / "nautilus_mm.py"), *day_args, "mm"]),
        ("NautilusTrader", "idle", [naut, str(HERE / "nautilus_mm.py"), *day_args, "idle"]),
        ("plain Python loop", "mm", [hbt, *plain]),
        ("numba loop", "mm", [hbt, *plain, "--jit"]),
    ]
    if args.only:
        wanted = set(args.only.split(","))
        runs = [r for r in runs if r[0] in wanted or f"{r[0]}:{r[1]}" in wanted]
    # Sequence once, untimed: whatever the replay caches beside the store's files on a first run
    # exists before the rounds (the peers' data is decoded outside their clocks too).
    load_before = os.getloadavg()[0]
    run(runs[0][2])
    results: dict[tuple[str, str], list[dict]] = {(name, s): [] for name, s, _ in runs}
    for r in range(args.rounds):
        for name, strategy, cmd in runs:
            res = run(cmd)
            results[(name, strategy)].append(res)
            print(
                f"  round {r + 1} {name:18} {strategy:4}: {res['events'] / res['seconds']:>12,.0f} events/s, "
                f"{res['fills']:,} fills",
                file=sys.stderr,
            )

    def rates(key: tuple[str, str], clock: str) -> list[float]:
        return [x["events"] / x[clock] for x in results[key]]

    def median(key: tuple[str, str], clock: str) -> float:
        return statistics.median(rates(key, clock))

    print(
        f"\n{date.today()}, {platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{VENUE} {SYMBOL} {day} (seed {args.seed}), {n:,} events; fill_prob_at_touch {args.fill_prob}; "
        f"median of {args.rounds} interleaved rounds; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after\n"
    )
    # Wall clock, and events per second of the process's own CPU time (what one core does when
    # other processes share the machine's cores); the ratios are of the CPU-time figures.
    print(
        "| engine | strategy | events/s, wall (median) | wall range | events per CPU-second (median) "
        "| vs Sequence replay (CPU) | fills |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, strategy, _ in runs:
        key = (name, strategy)
        base = ("Sequence replay", strategy)
        ratio = "—"
        if base in results:
            r = median(key, "cpu_seconds") / median(base, "cpu_seconds")
            ratio = f"{r:,.2f}×" if r >= 0.1 else f"{r:.2g}×"
        label = "market maker" if strategy == "mm" else "do nothing"
        fills = f"{results[key][-1]['fills']:,}" if strategy == "mm" else "—"
        wall = rates(key, "seconds")
        print(
            f"| {name} | {label} | {median(key, 'seconds'):,.0f} | {min(wall):,.0f}–{max(wall):,.0f} | "
            f"{median(key, 'cpu_seconds'):,.0f} | {ratio} | {fills} |"
        )

    # the ports check each other: same fills, same final position, same traded notional
    mm = [(name, x) for (name, s), xs in results.items() if s == "mm" for x in xs]
    ref_name, ref = mm[0]
    bad = []
    for name, x in mm:
        if (
            x["fills"] != ref["fills"]
            or abs(x["position"] - ref["position"]) > 1e-8
            or abs(x["notional"] - ref["notional"]) > 1e-6 * max(1.0, ref["notional"])
        ):
            bad.append(f"{name}: {x['fills']} fills, position {x['position']}, notional {x['notional']:.2f}")
    summary = f"{ref['fills']} fills, position {ref['position']}, notional {ref['notional']:.2f}"
    if bad:
        print(f"\nFILLS DIFFER from {ref_name} ({summary}):\n  " + "\n  ".join(bad))
        raise SystemExit(1)
    print(f"\nEvery market-maker port made the same fills as {ref_name}: {summary}.")


if __name__ == "__main__":
    main()
