"""/v1/backtest: submit, poll, results, cancel (a thin router over services and selectors)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from backtests import selectors, services
from backtests.models import BacktestJob
from backtests.schemas import (
    BacktestCreatedOut,
    BacktestCreateIn,
    BacktestListOut,
    BacktestStatusOut,
)
from sequence_site.schemas import ErrorOut
from sequence_site.scope import Scope
from venues.symbols import hyphen_symbol

router = Router(tags=["backtests"])

_ERRORS = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut}


def _list_item(job: BacktestJob) -> dict[str, Any]:
    return {
        **selectors.backtest_status(job),
        "deployment_id": job.deployment.deployment_id,
        "venue": job.venue,
        "symbols": [hyphen_symbol(s) for s in job.symbols],
        "start_date": job.start_date,
        "end_date": job.end_date,
        "capital_usd": float(job.capital_usd),
        "seed": job.seed,
        "created_at": int(job.created_at.timestamp()),
        "metrics": job.metrics,
    }


@router.post("", response={200: BacktestCreatedOut, **_ERRORS}, summary="Create Backtest")
def create_backtest(request: HttpRequest, body: BacktestCreateIn) -> dict[str, Any]:
    """Submit a backtest job for a deployment; poll it with GET /v1/backtest/{job_id}."""
    scope: Scope = request.auth  # type: ignore[attr-defined]
    job = services.backtest_create(scope=scope, **body.dict())
    return {"job_id": job.id, "status": job.status}


@router.get("", response={200: BacktestListOut, 401: ErrorOut}, summary="List Backtests")
def list_backtests(request: HttpRequest, limit: int = 50) -> dict[str, Any]:
    """The key's client's jobs in the key's mode, newest first (at most 200)."""
    scope: Scope = request.auth  # type: ignore[attr-defined]
    jobs = selectors.backtests(scope=scope)[: max(1, min(limit, 200))]
    return {"backtests": [_list_item(job) for job in jobs]}


@router.get("/{job_id}", response={200: BacktestStatusOut, **_ERRORS}, summary="Get Backtest Status")
def get_backtest(request: HttpRequest, job_id: str) -> dict[str, Any]:
    scope: Scope = request.auth  # type: ignore[attr-defined]
    return selectors.backtest_status(selectors.backtest_get(scope=scope, job_id=job_id))


@router.get("/{job_id}/results", response={200: dict, **_ERRORS}, summary="Get Backtest Results")
def get_backtest_results(request: HttpRequest, job_id: str) -> dict[str, Any]:
    """The full result once the job completed; 404 while it is queued or running, or if it failed
    or was cancelled."""
    scope: Scope = request.auth  # type: ignore[attr-defined]
    return selectors.backtest_results(job=selectors.backtest_get(scope=scope, job_id=job_id))


@router.post(
    "/{job_id}/cancel", response={200: BacktestStatusOut, 409: ErrorOut, **_ERRORS}, summary="Cancel Backtest"
)
def cancel_backtest(request: HttpRequest, job_id: str) -> dict[str, Any]:
    """Cancel a queued or running job; 409 once it completed, failed or was cancelled."""
    scope: Scope = request.auth  # type: ignore[attr-defined]
    job = services.backtest_cancel(job=selectors.backtest_get(scope=scope, job_id=job_id))
    return selectors.backtest_status(job)
