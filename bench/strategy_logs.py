"""Hosted-strategy log throughput: lines/s from a strategy process into the database and out to a
websocket follower, plus print -> follower latency at a steady rate.

    .venv/bin/python bench/strategy_logs.py [--lines 100000] [--rounds 3] [--rate 500 --seconds 6]

Per round:
  1. baseline: the same program's stdout drained by ``StrategyProcess`` alone (no database): what
     the pipe and the line reader can do;
  2. burst: the program prints ``--lines`` JSON lines as fast as it can, run by the real supervisor
     (``strategies.supervisor.supervise``: claim, extract, spawn, batched inserts, fan-out, finish)
     while a follower tails ``/v1/strategies/{id}/logs/stream`` through a real daphne. Lines/s into
     the database = lines / (supervisor done - first line printed); lines/s to the follower = lines /
     (last line received - first line printed). The follower checks it got every line once, in order;
  3. paced: ``--rate`` lines/s for ``--seconds``; per line, follower receive time - print time;
  4. the log table alone: rows/s with Django's bulk_create vs the COPY the runner uses.

Uses PostgreSQL database ``sequence_bench`` (created and migrated if missing; override with
DATABASE_URL) and Redis db 12 (REDIS_URL) so nothing touches a development install. Prints Markdown
for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sequence_site.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sequence_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ.setdefault("CHANNEL_LAYER_PREFIX", "sequence-bench")
RUN_DIR = Path(tempfile.mkdtemp(prefix="strategy-bench-"))
os.environ["STRATEGY_RUN_DIR"] = str(RUN_DIR)

import dj_database_url  # noqa: E402
import psycopg  # noqa: E402


def ensure_database() -> None:
    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    if "postgresql" not in config["ENGINE"]:
        raise SystemExit("This benchmark measures PostgreSQL: point DATABASE_URL at one.")
    admin = psycopg.connect(
        host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432, user=config["USER"],
        password=config["PASSWORD"] or None, dbname="postgres", autocommit=True,
    )  # fmt: skip
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{config["NAME"]}"')


ensure_database()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from sequence_markets.cli_strategy import build_artifact  # noqa: E402
from sequence_markets.ws import connect  # noqa: E402
from sequence_site import services as site_services  # noqa: E402
from sequence_site.celery import app as celery_app  # noqa: E402
from sequence_site.models import Mode  # noqa: E402
from sequence_site.scope import Scope  # noqa: E402
from strategies import services, supervisor  # noqa: E402
from strategies.models import Strategy, StrategyLog, StrategyRun  # noqa: E402
from strategies.runner.process import ResourceLimits, StrategyProcess  # noqa: E402
from strategies.services import logs as log_services  # noqa: E402

BURST = """
import sys, time
write = sys.stdout.write
for i in range({n}):
    write('{{"event": "tick", "i": %d, "ts": %.6f, "pad": "abcdefghijklmnopqrst"}}\\n' % (i, time.time()))
