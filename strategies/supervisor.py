"""The supervisor of one run: claim it, prepare its folder, run the process, stream its output, report.

The ``strategies.run`` Celery task calls ``supervise`` and it returns when the process is gone.
Everything it writes goes through ``strategies.services``; everything about the process itself is
in ``strategies.runner`` (no Django there). The loop, top to bottom, every ~50 ms:

1. read the lines the process printed; insert them in batches (500 lines or 100 ms) and fan out;
2. once it has exited and its pipes are closed, leave the loop;
3. every heartbeat interval: prove we are alive, and learn whether to stop (stop requested,
   redeployed, deleted) or whether the run was given away (then kill at once: never run twice);
4. SIGTERM on a stop, SIGKILL once the grace period is over.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection

from sequence_site.crypto import SealError
from strategies import services
from strategies.lifecycle import RunStatus
from strategies.models import StrategyLog, StrategyRun
from strategies.runner.archive import ArchiveError, extract_archive
from strategies.runner.environment import build_environment
from strategies.runner.process import ExitStatus, OutputLine, ResourceLimits, StrategyProcess, classify_exit
from strategies.runner.sandbox import INNER_WORKSPACE, RunSandbox, SandboxError, workspace_usage
from strategies.sandboxing import sandbox_config

logger = logging.getLogger(__name__)

# A batch is written when 500 lines are waiting or the oldest has waited 100 ms, so a trickle of
# output reaches followers within ~0.1 s; under a burst, batches grow to 2,000 lines so the cost
# of a commit and a fan-out message is shared by more lines.
BATCH_LINES = 500
BATCH_SECONDS = 0.1
MAX_BATCH_LINES = 2000
# Stop reading (back-pressure on the strategy) while this much waits for the database.
MAX_PENDING_LINES = 20_000
MAX_PENDING_BYTES = 8 * 1024 * 1024
OUTPUT_AFTER_EXIT_SECONDS = 2.0  # pipes kept open by a detached grandchild don't hold the run


class LogWriter:
    """Numbers lines (``seq`` from 1, no gaps) and inserts them in batches through the service."""

    def __init__(self, *, strategy_id: UUID, run_id: UUID) -> None:
        self.strategy_id = strategy_id
        self.run_id = run_id
        self.pending: list[services.LogRecord] = []
        self.pending_bytes = 0
        self.next_seq = 1
        self.oldest_pending: float | None = None
        self.enabled = True
        self.quota = services.LogQuota()

    def add(self, stream: str, ts: datetime, text: str) -> None:
        """A line of the strategy's output, stored within the run's log limits (``LogQuota``)."""
        if not self.enabled:
            return
        admit, marker = self.quota.admit(len(text))
        if marker is not None:
            self._append(StrategyLog.Stream.SYSTEM, ts, f"[sequence] {marker}")
        if admit:
            self._append(stream, ts, text)

    def _append(self, stream: str, ts: datetime, text: str) -> None:
        if not self.enabled:
            return
        if not self.pending:
            self.oldest_pending = time.monotonic()
        self.pending.append(services.LogRecord(seq=self.next_seq, stream=stream, ts=ts, line=text))
        self.pending_bytes += len(text)
        self.next_seq += 1

    def add_output(self, lines: list[OutputLine]) -> None:
        for line in lines:
            self.add(line.stream, datetime.fromtimestamp(line.ts, tz=UTC), line.text)

    def system(self, text: str) -> None:
        """The platform's own lines: never limited; drops not reported yet are reported first."""
        now = datetime.now(tz=UTC)
        if (marker := self.quota.pending_marker()) is not None:
            self._append(StrategyLog.Stream.SYSTEM, now, f"[sequence] {marker}")
        self._append(StrategyLog.Stream.SYSTEM, now, f"[sequence] {text}")

    def due(self) -> bool:
        return bool(self.pending) and (
            len(self.pending) >= BATCH_LINES or time.monotonic() - (self.oldest_pending or 0) >= BATCH_SECONDS
        )

    def flush(self) -> None:
        """Insert everything pending, in batches. Raises ``services.RunGone`` once the run is deleted;
        a ``DatabaseError`` leaves the lines pending for the next try."""
        while self.pending and self.enabled:
            batch = self.pending[:MAX_BATCH_LINES]
            try:
                services.strategy_logs_append(strategy_id=self.strategy_id, run_id=self.run_id, records=batch)
            except services.RunGone:
                self.enabled = False
                self.pending.clear()
                self.pending_bytes = 0
                raise
            except IntegrityError:
                # A batch committed but its answer was lost, then retried: drop what is already in.
                done = (
                    StrategyLog.objects.filter(run_id=self.run_id)
                    .order_by("-seq")
                    .values_list("seq", flat=True)
                    .first()
                )
                self.pending = [record for record in self.pending if record.seq > (done or 0)]
                self.pending_bytes = sum(len(record.line) for record in self.pending)
                continue
            del self.pending[: len(batch)]
            self.pending_bytes -= sum(len(record.line) for record in batch)
        self.oldest_pending = time.monotonic() if self.pending else None


