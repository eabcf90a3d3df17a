"""Celery tasks of hosted strategies: thin wrappers that load ids and call the supervisor or services.

``strategies.run`` goes to the run's queue (``strategies`` or ``strategies.<region>``) and lives as
long as the strategy's process does; ``strategies.retry_due`` and ``strategies.janitor`` are routed
to ``default`` (settings.CELERY_TASK_ROUTES) so they still run when every strategies slot is busy.
"""

from __future__ import annotations

import logging
import socket
from uuid import UUID, uuid4

from celery import shared_task
from celery.worker import state as worker_state
from django.db import close_old_connections, connection

from strategies import services, supervisor

logger = logging.getLogger(__name__)


def _worker_shutting_down() -> bool:
    # Set by Celery's warm/cold shutdown handlers in the worker process (solo and threads pools):
    # the supervisor then stops its process and hands the strategy back to the queue.
    return worker_state.should_stop is not None or worker_state.should_terminate is not None


# acks_late: a busy worker (prefetch 1) never holds a second run's message hostage while it
# supervises a long-lived process. A message redelivered later (worker killed, visibility timeout)
# is harmless: the claim is a conditional update and only ever succeeds once.
@shared_task(name="strategies.run", bind=True, acks_late=True, ignore_result=True)
def run_strategy(self, run_id: str) -> str | None:  # type: ignore[no-untyped-def]
    worker = f"{self.request.hostname or socket.gethostname()}/{self.request.id or uuid4()}"
    close_old_connections()
    try:
        return supervisor.supervise(run_id=UUID(run_id), worker=worker, should_exit=_worker_shutting_down)
    finally:
        connection.close()


@shared_task(name="strategies.retry_due", ignore_result=True)
def retry_due(strategy_id: str) -> int:
    return services.strategy_retry_due(strategy_id=UUID(strategy_id))


@shared_task(name="strategies.janitor", ignore_result=True)
def janitor() -> dict[str, int]:
    report = services.strategy_janitor()
    if report.lost or report.retried or report.redispatched:
        logger.info("strategies janitor: %s", report)
    return {
        "lost": report.lost,
        "retried": report.retried,
        "redispatched": report.redispatched,
        "logs_deleted": report.logs_deleted,
    }