"""
PACED = """
import time
start = time.time()
for i in range({n}):
    delay = start + i / {rate} - time.time()
    if delay > 0:
        time.sleep(delay)
    print('{{"event": "tick", "i": %d, "ts": %.6f}}' % (i, time.time()), flush=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def baseline(n: int) -> float:
    """Lines/s through the pipe and the line reader alone."""
    work = Path(tempfile.mkdtemp(dir=RUN_DIR))
    (work / "main.py").write_text(BURST.format(n=n))
    process = StrategyProcess([sys.executable, "-E", "-s", "-S", "-u", "main.py"], cwd=work, env={},
                              limits=ResourceLimits(memory_mb=512))  # fmt: skip
    start = time.time()
    process.start()
    count = 0
    while True:
        count += len(process.read(timeout=0.05, max_lines=5000))
        if process.poll() is not None and process.output_closed:
            break
    process.close()
    count += len(process.read(timeout=0, max_lines=10**9))
    elapsed = time.time() - start
    shutil.rmtree(work, ignore_errors=True)
    assert count == n, count
    return n / elapsed


def insert_rates(scope: Scope, n: int = 40_000, batch: int = 2000) -> tuple[float, float]:
    """Rows/s of the log table alone: Django's bulk_create vs the COPY the runner uses."""
    folder = Path(tempfile.mkdtemp(dir=RUN_DIR))
    (folder / "main.py").write_text("pass")
    strategy = services.strategy_deploy(
        scope=scope, name="inserts", artifact=build_artifact(folder)[0]
    ).strategy
    run = StrategyRun.objects.create(strategy=strategy, status="running")
    line = '{"event": "tick", "i": 12345, "ts": 1764000000.123456, "pad": "abcdefghijklmnopqrstuvwxyz"}'
    rates = []
    for method in ("bulk_create", "copy"):
        start, seq = time.perf_counter(), 1 if method == "bulk_create" else n + 1
        for first in range(seq, seq + n, batch):
            now = datetime.now(tz=UTC)
            with transaction.atomic():
                if method == "bulk_create":
                    StrategyLog.objects.bulk_create(
                        StrategyLog(run=run, seq=i, stream="stdout", ts=now, line=line)
                        for i in range(first, first + batch)
                    )
                else:
                    log_services._insert_logs(
                        run.pk, [services.LogRecord(seq=i, stream="stdout", ts=now, line=line)
                                 for i in range(first, first + batch)],
                    )  # fmt: skip
        rates.append(n / (time.perf_counter() - start))
    services.strategy_delete(strategy=strategy)
    return rates[0], rates[1]


class Follower(threading.Thread):
    """Tails the strategy's log websocket; records (receive time, line) for stdout lines."""

    def __init__(self, url: str, key: str, strategy_id: str, expect: int) -> None:
        super().__init__(daemon=True)
        self.ws = connect(f"{url.replace('http', 'ws', 1)}/v1/strategies/{strategy_id}/logs/stream",
                          {"Authorization": f"Bearer {key}", "Origin": url})  # fmt: skip
        self.expect = expect
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.seqs: list[int] = []

    def run(self) -> None:
        while len(self.received) < self.expect:
            message = self.ws.recv_json(timeout=120)
            if message.get("type") != "lines":
                continue
            now = time.time()
            for line in message["lines"]:
                self.seqs.append(line["seq"])
                if line["stream"] == "stdout":
                    self.received.append((now, json.loads(line["line"])))
        self.ws.close()


def run_strategy(scope: Scope, name: str, program: str, url: str, key: str, expect: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(dir=RUN_DIR))
    (folder / "main.py").write_text(program)
    artifact, _, _ = build_artifact(folder)
    strategy = services.strategy_deploy(scope=scope, name=name, artifact=artifact, memory_mb=512).strategy
    follower = Follower(url, key, str(strategy.pk), expect)
    follower.start()
    time.sleep(0.2)
    services.strategy_start(strategy=strategy)
    run_id = Strategy.objects.get(pk=strategy.pk).current_run_id
    status = supervisor.supervise(run_id=run_id, worker="bench")
    done = time.time()
    follower.join(timeout=120)
    assert status == "stopped", status
    stored = StrategyLog.objects.filter(run_id=run_id, stream="stdout").count()
    records = [record for _, record in follower.received]
    first_print = records[0]["ts"]
    return {
        "stored": stored,
        "db_rate": stored / (done - first_print),
        "follower_rate": len(records) / (follower.received[-1][0] - first_print),
        "exactly_once": [r["i"] for r in records] == list(range(expect))
        and follower.seqs == list(range(1, len(follower.seqs) + 1)),
        "delays_ms": [(arrived - record["ts"]) * 1000 for arrived, record in follower.received],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    client = site_services.client_get_or_create(name="bench-strategy-logs")
    Strategy.objects.filter(client=client).delete()
    key = site_services.api_key_create(client=client, mode=Mode.SANDBOX, name="bench").plaintext
    scope = Scope(client=client, is_sandbox=True)
    port = free_port()
    daphne = subprocess.Popen(
        [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
         "sequence_site.asgi:application"],
        env=os.environ.copy(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if time.monotonic() > deadline:
                raise SystemExit("daphne did not start")
            time.sleep(0.1)
        rows: list[dict[str, float]] = []
        paced_delays: list[float] = []
        for round_no in range(args.rounds):
            pipe = baseline(args.lines)
            burst = run_strategy(scope, f"burst-{round_no}", BURST.format(n=args.lines), url, key, args.lines)
            n_paced = int(args.rate * args.seconds)
            paced = run_strategy(
                scope, f"paced-{round_no}", PACED.format(n=n_paced, rate=args.rate), url, key, n_paced
            )
            assert burst["stored"] == args.lines and burst["exactly_once"] and paced["exactly_once"]
            paced_delays += paced["delays_ms"][int(args.rate) :]  # skip the first second (start-up)
            bulk, copy = insert_rates(scope)
            rows.append({"pipe": pipe, "db": burst["db_rate"], "follower": burst["follower_rate"],
                         "bulk_create": bulk, "copy": copy,
                         "burst_p50": pct(burst["delays_ms"], 0.5)})  # fmt: skip
            print(f"round {round_no + 1}: pipe {pipe:,.0f}/s  db {burst['db_rate']:,.0f}/s  "
                  f"follower {burst['follower_rate']:,.0f}/s  bulk_create {bulk:,.0f}/s  copy {copy:,.0f}/s  "
                  f"paced p50 {pct(paced['delays_ms'], 0.5):.1f} ms "
                  f"p99 {pct(paced['delays_ms'], 0.99):.1f} ms", flush=True)  # fmt: skip
    finally:
        daphne.send_signal(signal.SIGTERM)
        daphne.wait(timeout=15)
        Strategy.objects.filter(client=client).delete()
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge("strategies")  # the runs' Celery messages (bench Redis db)
        shutil.rmtree(RUN_DIR, ignore_errors=True)

    def median(name: str) -> float:
        return statistics.median(row[name] for row in rows)

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    print()
    print(f"Machine: {platform.node()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"PostgreSQL {settings.DATABASES['default']['NAME']}@{settings.DATABASES['default']['HOST']}; "
          f"{datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"Burst of {args.lines:,} lines, medians of {args.rounds} rounds:\n")
    print("| path | lines/s |")
    print("| --- | ---: |")
    print(f"| pipe + line reader alone (baseline) | {median('pipe'):,.0f} |")
    print(f"| strategy → PostgreSQL (batched inserts) | {median('db'):,.0f} |")
    print(f"| strategy → websocket follower (via daphne) | {median('follower'):,.0f} |")
    print(f"\nDatabase / baseline: {median('db') / median('pipe'):.2f}x")
    print("\n| log table alone, 2,000-row batches | rows/s |")
    print("| --- | ---: |")
    print(f"| Django bulk_create | {median('bulk_create'):,.0f} |")
    print(f"| COPY (what the runner uses) | {median('copy'):,.0f} |")
    print(f"\nCOPY / bulk_create: {median('copy') / median('bulk_create'):.1f}x")
    print(f"\nPaced {args.rate} lines/s for {args.seconds:g} s ({args.rounds} rounds, first second skipped): "
          f"print → follower p50 {pct(paced_delays, 0.5):.1f} ms, p99 {pct(paced_delays, 0.99):.1f} ms, "
          f"max {max(paced_delays):.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
