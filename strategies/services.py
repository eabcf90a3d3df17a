"""Every write about hosted strategies: deploy, start, stop, delete, and what runners report.

The REST API, the dashboard buttons, the CLI (through the API), the supervisor task and the janitor
all call these functions. Lock order everywhere: the strategy row (``select_for_update``) first,
then its run; status changes go through ``lifecycle.transition``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from sequence_site import crypto
from sequence_site.celery import app as celery_app
from sequence_site.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, PayloadTooLarge
from sequence_site.models import ApiKey
from sequence_site.realtime import publish_on_commit
from sequence_site.scope import Scope
from sequence_site.services import api_key_authenticate
from strategies.artifact_policy import artifact_policy_check
from strategies.lifecycle import (
    RunStatus,
    StrategyStatus,
    announce,
    group_name,
    record,
    run_transition,
    transition,
)
from strategies.models import Strategy, StrategyLog, StrategyRun
from strategies.runner.archive import ArchiveError, ArchiveLimits, clean_entrypoint, inspect_archive
from strategies.runner.environment import env_name_problem, env_value_problem
from strategies.schemas import LogLineOut

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TARGET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
MAX_VARS = 200
MAX_ENV_BYTES = 64 * 1024
MAX_MANIFEST_BYTES = 256 * 1024
MIN_MEMORY_MB = 64
SECRETS_PURPOSE = "strategy.secrets"
API_KEY_PURPOSE = "strategy.sequence_api_key"
MiB = 1024 * 1024


def archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_upload_bytes=settings.STRATEGY_MAX_UPLOAD_MB * MiB,
        max_unpacked_bytes=settings.STRATEGY_MAX_UNPACKED_MB * MiB,
        max_files=settings.STRATEGY_MAX_FILES,
    )


def queue_for(latency_target: Sequence[str]) -> str:
    """``strategies.<region>`` for the first target the settings map to a region, else ``strategies``."""
    for target in latency_target:
        region = settings.STRATEGY_PLACEMENT_REGIONS.get(target)
        if region:
            return f"strategies.{region}"
    return "strategies"


# -- input checking (nothing is written until all of it passes) ----------------------------------


def artifact_too_large(size: int) -> PayloadTooLarge:
    """The one refusal of an oversize artifact (a 413 with the real size and the limit)."""
    limit = settings.STRATEGY_MAX_UPLOAD_MB * MiB
    return PayloadTooLarge(
        f"The artifact is {size:,} bytes, over the {settings.STRATEGY_MAX_UPLOAD_MB} MiB upload limit "
        f"({limit:,} bytes).",
        details={"size_bytes": size, "limit_bytes": limit},
    )


def artifact_from_base64(text: Any) -> bytes:
    """Strict base64 -> bytes, refusing an oversized upload before decoding it."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("artifact_base64 is empty: send the strategy folder as a base64-encoded tar.gz.")
    compact = "".join(text.split())
    size = len(compact) * 3 // 4 - compact.count("=")
    if size > settings.STRATEGY_MAX_UPLOAD_MB * MiB:
        raise artifact_too_large(size)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("artifact_base64 is not valid base64.") from None


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name.strip()):
        raise InvalidInput(
            "name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            details=[{"field": "name", "in": "body", "message": "invalid strategy name"}],
        )
    return name.strip()


