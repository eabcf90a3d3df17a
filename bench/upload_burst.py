"""Other clients' API latency during a burst of WASM uploads (issue 15: 8 ms -> 54 ms median when
uploads were compiled inside the web process).

    .venv/bin/python bench/upload_burst.py [--requests 300] [--uploaders 8] [--functions 6000]

Starts a real daphne on a temporary SQLite database, then measures GET /v1/keys/me from one client,
one request at a time: quiet, then while ``--uploaders`` threads POST /v1/bundles with large modules
(``--functions`` arithmetic functions, a few hundred KB, each upload's bytes different so nothing is
served from the compile cache) back to back. Prints Markdown for docs/benchmarks.md; the target is
the burst p50 within 20% of the quiet p50.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def big_module(functions: int, salt: int) -> bytes:
    import wasmtime

    body = " ".join(
        f"(func $f{i} (param $x i64) (result i64) "
        + "(local.get $x) " * 1
        + " ".join(
            f"(i64.const {salt * 7919 + i + k}) (i64.mul) (i64.const {k}) (i64.xor)" for k in range(12)
        )
        + ")"
        for i in range(functions)
    )
    source = f"""
    (module
      (import "seq" "log" (func $log (param i32 i32 i32)))
      (memory (export "memory") 1)
      {body}
      (func (export "on_book") (param i64 i64 i64 i64 i64)
        (drop (call $f0 (local.get 0)))))
    """
    return wasmtime.wat2wasm(source)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--uploaders", type=int, default=8)
    parser.add_argument("--functions", type=int, default=6000)
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite:///{var / 'bench.sqlite3'}",
        SEQUENCE_VAR_DIR=str(var),
        REDIS_URL=env.get("REDIS_URL", "redis://127.0.0.1:6379/12"),
        LOG_LEVEL="WARNING",
    )
    python = str(VENV_BIN / "python")
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=env, check=True)
    key = subprocess.run(
        [python, "manage.py", "create_api_key", "--client", "bench", "--mode", "test"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    key = next(word for word in key.split() if word.startswith("seq_test_"))
    port = free_port()
    server = subprocess.Popen(
        [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "sequence_site.asgi:application"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}

    def call(method: str, path: str, body: bytes | None = None) -> int:
        request = urllib.request.Request(base + path, data=body, headers=headers, method=method)  # noqa: S310
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                response.read()
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if call("GET", "/v1/health") in (200, 503):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

        def sample(n: int) -> list[float]:
            out = []
            for _ in range(n):
                start = time.perf_counter()
                assert call("GET", "/v1/keys/me") == 200
                out.append((time.perf_counter() - start) * 1000)
            return out

        # Distinct bytes for every upload of the run (a module seen before is a cache hit).
        modules = [big_module(args.functions, salt) for salt in range(args.uploaders * 12)]
        call(
            "POST",
            "/v1/bundles",
            json.dumps({"wasm_base64": base64.b64encode(big_module(10, 999)).decode()}).encode(),
        )
        # Encoded up front: the uploader threads share this process's GIL with the sampler.
        bodies = [
            json.dumps({"wasm_base64": base64.b64encode(wasm).decode(), "name": "b"}).encode()
            for wasm in modules
        ]
        sample(50)  # warm up
        quiet = sample(args.requests)

        stop = threading.Event()
        uploads: list[float] = []
        statuses: list[int] = []
        next_module = iter(range(10**9))

        def uploader() -> None:
            while not stop.is_set():
                body = bodies[next(next_module) % len(bodies)]
                start = time.perf_counter()
                statuses.append(call("POST", "/v1/bundles", body))
                uploads.append(time.perf_counter() - start)

        threads = [threading.Thread(target=uploader, daemon=True) for _ in range(args.uploaders)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        burst = sample(args.requests)
        stop.set()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        server.terminate()
        server.wait(timeout=30)

    size = len(modules[0])
    q50, b50 = statistics.median(quiet), statistics.median(burst)
    print(f"## Upload burst ({platform.node()}, {os.cpu_count()} cores)\n")
    print(
        f"{args.uploaders} uploaders posting {size:,}-byte modules ({len(uploads)} uploads, "
        f"statuses {sorted(set(statuses))}, "
        f"median {statistics.median(uploads) if uploads else 0:.2f} s each)\n"
    )
    print("| GET /v1/keys/me | p50 ms | p90 ms | max ms |")
    print("| --- | --- | --- | --- |")
    for name, values in (("quiet", quiet), ("during the burst", burst)):
        values = sorted(values)
        p90 = values[int(len(values) * 0.9)]
        print(f"| {name} | {statistics.median(values):.2f} | {p90:.2f} | {values[-1]:.2f} |")
    print(f"\nburst p50 / quiet p50 = {b50 / q50:.2f} (target <= 1.20)")


if __name__ == "__main__":
    main()
