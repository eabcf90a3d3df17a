"""A hosted strategy's runs: what a user does (start, stop, delete), what runners report (claim,
heartbeat, finish) and what the janitor repairs (retries after backoff, runs whose runner was lost).
Lock order everywhere: the strategy row (``select_for_update``) first, then its run; status changes
go through ``lifecycle.transition`` and ``lifecycle.run_transition``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sequence_site.celery import app as celery_app
from sequence_site.errors import NotFound
from strategies.lifecycle import (
    RunStatus,
    StrategyStatus,
    announce,
    run_transition,
    transition,
)
from strategies.models import Strategy, StrategyLog, StrategyRun

# -- user actions -------------------------------------------------------------------------------


def queue_for(latency_target: Sequence[str]) -> str:
    """``strategies.<region>`` for the first target the settings map to a region, else ``strategies``."""
    for target in latency_target:
        region = settings.STRATEGY_PLACEMENT_REGIONS.get(target)
        if region:
            return f"strategies.{region}"
    return "strategies"


def _locked(strategy: Strategy) -> Strategy:
    locked = Strategy.objects.select_for_update().filter(pk=strategy.pk).first()
    if locked is None:
        raise NotFound(f"Strategy {strategy.pk} not found.")
    return locked


def _locked_of_run(run_id: UUID) -> Strategy | None:
    """The strategy of this run, locked; None when the run or the strategy is gone. Only the
    strategy row is locked (``of=("self",)``): its client is read, never written, and locking it
    too would make the runs of every strategy of one client wait for each other."""
    strategy_id = StrategyRun.objects.filter(pk=run_id).values_list("strategy_id", flat=True).first()
    if strategy_id is None:
        return None
    return (
        Strategy.objects.select_for_update(of=("self",))
        .select_related("client")
        .filter(pk=strategy_id)
        .first()
    )


def _last_exit(*, code: int | None, signal: str, reason: str, at: datetime) -> dict[str, Any]:
    """The strategy's ``last_exit_*`` fields for a run that ended."""
    return {
        "last_exit_code": code,
        "last_exit_signal": signal,
        "last_exit_reason": reason[:500],
        "last_exit_at": at,
    }


def _new_run(strategy: Strategy, *, attempt: int) -> StrategyRun:
    """A new queued run: a new run id, placed on the queue its latency target maps to."""
    return StrategyRun.objects.create(
        strategy=strategy,
        status=RunStatus.QUEUED,
        attempt=attempt,
        queue=queue_for(strategy.latency_target),
        generation=strategy.generation,
        artifact_sha256=strategy.artifact_sha256,
        dispatched_at=timezone.now(),
    )


def _dispatch_on_commit(run: StrategyRun) -> None:
    run_id, queue = str(run.pk), run.queue
    # By name, so services don't import tasks (tasks import services). A lost message is not fatal:
    # the janitor re-sends runs that stay queued past STRATEGY_DISPATCH_RETRY_SECONDS.
    # robust: a broker outage is logged, never turned into an error for a change already committed.
    transaction.on_commit(
        lambda: celery_app.send_task("strategies.run", args=[run_id], queue=queue), robust=True
    )


def strategy_run_redispatch(*, run_id: UUID, now: datetime | None = None) -> bool:
    """Send a still-queued run's message again (the janitor's lost-message pass; a runner that
    received it while shutting down). False when the run is no longer queued."""
    with transaction.atomic():
        run = StrategyRun.objects.select_for_update().filter(pk=run_id, status=RunStatus.QUEUED).first()
        if run is None:
            return False
        run.dispatched_at = now or timezone.now()
        run.save(update_fields=["dispatched_at"])
        _dispatch_on_commit(run)
    return True


def _queue(
    strategy: Strategy, *, action: str, actor: str, attempt: int, reason: str = "", **fields: Any
) -> StrategyRun:
    run = _new_run(strategy, attempt=attempt)
    transition(
        strategy,
        to=StrategyStatus.QUEUED,
        action=action,
        run=run,
        actor=actor,
        reason=reason,
        current_run=run,
        next_attempt_at=None,
        **fields,
    )
    _dispatch_on_commit(run)
    return run


def queue_new_run(strategy: Strategy, *, actor: str, action: str = "start") -> StrategyRun:
    if action == "retry":
        run = _queue(
            strategy,
            action=action,
            actor=actor,
            attempt=strategy.consecutive_failures + 1,
            restart_count=F("restart_count") + 1,
        )
        strategy.restart_count += 1
        return run
    run = _queue(strategy, action=action, actor=actor, attempt=1, consecutive_failures=0)
    return run


def strategy_start(*, strategy: Strategy, actor: str = "") -> Strategy:
    """Re-queue a stopped or failed strategy now (a failed one skips its remaining backoff)."""
    with transaction.atomic():
        locked = _locked(strategy)
        queue_new_run(locked, actor=actor)
    return locked


