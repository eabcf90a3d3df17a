"""Fixtures for hosted strategies: fast timings and a real Celery worker.

``runner`` starts an in-process Celery worker (threads pool) on the ``strategies`` and ``default``
queues against the real Redis broker and the test PostgreSQL database: runs are claimed, processes
spawned and logs written exactly as in production, only with short heartbeats, grace periods and
backoffs so the suite stays fast.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from strategy_testing import FAST

import strategies.tasks  # noqa: F401 - registers the tasks with the app before the worker starts
from sequence_site.celery import app as celery_app
from strategies import services
from strategies.lifecycle import StrategyStatus
from strategies.models import Strategy


@pytest.fixture
def fast(settings, strategy_run_dir) -> Any:
    for name, value in FAST.items():
        setattr(settings, name, value)
    settings.STRATEGY_RUN_DIR = strategy_run_dir
    return settings


def _purge(queues: list[str]) -> None:
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in queues:
            with contextlib.suppress(Exception):  # the queue may not exist yet
                channel.queue_purge(queue)


@pytest.fixture
def runner(transactional_db, fast) -> Iterator[Any]:
    """A real Celery worker (threads pool) consuming `strategies` and `default`."""
    queues = ["strategies", "default"]
    _purge(queues)
    with start_worker(
        celery_app,
        queues=queues,
        pool="threads",
        concurrency=6,
        perform_ping_check=False,
        shutdown_timeout=30,
        loglevel="WARNING",
    ) as worker:
        yield worker
        # Delete everything first: running supervisors notice on their next heartbeat, SIGTERM
        # their processes and return, so the worker can shut down promptly.
        for strategy in Strategy.objects.filter(
            status__in=[StrategyStatus.RUNNING, StrategyStatus.STOPPING, StrategyStatus.QUEUED]
        ):
            services.strategy_delete(strategy=strategy)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _busy(worker):
            time.sleep(0.1)
    _purge(queues)


def _busy(worker: Any) -> bool:
    from celery.worker import state

    return bool(state.active_requests)
