"""The month as a Celery job, cold and warm, step by step, against a baseline checkout in the same run.

    .venv/bin/python bench/backtest_job.py [--baseline CHECKOUT] [--rounds 3] [--days 31]

The job of bench/backtest_replay.py (the C market maker over one simulated month of Coinbase ETH/USD,
2,949,286 events), measured for this checkout and, with ``--baseline``, for another checkout of
the repository (say an export of main: ``git archive main | tar -x -C /tmp/base``, plus a ``.env``),
rounds alternating between the two:

  1. Celery: the month's replay blocks deleted, a fresh worker (``-P solo``, started from the
     checkout), a cold job (the blocks rebuilt from Parquet), then two warm jobs. The job's own
     ``run_seconds`` (claim to completion, preparation included) and the worker process's CPU time
     over the job (all its threads, from /proc).
  2. Steps, in a fresh process per checkout and round (the blocks deleted first): importing and
     setting up Django, ``Replay()`` (the algo and seqcore compiled), ``prepare()``, ``run()``
     and ``results_json``; cold (first run in the process) then warm (a second ``Replay`` in it).

Medians over the rounds, wall clock and CPU, and the load average before and after. Uses the
configured database, Redis and MARKET_DATA_DIR (the month is generated there when missing). Both
checkouts read the same Parquet files and blocks.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
STEPS = ("setup", "construct", "prepare", "run", "core", "run, outside the core", "results")


def _child(repo: Path, days: int, wasm_path: Path) -> None:
    """Steps in this fresh process, importing ``repo``'s code; prints one JSON line."""
    t0, c0 = time.perf_counter(), time.process_time()
    sys.path.insert(0, str(repo))
    os.chdir(repo)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sequence_site.settings")
    import django

    django.setup()
    from datetime import date, timedelta

    from django.conf import settings

    from edges.core.instance import AlgoCore
    from edges.replay import Replay, ReplaySpec, results_json
    from venues.instruments import get_instrument
    from venues.marketdata.store import MarketDataStore

    # The core's own CPU time (core_merge in wasm, this thread), to tell the job's other work from it.
    in_core = [0.0]
    core_merge = AlgoCore.merge

    def timed_run(self, *a, **k):  # type: ignore[no-untyped-def]
        c = time.thread_time()
        try:
            return core_merge(self, *a, **k)
        finally:
            in_core[0] += time.thread_time() - c

    AlgoCore.merge = timed_run  # type: ignore[method-assign]
    out: dict[str, dict[str, tuple[float, float]]] = {"cold": {}, "warm": {}}
    out["cold"]["setup"] = (time.perf_counter() - t0, time.process_time() - c0)
    wasm = wasm_path.read_bytes()
    first = date(2026, 1, 1)
    spec = ReplaySpec(
        instruments=(get_instrument("coinbase", "ETH/USD"),),
        first_day=first,
        last_day=first + timedelta(days=days - 1),
        seed=42,
        capital_1e9=100_000 * 10**9,
    )

    def step(steps: dict[str, tuple[float, float]], name: str, fn):  # type: ignore[no-untyped-def]
        t, c = time.perf_counter(), time.process_time()
        value = fn()
        steps[name] = (time.perf_counter() - t, time.process_time() - c)
        return value

    digests = []
    for phase in ("cold", "warm"):
        steps = out[phase]

        replay = step(
            steps,
            "construct",
            lambda: Replay(wasm=wasm, spec=spec, store=MarketDataStore(settings.MARKET_DATA_DIR)),
        )
        step(steps, "prepare", lambda: replay.prepare(generate=False))  # noqa: B023
        in_core[0] = 0.0
        results = step(steps, "run", replay.run)
        steps["core"] = (0.0, in_core[0])
        steps["run, outside the core"] = (0.0, steps["run"][1] - in_core[0])
        text = step(steps, "results", lambda: results_json(results))  # noqa: B023
        digests.append(hash(text))
    assert digests[0] == digests[1], "cold and warm results differ"
    print(json.dumps(out))


def _block_paths(days: int) -> list[Path]:
    from datetime import date, timedelta

    from django.conf import settings

    from venues.marketdata.store import MarketDataStore

    store = MarketDataStore(settings.MARKET_DATA_DIR)
    out = []
    for k in range(days):
        data = store.day_data("coinbase", "ETH/USD", date(2026, 1, 1) + timedelta(days=k), 42)
        path = store.block_path(data)
        if path is not None:
            out.append(path)
    return out


