"""A hostile tenant, as issue 14 found it could act before the sandbox, gets nothing now.

Real processes through the real runner (Celery worker, bwrap, cgroups): a victim strategy runs with
a secret, and a hostile strategy with its own sandbox key tries every act of the issue and reports
each outcome as JSON. Each act must end in an error, and the test also checks from the host that
the targets were there to be had (so a refusal is not just a wrong path). Skipped only where the
kernel forbids user namespaces, with the reason.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import django
import pytest
from django.conf import settings as django_settings
from strategy_testing import REPO, create_body, lines_of, wait_for, wait_status

from strategies.models import StrategyRun
from strategies.runner.sandbox import sandbox_problem
from strategies.sandboxing import sandbox_config

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _needs_user_namespaces():
    config, problem = sandbox_config()
    if config is None and "user namespaces" in problem:
        pytest.skip(f"the kernel forbids what the sandbox needs: {problem}")
    assert config is not None, problem  # anything else is a broken install: `make test` sets it up
    assert sandbox_problem(config) is None


VICTIM_SECRET = "victim-" + "x9" * 16

VICTIM = """
import os, time
open("/workspace/victim-data.txt", "w").write(os.environ["VICTIM_TOKEN"])
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""

HOSTILE = r'''
import ctypes, errno, json, os, signal, socket, sys
from sequence_markets import Sequence

targets = json.load(open(os.environ["SEQUENCE_STRATEGY_MANIFEST"]))
report = {}

def act(name, fn):
    try:
        report[name] = "GOT " + repr(fn())[:200]
    except BaseException as exc:  # noqa: BLE001 - every refusal is a result here
        report[name] = f"refused {type(exc).__name__}: {exc}"[:300]

def read(path):
    with open(path, "rb") as handle:
        return handle.read(200)

def write(path):
    with open(path, "w") as handle:
        handle.write("pwned")
    return path

def connect(host, port):
    with socket.create_connection((host, port), timeout=3) as conn:
        return conn.getpeername()

libc = ctypes.CDLL(None, use_errno=True)

def syscall_ok(result):
    if result != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return result

for name, path in targets["files"].items():
    act(f"read {name}", lambda path=path: read(path))
act("list var dir", lambda: os.listdir(targets["var_dir"]))
act("list project", lambda: os.listdir(targets["project"]))
act("runner environ", lambda: read(f"/proc/{targets['runner_pid']}/environ"))
act("victim environ", lambda: read(f"/proc/{targets['victim_pid']}/environ"))
act("victim memory", lambda: read(f"/proc/{targets['victim_pid']}/mem"))
act("victim workspace", lambda: read(targets["victim_workspace"] + "/victim-data.txt"))
act("victim workspace write", lambda: write(targets["victim_workspace"] + "/planted.py"))
act("freeze victim", lambda: os.kill(targets["victim_pid"], signal.SIGSTOP))
act("kill victim", lambda: os.kill(targets["victim_pid"], signal.SIGKILL))
act("kill runner", lambda: os.kill(targets["runner_pid"], signal.SIGKILL))
act("redis", lambda: connect("127.0.0.1", targets["redis_port"]))
act("postgres", lambda: connect("127.0.0.1", targets["postgres_port"]))
act("host port", lambda: connect("127.0.0.1", targets["host_port"]))
act("host address", lambda: connect(targets["host_ip"], targets["host_port"]))
act("dns", lambda: socket.getaddrinfo("example.com", 443))
for path in ("/etc/pwned", "/usr/local/lib/python3.12/pwned.py", "/pwned", "/run/sequence/pwned",
             targets["project"] + "/pwned.py", targets["var_dir"] + "/pwned"):
    act(f"write {path}", lambda path=path: write(path))
for module in ("django", "sequence_site", "strategies", "cryptography", "celery"):
    act(f"import {module}", lambda module=module: __import__(module))
act("platform site-packages", lambda: os.listdir(targets["site_packages"]))
act("ptrace", lambda: syscall_ok(libc.ptrace(0, 0, None, None)))  # PTRACE_TRACEME
act("unshare user", lambda: syscall_ok(libc.unshare(0x10000000)))
act("mount", lambda: syscall_ok(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)))
act("keyctl", lambda: syscall_ok(libc.syscall(250, 0, 0, 0, 0, 0)))
act("setuid root", lambda: os.setuid(0))
act("raise rlimit", lambda: __import__("resource").setrlimit(__import__("resource").RLIMIT_AS, (-1, -1)))
# What it may do: its workspace, /tmp, the API with its key.
act("own workspace write", lambda: write("/workspace/mine.txt"))
act("own tmp write", lambda: write("/tmp/mine.txt"))
seq = Sequence(os.environ["SEQUENCE_API_KEY"], os.environ["SEQUENCE_API_URL"])
act("api whoami", lambda: seq.whoami())
report["uid"] = os.getuid()
report["version"] = list(sys.version_info[:2])
report["proc"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
report["no_new_privs"] = [l for l in open("/proc/self/status") if l.startswith(("NoNewPrivs", "CapEff", "Seccomp:"))]
print(json.dumps(report), flush=True)
'''