def _db_retry_later(what: str) -> None:
    logger.warning("strategy supervisor: %s failed; retrying on the next tick", what, exc_info=True)
    connection.close_if_unusable_or_obsolete()


def supervise(*, run_id: UUID, worker: str, should_exit: Callable[[], bool] = lambda: False) -> str | None:
    """Run one queued run to its end. Returns the strategy's new status, or None when the run was
    not ours to run (claimed elsewhere, cancelled, deleted) or was taken away meanwhile."""
    _sweep_stale_run_dirs()
    if should_exit():
        # A runner that is shutting down starts nothing: the run goes back to the queue for another
        # one. (Its own hand-back can reach it this way: the message it re-queued arrives while it
        # still consumes.)
        services.strategy_run_redispatch(run_id=run_id)
        return None
    launch = services.strategy_run_claim(run_id=run_id, worker=worker)
    if launch is None:
        return None
    run_dir = Path(settings.STRATEGY_RUN_DIR) / str(run_id)
    try:
        return _supervise(launch, run_dir=run_dir, worker=worker, should_exit=should_exit)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _prepare(launch: services.RunLaunch, run_dir: Path) -> Path:
    """Verify and extract the artifact into a fresh ``<run_dir>/workspace``, write the manifest.
    Returns the workspace. (``<run_dir>/control`` holds the sandbox's API socket, out of its reach.)"""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(mode=0o711)
    run_dir.chmod(0o711)  # the sandbox uid passes through to its workspace, and lists nothing here
    workspace = run_dir / "workspace"
    extract_archive(
        launch.artifact,
        workspace,
        limits=services.archive_limits(),
        entrypoint=launch.entrypoint,
        expected_sha256=launch.artifact_sha256,
    )
    workspace.chmod(0o700)
    meta = workspace / ".sequence"
    # Whatever the archive put at .sequence (a file, a link) is replaced by ours.
    if meta.is_symlink() or meta.is_file():
        meta.unlink()
    elif meta.is_dir():
        shutil.rmtree(meta)
    (meta / "tmp").mkdir(parents=True)
    (meta / "manifest.json").write_text(json.dumps(launch.manifest, indent=2))
    return workspace


def _supervise(
    launch: services.RunLaunch, *, run_dir: Path, worker: str, should_exit: Callable[[], bool]
) -> str | None:
    logs = LogWriter(strategy_id=launch.strategy_id, run_id=launch.run_id)
    logs.system(
        f"run {launch.run_id} (attempt {launch.attempt}) on {worker}; artifact {launch.artifact_sha256[:12]}"
    )

    def give_up(reason: str, *, permanent: bool) -> str | None:
        logs.system(f"could not start: {reason}")
        _flush_quietly(logs)
        outcome = services.RunExit(
            exit_code=None,
            signal="",
            reason=f"could not start: {reason}",
            clean=False,
            preparation_failed=permanent,
        )
        return _finish(launch.run_id, worker, outcome)

    sandboxed = settings.SEQUENCE_STRATEGY_SANDBOX != "none"
    if not sandboxed and not launch.is_sandbox:
        return give_up(
            "live strategies run only in the sandbox, and this runner has SEQUENCE_STRATEGY_SANDBOX=none",
            permanent=False,
        )
    config = None
    if sandboxed:
        config, problem = sandbox_config()
        if config is None:
            return give_up(f"the strategy sandbox is not available on this runner: {problem}", permanent=False)
    try:
        workspace = _prepare(launch, run_dir)
    except ArchiveError as exc:
        return give_up(str(exc), permanent=True)
    except OSError as exc:  # disk full, permissions: may pass on another try
        return give_up(f"{type(exc).__name__}: {exc.strerror or exc}", permanent=False)

    sandbox = None
    if config is not None:
        sandbox = RunSandbox(
            config,
            name=str(launch.run_id),
            workspace=workspace,
            control=run_dir / "control",
            memory_mb=launch.memory_mb,
        )
        try:
            sandbox.prepare()
        except (SandboxError, OSError) as exc:
            return give_up(f"sandbox: {exc}", permanent=False)
    try:
        return _run(launch, logs=logs, workspace=workspace, sandbox=sandbox, worker=worker,
                    should_exit=should_exit, give_up=give_up)
    finally:
        if sandbox is not None:
            sandbox.close()


