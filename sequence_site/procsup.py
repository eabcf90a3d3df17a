"""A small process supervisor for `make run`: the Procfile's processes, each restarted on its own.

honcho (used before) stops every process when one of them dies, and brings nothing back: a kill -9
of the edge took the whole stack down. Here each process is started in a session of its own, its
output is prefixed with its name, and when it dies it alone is started again after a backoff that
doubles on each quick death (1 s, 2 s, 4 s ... 30 s) and resets once it has run for 30 s. The
others keep running. We supervise in-process rather than through supervisord or circus: `make run`
is one foreground command that must stop everything on Ctrl-C, SIGTERM or SIGHUP, and a supervisor
daemon would need its own config, socket and log files for what is ~150 lines here. Production runs
the same processes under systemd (`Restart=always`, docs/operations.md) instead.

Each process's pid is written to `<var>/run/<name>.pid` while it runs, so operators (and the tests)
can find it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["Procfile", "Supervisor", "read_procfile"]

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 30.0  # a process that ran this long starts its next backoff from the beginning
STOP_GRACE = 10.0

Procfile = list[tuple[str, str]]


def read_procfile(path: Path) -> Procfile:
    """(name, command) pairs in file order; blank lines and comments skipped."""
    entries: Procfile = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise ValueError(f"{path}: not a Procfile line: {raw!r}")
        entries.append((name.strip(), command.strip()))
    return entries


@dataclass
class _Child:
    name: str
    command: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = 0.0
    restart_at: float | None = None
    starts: int = 0
    reader: threading.Thread | None = field(default=None, repr=False)


class Supervisor:
    """Runs the entries, restarts each on its own, stops them all on `stop()`."""

    def __init__(
        self,
        entries: Procfile,
        *,
        env: Mapping[str, str],
        cwd: Path,
        port: int,
        run_dir: Path,
        out: IO[str] = sys.stdout,
    ) -> None:
        self.cwd = cwd
        self.run_dir = run_dir
        self.out = out
        self._out_lock = threading.Lock()
        self._stopping = threading.Event()
        width = max((len(name) for name, _ in entries), default=0)
        self._width = width
        self.children: list[_Child] = []
        for index, (name, command) in enumerate(entries):
            child_env = dict(env)
            # honcho's convention, kept: the first entry gets PORT, the next ones PORT+100, ...
            child_env["PORT"] = str(port + 100 * index)
            self.children.append(_Child(name=name, command=command, env=child_env))

    # -- output ------------------------------------------------------------------------------------
    def say(self, name: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._out_lock:
            self.out.write(f"{stamp} {name.ljust(self._width)} | {text}\n")
            self.out.flush()

    def _pump(self, child: _Child, pipe: IO[bytes]) -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in iter(pipe.readline, b""):
                self.say(child.name, raw.decode("utf-8", "replace").rstrip("\n"))
        with contextlib.suppress(OSError):
            pipe.close()

    # -- life --------------------------------------------------------------------------------------
    def _pidfile(self, child: _Child) -> Path:
        return self.run_dir / f"{child.name}.pid"

    def _start(self, child: _Child) -> None:
        # `exec` so the pid we hold (and write) is the program's own, not a shell's.
        child.process = subprocess.Popen(  # noqa: S602 - the operator's own Procfile, shell syntax by design
            f"exec {child.command}",
            shell=True,
            cwd=self.cwd,
            env=child.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it reaches its children too
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        child.starts += 1
        self._pidfile(child).write_text(f"{child.process.pid}\n")
        assert child.process.stdout is not None
        child.reader = threading.Thread(
            target=self._pump, args=(child, child.process.stdout), daemon=True, name=f"out-{child.name}"
        )
        child.reader.start()
        self.say(child.name, f"started (pid {child.process.pid})")

    def _reap(self, child: _Child, code: int) -> None:
        """A child died on its own: schedule its restart with backoff."""
        ran = time.monotonic() - child.started_at
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
        child.backoff = (
            BACKOFF_FIRST
            if ran >= HEALTHY_AFTER or not child.backoff
            else min(child.backoff * 2, BACKOFF_MAX)
        )
        child.restart_at = time.monotonic() + child.backoff
        child.process = None
        with contextlib.suppress(FileNotFoundError):
            self._pidfile(child).unlink()
        self.say(child.name, f"exited ({how}) after {ran:.1f} s; restarting in {child.backoff:g} s")

    def run(self) -> int:
        """Start everything and supervise until `stop()`; returns 0."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for child in self.children:
            self._start(child)
        while not self._stopping.is_set():
            now = time.monotonic()
            for child in self.children:
                if child.process is not None:
                    code = child.process.poll()
                    if code is not None:
                        # Whatever it left in its group goes with it (a restarted web process
                        # must find its port free).
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.killpg(child.process.pid, signal.SIGKILL)
                        self._reap(child, code)
                elif child.restart_at is not None and now >= child.restart_at:
                    self._start(child)
            self._stopping.wait(0.2)
        self._stop_all()
        return 0

    def stop(self) -> None:
        """Ask `run()` to stop every process and return (safe from a signal handler)."""
        self._stopping.set()

    def _stop_all(self) -> None:
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(child.name, f"still running {STOP_GRACE:g} s after SIGTERM: SIGKILL")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()
        for child in self.children:
            with contextlib.suppress(FileNotFoundError):
                self._pidfile(child).unlink()
            if child.reader is not None:
                child.reader.join(2)
