"""Backtest replay speed: the C market maker over one simulated month of Coinbase ETH/USD, end to end
in the Celery job on a real worker, the warm replay alone on one core (the market maker and a
do-nothing algo), plus the per-event cost split.

    .venv/bin/python bench/backtest_replay.py [--days 31] [--split-days 2] [--rounds 3] [--no-worker]

Uses the configured database and Redis (DATABASE_URL, REDIS_URL; run `manage.py migrate` first) and
the configured MARKET_DATA_DIR (the month is generated there on the first run and reused after).
Steps:
  1. builds examples/algos/market_maker (C -> wasm, quoting 0.5 ETH on the 0.01 grid);
  2. starts `celery -A sequence_site worker -Q backtests -P solo` as a subprocess (one core);
  3. submits the month through `backtest_create` (the API's service): a first run (simulated days
     generated and cached when missing), then a cold run (a fresh worker, the days' replay blocks
     deleted: rebuilt from the Parquet files) and a warm run (blocks in place). The job's own
     timing (`run_seconds`: claim to completion, preparation included) gives events/s;
  4. replays the month in this process, warm, `--rounds` times each for the market maker and a
     do-nothing algo, alternating (medians; `Replay.run()` alone: instances, replay, results);
  5. replays the market maker on ETH/USD and BTC/USD together over `--multi-days` days (their events
     merged by time inside the core) and on each symbol alone, alternating (events per CPU second);
  6. replays `--split-days` days in this process with stage clocks: decode (each day's block
     columns into the core's input buffer), core (`core_merge` in wasm: matching, the algo's
     callbacks, positions, equity) and host (Python's work on what the core reports: the log
     sample, trades, traces, progress) in ns per event.
Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sequence_site.settings")

import django  # noqa: E402

django.setup()

import wasmtime  # noqa: E402
from django.conf import settings  # noqa: E402

from algo_studio.models import Deployment, DeploymentSymbol  # noqa: E402
from algo_studio.services import artifact_store  # noqa: E402
from backtests.models import BacktestJob  # noqa: E402
from backtests.services import backtest_create  # noqa: E402
from edges.replay import Replay, ReplaySpec  # noqa: E402
from sequence_markets.algo_build import build_c  # noqa: E402
from sequence_site.models import Client  # noqa: E402
from sequence_site.scope import Scope  # noqa: E402
from sequence_site.services import client_get_or_create  # noqa: E402
from venues.instruments import get_instrument  # noqa: E402
from venues.marketdata.store import MarketDataStore  # noqa: E402

# The do-nothing algo: on_book only, returns at once (examples/algos/wat/minimal.wat is the same).
IDLE_WAT = '(module (memory (export "memory") 1) (func (export "on_book") (param i64 i64 i64 i64 i64)))'

VENUE, SYMBOL = "coinbase", "ETH/USD"
MULTI = ("ETH/USD", "BTC/USD")  # the several-symbols replay (--multi-days)
FIRST = date(2026, 1, 1)
MM_ARGS = ["-DMM_TICK_1E9=10000000", "-DMM_ORDER_QTY_1E8=50000000"]


def build() -> bytes:
    out = Path(tempfile.mkdtemp()) / "mm.wasm"
    build_c(
        REPO / "examples/algos/market_maker/market_maker.c",
        out,
        include_dirs=[REPO / "examples/algos/include"],
        extra_args=MM_ARGS,
    )
    return out.read_bytes()


def deployment(client: Client, wasm: bytes) -> Deployment:
    """The bench client's sandbox deployment on ETH/USD (reused across runs)."""
    artifact = artifact_store(client=client, wasm=wasm)
    row = DeploymentSymbol.objects.filter(client=client, is_sandbox=True, symbol=SYMBOL, active=True).first()
    if row is not None:
        Deployment.objects.filter(pk=row.deployment_id).update(artifact=artifact, venue=VENUE)
        return Deployment.objects.get(pk=row.deployment_id)
    dep = Deployment.objects.create(
        client=client, is_sandbox=True, artifact=artifact, venue=VENUE, name="bench"
    )
    DeploymentSymbol.objects.create(deployment=dep, client=client, is_sandbox=True, symbol=SYMBOL)
    return dep


