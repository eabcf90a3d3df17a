"""Real processes for end-to-end tests: daphne and a Celery worker on the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edges.conftest import REPO, EdgeProcess, edge_process, market_maker_wasm, wait_for  # noqa: F401
from tests.waiting import unwatch_log, watch_log


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"{name}-{os.getpid()}.log"
        self.process = subprocess.Popen(
            args, env=env, cwd=REPO, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        watch_log(name, self.log)

    def stop(self) -> None:
        unwatch_log(self.name)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""


@pytest.fixture
def daphne(transactional_db) -> Iterator[str]:
    """A real daphne serving the ASGI app on a free port; yields its base URL."""
    with running_daphne() as url:
        yield url


@contextlib.contextmanager
def running_daphne(env: dict[str, str] | None = None) -> Iterator[str]:
    """A real daphne on a free port with `env` added to its environment (settings such as live
    venue feeds); yields its base URL and stops it on exit."""
    port = free_port()
    env = {**EdgeProcess([]).env(), **(env or {})}
    proc = Process("daphne", [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                              "sequence_site.asgi:application"], env)  # fmt: skip

    def up() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return True
        except OSError:
            return proc.process.poll() is not None

    wait_for(up, timeout=60, what="daphne to listen")
    assert proc.process.poll() is None, proc.output()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest.fixture
def celery_worker_process(transactional_db) -> Iterator[Process]:
    env = EdgeProcess([]).env()
    proc = Process("celery", [str(Path(sys.executable).parent / "celery"), "-A", "sequence_site", "worker",
                              "-Q", "default,backtests,strategies", "-P", "solo", "-l", "info"], env)  # fmt: skip
    wait_for(
        lambda: "ready" in proc.output() or proc.process.poll() is not None, timeout=60, what="celery worker"
    )
    assert proc.process.poll() is None, proc.output()
    yield proc
    proc.stop()