def _run(
    launch: services.RunLaunch,
    *,
    logs: LogWriter,
    workspace: Path,
    sandbox: RunSandbox | None,
    worker: str,
    should_exit: Callable[[], bool],
    give_up: Callable[..., str | None],
) -> str | None:
    try:
        opened = services.strategy_open_secrets(strategy_id=launch.strategy_id)
    except (SealError, ValueError) as exc:
        return give_up(str(exc), permanent=True)
    # Paths and the API address as the strategy sees them: inside the sandbox, /workspace and the
    # API through the sandbox's forwarder; without it, the run folder and the API itself.
    inner = Path(INNER_WORKSPACE) if sandbox is not None else workspace
    platform = {
        "SEQUENCE_API_URL": sandbox.inner_api_url if sandbox is not None else settings.SEQUENCE_PUBLIC_API_URL,
        "SEQUENCE_STRATEGY_ID": str(launch.strategy_id),
        "SEQUENCE_STRATEGY_NAME": launch.strategy_name,
        "SEQUENCE_RUN_ID": str(launch.run_id),
        "SEQUENCE_CLIENT_ID": launch.client_code,
        "SEQUENCE_IS_SANDBOX": "true" if launch.is_sandbox else "false",
        "SEQUENCE_STRATEGY_MANIFEST": str(inner / ".sequence" / "manifest.json"),
    }
    if opened.sequence_api_key:
        platform["SEQUENCE_API_KEY"] = opened.sequence_api_key
    env = build_environment(
        home=inner,
        tmpdir=Path("/tmp") if sandbox is not None else inner / ".sequence" / "tmp",
        user_env=launch.env,
        secrets=opened.secrets,
        platform=platform,
    )
    del opened, platform
    # -E -s -S instead of -I: the same isolation from the platform's own packages (no site, no
    # user site, no PYTHON* variables), but the script's folder stays on sys.path so the vendored
    # SDK next to the entrypoint imports like it does in python:3.12-slim.
    argv = [settings.STRATEGY_PYTHON, "-E", "-s", "-S", "-u", launch.entrypoint]
    if sandbox is not None:
        # The image is python:3.12-slim's world (standard library only), so no flags are needed
        # to keep the platform's packages out: they are not there.
        argv = ["python", "-u", launch.entrypoint]
    limits = ResourceLimits(
        memory_mb=launch.memory_mb,
        open_files=settings.STRATEGY_OPEN_FILES,
        cpu_seconds=settings.STRATEGY_CPU_SECONDS or None,
    )
    process = StrategyProcess(argv, cwd=workspace, env=env, limits=limits, sandbox=sandbox)
    try:
        pid = process.start()
    except OSError as exc:
        return give_up(f"{type(exc).__name__}: {exc.strerror or exc}", permanent=False)
    finally:
        del env
    where = (
        f"sandbox uid {sandbox.uid}, Python 3.12" if sandbox is not None else "NOT sandboxed (SEQUENCE_STRATEGY_SANDBOX=none)"
    )
    logs.system(f"started python -u {launch.entrypoint} (pid {pid}, memory_mb={launch.memory_mb}, {where})")
    try:
        services.strategy_run_heartbeat(
            run_id=launch.run_id, worker=worker, generation=launch.generation, pid=pid
        )
    except DatabaseError:
        _db_retry_later("first heartbeat")
    try:
        return _watch(process, launch=launch, logs=logs, worker=worker, should_exit=should_exit, workspace=workspace)
    except BaseException:
        # Whatever went wrong in here, the process must not outlive its supervision: the janitor
        # will restart the run elsewhere once the heartbeats stop.
        process.kill()
        process.close()
        raise