def strategy_stop(*, strategy: Strategy, actor: str = "") -> Strategy:
    """Graceful stop. Queued: cancelled at once. Running: ``stopping`` until the runner has sent
    SIGTERM (SIGKILL after the grace period) and the process is gone. Failed: no more restarts."""
    with transaction.atomic():
        locked = _locked(strategy)
        run = locked.current_run
        if locked.status == StrategyStatus.QUEUED:
            transition(
                locked,
                to=StrategyStatus.STOPPED,
                action="stop",
                run=run,
                actor=actor,
                reason="stopped while queued",
            )
            if run is not None:
                run_transition(
                    run.pk,
                    frm=RunStatus.QUEUED,
                    to=RunStatus.CANCELLED,
                    ended_at=timezone.now(),
                    reason="stopped while queued",
                )
        elif locked.status == StrategyStatus.FAILED:
            transition(
                locked,
                to=StrategyStatus.STOPPED,
                action="stop",
                run=run,
                actor=actor,
                reason="automatic restart cancelled",
                next_attempt_at=None,
            )
        else:
            transition(
                locked,
                to=StrategyStatus.STOPPING,
                action="stop",
                run=run,
                actor=actor,
                reason="SIGTERM on the next heartbeat",
            )
    return locked


def strategy_delete(*, strategy: Strategy, actor: str = "") -> None:
    """Purge the artifact, the row, its runs, logs and history. A running process is stopped by its
    runner on the next heartbeat (it finds its run gone: SIGTERM, then SIGKILL)."""
    with transaction.atomic():
        locked = _locked(strategy)
        strategy_id = locked.pk
        # Lock the runs too: a runner committing a batch of log lines right now then waits for us
        # and fails its foreign-key check (it stops, the strategy is gone) instead of committing
        # a line between our two deletes, which would make this delete fail.
        list(
            StrategyRun.objects.select_for_update()
            .filter(strategy_id=strategy_id)
            .values_list("pk", flat=True)
        )
        # Logs first, in one statement: the cascade would do the same, but this keeps the delete
        # from ever collecting millions of rows in memory.
        StrategyLog.objects.filter(run__strategy_id=strategy_id).delete()
        Strategy.objects.filter(pk=strategy_id).update(current_run=None)
        locked.delete()
        announce(strategy_id, action="delete", status="deleted", reason="deleted")


# -- what runners report ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunLaunch:
    """Everything a runner needs to start one run (secrets excepted: see ``strategy_open_secrets``)."""

    run_id: UUID
    strategy_id: UUID
    strategy_name: str
    client_code: str
    is_sandbox: bool
    attempt: int
    generation: int
    entrypoint: str
    env: dict[str, str]
    manifest: dict[str, Any]
    memory_mb: int
    artifact: bytes = field(repr=False)
    artifact_sha256: str


def strategy_run_claim(*, run_id: UUID, worker: str) -> RunLaunch | None:
    """Claim a queued run for ``worker``; None when it is not claimable (already claimed by another
    runner, cancelled, deleted, or superseded). The conditional update is what makes two runners
    receiving the same message safe: only one UPDATE matches ``status = queued``."""
    with transaction.atomic():
        strategy = _locked_of_run(run_id)
        if strategy is None:
            return None
        strategy_id = strategy.pk
        if strategy.current_run_id != run_id or strategy.status != StrategyStatus.QUEUED:
            run_transition(
                run_id,
                frm=RunStatus.QUEUED,
                to=RunStatus.CANCELLED,
                ended_at=timezone.now(),
                reason="superseded before it was claimed",
            )
            return None
        now = timezone.now()
        claimed = run_transition(
            run_id,
            frm=RunStatus.QUEUED,
            to=RunStatus.RUNNING,
            claimed_by=worker[:200],
            started_at=now,
            heartbeat_at=now,
            generation=strategy.generation,
            artifact_sha256=strategy.artifact_sha256,
        )
        if not claimed:
            return None
        run = StrategyRun.objects.get(pk=run_id)
        transition(strategy, to=StrategyStatus.RUNNING, action="claim", run=run, actor=f"runner:{worker}")
        artifact = Strategy.objects.filter(pk=strategy_id).values_list("artifact", flat=True).get()
        return RunLaunch(
            run_id=run.pk,
            strategy_id=strategy.pk,
            strategy_name=strategy.name,
            client_code=strategy.client.short_code,
            is_sandbox=strategy.is_sandbox,
            attempt=run.attempt,
            generation=strategy.generation,
            entrypoint=strategy.entrypoint,
            env=dict(strategy.env),
            manifest=dict(strategy.manifest),
            memory_mb=strategy.memory_mb,
            artifact=bytes(artifact),
            artifact_sha256=strategy.artifact_sha256,
        )


