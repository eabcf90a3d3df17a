"""Fixtures for markets, quotes, graphs and the price stream.

Every test here uses its own channel-layer prefix, so the quote hash, the price groups and the edge
nudges of this run never mix with another engineer's test run on the same Redis.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from edges import services as edge_services
from edges.models import Edge
from edges.quotes import quotes_key
from tests.e2e.conftest import daphne  # noqa: F401 - a real daphne for the stream and the SDK
from tests.edges.conftest import edge_process  # noqa: F401 - real run_edge processes
from tests.trading.prediction_live import prediction_edges  # noqa: F401 - live Kalshi/Polymarket edges
from venues.instruments import get_instrument


@pytest.fixture(autouse=True)
def isolated_prefix(settings) -> Iterator[str]:
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    prefix = f"seqtest-trading-{os.getpid()}"
    layers["default"]["CONFIG"]["prefix"] = prefix
    settings.CHANNEL_LAYERS = layers
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(quotes_key(is_sandbox=True), quotes_key(is_sandbox=False))
    yield prefix
    client.delete(quotes_key(is_sandbox=True), quotes_key(is_sandbox=False))


def quote_payload(
    venue: str, symbol: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]
) -> dict[str, Any]:
    def level(p: str, q: str) -> list[int]:
        return [round(float(p) * 1e9), round(float(q) * 1e8)]

    b = [level(*x) for x in bids]
    a = [level(*x) for x in asks]
    return {
        "venue": venue,
        "symbol": symbol,
        "ts_ns": time.time_ns(),
        "bid_px_1e9": b[0][0] if b else 0,
        "bid_qty_1e8": b[0][1] if b else 0,
        "ask_px_1e9": a[0][0] if a else 0,
        "ask_qty_1e8": a[0][1] if a else 0,
        "bids": b,
        "asks": a,
    }


@pytest.fixture
def publish_quote(db) -> Callable[..., dict[str, Any]]:
    """Write a book into the edges' quote hash, as an edge would (a publishing edge is connected:
    its registry row gets a fresh heartbeat)."""
    client = redis.Redis.from_url(settings.REDIS_URL)

    def publish(
        venue: str,
        symbol: str,
        bids: list[tuple[str, str]],
        asks: list[tuple[str, str]],
        *,
        sandbox: bool = True,
    ) -> dict[str, Any]:
        payload = quote_payload(venue, get_instrument(venue, symbol).symbol, bids, asks)
        Edge.objects.update_or_create(
            edge_id=f"venue-edge-{venue}",
            is_sandbox=sandbox,
            defaults={
                "venue": venue,
                "algo_capable": venue in ("kraken", "coinbase"),
                "last_heartbeat": timezone.now(),
            },
        )
        client.hset(quotes_key(is_sandbox=sandbox), f"{venue}:{payload['symbol']}", json.dumps(payload))
        return payload

    return publish


@pytest.fixture
def sandbox_edges(db) -> list[Edge]:
    """Edge rows that look connected (graph submits check that a sandbox edge is up)."""
    return [
        edge_services.edge_register(
            edge_id=f"venue-edge-{v}",
            venue=v,
            is_sandbox=True,
            symbols=[],
            algo_capable=v in ("kraken", "coinbase"),
        )
        for v in ("kraken", "coinbase", "kalshi", "polymarket")
    ]


@pytest.fixture
def strategy_runner(transactional_db, settings, strategy_run_dir) -> Iterator[Any]:
    """A real Celery worker on the `strategies` queue (as tests/strategies' `runner`), short timings."""
    import strategies.tasks  # noqa: F401 - registers the tasks
    from strategies import services as strategy_services
    from strategies.lifecycle import StrategyStatus
    from strategies.models import Strategy
    from tests.celery_worker import idle, running_worker
    from tests.waiting import wait_until

    settings.STRATEGY_HEARTBEAT_SECONDS = 0.2
    settings.STRATEGY_HEARTBEAT_TIMEOUT_SECONDS = 5.0
    settings.STRATEGY_STOP_GRACE_SECONDS = 1.5
    settings.STRATEGY_BACKOFF_BASE_SECONDS = 30.0
    settings.STRATEGY_RUN_DIR = strategy_run_dir
    with running_worker(queues=["strategies", "default"], concurrency=4) as worker:
        yield worker
        # Delete what still runs: the supervisors notice on their next heartbeat and return.
        for strategy in Strategy.objects.filter(
            status__in=[StrategyStatus.RUNNING, StrategyStatus.STOPPING, StrategyStatus.QUEUED]
        ):
            strategy_services.strategy_delete(strategy=strategy)
        wait_until(idle, timeout=60, what="the supervisors to return after the strategies were deleted")
