"""Request and response bodies of /v1/backtest (shared with the live push where they overlap)."""

from __future__ import annotations

from datetime import date
from typing import Any

from ninja import Field, Schema


class BacktestCreateIn(Schema):
    deployment_id: str = Field(..., description="Deployment to backtest (dep_<uuid>)")
    symbols: list[str] | None = Field(None, description="Subset of the deployment's symbols (default: all)")
    start_date: date | None = Field(None, description="First day (YYYY-MM-DD, UTC)")
    end_date: date | None = Field(None, description="Last day, inclusive (YYYY-MM-DD, UTC)")
    capital_usd: float = Field(100000, description="Initial capital")
    seed: int = Field(42, description="PRNG seed for deterministic replay")


class BacktestCreatedOut(Schema):
    job_id: str
    status: str


class BacktestStatusOut(Schema):
    job_id: str
    status: str = Field(..., description="queued, running, completed, failed or cancelled")
    progress_pct: float
    events_processed: int
    total_events: int
    error: str | None
    phase: str = Field(
        "", description='what a running job is doing: "preparing" (the data), "replaying"; "" otherwise'
    )
    days_prepared: int = Field(0, description="symbol-days whose data is ready (while preparing)")
    days_total: int = Field(0, description="symbol-days in the job (symbols × days)")
    events_per_second: int | None = Field(None, description="replay speed so far (while replaying)")
    eta_seconds: float | None = Field(None, description="time left at that speed (while replaying)")
    data_days: dict[str, int] | None = Field(
        None, description="symbol-days from recorded/imported data and from the simulator"
    )


class BacktestListItemOut(BacktestStatusOut):
    deployment_id: str
    venue: str
    symbols: list[str]
    start_date: date
    end_date: date
    capital_usd: float
    seed: int
    created_at: int
    metrics: dict[str, Any] | None


class BacktestListOut(Schema):
    backtests: list[BacktestListItemOut]