def _generate(days: int) -> None:
    """The month's simulated days, generated when missing (the first run on a machine: ~0.5 s a day)."""
    from datetime import date, timedelta

    from django.conf import settings

    from venues.instruments import get_instrument
    from venues.marketdata.store import MarketDataStore

    store = MarketDataStore(settings.MARKET_DATA_DIR)
    for k in range(days):
        store.ensure_simulated(
            get_instrument("coinbase", "ETH/USD"), date(2026, 1, 1) + timedelta(days=k), 42
        )


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, help="another checkout to measure in the same rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--steps-only", action="store_true", help="no Celery jobs: the steps alone")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--wasm", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.days, args.wasm)
        return

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sequence_site.settings")
    import django

    django.setup()
    import backtest_replay as br
    from django.conf import settings

    from sequence_site.celery import app as celery_app
    from sequence_site.scope import Scope
    from sequence_site.services import client_get_or_create

    # Both checkouts' workers and processes read this data directory (not each their own var/).
    os.environ["MARKET_DATA_DIR"] = str(settings.MARKET_DATA_DIR)
    wasm = br.build()
    wasm_path = Path(tempfile.gettempdir()) / f"bench-job-mm-{os.getpid()}.wasm"
    wasm_path.write_bytes(wasm)
    client = client_get_or_create(name="Backtest Bench")
    scope = Scope(client=client, is_sandbox=True)
    dep = br.deployment(client, wasm)
    checkouts = {"this": REPO}
    if args.baseline:
        checkouts = {"baseline": args.baseline.resolve(), "this": REPO}
    _generate(args.days)
    blocks = _block_paths(args.days)

    def delete_blocks() -> None:
        for path in blocks:
            path.unlink(missing_ok=True)

    def ready(node: str) -> None:
        """Wait for the worker to answer a ping: its start-up is not the job's CPU."""
        deadline = time.monotonic() + 120
        while not celery_app.control.ping(destination=[node], timeout=0.5):
            if time.monotonic() > deadline:
                raise SystemExit(f"worker {node} did not start")

    def job(worker: subprocess.Popen[bytes]) -> tuple[float, float]:
        c = _cpu_of(worker.pid)
        done = br.run_job(scope, dep, args.days, 42)
        time.sleep(0.3)  # the worker's work after the job's completion (the blocks' trim)
        return float(done.run_seconds or 0.0), _cpu_of(worker.pid) - c

    celery: dict[str, dict[str, list[tuple[float, float]]]] = {n: {"cold": [], "warm": []} for n in checkouts}
    steps: dict[str, dict[str, dict[str, list[tuple[float, float]]]]] = {
        n: {p: {s: [] for s in STEPS} for p in ("cold", "warm")} for n in checkouts
    }
    loads = [_load()]
    print(f"load average at the start: {loads[0]}", file=sys.stderr)
    for r in range(args.rounds):
        order = list(checkouts.items())
        for name, checkout in order if r % 2 == 0 else order[::-1]:  # ABBA: neither always first
            if not args.steps_only:
                delete_blocks()
                node = f"bench-job-{os.getpid()}-{r}-{name}@{socket.gethostname()}"
                worker = subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "sequence_site", "worker", "-Q", "backtests",
                     "-P", "solo", "-c", "1", "--loglevel", "WARNING", "-n", node],
                    cwd=checkout,
                    start_new_session=True,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                try:
                    ready(node)
                    celery[name]["cold"].append(job(worker))
                    celery[name]["warm"] += [job(worker), job(worker)]
                finally:
                    os.killpg(worker.pid, signal.SIGTERM)
                    worker.wait(timeout=60)
            delete_blocks()
            child = subprocess.run(
                [sys.executable, str(HERE), "--child", str(checkout), "--days", str(args.days),
                 "--wasm", str(wasm_path)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            measured = json.loads(child.stdout.strip().splitlines()[-1])
            for phase, values in measured.items():
                for s, pair in values.items():
                    steps[name][phase][s].append(tuple(pair))
            if not args.steps_only:
                print(
                    f"round {r + 1} {name}: cold job {celery[name]['cold'][-1][0]:.2f} s, warm "
                    f"{celery[name]['warm'][-1][0]:.2f} s (load {_load()})",
                    file=sys.stderr,
                )
    loads.append(_load())
    wasm_path.unlink(missing_ok=True)

    def med(pairs: list[tuple[float, float]], k: int) -> float:
        return statistics.median(p[k] for p in pairs)

    names = list(checkouts)
    print(f"\nload average (1, 5, 15 min) at the start: {loads[0]}; at the end: {loads[1]}")
    print(f"{args.rounds} rounds, {' / '.join(names)} alternating; medians (all rounds in brackets)\n")
    print("| Celery job | " + " | ".join(f"{n}: run_seconds | {n}: worker CPU s" for n in names) + " |")
    print("|---|" + "---|---|" * len(names))
    for phase, label in (("cold", "cold: fresh worker, blocks rebuilt from Parquet"), ("warm", "warm")):
        if args.steps_only:
            break
        cells = []
        for n in names:
            pairs = celery[n][phase]
            cells.append(f"{med(pairs, 0):.2f} ({', '.join(f'{p[0]:.2f}' for p in pairs)})")
            cells.append(f"{med(pairs, 1):.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nIn a fresh process, blocks deleted (cold), then a second Replay in it (warm); wall / CPU s:\n")
    print("| step | " + " | ".join(f"{n}: cold | {n}: warm" for n in names) + " |")
    print("|---|" + "---|---|" * len(names))
    for s in STEPS:
        cells = []
        for n in names:
            for phase in ("cold", "warm"):
                pairs = steps[n][phase][s]
                cells.append(f"{med(pairs, 0):.3f} / {med(pairs, 1):.3f}" if pairs else "—")
        print(f"| {s} | " + " | ".join(cells).replace("0.000 / ", "") + " |")


if __name__ == "__main__":
    main()
