"""`make run` heals itself: kill -9 of any one of its processes brings that one back, alone.

Runs the real `python -m sequence_site.devrun` (what `make run` runs) with its var directory
outside the checkout, SQLite in it, and a Redis database of its own, then kills each process in
turn. Slow-ish (a migrate and every process of the stack), but it is the only honest test of it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from sequence_site.env import read_dotenv
from sequence_site.procsup import read_procfile

REPO = Path(__file__).resolve().parents[2]
NAMES = [name for name, _ in read_procfile(REPO / "Procfile")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is not running.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Stack:
    def __init__(self, var_dir: Path, log: Path, process: subprocess.Popen[bytes], port: int) -> None:
        self.var_dir = var_dir
        self.log = log
        self.process = process
        self.port = port

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait(self, what: str, predicate: Callable[[], object], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"make run exited ({self.process.returncode}) waiting for {what}:\n{self.tail()}")
            if predicate():
                return
            time.sleep(0.2)
        pytest.fail(f"timed out after {timeout:g} s waiting for {what}; make run's log:\n{self.tail()}")

    def pid(self, name: str) -> int | None:
        try:
            return int((self.var_dir / "run" / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/health", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    var_dir = tmp_path / "elsewhere" / "var"  # outside the checkout, not created yet
    log = tmp_path / "make-run.log"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CHANNEL_LAYER_PREFIX")}
    redis_base = settings.REDIS_URL.rsplit("/", 1)[0]
    env.update(
        SEQUENCE_VAR_DIR=str(var_dir),
        PORT=str(port),
        # A Redis database of its own: its workers must not take the test suite's tasks.
        REDIS_URL=f"{redis_base}/8",
        CHANNEL_LAYER_PREFIX="sequence-devrun-test",
        DEBUG="true",
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sequence_site.devrun"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = Stack(var_dir, log, process, port)
    try:
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.mark.timeout(600)
def test_each_process_comes_back_alone_after_kill_9_and_stop_ends_them_all(stack: Stack) -> None:
    stack.wait("every process and /v1/health", lambda: all(stack.pid(n) for n in NAMES) and stack.healthy())
    for name in NAMES:
        before = {n: stack.pid(n) for n in NAMES}
        victim = before[name]
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        stack.wait(f"{name} to be restarted", lambda v=victim, n=name: stack.pid(n) not in (None, v))
        new_pid = stack.pid(name)
        assert new_pid is not None
        stack.wait(f"the new {name} to stay up", lambda p=new_pid: _alive(p))
        for other, pid in before.items():
            if other != name:
                assert pid is not None
                assert stack.pid(other) == pid and _alive(pid), f"{other} was disturbed by killing {name}"
        if name == "web":
            stack.wait("the restarted web to answer /v1/health", stack.healthy)
    assert "restarting in" in stack.log.read_text()

    # `.env` is read by each process's settings, never exported: no process of the stack carries
    # its secrets in its environment (where a child, or anyone reading /proc, would find them).
    dotenv = read_dotenv(REPO / ".env")
    secrets = {k: dotenv[k] for k in ("SECRET_KEY", "CREDENTIAL_ENCRYPTION_KEY") if dotenv.get(k)}
    assert secrets, "make test writes .env with both keys"
    for name in NAMES:
        pid = stack.pid(name)
        assert pid is not None
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        names = {entry.split(b"=", 1)[0].decode() for entry in environ}
        assert not names & set(secrets), f"{name} has {sorted(names & set(secrets))} in its environment"
        assert not any(value.encode() in entry for entry in environ for value in secrets.values())

    # Everything it wrote is under SEQUENCE_VAR_DIR (the beat schedule used to go to ./var).
    assert list(stack.var_dir.glob("celerybeat-schedule*")), stack.tail()
    assert (stack.var_dir / "sequence.sqlite3").exists()

    children = [stack.pid(n) for n in NAMES]
    stack.process.send_signal(signal.SIGTERM)
    stack.process.wait(60)
    assert stack.process.returncode == 0, stack.tail()
    for pid in children:
        assert pid is not None and not _alive(pid)
    assert not list((stack.var_dir / "run").glob("*.pid"))
