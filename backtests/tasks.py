"""Celery tasks of backtests, routed by name in settings.CELERY_TASK_ROUTES: ``backtests.run_backtest``
to the ``backtests`` queue, beat's ``backtests.janitor`` to ``default`` (so it still runs when every
backtests slot is busy with a job)."""

from __future__ import annotations

import gc
import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_process_init, worker_ready
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


@worker_ready.connect
@worker_process_init.connect
def ready_for_jobs(**_kwargs: Any) -> None:
    """Before a worker process takes its first job (each prefork child after its fork; a solo or
    threads worker when ready): seqcore loaded (from its compile cache, engine.cached_module) and
    what the job imports on first use imported, then every object alive so far moved out of the
    garbage collector's reach (``gc.freeze``): the first job's collections would otherwise walk
    Django's, Celery's and pyarrow's hundreds of thousands of objects (a full collection, ~80 ms,
    measured in docs/benchmarks.md). Both are per process and cheap; a failure here only means the
    first job does the work itself."""
    try:
        import edges.catalogue  # noqa: F401 - imported by backtests.services._instrument on first use
        import edges.feeds  # noqa: F401
        from edges.core.instance import core_module

        core_module()
    except Exception:
        logger.exception("backtests: preparing the worker process failed (the first job will)")
    gc.freeze()
