"""Log fan-out latency: an algo's log() on a running edge -> a websocket follower.

    .venv/bin/python bench/log_fanout.py [--lines 600]

Starts a real edge process (`run_edge --sandbox --venue coinbase`) and a real daphne, deploys a
WAT algo that logs on every book update, follows its logs over the websocket
(/v1/deployments/{id}/logs/stream) and measures, per line, follower receive time minus the line's
ts_ns (the event time at which the algo logged it). Same run baseline: a bare Redis PUBLISH ->
SUBSCRIBE round trip, the floor any fan-out through Redis pays. Uses the database of DATABASE_URL
(.env; SQLite by default) and the machine's Redis; cleans up after itself.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sequence_site.settings")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
import wasmtime  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from algo_studio import services as algo_services  # noqa: E402
from edges.models import Edge  # noqa: E402
from sequence_markets.ws import connect  # noqa: E402
from sequence_site import services as site_services  # noqa: E402
from sequence_site.models import Client, Mode  # noqa: E402
from sequence_site.scope import Scope  # noqa: E402

LOGGER = wasmtime.wat2wasm("""(module (import "seq" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1) (data (i32.const 0) "tick")
  (func (export "on_book") (param i64 i64 i64 i64 i64)
    (call $log (i32.const 1) (i32.const 0) (i32.const 4))))""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def redis_floor(n: int = 500) -> list[int]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("bench-floor")
    out = []
    for _ in range(n):
        sent = time.time_ns()
        client.publish("bench-floor", str(sent))
        while (message := pubsub.get_message(timeout=1.0)) is None:
            pass
        out.append(time.time_ns() - int(message["data"]))
    pubsub.close()
    return out


def pct(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=600)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    Edge.objects.filter(edge_id="venue-edge-coinbase", is_sandbox=True).update(last_heartbeat=None)
    client = site_services.client_get_or_create(name="bench-log-fanout")
    key = site_services.api_key_create(client=client, mode=Mode.SANDBOX, name="bench").plaintext
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    bin_dir = Path(sys.executable).parent
    port = free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(REPO / "manage.py"),
                "run_edge",
                "--sandbox",
                "--venue",
                "coinbase",
                "--mean-interval-ms",
                "20",
            ],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [str(bin_dir / "daphne"), "-b", "127.0.0.1", "-p", str(port), "sequence_site.asgi:application"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        wait(
            lambda: Edge.objects.filter(edge_id="venue-edge-coinbase", is_sandbox=True).connected().exists(),
            30,
            "edge",
        )
        wait(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 30, "daphne")
        scope = Scope(client=client, is_sandbox=True)
        for old in client.deployments.filter(deleted_at__isnull=True):
            algo_services.deployment_delete(deployment=old)
        deployment = algo_services.algo_deploy(
            scope=scope, symbol="ETH/USD", wasm=LOGGER, start_immediately=True
        ).deployment
        ws = connect(
            f"ws://127.0.0.1:{port}/v1/deployments/{deployment.deployment_id}/logs/stream?backlog=0",
            {"Authorization": f"Bearer {key}"},
        )
        assert ws.recv_json(timeout=10)["type"] == "hello"
        delays: list[int] = []
        while len(delays) < args.lines:
            message = ws.recv_json(timeout=10)
            if message.get("type") == "log" and message["message"] == "tick":
                delays.append(time.time_ns() - message["ts_ns"])
        ws.close()
        floor = redis_floor()
        delays = delays[50:]  # skip the start-up transient
        engine = settings.DATABASES["default"]["ENGINE"].rsplit(".")[-1]
        print(
            f"machine: {platform.node()} {platform.machine()} Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d')}, database {engine}, "
            f"{len(delays)} lines at ~50 lines/s"
        )
        print("| path | p50 | p90 | p99 |")
        print("|---|---|---|---|")
        print(
            f"| algo log() -> websocket follower | {pct(delays, 0.5):.1f} ms | {pct(delays, 0.9):.1f} ms | "
            f"{pct(delays, 0.99):.1f} ms |"
        )
        print(
            f"| baseline: Redis PUBLISH -> SUBSCRIBE | {pct(floor, 0.5):.2f} ms | {pct(floor, 0.9):.2f} ms | "
            f"{pct(floor, 0.99):.2f} ms |"
        )
        print(f"mean {statistics.mean(delays) / 1e6:.1f} ms; target p50 < 50 ms")
        algo_services.deployment_delete(deployment=deployment)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        Client.objects.filter(pk=client.pk).delete()


if __name__ == "__main__":
    main()
