"""Spawn cost of the strategy sandbox: time to a strategy's first output line, sandboxed vs not.

    .venv/bin/python bench/strategy_spawn.py [--rounds 30]

Each round, alternating the two so machine noise hits both alike:
  - plain: ``StrategyProcess`` spawns ``python -E -s -S -u main.py`` (the platform's interpreter, as
    with SEQUENCE_STRATEGY_SANDBOX=none), timed from the spawn to the first stdout line;
  - sandboxed: ``RunSandbox.prepare()`` (uid lease, chown of the workspace, cgroups, the API socket)
    then the same spawn through bwrap (namespaces, the Python 3.12 image, seccomp, the in-sandbox API
    forwarder, then the strategy), timed from before ``prepare()`` to the first stdout line, plus
    ``close()`` (kill, cgroup removal) timed separately.
The run folder's extraction and the database work of a claim are the same in both modes and left out.
Needs root (per-run uids and cgroups) and bwrap; prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strategies.runner.image import ensure_image  # noqa: E402
from strategies.runner.process import ResourceLimits, StrategyProcess  # noqa: E402
from strategies.runner.sandbox import RunSandbox, SandboxConfig, bwrap_path, cgroup_version, sandbox_problem  # noqa: E402

MAIN = "print('hello', flush=True)\n"


def first_line(process: StrategyProcess, started: float) -> float:
    while True:
        lines = process.read(timeout=0.5, max_lines=10)
        if lines:
            return time.perf_counter() - started
        if process.poll() is not None and process.output_closed:
            raise RuntimeError(f"no output; stderr: {list(process.stderr_tail)}")


def workspace(root: Path, name: str) -> Path:
    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "workspace").mkdir(parents=True)
    folder.chmod(0o711)
    (folder / "workspace" / "main.py").write_text(MAIN)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    rootfs = ensure_image(
        Path(os.environ.get("STRATEGY_SANDBOX_IMAGE", repo / "var/sandbox/images/python3.12"))
    )
    root = Path(tempfile.mkdtemp(prefix="sequence-spawn-bench-"))
    root.chmod(0o711)
    config = SandboxConfig(
        bwrap=bwrap_path() or "", rootfs=rootfs, state_dir=root / "state", api_url="http://127.0.0.1:8000"
    )
    problem = sandbox_problem(config)
    if problem:
        print(f"sandbox unavailable: {problem}", file=sys.stderr)
        return 1
    limits = ResourceLimits(memory_mb=256)
    plain: list[float] = []
    boxed: list[float] = []
    closing: list[float] = []
    try:
        for index in range(args.rounds):
            folder = workspace(root, f"plain-{index}")
            started = time.perf_counter()
            process = StrategyProcess(
                [sys.executable, "-E", "-s", "-S", "-u", "main.py"],
                cwd=folder / "workspace",
                env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
                limits=limits,
            )
            process.start()
            plain.append(first_line(process, started))
            process.close()

            folder = workspace(root, f"boxed-{index}")
            started = time.perf_counter()
            sandbox = RunSandbox(
                config,
                name=f"bench-{os.getpid()}-{index}",
                workspace=folder / "workspace",
                control=folder / "control",
                memory_mb=256,
            )
            sandbox.prepare()
            process = StrategyProcess(
                ["python", "-u", "main.py"],
                cwd=folder / "workspace",
                env={"PATH": "/usr/local/bin", "PYTHONUNBUFFERED": "1"},
                limits=limits,
                sandbox=sandbox,
            )
            process.start()
            boxed.append(first_line(process, started))
            ended = time.perf_counter()
            process.close()
            sandbox.close()
            closing.append(time.perf_counter() - ended)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def ms(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000

    extra = [b - p for b, p in zip(boxed, plain, strict=True)]
    print(f"{args.rounds} rounds, {os.cpu_count()} CPUs, cgroup v{cgroup_version()}, bwrap {config.bwrap}\n")
    print("| spawn → first stdout line | median | p90 |")
    print("| --- | --- | --- |")
    rows = [
        ("plain process (platform Python 3.11, `-E -s -S`)", plain),
        ("sandboxed (prepare + bwrap + Python 3.12 image)", boxed),
        ("extra cost of the sandbox (paired rounds)", extra),
        ("sandbox teardown after exit (kill, cgroup removal)", closing),
    ]
    for label, values in rows:
        print(f"| {label} | {statistics.median(values) * 1000:.1f} ms | {ms(values, 0.9):.1f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