ALLOWED = {"own workspace write", "own tmp write", "api whoami"}


def _tree(root: int) -> set[int]:
    """``root`` and its descendants on the host (for checks from outside the sandbox)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rpartition(")")[2].split()[1]), []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def _uid(pid: int) -> int | None:
    """The real uid of a live process (None once it is gone, or a zombie waiting to be reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        if "\nState:\tZ" in status:
            return None
        for line in status.splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _strategy_host_pid(run: StrategyRun) -> int:
    """The host pid of the strategy's own python (pid 2 in its namespace) under the run's bwrap."""
    for pid in _tree(run.pid):
        try:
            nspid = [line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("NSpid:")]
        except OSError:
            continue
        if nspid and nspid[0].split()[1:] and nspid[0].split()[-1] == "2" and len(nspid[0].split()) == 3:
            return pid
    raise AssertionError("no strategy process under the run's bwrap")


def _first_run_ended(strategy_id: str, *, timeout: float = 60) -> StrategyRun:
    """The strategy's first run once it has ended (a failed strategy is soon re-queued as a new run,
    so its status alone can be missed)."""

    def ended() -> StrategyRun | None:
        run = StrategyRun.objects.filter(strategy_id=strategy_id).order_by("created_at").first()
        return run if run is not None and run.ended_at is not None else None

    return wait_for(ended, timeout=timeout, what="the first run to end")


def _running(api, name: str, main: str, **fields) -> tuple[str, StrategyRun]:
    status, body = api.post("/v1/strategies", json=create_body(name, main, start=True, **fields))
    assert status == 201, body
    strategy_id = body["strategy_id"]
    run = wait_for(
        lambda: StrategyRun.objects.filter(strategy_id=strategy_id, status="running", pid__isnull=False).first(),
        timeout=30,
        what=f"{name} to run",
    )
    return strategy_id, run


def test_a_hostile_strategy_gets_nothing_but_its_workspace_and_the_api(
    runner, api, sandbox_key, live_server, settings, strategy_run_dir
):
    settings.SEQUENCE_PUBLIC_API_URL = live_server.url
    victim_id, victim_run = _running(api, "victim", VICTIM, secrets={"VICTIM_TOKEN": VICTIM_SECRET})
    wait_for(lambda: "ready" in lines_of(victim_run, "stdout"), timeout=30, what="the victim to start")
    victim_pid = _strategy_host_pid(victim_run)
    victim_workspace = strategy_run_dir / str(victim_run.pk) / "workspace"
    assert (victim_workspace / "victim-data.txt").read_text() == VICTIM_SECRET  # there to be stolen

    host_port_listener = socket.socket()
    host_port_listener.bind(("0.0.0.0", 0))
    host_port_listener.listen(1)
    host_ip = socket.gethostbyname(socket.gethostname())
    site_packages = str(Path(django.__file__).parents[1])
    var_dir = Path(django_settings.VAR_DIR)
    files = {
        ".env": str(REPO / ".env"),
        "settings": str(REPO / "sequence_site" / "settings.py"),
        "the demo keys": str(var_dir / "demo-keys.env"),
        "the sqlite database": str(var_dir / "sequence.sqlite3"),
        "host passwd": "/etc/shadow",
        "root home": "/root/.bash_history",
    }
    for name in (".env", "settings"):
        assert Path(files[name]).is_file(), name  # present on the host: a refusal means something
    manifest = {
        "files": files,
        "var_dir": str(var_dir),
        "project": str(REPO),
        "runner_pid": os.getpid(),
        "victim_pid": victim_pid,
        "victim_workspace": str(victim_workspace),
        "redis_port": int(str(django_settings.REDIS_URL).rsplit(":", 1)[1].split("/")[0]),
        "postgres_port": int(django_settings.DATABASES["default"].get("PORT") or 5432),
        "host_port": host_port_listener.getsockname()[1],
        "host_ip": host_ip,
        "site_packages": site_packages,
    }
    try:
        hostile_id, hostile_run = _running(
            api, "hostile", HOSTILE, sdk=True, manifest=manifest, sequence_api_key=sandbox_key.plaintext
        )
        for pid in _tree(hostile_run.pid):
            uid = _uid(pid)
            assert uid is None or uid >= django_settings.STRATEGY_SANDBOX_UID_BASE, (pid, uid)  # never root
        strategy = wait_status(hostile_id, "stopped", "failed", timeout=60)
    finally:
        host_port_listener.close()
    out = lines_of(strategy.current_run, "stdout")
    assert out, lines_of(strategy.current_run)
    report = json.loads(out[-1])

    got = {act: outcome for act, outcome in report.items() if isinstance(outcome, str) and outcome.startswith("GOT")}
    assert set(got) == ALLOWED, got
    assert "sequence_api_key" not in json.dumps(report) and VICTIM_SECRET not in json.dumps(report)
    assert report["api whoami"].startswith("GOT {"), report["api whoami"]  # the API answered, with its key
    assert report["uid"] == 1000 and report["version"] == [3, 12]
    assert max(report["proc"]) < 100  # its own PID namespace: a handful of low pids, none of the host's
    assert any(line.split()[1] == "1" for line in report["no_new_privs"] if line.startswith("NoNewPrivs"))
    assert any(line.split()[1] == "0000000000000000" for line in report["no_new_privs"] if line.startswith("CapEff"))
    assert any(line.split()[1] == "2" for line in report["no_new_privs"] if line.startswith("Seccomp"))
    for act in ("ptrace", "unshare user", "mount", "keyctl"):
        assert "Operation not permitted" in report[act], report[act]

    # The victim was neither frozen nor killed nor written to, and still runs.
    victim_run.refresh_from_db()
    assert victim_run.status == "running"
    state = Path(f"/proc/{victim_pid}/stat").read_text().rpartition(")")[2].split()[0]
    assert state in ("S", "R"), state
    assert not (victim_workspace / "planted.py").exists()
    assert not (REPO / "pwned.py").exists() and not (var_dir / "pwned").exists()


def test_stop_ends_every_process_of_the_run_setsid_grandchildren_included(runner, api):
    main = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:  # a daemon, in a session of its own, adopted by init
        while True:
            time.sleep(0.05)
    os._exit(0)
print("daemon started", flush=True)
while True:
    time.sleep(0.05)
"""
    strategy_id, run = _running(api, "daemonizer", main)
    wait_for(lambda: "daemon started" in lines_of(run, "stdout"), timeout=30, what="the daemon")
    tree = wait_for(lambda: t if len(t := _tree(run.pid)) >= 4 else None, timeout=30, what="the tree")
    uids = {_uid(pid) for pid in tree} - {None}
    assert api.post(f"/v1/strategies/{strategy_id}/stop")[0] == 200
    wait_status(strategy_id, "stopped", timeout=30)
    survivors = [pid for pid in tree if _uid(pid) in uids]
    assert survivors == [], [(Path(f"/proc/{p}/stat").read_text(), uids) for p in survivors]
    # Nothing of the run's uid is left anywhere on the host.
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _uid(int(p)) in uids]


def test_four_children_over_memory_mb_together_end_in_oom(runner, api, settings):
    main = """
import os, time
kids = []
for i in range(4):
    pid = os.fork()
    if pid == 0:
        block = bytearray(50 * 1024 * 1024)
        for j in range(0, len(block), 4096):
            block[j] = 1
        time.sleep(3)
        os._exit(0)
    kids.append(pid)
killed = sum(os.WIFSIGNALED(os.waitpid(pid, 0)[1]) for pid in kids)
print("children killed:", killed, flush=True)
"""
    status, body = api.post("/v1/strategies", json=create_body("hog", main, start=True, memory_mb=128))
    assert status == 201, body
    run = _first_run_ended(body["strategy_id"])
    assert run.status == "failed", run.reason
    assert run.reason == "out of memory (memory_mb=128)", run.reason
    killed = int(lines_of(run, "stdout")[-1].split(":")[1])
    assert killed >= 1  # the kernel's OOM killer took at least one child: together they can't pass 128 MiB


def test_one_process_over_memory_mb_is_reported_as_oom(runner, api):
    main = "block = bytearray(300 * 1024 * 1024)\nprint('allocated', flush=True)\n"
    status, body = api.post("/v1/strategies", json=create_body("glutton", main, start=True, memory_mb=128))
    run = _first_run_ended(body["strategy_id"])
    assert run.status == "failed", run.reason
    assert run.reason == "out of memory (memory_mb=128)", (run.reason, lines_of(run))
    assert "allocated" not in lines_of(run, "stdout")


def test_a_fork_bomb_ends_as_failed_and_the_host_keeps_its_process_budget(runner, api, settings):
    settings.STRATEGY_MAX_PROCESSES = 40
    main = """
import os, time
print("bombing", flush=True)
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""
    status, body = api.post("/v1/strategies", json=create_body("bomb", main, start=True))
    strategy_id = body["strategy_id"]
    run = wait_for(
        lambda: StrategyRun.objects.filter(strategy_id=strategy_id, pid__isnull=False).first(),
        timeout=30,
        what="the bomb to start",
    )
    peak = 0

    def ended() -> bool:
        nonlocal peak
        peak = max(peak, len(_tree(run.pid)))
        run.refresh_from_db()
        return run.ended_at is not None

    wait_for(ended, timeout=60, every=0.02, what="the bomb's run to end")
    api.post(f"/v1/strategies/{strategy_id}/stop")  # no restart to bomb again
    assert run.status == "failed"
    assert run.reason.startswith("process limit reached (STRATEGY_MAX_PROCESSES=40"), run.reason
    assert peak <= 40 + 1  # never past the limit (+1: bwrap's monitor, outside the namespace)
    assert not [pid for pid in _tree(run.pid) if pid != run.pid]


def test_a_frozen_strategy_is_reported_not_shown_running(runner, api, settings):
    settings.STRATEGY_FROZEN_SECONDS = 1.0
    main = "import os, signal\nprint('freezing', flush=True)\nos.kill(os.getpid(), signal.SIGSTOP)\n"
    status, body = api.post("/v1/strategies", json=create_body("icicle", main, start=True))
    run = _first_run_ended(body["strategy_id"])
    assert run.status == "failed", run.reason
    assert run.reason.startswith("frozen: the strategy's process has been stopped (SIGSTOP)"), run.reason


def test_the_workspace_quota_ends_a_run_that_fills_it(runner, api, settings):
    settings.STRATEGY_WORKSPACE_MB = 2
    settings.STRATEGY_WORKSPACE_CHECK_SECONDS = 0.2
    main = """
import time
with open("/workspace/big.bin", "wb") as out:
    out.write(b"x" * (4 * 1024 * 1024))
print("written", flush=True)
while True:
    time.sleep(0.1)
"""
    status, body = api.post("/v1/strategies", json=create_body("filler", main, start=True))
    run = _first_run_ended(body["strategy_id"])
    assert run.status == "failed", run.reason
    assert run.reason.startswith("workspace quota exceeded: 4 MiB used, STRATEGY_WORKSPACE_MB=2"), run.reason


def test_without_a_sandbox_backend_runs_are_refused_with_the_reason(runner, api, settings):
    settings.STRATEGY_BWRAP = "/nonexistent/bwrap"
    status, body = api.post("/v1/strategies", json=create_body("homeless", "print('ran')", start=True))
    run = _first_run_ended(body["strategy_id"])
    assert run.status == "failed", run.reason
    assert run.reason.startswith("could not start: the strategy sandbox is not available on this runner: bubblewrap"), run.reason
    assert lines_of(run, "stdout") == []


def test_sandbox_none_runs_sandbox_strategies_but_refuses_live_ones(runner, api, owner, settings):
    from sequence_site import services as site_services
    from sequence_site.models import Mode

    settings.SEQUENCE_STRATEGY_SANDBOX = "none"
    status, body = api.post("/v1/strategies", json=create_body("local", "print('ran')", start=True))
    strategy = wait_status(body["strategy_id"], "stopped", timeout=30)
    assert lines_of(strategy.current_run, "stdout") == ["ran"]
    live = site_services.api_key_create(client=owner, mode=Mode.LIVE, name="live")
    status, body = api.post("/v1/strategies", json=create_body("real-money", "print('ran')", start=True), key=live.plaintext)
    assert status == 201, body
    run = _first_run_ended(body["strategy_id"])
    assert run.status == "failed", run.reason
    assert "live strategies run only in the sandbox" in run.reason, run.reason
    assert lines_of(run, "stdout") == []


def test_seccomp_numbers_match_the_kernel_headers():
    from strategies.runner.seccomp import CLONE3_X86_64, CLONE_X86_64, DENIED_X86_64

    header = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
    if not header.is_file() or sys.platform != "linux":
        pytest.skip("no x86_64 kernel headers here")
    numbers = {}
    for line in header.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("__NR_"):
            numbers[parts[1][5:]] = int(parts[2])
    for name, number in {**DENIED_X86_64, "clone": CLONE_X86_64, "clone3": CLONE3_X86_64}.items():
        if name in numbers:
            assert numbers[name] == number, name
