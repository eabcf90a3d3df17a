"""strategies.runner.process and .environment alone: no Django, no database, real child processes."""

from __future__ import annotations

import resource
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from strategies.runner.environment import build_environment, env_name_problem
from strategies.runner.process import ExitStatus, ResourceLimits, StrategyProcess, classify_exit


def spawn(
    tmp_path: Path, code: str, *, memory_mb: int = 256, max_line_bytes: int = 16 * 1024, env=None
) -> StrategyProcess:
    (tmp_path / "main.py").write_text(code)
    process = StrategyProcess(
        [sys.executable, "-E", "-s", "-S", "-u", "main.py"],
        cwd=tmp_path,
        env=env or {"PATH": "/usr/bin:/bin"},
        limits=ResourceLimits(memory_mb=memory_mb, open_files=64),
        max_line_bytes=max_line_bytes,
    )
    process.start()
    return process


def run_to_end(process: StrategyProcess, timeout: float = 60.0) -> tuple[ExitStatus, list]:
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines += process.read(timeout=0.05, max_lines=1000)
        status = process.poll()
        if status is not None and process.output_closed:
            break
    process.close()
    lines += process.read(timeout=0, max_lines=100000)
    return process.poll(), lines


def test_lines_keep_their_stream_and_order(tmp_path):
    status, lines = run_to_end(
        spawn(tmp_path, "import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')\nsys.exit(3)")
    )
    assert status == ExitStatus(exit_code=3, signal=None)
    assert [(line.stream, line.text) for line in lines if line.stream == "stdout"] == [
        ("stdout", "a"),
        ("stdout", "c"),
    ]
    assert [line.text for line in lines if line.stream == "stderr"] == ["b"]


def test_long_lines_are_truncated_and_odd_bytes_survive(tmp_path):
    code = (
        "import sys\n"
        "sys.stdout.write('x' * 250 + '\\n')\n"
        "sys.stdout.buffer.write(b'nul\\x00byte\\r\\n')\n"
        "sys.stdout.buffer.write(b'bad \\xff utf8\\n')\n"
        "sys.stdout.write('no newline at the end')\n"
    )
    _, lines = run_to_end(spawn(tmp_path, code, max_line_bytes=100))
    texts = [line.text for line in lines]
    assert texts[0] == "x" * 100 + " …[truncated 150 bytes]"
    assert texts[1] == "nul\ufffdbyte"
    assert texts[2] == "bad \ufffd utf8"
    assert texts[3] == "no newline at the end"


def test_limits_and_process_group_apply_to_the_child(tmp_path):
    code = (
        "import os, resource\n"
        "print(resource.getrlimit(resource.RLIMIT_AS)[0] // (1024 * 1024))\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
        "print(resource.getrlimit(resource.RLIMIT_CORE)[0])\n"
        "print(os.getpgid(0) == os.getpid(), os.getsid(0) == os.getpid())\n"
    )
    status, lines = run_to_end(spawn(tmp_path, code, memory_mb=300))
    assert status.exit_code == 0
    assert [line.text for line in lines] == ["300", "64", "0", "True True"]
    assert (
        resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY
    )  # the runner itself is untouched


def test_terminate_reaches_grandchildren_and_poll_kills_leftovers(tmp_path):
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '30'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(30)\n"
    )
    process = spawn(tmp_path, code)
    first = []
    while not first:
        first = process.read(timeout=0.1, max_lines=1)
    grandchild = int(first[0].text)
    process.terminate()
    status, _ = run_to_end(process)
    assert status.signal == signal.SIGTERM and process.last_signal == "SIGTERM"
    assert wait_dead(grandchild)