def _check_vars(values: Any, *, slot: str) -> dict[str, str]:
    """env or secrets: a flat object of NAME -> string (numbers and booleans become strings)."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInput(f"{slot} must be a JSON object of NAME -> string.")
    if len(values) > MAX_VARS:
        raise InvalidInput(f"{slot} has {len(values)} entries; at most {MAX_VARS}.")
    checked: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = str(value)
        problem = env_name_problem(name) or env_value_problem(name, value)
        if problem:
            raise InvalidInput(
                f"{slot}: {problem}", details=[{"field": f"{slot}.{name}", "in": "body", "message": problem}]
            )
        checked[name] = value
    if sum(len(k) + len(v.encode()) for k, v in checked.items()) > MAX_ENV_BYTES:
        raise InvalidInput(f"{slot} is over {MAX_ENV_BYTES // 1024} KiB.")
    return checked


def _check_manifest(manifest: Any) -> dict[str, Any]:
    if manifest is None:
        return {}
    if not isinstance(manifest, Mapping):
        raise InvalidInput("manifest must be a JSON object (it is written to .sequence/manifest.json).")
    if len(json.dumps(manifest).encode()) > MAX_MANIFEST_BYTES:
        raise InvalidInput(f"manifest is over {MAX_MANIFEST_BYTES // 1024} KiB.")
    return dict(manifest)


def _check_memory(memory_mb: Any) -> int:
    if memory_mb is None:
        return settings.STRATEGY_DEFAULT_MEMORY_MB
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int):
        raise InvalidInput("memory_mb must be a whole number of MiB.")
    if not MIN_MEMORY_MB <= memory_mb <= settings.STRATEGY_MAX_MEMORY_MB:
        raise InvalidInput(
            f"memory_mb must be between {MIN_MEMORY_MB} and {settings.STRATEGY_MAX_MEMORY_MB}."
        )
    return memory_mb


def _check_targets(latency_target: Any) -> list[str]:
    if latency_target is None or latency_target == "":
        return []
    targets = [latency_target] if isinstance(latency_target, str) else latency_target
    if not isinstance(targets, list) or len(targets) > 8:
        raise InvalidInput('latency_target is a venue name or a list of at most 8, e.g. ["coinbase"].')
    cleaned: list[str] = []
    for target in targets:
        if not isinstance(target, str) or not TARGET_PATTERN.match(target.strip().lower()):
            raise InvalidInput(f"latency_target {target!r} is not a venue or region name.")
        if target.strip().lower() not in cleaned:
            cleaned.append(target.strip().lower())
    return cleaned


def _check_api_key(token: str, *, scope: Scope) -> ApiKey:
    """The strategy's own key must be an active key of the same client and mode."""
    try:
        key_scope = api_key_authenticate(token=token.strip())
    except AuthenticationFailed as exc:
        raise InvalidInput(f"sequence_api_key is not usable: {exc.message}") from None
    if key_scope.client.pk != scope.client.pk:
        raise InvalidInput("sequence_api_key belongs to another client.")
    if key_scope.is_sandbox != scope.is_sandbox:
        want = "seq_test_" if scope.is_sandbox else "seq_live_"
        raise InvalidInput(
            f"sequence_api_key must be a {want} key: a {'sandbox' if scope.is_sandbox else 'live'} "
            "strategy acts in its own mode."
        )
    assert key_scope.api_key is not None
    return key_scope.api_key


@dataclass(frozen=True, slots=True)
class DeployResult:
    strategy: Strategy
    created: bool


def strategy_deploy(
    *,
    scope: Scope,
    name: str,
    artifact: bytes,
    runtime: str = "python",
    entrypoint: str = "main.py",
    env: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    manifest: Mapping[str, Any] | None = None,
    memory_mb: int | None = None,
    latency_target: str | list[str] | None = None,
    sequence_api_key: str | None = None,
    start: bool = False,
    actor: str = "",
) -> DeployResult:
    """Create a strategy, or redeploy the one of that name (new artifact, new settings).

    ``secrets`` and ``sequence_api_key`` left as None keep what a redeployed strategy already has
    (so shipping new code doesn't need the secrets again); ``{}`` / ``""`` clear them. A running
    strategy is restarted on the new version; a queued one will run it.
    """
    name = _check_name(name)
    if runtime != "python":
        raise InvalidInput("runtime must be 'python'")
    if not isinstance(entrypoint, str) or len(entrypoint) > 255:
        raise InvalidInput("entrypoint must be a relative file path of at most 255 characters.")
    try:
        entrypoint = clean_entrypoint(entrypoint)
        info = inspect_archive(artifact, limits=archive_limits(), entrypoint=entrypoint)
    except ArchiveError as exc:
        raise InvalidInput(f"Invalid artifact: {exc}") from None
    artifact_policy_check(artifact=artifact, entrypoint=entrypoint)
    checked_env = _check_vars(env, slot="env")
    checked_secrets = None if secrets is None else _check_vars(secrets, slot="secrets")
    checked_manifest = _check_manifest(manifest)
    memory = _check_memory(memory_mb)
    targets = _check_targets(latency_target)
    api_key = None
    if sequence_api_key:
        api_key = _check_api_key(sequence_api_key, scope=scope)

    try:
        with transaction.atomic():
            strategy = (
                Strategy.objects.select_for_update()
                .filter(client=scope.client, is_sandbox=scope.is_sandbox, name=name)
                .first()
            )
            created = strategy is None
            if strategy is None:
                strategy = Strategy(client=scope.client, is_sandbox=scope.is_sandbox, name=name)
            else:
                strategy.generation += 1
            strategy.runtime = runtime
            strategy.entrypoint = entrypoint
            strategy.env = checked_env
            strategy.manifest = checked_manifest
            strategy.memory_mb = memory
            strategy.latency_target = targets
            strategy.artifact = artifact
            strategy.artifact_sha256 = info.sha256
            strategy.artifact_size_bytes = info.size_bytes
            strategy.artifact_has_sdk = info.has_sdk
            if checked_secrets is not None:
                _seal_secrets(strategy, checked_secrets)
            if sequence_api_key is not None:
                _seal_api_key(strategy, sequence_api_key.strip() if api_key else None, api_key)
            if created:
                strategy.save(force_insert=True)
                record(
                    strategy,
                    action="deploy",
                    from_status="",
                    to_status=strategy.status,
                    reason=f"artifact {info.sha256[:12]}",
                    actor=actor,
                )
            else:
                strategy.save()
                record(
                    strategy,
                    action="redeploy",
                    from_status=strategy.status,
                    to_status=strategy.status,
                    reason=f"artifact {info.sha256[:12]} (generation {strategy.generation})",
                    actor=actor,
                )
            if start and strategy.status in (StrategyStatus.STOPPED, StrategyStatus.FAILED):
                _start(strategy, actor=actor)
    except IntegrityError:
        raise Conflict(f"A strategy named {name!r} was created at the same moment; try again.") from None
    return DeployResult(strategy=strategy, created=created)


