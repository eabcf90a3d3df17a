"""The sandbox of one hosted-strategy run: bubblewrap namespaces, its own uid, cgroup limits, the API
brought in over a Unix socket. No Django imports: the supervisor builds a ``SandboxConfig`` from
settings; tests and benchmarks can build one directly.

What a sandboxed strategy gets (see docs/strategies.md, "The sandbox"):

- new user, mount, PID, IPC, UTS, network and cgroup namespaces (``bwrap --unshare-all
  --unshare-user --disable-userns``), ``--die-with-parent``, ``--new-session``;
- a read-only root made of the Python 3.12 image (``strategies.runner.image``), ``/workspace``
  (the run folder, read-write), a size-capped private ``/tmp``, its own ``/proc`` and a minimal ``/dev``;
- uid/gid 1000 inside, mapped to a uid of its own outside (``uid_base`` + n, one per running run on
  the host, held with a lock file), ``no_new_privs``, no capabilities, the seccomp filter of
  ``strategies.runner.seccomp``;
- memory (``memory_mb``, swap included) and task-count limits over every process of the run, in a
  cgroup of its own (v1 or v2; without one, per-process rlimits and the per-uid process limit);
- no network but loopback: a small forwarder inside (``BOOT``) listens on ``127.0.0.1:<port>`` and
  passes each connection to ``/run/sequence/api.sock``, a Unix socket the runner serves by
  connecting to the Sequence API (``ApiForwarder``). ``SEQUENCE_API_URL`` keeps its host name
  (mapped to 127.0.0.1 in the sandbox's ``/etc/hosts``), so TLS and the ``Host`` header are unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from strategies.runner.image import SANDBOX_UID
from strategies.runner.seccomp import filter_for_machine

MiB = 1024 * 1024
INNER_PYTHON = "/usr/local/bin/python3.12"
INNER_WORKSPACE = "/workspace"
INNER_CONTROL = "/run/sequence"
INNER_BOOT = "/run/sequence/boot.py"
API_SOCKET = "api.sock"
CGROUP_ROOT = Path("/sys/fs/cgroup")
MAX_API_CONNECTIONS = 64  # per run: each open connection costs the runner two threads

# Runs inside the sandbox as pid 2 before the strategy: it opens the API port on loopback, leaves a
# forwarder behind (a grandchild, adopted by the sandbox's init, so it dies with the sandbox), then
# becomes the strategy with exec. Standard library only: it runs on the image's Python 3.12.
BOOT = r'''
import os, socket, sys, threading

def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

def serve(listener, path):
    while True:
        conn, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(path)
        except OSError:
            conn.close()
            upstream.close()
            continue
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()

def main():
    port, path, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    child = os.fork()
    if child == 0:
        try:
            if os.fork() == 0:
                null = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                serve(listener, path)
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    listener.close()
    os.execv(argv[0], argv)

main()
'''


class SandboxError(RuntimeError):
    """The sandbox could not be set up: the run can't start (the message says why)."""


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    bwrap: str  # the bwrap binary
    rootfs: Path  # the image's root (strategies.runner.image)
    state_dir: Path  # uid lock files live here
    api_url: str  # where the runner reaches the Sequence API (http[s]://host:port)
    max_tasks: int = 256  # processes + threads of one run (pids cgroup, else RLIMIT_NPROC)
    tmp_mb: int = 64  # size of the private /tmp (tmpfs, counted in the memory limit too)
    uid_base: int = 200_000
    uid_count: int = 10_000
    cgroup_parent: str = "sequence-strategies"  # under the runner's own cgroup (v1) or the root (v2)
    use_cgroups: bool = True


def bwrap_path(configured: str = "") -> str | None:
    return configured or shutil.which("bwrap")


_probe_cache: dict[tuple[str, str], str | None] = {}