def wait_dead(pid: int, timeout: float = 30.0) -> bool:
    """Gone, or a zombie waiting for init to reap it (it no longer runs either way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_the_child_dies_with_the_thread_that_supervises_it(tmp_path):
    """PR_SET_PDEATHSIG: a supervisor that dies (worker SIGKILLed) takes its strategy with it."""
    (tmp_path / "main.py").write_text("import time\ntime.sleep(30)\n")
    holder: dict[str, StrategyProcess] = {}

    def supervise_briefly() -> None:
        holder["p"] = StrategyProcess(
            [sys.executable, "-u", "main.py"], cwd=tmp_path, env={}, limits=ResourceLimits(memory_mb=256)
        )
        holder["p"].start()

    thread = threading.Thread(target=supervise_briefly)
    thread.start()
    thread.join()
    process = holder["p"]
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() == ExitStatus(exit_code=None, signal=signal.SIGKILL)
    process.close()


def test_memory_error_under_the_address_space_limit(tmp_path):
    status, lines = run_to_end(spawn(tmp_path, "x = bytearray(512 * 1024 * 1024)", memory_mb=96))
    assert status.exit_code == 1
    stderr = [line.text for line in lines if line.stream == "stderr"]
    verdict = classify_exit(status, memory_mb=96, stderr_tail=stderr)
    assert verdict.oom is True and verdict.reason == "out of memory (memory_mb=96)"


@pytest.mark.parametrize(
    ("status", "stop", "tail", "clean", "reason"),
    [
        (ExitStatus(0, None), None, [], True, "exited with code 0"),
        (ExitStatus(2, None), None, ["Traceback", "ValueError: boom"], False, "exited with code 2"),
        (ExitStatus(1, None), None, ["MemoryError"], False, "out of memory (memory_mb=128)"),
        (ExitStatus(None, signal.SIGKILL), None, [], False, "killed by signal SIGKILL"),
        (
            ExitStatus(None, signal.SIGSEGV),
            None,
            [],
            False,
            "killed by signal SIGSEGV (likely out of memory, memory_mb=128)",
        ),
        (ExitStatus(None, signal.SIGXCPU), None, [], False, "CPU time limit reached (None s)"),
        (ExitStatus(0, None), "SIGTERM", [], False, "stopped on request (SIGTERM, exit code 0)"),
        (ExitStatus(None, signal.SIGTERM), "SIGTERM", [], False, "stopped on request (SIGTERM)"),
        (ExitStatus(None, signal.SIGKILL), "SIGKILL", [], False, "stopped on request (SIGKILL)"),
    ],
)
def test_exit_verdicts(status, stop, tail, clean, reason):
    verdict = classify_exit(status, memory_mb=128, stderr_tail=tail, stop_signal=stop)
    assert (verdict.clean, verdict.reason) == (clean, reason)


def test_environment_layering(tmp_path):
    env = build_environment(
        home=tmp_path,
        tmpdir=tmp_path / "tmp",
        user_env={
            "A": "env",
            "SHARED": "env",
            "SEQUENCE_API_KEY": "user",
            "PYTHONUNBUFFERED": "0",
            "bad name": "x",
        },
        secrets={"SHARED": "secret", "SEQUENCE_RUN_ID": "user"},
        platform={"SEQUENCE_API_KEY": "platform", "SEQUENCE_RUN_ID": "run"},
    )
    assert env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path / "tmp"),
        "LANG": "C.UTF-8",
        "A": "env",
        "SHARED": "secret",
        "SEQUENCE_API_KEY": "platform",
        "SEQUENCE_RUN_ID": "run",
        "PYTHONUNBUFFERED": "1",
    }
    with pytest.raises(ValueError):
        build_environment(home=tmp_path, tmpdir=tmp_path, user_env={}, secrets={}, platform={"HOME": "/"})


def test_nothing_of_the_runners_environment_leaks(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://should-not-leak")
    # Even were the platform's secrets in the runner's environment (settings read .env into a dict and
    # never export it; tests/sequence_site/test_devrun.py checks make run's processes), none reaches a run.
    monkeypatch.setenv("SECRET_KEY", "secret-should-not-leak")
    monkeypatch.setenv("CREDENTIAL_ENCRYPTION_KEY", "key-should-not-leak")
    env = build_environment(home=tmp_path, tmpdir=tmp_path, user_env={}, secrets={}, platform={})
    status, lines = run_to_end(spawn(tmp_path, "import os\nprint(sorted(os.environ))", env=env))
    assert lines[0].text == str(sorted(["PATH", "HOME", "TMPDIR", "LANG", "PYTHONUNBUFFERED"]))


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("LOG_LEVEL", True),
        ("_x1", True),
        ("sequence_api_key", False),
        ("SEQUENCE_X", False),
        ("9LIVES", False),
        ("A-B", False),
        ("", False),
        ("PYTHONUNBUFFERED", False),
    ],
)
def test_env_names(name, ok):
    assert (env_name_problem(name) is None) is ok