def run_job(scope: Scope, dep: Deployment, days: int, seed: int) -> BacktestJob:
    t0 = time.monotonic()
    job = backtest_create(
        scope=scope,
        deployment_id=dep.deployment_id,
        start_date=FIRST,
        end_date=FIRST + timedelta(days=days - 1),
        seed=seed,
    )
    while True:
        job.refresh_from_db()
        if job.status in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.5)
    wall = time.monotonic() - t0
    if job.status != "completed":
        raise SystemExit(f"{job.id} {job.status}: {job.error}")
    print(
        f"  {job.id}: {job.total_events:,} events, job {job.run_seconds:.1f} s, submit-to-done {wall:.1f} s",
        file=sys.stderr,
    )
    return job


def _spec(days: int, seed: int, symbols: tuple[str, ...] = (SYMBOL,)) -> ReplaySpec:
    return ReplaySpec(
        instruments=tuple(get_instrument(VENUE, s) for s in symbols),
        first_day=FIRST,
        last_day=FIRST + timedelta(days=days - 1),
        seed=seed,
        capital_1e9=100_000 * 10**9,
    )


Rates = dict[str, tuple[int, list[float], list[float]]]


def in_process(algos: dict[str, bytes], days: int, seed: int, rounds: int) -> Rates:
    """Warm replays in this process, the algos alternating: name -> (events, events per wall-clock
    second and events per CPU second of this thread, per round). On a shared machine the CPU
    figure is the one core's speed; the wall clock also counts the time other processes took."""
    store = MarketDataStore(settings.MARKET_DATA_DIR)
    out: Rates = {name: (0, [], []) for name in algos}
    for _ in range(rounds + 1):  # the first round warms the page cache and the module cache
        for name, wasm in algos.items():
            replay = Replay(wasm=wasm, spec=_spec(days, seed), store=store)
            n = replay.prepare(generate=False)
            t0, c0 = time.perf_counter(), time.thread_time()
            replay.run()
            dt, dc = time.perf_counter() - t0, time.thread_time() - c0
            out[name] = (n, out[name][1] + [n / dt], out[name][2] + [n / dc])
    return {name: (n, wall[1:], cpu[1:]) for name, (n, wall, cpu) in out.items()}


def merged(wasm: bytes, days: int, seed: int, rounds: int) -> dict[str, tuple[int, list[float]]]:
    """The market maker on MULTI's symbols together (their events merged by time in the core) and
    on each alone, alternating, warm: label -> (events, events per CPU second of this thread per
    round). The symbols' days are generated on the first run."""
    store = MarketDataStore(settings.MARKET_DATA_DIR)
    runs = {"together": MULTI, **{f"{s} alone": (s,) for s in MULTI}}
    out: dict[str, tuple[int, list[float]]] = {name: (0, []) for name in runs}
    for _ in range(rounds + 1):  # the first round generates the days and warms the caches
        for name, symbols in runs.items():
            replay = Replay(wasm=wasm, spec=_spec(days, seed, symbols), store=store)
            n = replay.prepare()
            c0 = time.thread_time()
            replay.run()
            out[name] = (n, out[name][1] + [n / (time.thread_time() - c0)])
    return {name: (n, cpu[1:]) for name, (n, cpu) in out.items()}


def delete_blocks(days: int, seed: int) -> int:
    store = MarketDataStore(settings.MARKET_DATA_DIR)
    gone = 0
    for k in range(days):
        data = store.day_data(VENUE, SYMBOL, FIRST + timedelta(days=k), seed)
        path = store.block_path(data)
        if path is not None and path.exists():
            path.unlink()
            gone += 1
    return gone


