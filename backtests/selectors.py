"""Reads about backtests, always scoped to one client and mode."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from backtests.lifecycle import JobStatus
from backtests.models import BacktestJob
from sequence_site.errors import NotFound
from sequence_site.scope import Scope


def backtests(*, scope: Scope) -> QuerySet[BacktestJob]:
    """The scope's jobs, newest first (results text deferred: it can be megabytes)."""
    return (
        BacktestJob.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox)
        .select_related("deployment")
        .defer("results_json")
        .order_by("-created_at")
    )


def backtest_get(*, scope: Scope, job_id: str) -> BacktestJob:
    """404 for unknown ids and for another client's or another mode's jobs (never 403: a key must
    not learn that someone else's job exists)."""
    job = BacktestJob.objects.filter(pk=job_id, client=scope.client, is_sandbox=scope.is_sandbox).first()
    if job is None:
        raise NotFound(f"Backtest {job_id} not found.")
    return job


def backtest_status(job: BacktestJob, *, now: datetime | None = None) -> dict[str, Any]:
    """The spec's status body (shared by GET /v1/backtest/{id}, the live push and the dashboard),
    with what a running job is doing after the spec's fields: its `phase` ("preparing" the data,
    `days_prepared` of `days_total` symbol-days; then "replaying", with `events_per_second` and
    `eta_seconds`; "" when not running) and where the data came from (`data_days`)."""
    rate = eta = None
    if job.status == JobStatus.RUNNING and job.phase == "replaying" and job.replay_started_at:
        elapsed = ((now or timezone.now()) - job.replay_started_at).total_seconds()
        if elapsed > 0 and job.events_processed:
            rate = round(job.events_processed / elapsed)
            eta = round(max(0, job.total_events - job.events_processed) / rate, 1) if rate else None
    return {
        "job_id": job.id,
        "status": job.status,
        "progress_pct": job.progress_pct,
        "events_processed": job.events_processed,
        "total_events": job.total_events,
        "error": job.error,
        "phase": job.phase,
        "days_prepared": job.days_prepared,
        "days_total": job.days_total,
        "events_per_second": rate,
        "eta_seconds": eta,
        "data_days": job.sources or None,
    }


def backtest_results(*, job: BacktestJob) -> dict[str, Any]:
    """The stored results with the job id; 404 unless the job completed (as the spec says)."""
    if job.status != JobStatus.COMPLETED or not job.results_json:
        raise NotFound(f"Backtest {job.id} has no results: it is {job.status}.")
    return {"job_id": job.id, **json.loads(job.results_json)}


def backtest_trace_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The results' sampled traces for a page: a one-line summary each and the record as indented
    JSON (shown collapsed)."""
    rows = []
    for trace in results.get("traces", []):
        actions = trace.get("output", {}).get("actions", [])
        rows.append(
            {
                "ts_ns": trace.get("ts_ns", 0),
                "symbol": trace.get("symbol", ""),
                "callback": trace.get("callback_type", ""),
                "actions": ", ".join(actions) if actions else "no action",
                "trap": trace.get("output", {}).get("trap"),
                "json": json.dumps(trace, indent=2, sort_keys=True),
            }
        )
    return rows


def backtest_chart(results: dict[str, Any]) -> dict[str, list[float]]:
    """The equity curve and its drawdown (% below the running peak) as chart series."""
    curve = results["equity_curve"]
    peak = 0.0
    drawdown = []
    for point in curve:
        peak = max(peak, point["equity"])
        drawdown.append(round((point["equity"] - peak) / peak * 100, 6) if peak > 0 else 0.0)
    return {
        "ts": [p["ts"] for p in curve],
        "equity": [p["equity"] for p in curve],
        "drawdown": drawdown,
    }
