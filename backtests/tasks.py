"""Celery tasks of backtests, routed by name in settings.CELERY_TASK_ROUTES: ``backtests.run_backtest``
to the ``backtests`` queue, beat's ``backtests.janitor`` to ``default`` (so it still runs when every
backtests slot is busy with a job)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import close_old_connections

from backtests import services

logger = logging.getLogger(__name__)


@shared_task(name=services.RUN_BACKTEST_TASK, bind=True, ignore_result=True)
def run_backtest(self, job_id: str) -> None:  # type: ignore[no-untyped-def]
    try:
        services.backtest_run(job_id=job_id, worker=self.request.hostname or "")
    finally:
        # A worker lives for days: do not keep this thread's connection past its usefulness.
        close_old_connections()


@shared_task(name="backtests.janitor", ignore_result=True)
def janitor() -> int:
    failed = services.backtest_janitor()
    if failed:
        logger.info("backtests janitor: failed %d job(s) whose worker stopped responding", failed)
    return failed