def _watch(
    process: StrategyProcess,
    *,
    launch: services.RunLaunch,
    logs: LogWriter,
    worker: str,
    should_exit: Callable[[], bool],
    workspace: Path,
) -> str | None:
    beat_every = settings.STRATEGY_HEARTBEAT_SECONDS
    grace = settings.STRATEGY_STOP_GRACE_SECONDS
    next_beat = time.monotonic() + beat_every
    stop_reason: str | None = None
    kill_at: float | None = None
    report = True
    exited_at: float | None = None
    limit_reason: str | None = None  # the runner ended the run for breaking a limit
    frozen_since: float | None = None
    next_quota_check = time.monotonic() + settings.STRATEGY_WORKSPACE_CHECK_SECONDS

    def over_limit(reason: str) -> None:
        nonlocal limit_reason
        limit_reason = reason
        logs.system(f"{reason}: killing the run")
        process.kill()

    def stop(reason: str, *, now: float) -> None:
        nonlocal stop_reason, kill_at
        stop_reason = reason
        kill_at = now + grace
        logs.system(f"stopping ({reason}): SIGTERM, SIGKILL in {grace:g} s")
        process.terminate()

    while True:
        if len(logs.pending) < MAX_PENDING_LINES and logs.pending_bytes < MAX_PENDING_BYTES:
            logs.add_output(process.read(timeout=0.05, max_lines=MAX_BATCH_LINES))
        else:
            time.sleep(0.05)
        if logs.due():
            try:
                logs.flush()
            except services.RunGone:
                report = False
                if stop_reason is None:
                    stop("strategy deleted", now=time.monotonic())
            except DatabaseError:
                _db_retry_later("log insert")
        now = time.monotonic()
        if process.poll() is not None:
            exited_at = exited_at or now
            if process.output_closed or now - exited_at > OUTPUT_AFTER_EXIT_SECONDS:
                break
            continue
        if now >= next_beat:
            next_beat = now + beat_every
            try:
                control = services.strategy_run_heartbeat(
                    run_id=launch.run_id, worker=worker, generation=launch.generation
                )
            except DatabaseError:
                _db_retry_later("heartbeat")
                control = services.RunControl()
            if control.lost:
                # The janitor gave this run away: another runner may start it any moment.
                report = False
                stop_reason = stop_reason or "run taken over"
                logs.system("this run was declared lost (no heartbeat): killing it")
                process.kill()
            elif control.stop and stop_reason is None:
                report = control.report
                stop(control.stop, now=now)
            if limit_reason is None and process.last_signal != "SIGKILL":
                limit_reason_now = _limits_broken(process, now=now, frozen_since=frozen_since)
                frozen_since = limit_reason_now[1]
                if limit_reason_now[0]:
                    over_limit(limit_reason_now[0])
        if limit_reason is None and now >= next_quota_check and process.last_signal != "SIGKILL":
            next_quota_check = now + settings.STRATEGY_WORKSPACE_CHECK_SECONDS
            quota = _workspace_over_quota(workspace)
            if quota:
                over_limit(quota)
        if stop_reason is None and should_exit():
            stop("runner shutting down", now=now)
        if kill_at is not None and now >= kill_at and process.last_signal != "SIGKILL":
            logs.system(f"still running {grace:g} s after SIGTERM: SIGKILL")
            process.kill()

    process.close()
    while True:  # whatever is still buffered
        rest = process.read(timeout=0, max_lines=MAX_BATCH_LINES)
        if not rest:
            break
        logs.add_output(rest)
    status = process.poll() or ExitStatus(exit_code=None, signal=None)
    sandbox = process.sandbox
    if limit_reason is None and sandbox is not None and sandbox.task_limit_hit():
        limit_reason = _task_limit_reason()
    verdict = classify_exit(
        status,
        memory_mb=launch.memory_mb,
        stderr_tail=list(process.stderr_tail),
        stop_signal=process.last_signal if stop_reason else None,
        cpu_seconds=settings.STRATEGY_CPU_SECONDS or None,
        oom_killed=sandbox is not None and sandbox.oom_killed(),
        limit_reason=limit_reason,
    )
    logs.system(f"exited: {verdict.reason}")
    _flush_quietly(logs)
    if not report:
        return None
    restart = stop_reason if stop_reason in ("redeployed", "runner shutting down") else None
    outcome = services.RunExit(
        exit_code=status.exit_code,
        signal=status.signal_name or "",
        reason=verdict.reason,
        clean=verdict.clean and stop_reason is None,
        restart=restart,
    )
    return _finish(launch.run_id, worker, outcome)


