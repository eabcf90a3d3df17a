"""One strategy process: spawned with resource limits in its own process group, its stdout and stderr
read line by line, stopped with SIGTERM then SIGKILL, and its exit explained.

No Django imports: the supervisor (``strategies.supervisor``) drives it, and tests and benchmarks
can drive it alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import resource
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from strategies.runner.sandbox import RunSandbox, process_state

MiB = 1024 * 1024
_PR_SET_PDEATHSIG = 1

try:  # Linux: let the kernel kill the strategy if the thread that supervises it dies.
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    memory_mb: int
    open_files: int = 1024
    cpu_seconds: int | None = None
    file_size_mb: int = 1024


@dataclass(frozen=True, slots=True)
class OutputLine:
    stream: str  # "stdout" | "stderr"
    ts: float  # time.time() when the runner read it
    text: str


@dataclass(frozen=True, slots=True)
class ExitStatus:
    exit_code: int | None  # set when the process exited by itself
    signal: int | None  # set when a signal killed it

    @property
    def signal_name(self) -> str | None:
        if self.signal is None:
            return None
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"


@dataclass(frozen=True, slots=True)
class ExitVerdict:
    clean: bool  # exit code 0 and not killed: "I'm done, don't bring me back"
    oom: bool
    reason: str


_SIGNALS = {int(sig) for sig in signal.Signals}
_OOM_MARKERS = ("MemoryError", "Cannot allocate memory", "out of memory")


def classify_exit(
    status: ExitStatus,
    *,
    memory_mb: int,
    stderr_tail: Sequence[str],
    stop_signal: str | None = None,
    cpu_seconds: int | None = None,
    oom_killed: bool = False,
    limit_reason: str | None = None,
) -> ExitVerdict:
    """Read the exit like a Unix exit code (0 = done) and say why it ended, in one line.

    ``stop_signal`` is the last signal *we* sent ("SIGTERM"/"SIGKILL"), so a requested stop is not
    mistaken for a crash. Under an address-space limit CPython raises ``MemoryError`` (or a C
    extension reports ENOMEM) instead of being OOM-killed, so the stderr tail is the evidence; in a
    sandbox the run's cgroup counts OOM kills (``oom_killed``). ``limit_reason`` is set when the
    runner itself ended the run for breaking a limit (process count, workspace quota, frozen).
    """
    tail = list(stderr_tail)[-20:]
    oom = oom_killed or any(marker.lower() in line.lower() for line in tail for marker in _OOM_MARKERS)
    if limit_reason is not None:
        return ExitVerdict(clean=False, oom=False, reason=limit_reason)
    if stop_signal is not None:
        how = "SIGTERM" if stop_signal == "SIGTERM" and status.signal != signal.SIGKILL else "SIGKILL"
        code = f", exit code {status.exit_code}" if status.exit_code is not None else ""
        return ExitVerdict(clean=False, oom=False, reason=f"stopped on request ({how}{code})")
    if oom_killed:  # the kernel killed a process of the run at the cgroup's limit: not a clean end
        return ExitVerdict(clean=False, oom=True, reason=f"out of memory (memory_mb={memory_mb})")
    if status.exit_code == 0:
        return ExitVerdict(clean=True, oom=False, reason="exited with code 0")
    if oom:
        return ExitVerdict(clean=False, oom=True, reason=f"out of memory (memory_mb={memory_mb})")
    if status.signal == signal.SIGXCPU:
        return ExitVerdict(clean=False, oom=False, reason=f"CPU time limit reached ({cpu_seconds} s)")
    if status.signal is not None:
        hint = f" (likely out of memory, memory_mb={memory_mb})" if status.signal == signal.SIGSEGV else ""
        return ExitVerdict(clean=False, oom=False, reason=f"killed by signal {status.signal_name}{hint}")
    return ExitVerdict(clean=False, oom=False, reason=f"exited with code {status.exit_code}")


def _preexec(limits: ResourceLimits, parent_pid: int) -> Callable[[], None]:
    """Runs in the child between fork and exec: only simple system calls, no locks, no imports."""
    memory = limits.memory_mb * MiB
    file_size = limits.file_size_mb * MiB
    open_files = limits.open_files
    cpu = limits.cpu_seconds
    prctl = _prctl

    def apply() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the supervisor died before the line above took effect
            os._exit(137)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
        _, hard_files = resource.getrlimit(resource.RLIMIT_NOFILE)
        cap = open_files if hard_files == resource.RLIM_INFINITY else min(open_files, hard_files)
        resource.setrlimit(resource.RLIMIT_NOFILE, (cap, cap))
        if cpu:
            # Soft limit: SIGXCPU (catchable, a chance to log); hard limit a bit later: SIGKILL.
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))

    return apply


class StrategyProcess:
    """A running strategy. Not thread-safe: one supervisor thread calls its methods.

    Two reader threads turn stdout and stderr into ``OutputLine``s on a bounded queue. When the
    supervisor falls behind, the queue fills, the readers block, the pipe fills and the strategy
    blocks on ``print``: back-pressure instead of unbounded memory or dropped lines.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        limits: ResourceLimits,
        max_line_bytes: int = 16 * 1024,
        buffer_lines: int = 4_000,
        sandbox: RunSandbox | None = None,
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self._env: dict[str, str] | None = dict(env)
        self.limits = limits
        self.max_line_bytes = max_line_bytes
        self._lines: queue.Queue[tuple[str, float, str | None]] = queue.Queue(maxsize=buffer_lines)
        self._open_streams = {"stdout", "stderr"}
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self._popen: subprocess.Popen[bytes] | None = None
        self._status: ExitStatus | None = None
        self._readers: list[threading.Thread] = []
        self.last_signal: str | None = None
        self.sandbox = sandbox

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> int:
        if self.sandbox is not None:
            return self._start_sandboxed(self.sandbox)
        self._popen = subprocess.Popen(  # noqa: S603 - argv is built by the supervisor, never a shell
            self.argv,
            cwd=self.cwd,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own session and process group: signals reach its children too
            preexec_fn=_preexec(self.limits, os.getpid()),  # noqa: PLW1509 - rlimits must be set in the child
            close_fds=True,
        )
        self._env = None  # it holds decrypted secrets: keep them no longer than the spawn needs
        return self._start_readers()

    def _start_sandboxed(self, sandbox: RunSandbox) -> int:
        argv, preexec, fds = sandbox.command(self.argv, rlimits=_preexec(self.limits, os.getpid()))
        try:
            # bwrap passes its environment on (no --clearenv): the variables never appear on a
            # command line, where any host user could read them in /proc/<pid>/cmdline.
            self._popen = subprocess.Popen(  # noqa: S603 - argv is built by the sandbox, never a shell
                argv,
                cwd="/",
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=preexec,  # noqa: PLW1509 - cgroup, rlimits and uid must be set in the child
                close_fds=True,
                pass_fds=fds,
            )
        finally:
            for fd in fds:
                os.close(fd)
            self._env = None
        sandbox.started(self._popen.pid)
        return self._start_readers()

    def _start_readers(self) -> int:
        assert self._popen is not None
        assert self._popen.stdout is not None and self._popen.stderr is not None
        for stream, pipe in (("stdout", self._popen.stdout), ("stderr", self._popen.stderr)):
            reader = threading.Thread(
                target=self._pump, args=(pipe, stream), daemon=True, name=f"strategy-{stream}"
            )
            reader.start()
            self._readers.append(reader)
        return self._popen.pid

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def poll(self) -> ExitStatus | None:
        """The exit status once the process has exited (and its leftovers have been killed)."""
        if self._status is not None or self._popen is None:
            return self._status
        info: os.waitid_result | bool | None
        try:
            # WNOWAIT: look without reaping, so the process group id stays ours while we kill
            # whatever the strategy left behind (a reaped leader's id could be reused).
            info = os.waitid(os.P_PID, self._popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            info = True  # already reaped elsewhere; wait() below returns the code
        if info is None:
            return None
        if self.sandbox is not None:
            self.sandbox.kill_all()
        else:
            self._signal_group(signal.SIGKILL)
        code = self._popen.wait()
        if self.sandbox is not None and code > 128 and code - 128 in _SIGNALS:
            code = -(code - 128)  # bwrap exits with 128 + N when the strategy was killed by signal N
        self._status = ExitStatus(exit_code=code, signal=None) if code >= 0 else ExitStatus(None, -code)
        return self._status

    def main_pid(self) -> int | None:
        """The host pid of the strategy's own process (not bwrap's), while it runs."""
        if self._popen is None or self._status is not None:
            return None
        return self.sandbox.main_pid() if self.sandbox is not None else self._popen.pid

    def main_state(self) -> str | None:
        """``/proc`` state letter of the strategy's process: ``T`` when it is stopped (SIGSTOP)."""
        pid = self.main_pid()
        return process_state(pid) if pid is not None else None

    def terminate(self) -> None:
        self.last_signal = "SIGTERM"
        if self.sandbox is not None:
            self.sandbox.signal_strategy(signal.SIGTERM)
        else:
            self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        self.last_signal = "SIGKILL"
        if self.sandbox is not None:
            self.sandbox.kill_all()
        else:
            self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: int) -> None:
        if self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)

    def close(self, *, output_timeout: float = 1.0) -> None:
        """Kill anything left, wait briefly for the readers, release the pipes."""
        if self._popen is None:
            return
        if self.poll() is None:
            self.kill()
            self._popen.wait()
            self.poll()
        deadline = time.monotonic() + output_timeout
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))
        for pipe in (self._popen.stdout, self._popen.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    # -- output -------------------------------------------------------------------------------
    @property
    def output_closed(self) -> bool:
        return not self._open_streams

    def read(self, *, timeout: float, max_lines: int) -> list[OutputLine]:
        """Up to ``max_lines`` lines in the order they were read, waiting up to ``timeout`` for the first."""
        out: list[OutputLine] = []
        try:
            item = self._lines.get(timeout=timeout) if timeout > 0 else self._lines.get_nowait()
        except queue.Empty:
            return out
        while True:
            stream, ts, text = item
            if text is None:
                self._open_streams.discard(stream)
            else:
                if stream == "stderr":
                    self.stderr_tail.append(text)
                out.append(OutputLine(stream=stream, ts=ts, text=text))
                if len(out) >= max_lines:
                    return out
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                return out

    def _pump(self, pipe: IO[bytes], stream: str) -> None:
        cap = self.max_line_bytes
        try:
            while True:
                chunk = pipe.readline(cap + 1)
                if not chunk:
                    break
                ts = time.time()
                body = chunk[:-1] if chunk.endswith(b"\n") else chunk
                suffix = ""
                if len(body) > cap:
                    dropped = len(body) - cap
                    body = body[:cap]
                    if not chunk.endswith(b"\n"):
                        while True:  # skip the rest of an over-long line
                            rest = pipe.readline(64 * 1024)
                            if not rest:
                                break
                            dropped += len(rest) - (1 if rest.endswith(b"\n") else 0)
                            if rest.endswith(b"\n"):
                                break
                    suffix = f" …[truncated {dropped} bytes]"
                if body.endswith(b"\r"):
                    body = body[:-1]
                # PostgreSQL text can't hold NUL; the replacement char keeps the line readable.
                text = body.decode("utf-8", "replace").replace("\x00", "\ufffd") + suffix
                self._lines.put((stream, ts, text))
        except (OSError, ValueError):
            pass  # the pipe was closed under us by close()
        finally:
            self._lines.put((stream, time.time(), None))
