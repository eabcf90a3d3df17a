"""Hosted strategies: the strategy row (settings + artifact), its runs, their log lines, and history.

A strategy belongs to one client in one mode (sandbox or live) and is unique by name there. The
artifact (a tar.gz) lives in the row itself: there is no separate bundle id, and a redeploy
replaces it (new ``artifact_sha256``). Secrets and the strategy's API key are AEAD-sealed
(``sequence_site.crypto``) and bound to the row's id; only their names are readable.
"""

from __future__ import annotations

import uuid

from django.db import models

from sequence_site.models import ApiKey, Client
from strategies.states import RunStatus, StrategyStatus


class StrategyManager(models.Manager["Strategy"]):
    def get_queryset(self) -> models.QuerySet[Strategy]:
        # The artifact can be 20 MiB: never drag it along with a list or a status check.
        # The supervisor asks for it explicitly (``values_list("artifact")``) when it runs.
        return super().get_queryset().defer("artifact")


class Strategy(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # strategy_id
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="strategies")
    is_sandbox = models.BooleanField()
    name = models.CharField(max_length=64)
    runtime = models.CharField(max_length=16, default="python")
    entrypoint = models.CharField(max_length=255, default="main.py")

    # The three configuration slots: env and manifest are plain (visible in GET), secrets sealed.
    env = models.JSONField(default=dict, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    secret_names = models.JSONField(default=list, blank=True)
    secrets_ciphertext = models.BinaryField(null=True, blank=True)
    secrets_nonce = models.BinaryField(null=True, blank=True)
    sequence_api_key_ciphertext = models.BinaryField(null=True, blank=True)
    sequence_api_key_nonce = models.BinaryField(null=True, blank=True)
    # Which key was sealed (for the dashboard and revocation checks), never the key itself.
    sequence_api_key_ref = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    memory_mb = models.PositiveIntegerField(default=512)
    latency_target = models.JSONField(default=list, blank=True)

    artifact = models.BinaryField()
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size_bytes = models.PositiveIntegerField()
    artifact_has_sdk = models.BooleanField(default=False)
    # Bumped by every redeploy: a running process of an older generation is restarted on the new one.
    generation = models.PositiveIntegerField(default=1)

    status = models.CharField(max_length=16, choices=StrategyStatus.choices, default=StrategyStatus.STOPPED)
    current_run = models.ForeignKey(
        "StrategyRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    restart_count = models.PositiveIntegerField(default=0)  # automatic restarts after failures
    consecutive_failures = models.PositiveIntegerField(default=0)  # drives the backoff
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # when a failed strategy is re-queued
    last_exit_code = models.IntegerField(null=True, blank=True)
    last_exit_signal = models.CharField(max_length=16, blank=True)
    last_exit_reason = models.CharField(max_length=500, blank=True)
    last_exit_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StrategyManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "is_sandbox", "name"], name="strategy_name_unique_per_mode"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="strategy_retry_due"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_sequence_api_key(self) -> bool:
        return self.sequence_api_key_ciphertext is not None


class StrategyRun(models.Model):
    """One attempt at running a strategy: a new run id (``SEQUENCE_RUN_ID``) every time."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # run_id
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    attempt = models.PositiveIntegerField(default=1)  # 1 after a start, n+1 after n failures in a row
    queue = models.CharField(max_length=100, default="strategies")
    generation = models.PositiveIntegerField(default=1)  # of the strategy, fixed when claimed
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    signal = models.CharField(max_length=16, blank=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["strategy", "-created_at"], name="strategyrun_latest"),
            models.Index(fields=["status", "heartbeat_at"], name="strategyrun_heartbeat"),
            models.Index(fields=["status", "dispatched_at"], name="strategyrun_dispatch"),
        ]

    def __str__(self) -> str:
        return str(self.id)


class StrategyLog(models.Model):
    """One line of a run's output. ``seq`` counts from 1 per run with no gaps: the cursor clients
    page by (``after=<seq>``), so every line is delivered exactly once and in order."""

    class Stream(models.TextChoices):
        STDOUT = "stdout"
        STDERR = "stderr"
        SYSTEM = "system"  # the runner's own notes: started, exited, stopping

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(StrategyRun, on_delete=models.CASCADE, related_name="logs", db_index=False)
    seq = models.PositiveBigIntegerField()
    stream = models.CharField(max_length=6, choices=Stream.choices)
    ts = models.DateTimeField()
    line = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="strategylog_run_seq")]
        indexes = [models.Index(fields=["ts"], name="strategylog_ts")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq}"


class StrategyTransition(models.Model):
    """Every status change (and redeploy) of a strategy: who, what, why."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="transitions")
    run = models.ForeignKey(StrategyRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=32)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    reason = models.CharField(max_length=500, blank=True)
    actor = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["strategy", "-created_at"], name="strategytransition_latest")]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_status or '-'} -> {self.to_status}"