def _seal_secrets(strategy: Strategy, secrets: dict[str, str]) -> None:
    if not secrets:
        strategy.secrets_ciphertext = strategy.secrets_nonce = None
        strategy.secret_names = []
        return
    sealed = crypto.seal(json.dumps(secrets).encode(), purpose=SECRETS_PURPOSE, row_id=str(strategy.pk))
    strategy.secrets_ciphertext, strategy.secrets_nonce = sealed.ciphertext, sealed.nonce
    strategy.secret_names = sorted(secrets)


def _seal_api_key(strategy: Strategy, token: str | None, api_key: ApiKey | None) -> None:
    if token is None:
        strategy.sequence_api_key_ciphertext = strategy.sequence_api_key_nonce = None
        strategy.sequence_api_key_ref = None
        return
    sealed = crypto.seal(token.encode(), purpose=API_KEY_PURPOSE, row_id=str(strategy.pk))
    strategy.sequence_api_key_ciphertext, strategy.sequence_api_key_nonce = sealed.ciphertext, sealed.nonce
    strategy.sequence_api_key_ref = api_key


@dataclass(frozen=True, slots=True)
class OpenedSecrets:
    secrets: dict[str, str]
    sequence_api_key: str | None


def strategy_open_secrets(*, strategy_id: UUID) -> OpenedSecrets:
    """Decrypt a strategy's secrets and API key. Only the supervisor calls this, right before it
    builds the child's environment; the result is never logged, stored or returned."""
    row = (
        Strategy.objects.filter(pk=strategy_id)
        .values(
            "secrets_ciphertext", "secrets_nonce", "sequence_api_key_ciphertext", "sequence_api_key_nonce"
        )
        .first()
    )
    if row is None:
        return OpenedSecrets(secrets={}, sequence_api_key=None)
    secrets: dict[str, str] = {}
    if row["secrets_ciphertext"] is not None:
        plain = crypto.open_sealed(
            row["secrets_ciphertext"], row["secrets_nonce"], purpose=SECRETS_PURPOSE, row_id=str(strategy_id)
        )
        secrets = json.loads(plain)
    key = None
    if row["sequence_api_key_ciphertext"] is not None:
        key = crypto.open_sealed(
            row["sequence_api_key_ciphertext"],
            row["sequence_api_key_nonce"],
            purpose=API_KEY_PURPOSE,
            row_id=str(strategy_id),
        ).decode()
    return OpenedSecrets(secrets=secrets, sequence_api_key=key)


# -- user actions -------------------------------------------------------------------------------


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


def _start(strategy: Strategy, *, actor: str, action: str = "start") -> StrategyRun:
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
        _start(locked, actor=actor)
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
class LogRecord:
    seq: int
    stream: str
    ts: datetime
    line: str