def _task_limit_reason() -> str:
    return (
        f"process limit reached (STRATEGY_MAX_PROCESSES={settings.STRATEGY_MAX_PROCESSES} processes and "
        "threads): a fork bomb, or a program that needs a higher limit"
    )


def _limits_broken(process: StrategyProcess, *, now: float, frozen_since: float | None) -> tuple[str | None, float | None]:
    """(why the run must end now or None, since when its process has been stopped or None)."""
    sandbox = process.sandbox
    if sandbox is not None and sandbox.task_limit_hit():
        return _task_limit_reason(), frozen_since
    try:
        state = process.main_state()
    except OSError:
        state = None
    if state not in ("T", "t"):
        return None, None
    frozen_since = frozen_since or now
    if now - frozen_since >= settings.STRATEGY_FROZEN_SECONDS:
        return (
            f"frozen: the strategy's process has been stopped (SIGSTOP) for {now - frozen_since:.0f} s",
            frozen_since,
        )
    return None, frozen_since


def _workspace_over_quota(workspace: Path) -> str | None:
    size, files = workspace_usage(workspace, max_files=settings.STRATEGY_WORKSPACE_FILES)
    if files > settings.STRATEGY_WORKSPACE_FILES:
        return f"workspace quota exceeded: more than {settings.STRATEGY_WORKSPACE_FILES} files (STRATEGY_WORKSPACE_FILES)"
    if size > settings.STRATEGY_WORKSPACE_MB * 1024 * 1024:
        return (
            f"workspace quota exceeded: {size // (1024 * 1024)} MiB used, "
            f"STRATEGY_WORKSPACE_MB={settings.STRATEGY_WORKSPACE_MB}"
        )
    return None


def _finish(run_id: UUID, worker: str, outcome: services.RunExit, attempts: int = 5) -> str | None:
    """Report the exit, retrying through a short database outage (after that, the janitor's
    stale-heartbeat pass settles the run)."""
    for attempt in range(attempts):
        try:
            return services.strategy_run_finish(run_id=run_id, worker=worker, outcome=outcome)
        except DatabaseError:
            if attempt + 1 == attempts:
                raise
            _db_retry_later("exit report")
            time.sleep(0.5 * (attempt + 1))
    return None


def _flush_quietly(logs: LogWriter, attempts: int = 5) -> None:
    for attempt in range(attempts):
        try:
            logs.flush()
            return
        except services.RunGone:
            return
        except DatabaseError:
            _db_retry_later("final log insert")
            time.sleep(0.2 * (attempt + 1))


def _sweep_stale_run_dirs(min_age_seconds: float = 60.0) -> None:
    """Remove folders left by runners that were killed: those of runs no longer running anywhere."""
    root = Path(settings.STRATEGY_RUN_DIR)
    if not root.is_dir():
        return
    cutoff = time.time() - min_age_seconds
    candidates = {}
    for path in root.iterdir():
        try:
            if path.is_dir() and path.stat().st_mtime < cutoff:
                candidates[UUID(path.name)] = path
        except (ValueError, OSError):
            continue
    if not candidates:
        return
    running = set(
        StrategyRun.objects.filter(pk__in=list(candidates), status=RunStatus.RUNNING).values_list(
            "pk", flat=True
        )
    )
    for run_id, path in candidates.items():
        if run_id not in running:
            shutil.rmtree(path, ignore_errors=True)
