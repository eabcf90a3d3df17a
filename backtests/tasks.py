"""Celery tasks of backtests (queue ``backtests``, routed by name in settings.CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from backtests import services


@shared_task(name="backtests.run_backtest", bind=True, ignore_result=True)
def run_backtest(self, job_id: str) -> None:  # type: ignore[no-untyped-def]
    try:
        services.backtest_run(job_id=job_id, worker=self.request.hostname or "")
    finally:
        # A worker lives for days: do not keep this thread's connection past its usefulness.
        close_old_connections()