class LogQuota:
    """What of one run's output is stored: a rate limit and a byte quota, like the algos' 200 lines/s.

    A token bucket of ``STRATEGY_LOG_LINES_PER_SECOND`` lines (bursts of ``STRATEGY_LOG_BURST_LINES``)
    and at most ``STRATEGY_LOG_MAX_MB_PER_RUN`` MiB of text per run. Dropped lines are never silent:
    ``admit`` hands back a marker line ("N lines dropped ...") to store before the next admitted line,
    at most one a second, and ``pending_marker`` the count still unreported (for the run's last words).
    A strategy that printed 300,000 lines in 21 s used to store all of them (83 MB of database).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(settings.STRATEGY_LOG_LINES_PER_SECOND)
        self.burst = float(settings.STRATEGY_LOG_BURST_LINES)
        self.max_bytes = settings.STRATEGY_LOG_MAX_MB_PER_RUN * MiB
        self.clock = clock
        self.tokens = self.burst
        self.refilled = clock()
        self.stored_bytes = 0
        self.dropped = 0  # since the last marker
        self.dropped_total = 0
        self.last_marker = float("-inf")
        self.over_quota_said = False

    def admit(self, size: int) -> tuple[bool, str | None]:
        """(store this line?, a marker line to store first, or None)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.stored_bytes + size > self.max_bytes:
            self._drop()
            if not self.over_quota_said:
                self.over_quota_said = True
                return False, self._marker(
                    now,
                    f"this run reached its log quota of {self.max_bytes // MiB} MiB; "
                    "further output is dropped",
                )
            return False, None
        if self.tokens < 1:
            self._drop()
            return False, None
        self.tokens -= 1
        self.stored_bytes += size
        if self.dropped and now - self.last_marker >= 1.0:
            return True, self._marker(now, f"over {self.rate:g} lines/s")
        return True, None

    def pending_marker(self) -> str | None:
        """The marker for drops not reported yet (call before the run's final system lines)."""
        if not self.dropped:
            return None
        return self._marker(self.clock(), "over the log limits")

    def _drop(self) -> None:
        self.dropped += 1
        self.dropped_total += 1

    def _marker(self, now: float, why: str) -> str:
        text = f"{self.dropped:,} lines dropped ({why}; {self.dropped_total:,} in this run)"
        self.dropped = 0
        self.last_marker = now
        return text


class RunGone(Exception):
    """The run's rows were deleted (the strategy was deleted) while it was writing logs."""


def strategy_logs_append(*, strategy_id: UUID, run_id: UUID, records: Sequence[LogRecord]) -> None:
    """Insert a batch of log lines and fan them out to live followers after commit."""
    if not records:
        return
    try:
        with transaction.atomic():
            _insert_logs(run_id, records)
            for chunk in _fanout_chunks(records):
                publish_on_commit(
                    group_name(strategy_id),
                    {
                        "type": "log.lines",
                        "strategy_id": str(strategy_id),
                        "run_id": str(run_id),
                        "lines": chunk,
                    },
                )
    except IntegrityError:
        if not StrategyRun.objects.filter(pk=run_id).exists():
            raise RunGone(str(run_id)) from None
        raise


FANOUT_CHUNK_BYTES = 256 * 1024


def _fanout_chunks(records: Sequence[LogRecord]) -> list[list[dict[str, Any]]]:
    """The batch as channel-layer messages of at most ~256 KiB: 2,000 lines of 16 KiB would
    otherwise be one 32 MiB message through Redis and down every follower's websocket."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for r in records:
        if chunks[-1] and size + len(r.line) > FANOUT_CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(LogLineOut.wire(r))
        size += len(r.line) + 64
    return chunks


def _insert_logs(run_id: UUID, records: Sequence[LogRecord]) -> None:
    if connection.vendor != "postgresql":
        StrategyLog.objects.bulk_create(
            [StrategyLog(run_id=run_id, seq=r.seq, stream=r.stream, ts=r.ts, line=r.line) for r in records]
        )
        return
    # COPY instead of a multi-row INSERT: 4-5x the rows/s (docs/benchmarks.md), which is what
    # lets a chatty strategy's output keep up. wrap_database_errors turns psycopg's errors into
    # Django's (IntegrityError when the run was deleted meanwhile).
    table = StrategyLog._meta.db_table
    statement = f"COPY {table} (run_id, seq, stream, ts, line) FROM STDIN"
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(statement) as copy,
    ):
        for r in records:
            copy.write_row((run_id, r.seq, r.stream, r.ts, r.line))


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
            _start(strategy, actor="janitor", action="retry")
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
