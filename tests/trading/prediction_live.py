"""The fake Kalshi and Polymarket as the seed's prediction-market example sees them live: the
settings that point a process's feeds (and order clients) at the fakes, the hosted deployment of
examples/strategies/prediction_smoke, and the facts of the fakes' fixtures it should find.

Used by tests/trading/test_prediction_live_example.py (live feeds, paper orders) and
tests/trading/test_prediction_live_orders.py (live orders at the fakes)."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings

from strategies.models import StrategyLog, StrategyRun
from tests.edges.conftest import EdgeProcess
from tests.fakevenues.kalshi import FIXTURES as KALSHI_FIXTURES
from tests.fakevenues.kalshi import KEY_ID, REST, FakeKalshi
from tests.fakevenues.polymarket import FakePolymarket, load_fixture
from tests.live.conftest import LiveEdge

KALSHI_KEY_PATH = KALSHI_FIXTURES / "test_private_key.pem"

# What the example must pick from the fakes' fixtures (tests/fakevenues/fixtures):
# Kalshi, by volume: KXBTC-25MAR15-B100000 has the most but only $14.81 at its top of book (the
# example wants >= $100); FED-23DEC-T3.00 has $155.02 (0.22 x 333 YES + 0.56 x 146 NO) and a YES
# bid. Its YES book: bids 0.22 x 333, 0.08 x 300; asks 1 - NO bids: 0.44 x 146, 0.46 x 20.
KALSHI_TICKER = "FED-23DEC-T3.00"
KALSHI_SYMBOL = f"{KALSHI_TICKER}-YES"
# Polymarket, by volume with expand=outcomes: the 2028 nomination event's Stephen A. Smith outcome
# (12.2M volume, liquidity 400,500), quoted 0.010 / 0.011 on a 0.001 tick (its Gamma item's
# bestBid/bestAsk, booked by FakePolymarket.book_gamma_markets: 500 at the top, 1000 a tick out).
POLY_EVENT = load_fixture("gamma/event__negrisk_multi_outcome_2028_nomination.json")[0]
POLY_MARKET = next(m for m in POLY_EVENT["markets"] if m["groupItemTitle"] == "Stephen A. Smith")
POLY_YES, POLY_NO = json.loads(POLY_MARKET["clobTokenIds"])


def feed_env(kalshi: FakeKalshi, poly: FakePolymarket) -> dict[str, str]:
    """The environment of a process (daphne, run_edge) whose Kalshi and Polymarket feeds are live
    on the fakes."""
    return {
        "VENUE_FEED_KALSHI": "live",
        "VENUE_FEED_KALSHI_WS_URL": kalshi.ws_url,
        "VENUE_FEED_KALSHI_REST_URL": kalshi.url + REST,
        "KALSHI_API_KEY_ID": KEY_ID,
        "KALSHI_PRIVATE_KEY_PATH": str(KALSHI_KEY_PATH),
        "VENUE_FEED_POLYMARKET": "live",
        "VENUE_FEED_POLYMARKET_WS_URL": poly.ws_url,
        "VENUE_FEED_POLYMARKET_REST_URL": poly.url,
        "VENUE_FEED_POLYMARKET_CLOB_URL": poly.url,
        "VENUE_FEED_STALE_AFTER_SECONDS": "600",
    }


def live_feed_settings(django_settings: Any, kalshi: FakeKalshi, poly: FakePolymarket) -> None:
    """The same for this test process (the Celery worker that syncs the catalogues, the services
    the tests call)."""
    django_settings.VENUE_FEED_KALSHI = "live"
    django_settings.VENUE_FEED_KALSHI_WS_URL = kalshi.ws_url
    django_settings.VENUE_FEED_KALSHI_REST_URL = kalshi.url + REST
    django_settings.VENUE_FEED_KALSHI_OPTIONS = {
        "key_id": KEY_ID,
        "private_key_path": str(KALSHI_KEY_PATH),
        "private_key_pem": "",
    }
    django_settings.VENUE_FEED_POLYMARKET = "live"
    django_settings.VENUE_FEED_POLYMARKET_WS_URL = poly.ws_url
    django_settings.VENUE_FEED_POLYMARKET_REST_URL = poly.url
    django_settings.VENUE_FEED_POLYMARKET_OPTIONS = {"clob_url": poly.url}


class PredictionEdge(EdgeProcess):
    """`run_edge --sandbox --venue kalshi --venue polymarket --feed live`."""

    feed = "live"

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(["kalshi", "polymarket"], env=env)


@pytest.fixture
def prediction_edges(transactional_db) -> Iterator[Callable[..., EdgeProcess]]:
    """Start Kalshi+Polymarket edges; any still running at the end is killed (a failed test too)."""
    started: list[EdgeProcess] = []

    def start(env: dict[str, str], *, live: bool = False) -> EdgeProcess:
        """`live`: `run_edge --live` (tests/live's LiveEdge: orders with the clients' credentials)."""
        edge = LiveEdge(["kalshi", "polymarket"], env) if live else PredictionEdge(env)
        started.append(edge)
        return edge.start()

    yield start
    for edge in started:
        if edge.process is not None:
            edge.stop(signal.SIGKILL)


def quotes_published(is_sandbox: bool, symbols: list[tuple[str, str]]) -> Callable[[], bool]:
    """A predicate: the edges have published a book for every (venue, symbol)."""
    import redis

    from edges.quotes import quotes_key

    client = redis.Redis.from_url(settings.REDIS_URL)

    def published() -> bool:
        values = client.hmget(quotes_key(is_sandbox=is_sandbox), [f"{v}:{s}" for v, s in symbols])
        return all(values)

    return published


def run_lines(run: StrategyRun) -> list[dict[str, Any]]:
    """The run's JSON log records, in order."""
    return [
        json.loads(line)
        for line in StrategyLog.objects.filter(run=run).order_by("seq").values_list("line", flat=True)
        if line.startswith("{")
    ]


def one(lines: list[dict[str, Any]], event: str, **match: Any) -> dict[str, Any]:
    found = [r for r in lines if r["event"] == event and all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (event, match, found, [r["event"] for r in lines])
    return found[0]