@dataclass(frozen=True, slots=True)
class RunControl:
    """What a heartbeat tells the runner to do.

    ``lost``: the run is no longer ours (the janitor gave it away): kill now, report nothing.
    ``stop``: why to stop gracefully (SIGTERM, then SIGKILL after the grace period), or None.
    ``report``: whether the exit should still be reported (False once the strategy is deleted).
    """

    lost: bool = False
    stop: str | None = None
    report: bool = True


def strategy_run_heartbeat(
    *, run_id: UUID, worker: str, generation: int, pid: int | None = None
) -> RunControl:
    now = timezone.now()
    updates: dict[str, Any] = {"heartbeat_at": now}
    if pid is not None:
        updates["pid"] = pid
    alive = StrategyRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, claimed_by=worker).update(
        **updates
    )
    if not alive:
        if not StrategyRun.objects.filter(pk=run_id).exists():
            return RunControl(stop="strategy deleted", report=False)
        return RunControl(lost=True, report=False)
    row = Strategy.objects.filter(runs__pk=run_id).values("status", "generation", "current_run_id").first()
    if row is None:
        return RunControl(stop="strategy deleted", report=False)
    if row["status"] == StrategyStatus.STOPPING:
        return RunControl(stop="stop requested")
    if row["generation"] != generation:
        return RunControl(stop="redeployed")
    return RunControl()


@dataclass(frozen=True, slots=True)
class RunExit:
    exit_code: int | None
    signal: str  # "SIGKILL", or "" when it exited by itself
    reason: str
    clean: bool  # exit 0, not stopped by us: done, never restarted
    restart: str | None = None  # "redeployed" / "runner shutting down": re-queue at once, no backoff
    preparation_failed: bool = False  # never started (bad artifact...): failed, no automatic restart


def strategy_run_finish(*, run_id: UUID, worker: str, outcome: RunExit) -> str | None:
    """Record how a run ended and move the strategy on. Returns the strategy's new status, or None
    when there was nothing to record (the run was taken away or deleted meanwhile)."""
    with transaction.atomic():
        strategy = _locked_of_run(run_id)
        if strategy is None:
            return None
        now = timezone.now()
        stopped = outcome.clean or outcome.restart is not None or strategy.status == StrategyStatus.STOPPING
        run_status = RunStatus.STOPPED if stopped else RunStatus.FAILED
        ended = run_transition(
            run_id,
            frm=RunStatus.RUNNING,
            to=run_status,
            where={"claimed_by": worker},
            ended_at=now,
            exit_code=outcome.exit_code,
            signal=outcome.signal,
            reason=outcome.reason[:500],
        )
        if not ended or strategy.current_run_id != run_id:
            return None
        run = StrategyRun.objects.get(pk=run_id)
        last_exit = _last_exit(code=outcome.exit_code, signal=outcome.signal, reason=outcome.reason, at=now)
        actor = f"runner:{worker}"
        requeue = bool(outcome.restart) and not outcome.preparation_failed
        # A requested stop wins over everything; a clean exit stops it unless it is being restarted.
        if strategy.status == StrategyStatus.STOPPING or (outcome.clean and not requeue):
            transition(
                strategy,
                to=StrategyStatus.STOPPED,
                action="exit",
                run=run,
                actor=actor,
                reason=outcome.reason,
                consecutive_failures=0,
                **last_exit,
            )
        elif requeue:
            _queue(
                strategy,
                action="restart",
                actor=actor,
                attempt=1,
                reason=f"{outcome.restart}: {outcome.reason}",
                **last_exit,
            )
        elif outcome.preparation_failed:
            transition(
                strategy,
                to=StrategyStatus.FAILED,
                action="crash",
                run=run,
                actor=actor,
                reason=f"{outcome.reason} (not restarted: redeploy to fix)",
                next_attempt_at=None,
                **last_exit,
            )
        else:
            _fail_with_backoff(
                strategy, run=run, reason=outcome.reason, action="crash", actor=actor, now=now, **last_exit
            )
        return strategy.status


def backoff_seconds(consecutive_failures: int) -> float:
    """1 s, 2 s, 4 s, ... (with the default base) capped at STRATEGY_BACKOFF_MAX_SECONDS."""
    exponent = min(max(consecutive_failures - 1, 0), 32)
    return min(settings.STRATEGY_BACKOFF_BASE_SECONDS * (2**exponent), settings.STRATEGY_BACKOFF_MAX_SECONDS)