def sandbox_problem(config: SandboxConfig) -> str | None:
    """Why sandboxed runs can't start on this host, or None when they can. Checked once per process
    (a real bwrap run of the image's interpreter, as a sandbox uid)."""
    key = (config.bwrap, str(config.rootfs))
    if key in _probe_cache:
        return _probe_cache[key]
    problem: str | None = None
    if not config.bwrap or not Path(config.bwrap).is_file():
        problem = "bubblewrap (bwrap) is not installed (Debian package 'bubblewrap'; `make run` installs it)"
    elif not (config.rootfs / INNER_PYTHON.lstrip("/")).is_file():
        problem = f"the Python 3.12 sandbox image is missing at {config.rootfs} (`make sandbox` builds it)"
    else:
        argv = [config.bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
                "--ro-bind", str(config.rootfs), "/", "--proc", "/proc", "--dev", "/dev",
                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), INNER_PYTHON, "-c", "pass"]
        uid = config.uid_base + config.uid_count - 1
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={},
                                  preexec_fn=_drop_to(uid) if os.geteuid() == 0 else None)  # noqa: PLW1509
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = f"bwrap could not run: {exc}"
        else:
            if done.returncode != 0:
                problem = f"bwrap could not start a sandbox here (user namespaces?): {done.stderr.strip()[:300]}"
    _probe_cache[key] = problem
    return problem


def _drop_to(uid: int) -> Callable[[], None]:
    def apply() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    return apply


# -- uids ---------------------------------------------------------------------------------------
class UidLease:
    """One outside uid for one run, held by an exclusive lock on ``<state_dir>/uids/<uid>.lock`` for
    as long as the run lives (a killed runner's locks go with its process)."""

    def __init__(self, config: SandboxConfig) -> None:
        folder = config.state_dir / "uids"
        folder.mkdir(parents=True, exist_ok=True)
        start = random.randrange(config.uid_count - 1)  # noqa: S311 - spreading, not secrecy
        for offset in range(config.uid_count - 1):
            uid = config.uid_base + (start + offset) % (config.uid_count - 1)
            fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid = uid
            self._fd: int | None = fd
            return
        raise SandboxError("no free sandbox uid (every uid of the range is in use)")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# -- cgroups ------------------------------------------------------------------------------------
def cgroup_version() -> int | None:
    if (CGROUP_ROOT / "cgroup.controllers").is_file():
        return 2
    if (CGROUP_ROOT / "memory").is_dir() or (CGROUP_ROOT / "pids").is_dir():
        return 1
    return None


