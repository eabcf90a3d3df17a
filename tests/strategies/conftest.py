"""Fixtures for hosted strategies: fast timings and a real Celery worker.

``runner`` starts an in-process Celery worker (threads pool) on the ``strategies`` and ``default``
queues against the real Redis broker and the test PostgreSQL database: runs are claimed, processes
spawned and logs written exactly as in production, only with short heartbeats, grace periods and
backoffs so the suite stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from strategy_testing import FAST

import strategies.tasks  # noqa: F401 - registers the tasks with the app before the worker starts
from strategies import services
from strategies.lifecycle import StrategyStatus
from strategies.models import Strategy
from tests.celery_worker import idle, running_worker
from tests.waiting import wait_until


@pytest.fixture
def fast(settings, strategy_run_dir) -> Any:
    for name, value in FAST.items():
        setattr(settings, name, value)
    settings.STRATEGY_RUN_DIR = strategy_run_dir
    return settings


@pytest.fixture
def runner(transactional_db, fast) -> Iterator[Any]:
    """A real Celery worker (threads pool) consuming `strategies` and `default`."""
    with running_worker(queues=["strategies", "default"], concurrency=6) as worker:
        yield worker
        # Delete everything first: running supervisors notice on their next heartbeat, SIGTERM
        # their processes and return, so the worker stops with nothing in hand.
        for strategy in Strategy.objects.filter(
            status__in=[StrategyStatus.RUNNING, StrategyStatus.STOPPING, StrategyStatus.QUEUED]
        ):
            services.strategy_delete(strategy=strategy)
        wait_until(idle, timeout=60, what="the supervisors to return after the strategies were deleted")