def _fail_with_backoff(
    strategy: Strategy,
    *,
    run: StrategyRun,
    reason: str,
    action: str,
    actor: str,
    now: datetime,
    **fields: Any,
) -> None:
    lived = (now - run.started_at).total_seconds() if run.started_at else 0.0
    # A run that lived long enough proves the last crash wasn't a crash loop: start over at 1 s.
    failures = 1 if lived >= settings.STRATEGY_BACKOFF_RESET_SECONDS else strategy.consecutive_failures + 1
    delay = backoff_seconds(failures)
    transition(
        strategy,
        to=StrategyStatus.FAILED,
        action=action,
        run=run,
        actor=actor,
        reason=f"{reason}; restarting in {delay:g} s",
        consecutive_failures=failures,
        next_attempt_at=now + timedelta(seconds=delay),
        **fields,
    )
    strategy_id = str(strategy.pk)
    # The nudge makes the restart punctual; the janitor is the guarantee if the nudge is lost.
    transaction.on_commit(
        lambda: celery_app.send_task(
            "strategies.retry_due", args=[strategy_id], countdown=delay + 0.05, queue="default"
        ),
        robust=True,
    )


def strategy_retry_due(*, strategy_id: UUID | None = None, now: datetime | None = None) -> int:
    """Re-queue failed strategies whose backoff has elapsed (one, or all of them). Returns how many."""
    now = now or timezone.now()
    due = Strategy.objects.filter(status=StrategyStatus.FAILED, next_attempt_at__lte=now)
    if strategy_id is not None:
        due = due.filter(pk=strategy_id)
    count = 0
    for pk in due.values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            strategy = Strategy.objects.select_for_update().filter(pk=pk).first()
            if (
                strategy is None
                or strategy.status != StrategyStatus.FAILED
                or strategy.next_attempt_at is None
                or strategy.next_attempt_at > now
            ):
                continue
            queue_new_run(strategy, actor="janitor", action="retry")
            count += 1
    return count


def strategy_run_lost(*, run_id: UUID, now: datetime | None = None) -> bool:
    """Fail a run whose runner stopped heartbeating (worker killed, host lost) and schedule its
    restart. The heartbeat condition is re-checked under the lock, so a runner that just came back
    keeps its run."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.STRATEGY_HEARTBEAT_TIMEOUT_SECONDS)
    with transaction.atomic():
        strategy = _locked_of_run(run_id)
        if strategy is None:
            return False
        silent = int((now - cutoff).total_seconds())
        reason = f"runner lost: no heartbeat for {silent} s"
        lost = run_transition(
            run_id,
            frm=RunStatus.RUNNING,
            to=RunStatus.FAILED,
            where={"heartbeat_at__lt": cutoff},
            ended_at=now,
            reason=reason,
        )
        if not lost:
            return False
        if strategy.current_run_id != run_id:
            return True
        run = StrategyRun.objects.get(pk=run_id)
        last_exit = _last_exit(code=None, signal="", reason=reason, at=now)
        if strategy.status == StrategyStatus.STOPPING:
            transition(
                strategy,
                to=StrategyStatus.STOPPED,
                action="runner_lost",
                run=run,
                actor="janitor",
                reason=reason,
                **last_exit,
            )
        elif strategy.status == StrategyStatus.RUNNING:
            _fail_with_backoff(
                strategy, run=run, reason=reason, action="runner_lost", actor="janitor", now=now, **last_exit
            )
        return True


@dataclass(frozen=True, slots=True)
class JanitorReport:
    lost: int
    retried: int
    redispatched: int
    logs_deleted: int


def strategy_janitor(*, now: datetime | None = None) -> JanitorReport:
    """One reconcile pass: stale heartbeats, due restarts, lost dispatch messages, old logs."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.STRATEGY_HEARTBEAT_TIMEOUT_SECONDS)
    stale = StrategyRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).values_list(
        "pk", flat=True
    )
    lost = sum(1 for run_id in list(stale[:500]) if strategy_run_lost(run_id=run_id, now=now))
    retried = strategy_retry_due(now=now)

    resend_before = now - timedelta(seconds=settings.STRATEGY_DISPATCH_RETRY_SECONDS)
    queued = StrategyRun.objects.filter(status=RunStatus.QUEUED, dispatched_at__lt=resend_before)
    ids = list(queued.values_list("pk", flat=True)[:500])
    redispatched = sum(1 for run_id in ids if strategy_run_redispatch(run_id=run_id, now=now))

    old = now - timedelta(days=settings.STRATEGY_LOG_RETENTION_DAYS)
    # Bounded per pass so one janitor run never holds a long lock; the next pass continues.
    doomed = list(StrategyLog.objects.filter(ts__lt=old).values_list("pk", flat=True)[:20_000])
    logs_deleted = StrategyLog.objects.filter(pk__in=doomed).delete()[0] if doomed else 0
    return JanitorReport(lost=lost, retried=retried, redispatched=redispatched, logs_deleted=logs_deleted)