def split(wasm: bytes, days: int, seed: int) -> tuple[int, dict[str, int], float]:
    replay = Replay(wasm=wasm, spec=_spec(days, seed), store=MarketDataStore(settings.MARKET_DATA_DIR))
    n = replay.prepare()
    t0 = time.perf_counter()
    replay.run(profile=True)
    return n, replay.timings_ns, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--split-days", type=int, default=2)
    parser.add_argument("--multi-days", type=int, default=2, help="days of the several-symbols replay")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-worker", action="store_true", help="use a worker that is already running")
    args = parser.parse_args()

    wasm = build()
    client = client_get_or_create(name="Backtest Bench")
    scope = Scope(client=client, is_sandbox=True)
    dep = deployment(client, wasm)

    def start_worker() -> subprocess.Popen[bytes] | None:
        if args.no_worker:
            return None
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "sequence_site",
                "worker",
                "-Q",
                "backtests",
                "-P",
                "solo",
                "-c",
                "1",
                "--loglevel",
                "WARNING",
                "-n",
                f"bench-{os.getpid()}@%h",
            ],
            cwd=REPO,
            start_new_session=True,
        )

    def stop_worker(worker: subprocess.Popen[bytes] | None) -> None:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)

    worker = start_worker()
    try:
        cached = MarketDataStore(settings.MARKET_DATA_DIR).sim_path(VENUE, SYMBOL, FIRST, args.seed).exists()
        print(
            f"month of {VENUE} {SYMBOL}, seed {args.seed} ({'cached' if cached else 'not generated yet'})",
            file=sys.stderr,
        )
        first = run_job(scope, dep, args.days, args.seed)
        stop_worker(worker)
        worker = None
        print(f"  deleted {delete_blocks(args.days, args.seed)} day blocks; fresh worker", file=sys.stderr)
        worker = start_worker()
        cold = run_job(scope, dep, args.days, args.seed)
        warm = run_job(scope, dep, args.days, args.seed)
    finally:
        stop_worker(worker)
    idle = wasmtime.wat2wasm(IDLE_WAT)
    alone = in_process({"market maker": wasm, "do-nothing": idle}, args.days, args.seed, args.rounds)
    multi = merged(wasm, args.multi_days, args.seed, args.rounds)
    n, t, dt = split(wasm, args.split_days, args.seed)
    total_ns = sum(t.values())

    eps = warm.total_events / warm.run_seconds
    print(
        f"\nmachine: {platform.machine()} Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{date.today()}; worker: celery solo pool (one core)\n"
    )
    print("| run | events | job time | events/s |")
    print("|---|---|---|---|")
    label = "first run (days generated)" if not cached else "first run (days already cached)"
    print(
        f"| {label} | {first.total_events:,} | {first.run_seconds:.1f} s | "
        f"{first.total_events / first.run_seconds:,.0f} |"
    )
    print(
        f"| cold run (fresh worker, day blocks rebuilt from Parquet) | {cold.total_events:,} | "
        f"{cold.run_seconds:.2f} s | {cold.total_events / cold.run_seconds:,.0f} |"
    )
    print(
        f"| warm run (day blocks in place) | {warm.total_events:,} | {warm.run_seconds:.2f} s | {eps:,.0f} |"
    )
    print(
        f"\nmonth targets: warm < 2 s: {'met' if warm.run_seconds < 2 else 'NOT met'}; "
        f"cold < 5 s: {'met' if cold.run_seconds < 5 else 'NOT met'}\n"
    )
    print(f"warm replay alone in this process (`Replay.run()`), {args.rounds} rounds alternating:\n")
    print("| algo | events | events/s (wall), median | per CPU second, median | rounds (wall) | target | |")
    print("|---|---|---|---|---|---|---|")
    targets = {"market maker": 2_000_000, "do-nothing": 5_000_000}
    for name, (events, wall, cpu) in alone.items():
        med, med_cpu = statistics.median(wall), statistics.median(cpu)
        goal = targets[name]
        print(
            f"| {name} | {events:,} | {med:,.0f} | {med_cpu:,.0f} | {', '.join(f'{r:,.0f}' for r in wall)} | "
            f"≥ {goal:,} | {'met' if med >= goal else f'NOT met ({med / goal:.0%})'} |"
        )
    print(
        f"\nseveral symbols: the market maker on {' and '.join(MULTI)} over {args.multi_days} day(s), their "
        f"events merged by time in the core, and each symbol alone; {args.rounds} rounds alternating:\n"
    )
    print("| replay | events | events per CPU second, median | rounds |")
    print("|---|---|---|---|")
    for name, (events, cpu) in multi.items():
        rounds = ", ".join(f"{r:,.0f}" for r in cpu)
        print(f"| {name} | {events:,} | {statistics.median(cpu):,.0f} | {rounds} |")
    print()
    print(
        f"cost split, profiled loop over {args.split_days} day(s) = {n:,} events "
        f"({n / dt:,.0f} events/s with the stage clocks):\n"
    )
    print("| stage | ns/event | share |")
    print("|---|---|---|")
    for stage in ("decode", "core", "host"):
        print(f"| {stage} | {t[stage] / n:,.0f} | {t[stage] / total_ns:.0%} |")


if __name__ == "__main__":
    main()