def _own_cgroup(controller: str) -> str:
    """This process's cgroup path in a v1 hierarchy (``/`` if unknown), or the v2 one with ''."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(",") or (controller == "" and controllers == ""):
                return path
    return "/"


@dataclass
class RunCgroup:
    """The cgroup(s) of one run: memory and task limits over the whole process tree."""

    version: int
    paths: dict[str, Path] = field(default_factory=dict)  # controller ("memory", "pids", or "" for v2) -> dir

    @classmethod
    def create(cls, config: SandboxConfig, name: str, *, memory_mb: int, tmp_mb: int) -> RunCgroup | None:
        version = cgroup_version()
        if version is None or not config.use_cgroups:
            return None
        group = cls(version=version)
        try:
            if version == 1:
                for controller in ("memory", "pids"):
                    base = CGROUP_ROOT / controller
                    if not base.is_dir():
                        continue
                    parent = base / _own_cgroup(controller).lstrip("/") / config.cgroup_parent
                    parent.mkdir(parents=True, exist_ok=True)
                    path = parent / name
                    path.mkdir()
                    group.paths[controller] = path
                memory = group.paths.get("memory")
                if memory is not None:
                    limit = str(memory_mb * MiB)
                    (memory / "memory.limit_in_bytes").write_text(limit)
                    if (memory / "memory.memsw.limit_in_bytes").exists():  # swap can't be a way around it
                        (memory / "memory.memsw.limit_in_bytes").write_text(limit)
                if "pids" in group.paths:
                    (group.paths["pids"] / "pids.max").write_text(str(config.max_tasks))
            else:
                parent = CGROUP_ROOT / config.cgroup_parent
                parent.mkdir(exist_ok=True)
                with contextlib.suppress(OSError):
                    (CGROUP_ROOT / "cgroup.subtree_control").write_text("+memory +pids")
                (parent / "cgroup.subtree_control").write_text("+memory +pids")
                path = parent / name
                path.mkdir()
                group.paths[""] = path
                (path / "memory.max").write_text(str(memory_mb * MiB))
                with contextlib.suppress(OSError):
                    (path / "memory.swap.max").write_text("0")
                (path / "pids.max").write_text(str(config.max_tasks))
        except OSError:
            group.remove()
            return None  # not allowed here (not root, read-only cgroupfs): the rlimit fallback
        return group

    def procs_files(self) -> list[Path]:
        return [path / "cgroup.procs" for path in self.paths.values()]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files():
            with contextlib.suppress(OSError):
                found.update(int(line) for line in procs.read_text().split())
        return found

    def oom_kills(self) -> int:
        if self.version == 1 and "memory" in self.paths:
            return _stat_value(self.paths["memory"] / "memory.oom_control", "oom_kill")
        if self.version == 2:
            return _stat_value(self.paths[""] / "memory.events", "oom_kill")
        return 0

    def task_limit_hits(self) -> int:
        if self.version == 1 and "pids" in self.paths:
            return _stat_value(self.paths["pids"] / "pids.events", "max")
        if self.version == 2:
            return _stat_value(self.paths[""] / "pids.events", "max")
        return 0

    def memory_peak(self) -> int | None:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        folder = self.paths.get("memory" if self.version == 1 else "")
        with contextlib.suppress(OSError, ValueError, TypeError):
            return int((folder / name).read_text())  # type: ignore[operator]
        return None

    def remove(self) -> None:
        for path in self.paths.values():
            with contextlib.suppress(OSError):
                path.rmdir()


def _stat_value(path: Path, key: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return 0


# -- the API, brought in -------------------------------------------------------------------------
class ApiForwarder:
    """Serves ``<control>/api.sock`` for one run: each connection is piped to the API's TCP address.
    Bytes only: the API authenticates the strategy by its key like any other client."""

    def __init__(self, socket_path: Path, target: tuple[str, int], owner_uid: int | None) -> None:
        self.target = target
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(socket_path))
        if owner_uid is not None:
            os.chown(socket_path, owner_uid, owner_uid)
        socket_path.chmod(0o600)  # only this run's uid may connect
        self.listener.listen(64)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True, name="strategy-api-forwarder")
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                if len(self._open) >= 2 * MAX_API_CONNECTIONS:
                    conn.close()
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                conn.close()
                continue
            with self._lock:
                self._open.update((conn, upstream))
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True, name="strategy-api-pipe").start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                for sock in (src, dst):
                    if sock in self._open:
                        self._open.discard(sock)
                        sock.close()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def api_endpoints(api_url: str) -> tuple[str, tuple[str, int], int]:
    """(URL the strategy uses inside, (host, port) the runner connects to, port listened on inside).

    The inside URL is the outside one, except that a port under 1024 (which an unprivileged
    process can't listen on) is moved up by 8000: ``https://api.example.com`` becomes
    ``https://api.example.com:8443`` inside, the same host name, TLS certificate and API.
    """
    parts = urllib.parse.urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SandboxError(f"SEQUENCE_PUBLIC_API_URL {api_url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    inner_port = port if port >= 1024 else port + 8000
    host = parts.hostname
    netloc = f"[{host}]:{inner_port}" if ":" in host else f"{host}:{inner_port}"
    inner = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)).rstrip("/")
    return inner, (host, port), inner_port


# -- one run ------------------------------------------------------------------------------------
def _proc_status(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            out[name] = value.strip()
    return out


class RunSandbox:
    """Everything of one sandboxed run outside the process itself. Use: ``prepare()``, then
    ``command()`` to spawn, ``processes``/``signal_strategy``/``kill_all`` while it runs,
    ``close()`` at the end (always: it frees the uid, the cgroup and the socket)."""

    def __init__(
        self,
        config: SandboxConfig,
        *,
        name: str,
        workspace: Path,
        control: Path,
        memory_mb: int,
    ) -> None:
        self.config = config
        self.name = name
        self.workspace = workspace
        self.control = control
        self.memory_mb = memory_mb
        self.inner_api_url, self._api_target, self._inner_port = api_endpoints(config.api_url)
        self.uid: int | None = None
        self._lease: UidLease | None = None
        self.cgroup: RunCgroup | None = None
        self._forwarder: ApiForwarder | None = None
        self.monitor_pid: int | None = None
        self._main_pid: int | None = None

    # -- set up ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        try:
            if os.geteuid() == 0:
                self._lease = UidLease(self.config)
                self.uid = self._lease.uid
                for path in [self.workspace, *self.workspace.rglob("*")]:
                    os.lchown(path, self.uid, self.uid)
                self._check_reachable(self.workspace)
            self.control.mkdir(parents=True, exist_ok=True)
            self.control.chmod(0o755)
            host = urllib.parse.urlsplit(self.config.api_url).hostname or "localhost"
            hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
            if host not in ("localhost", "127.0.0.1", "::1"):
                hosts += f"127.0.0.1\t{host}\n"
            (self.control / "hosts").write_text(hosts)
            (self.control / "boot.py").write_text(BOOT)
            self._forwarder = ApiForwarder(self.control / API_SOCKET, self._api_target, self.uid)
            self.cgroup = RunCgroup.create(
                self.config, self.name, memory_mb=self.memory_mb, tmp_mb=self.config.tmp_mb
            )
        except BaseException:
            self.close()
            raise

    def _check_reachable(self, folder: Path) -> None:
        for parent in folder.parents:
            if parent == Path("/"):
                break
            if not parent.stat().st_mode & 0o001:
                raise SandboxError(
                    f"{parent} (mode {oct(parent.stat().st_mode & 0o777)}) is not traversable by the sandbox "
                    "uid: STRATEGY_RUN_DIR and its parents need o+x"
                )

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        return dict(env)

    def command(self, argv: Sequence[str], *, rlimits: Callable[[], None]) -> tuple[list[str], Callable[[], None], list[int]]:
        """(bwrap argv, the preexec function, file descriptors to pass) for ``argv`` run inside.
        ``argv[0]`` is replaced by the image's interpreter when it names "python"."""
        inner = list(argv)
        if inner and Path(inner[0]).name.startswith("python"):
            inner[0] = INNER_PYTHON
        data_fds: list[int] = []

        def data(content: bytes) -> int:
            read, write = os.pipe()
            os.set_inheritable(read, True)
            with os.fdopen(write, "wb") as pipe:  # small: fits the pipe buffer, bwrap reads it later
                pipe.write(content)
            data_fds.append(read)
            return read

        hosts_fd = data((self.control / "hosts").read_bytes())
        cmd = [
            self.config.bwrap,
            "--unshare-all", "--unshare-user", "--disable-userns",
            "--die-with-parent", "--new-session",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--hostname", "sandbox",
            "--ro-bind", str(self.config.rootfs), "/",
            "--proc", "/proc",
            "--dev", "/dev",
            "--size", str(self.config.tmp_mb * MiB), "--perms", "1777", "--tmpfs", "/tmp",
            "--bind", str(self.workspace), INNER_WORKSPACE,
            "--ro-bind", str(self.control), INNER_CONTROL,
            "--ro-bind-data", str(hosts_fd), "/etc/hosts",
            "--chdir", INNER_WORKSPACE,
        ]
        bpf = filter_for_machine()
        if bpf is not None:
            cmd += ["--seccomp", str(data(bpf))]
        cmd += [INNER_PYTHON, "-I", "-S", INNER_BOOT, str(self._inner_port), f"{INNER_CONTROL}/{API_SOCKET}", *inner]

        uid = self.uid
        procs = [str(p) for p in (self.cgroup.procs_files() if self.cgroup else [])]
        max_tasks = self.config.max_tasks

        def preexec() -> None:
            # In the child, between fork and exec: join the run's cgroups (children inherit them),
            # become the run's own unprivileged uid, then set the rlimits and the parent-death
            # signal (after the uid change, which clears that signal).
            for path in procs:
                with open(path, "w") as handle:  # noqa: PTH123 - no pathlib between fork and exec
                    handle.write(str(os.getpid()))
            if uid is not None:
                if not procs:  # no pids cgroup: the per-uid process limit is exact (the uid is the run's)
                    resource.setrlimit(resource.RLIMIT_NPROC, (max_tasks, max_tasks))
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            rlimits()

        return cmd, preexec, data_fds

    def started(self, pid: int) -> None:
        self.monitor_pid = pid

    # -- while it runs --------------------------------------------------------------------------
    def processes(self) -> set[int]:
        """Host pids of every process of the run (bwrap's own included)."""
        if self.cgroup is not None and self.cgroup.paths:
            return self.cgroup.pids()
        if self.uid is None:
            return set()
        found = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                uid = _proc_status(int(entry)).get("Uid", "").split()
                if uid and int(uid[0]) == self.uid:
                    found.add(int(entry))
        return found

    def _inner_pid(self, pid: int) -> int | None:
        nspid = _proc_status(pid).get("NSpid", "").split()
        return int(nspid[-1]) if len(nspid) >= 2 else None

    def main_pid(self) -> int | None:
        """The host pid of the strategy's main process (pid 2 inside: pid 1 is bwrap's init)."""
        if self._main_pid is not None and self._inner_pid(self._main_pid) == 2:
            return self._main_pid
        for pid in self.processes():
            if self._inner_pid(pid) == 2:
                self._main_pid = pid
                return pid
        return None

    def signal_strategy(self, sig: int) -> None:
        """``sig`` to every process of the strategy, not to bwrap's monitor and init (whose death
        would end everything at once, without the grace period SIGTERM promises)."""
        for pid in self.processes():
            inner = self._inner_pid(pid)
            if inner is not None and inner != 1:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)

    def kill_all(self, *, timeout: float = 30.0) -> bool:
        """SIGKILL every process of the run and wait until none is left. The monitor's death takes
        the sandbox's init with it (``--die-with-parent``), and the PID namespace's end takes every
        process in it, ``setsid`` daemons included. True when the run has no process left."""
        if self.monitor_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.monitor_pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while True:
            left = self.processes()
            if self.monitor_pid is not None:
                left.discard(self.monitor_pid)  # reaped by its Popen, not ours to wait for
            left = {pid for pid in left if _proc_status(pid).get("State", "Z").split()[0] != "Z"}
            if not left:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def oom_killed(self) -> bool:
        return self.cgroup is not None and self.cgroup.oom_kills() > 0

    def task_limit_hit(self) -> bool:
        return self.cgroup is not None and self.cgroup.task_limit_hits() > 0

    # -- the end --------------------------------------------------------------------------------
    def close(self) -> None:
        if self.monitor_pid is not None or self.cgroup is not None:
            self.kill_all()
        if self._forwarder is not None:
            self._forwarder.close()
            self._forwarder = None
        if self.cgroup is not None:
            deadline = time.monotonic() + 10
            while True:
                self.cgroup.remove()
                if not any(path.exists() for path in self.cgroup.paths.values()) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        if self._lease is not None:
            self._lease.release()
            self._lease = None


def workspace_usage(folder: Path, *, max_files: int) -> tuple[int, int]:
    """(bytes allocated, entries) under ``folder``, without following links; stops counting once
    past ``max_files`` so a folder stuffed with millions of files costs no more than the limit."""
    size = 0
    count = 0
    stack = [str(folder)]
    while stack and count <= max_files:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                count += 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                size += info.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return size, count


def process_state(pid: int) -> str | None:
    """The one-letter state of ``/proc/<pid>/stat`` (``T`` stopped, ``t`` traced, ``Z`` zombie...)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            return None
        raise
    return stat.rpartition(")")[2].split()[0]
