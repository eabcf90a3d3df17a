"""Backtest jobs, their transitions, and their results."""

from __future__ import annotations

import secrets

from django.db import models

from backtests.states import JobStatus
from sequence_site.models import Client


def new_job_id() -> str:
    return f"bt_{secrets.token_hex(4)}"


class BacktestJob(models.Model):
    """One replay of a deployment's artifact over a date range, for one client in one mode.

    The artifact is pinned at submit time: redeploying the deployment later does not change what
    a queued job runs, so a job's results stay reproducible from its own row.
    """

    id = models.CharField(primary_key=True, max_length=16, default=new_job_id, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="backtests")
    is_sandbox = models.BooleanField()
    deployment = models.ForeignKey(
        "algo_studio.Deployment", on_delete=models.CASCADE, related_name="backtests"
    )
    artifact = models.ForeignKey("algo_studio.WasmArtifact", on_delete=models.PROTECT, related_name="+")
    venue = models.CharField(max_length=40)
    symbols = models.JSONField(default=list)  # canonical slash form, in the deployment's order
    start_date = models.DateField()
    end_date = models.DateField()  # inclusive
    capital_usd = models.DecimalField(max_digits=20, decimal_places=6)
    seed = models.BigIntegerField()

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    events_processed = models.BigIntegerField(default=0)
    total_events = models.BigIntegerField(default=0)
    error = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Refreshed by the worker with every progress write (and while it prepares the data): a running
    # job whose heartbeat is older than BACKTEST_HEARTBEAT_TIMEOUT_SECONDS lost its worker, and the
    # janitor fails it (services.backtest_janitor).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # What a running job is doing (the status stays the spec's word): "" while queued, "preparing"
    # (finding or generating the data: `days_prepared` of `days_total` symbol-days), "replaying"
    # (since `replay_started_at`), "done" once final. Recorded vs simulated symbol-days in `sources`.
    phase = models.CharField(max_length=16, blank=True, default="")
    days_prepared = models.IntegerField(default=0)
    days_total = models.IntegerField(default=0)
    replay_started_at = models.DateTimeField(null=True, blank=True)
    sources = models.JSONField(default=dict, blank=True)
    # Wall-clock figures of the run (not part of the results, which must not vary run to run).
    run_seconds = models.FloatField(null=True, blank=True)

    metrics = models.JSONField(null=True, blank=True)  # a copy for list pages
    results_json = models.TextField(null=True, blank=True)  # canonical JSON, sorted keys; set on completion

    class Meta:
        indexes = [
            models.Index(fields=["client", "is_sandbox", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"], name="backtestjob_heartbeat"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def progress_pct(self) -> float:
        if self.status == JobStatus.COMPLETED:
            return 100.0
        if not self.total_events:
            return 0.0
        return round(min(100.0, self.events_processed * 100.0 / self.total_events), 1)


class BacktestTransition(models.Model):
    """Every status change of a job: the timeline on its page and evidence for tests."""

    job = models.ForeignKey(BacktestJob, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
