"""Live trading end to end: the strict fake venues (tests/fakevenues) on 127.0.0.1, a real
`manage.py run_edge --live --venue V` process whose feed and order URLs point at them, and the
API called with a live (``seq_live_``) key. What reached a venue is asserted at the fake.

`LIVE_TRADING_VENUES` is set for the test (the API process through `settings`, the edge through
its environment), whatever the operator default is.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client as HttpClient

from tests.conftest import ApiCaller
from tests.edges.conftest import EdgeProcess
from tests.fakevenues.coinbase import FakeCoinbase, new_cdp_key
from tests.fakevenues.kraken import KrakenFake
from tests.fakevenues.kraken_private import AUTH_WS_PATH
from tests.waiting import unwatch_log, wait_until
from trading.models import Fill, Node, Order

LIVE_VENUES = ("kraken", "coinbase")
_starts = itertools.count(1)


@pytest.fixture
def kraken() -> Iterator[KrakenFake]:
    with KrakenFake(heartbeat_s=0.5) as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def coinbase() -> Iterator[FakeCoinbase]:
    with FakeCoinbase(heartbeat_interval_s=0.5) as srv:
        yield srv  # type: ignore[misc]


def kraken_urls(fake: KrakenFake) -> dict[str, str]:
    return {
        "VENUE_FEED_KRAKEN_WS_URL": fake.ws_url,
        "VENUE_FEED_KRAKEN_REST_URL": fake.url,
        "VENUE_ORDERS_KRAKEN_REST_URL": fake.url,
        "VENUE_ORDERS_KRAKEN_WS_URL": f"ws://127.0.0.1:{fake.port}{AUTH_WS_PATH}",
    }


def coinbase_urls(fake: FakeCoinbase) -> dict[str, str]:
    return {
        "VENUE_FEED_COINBASE_WS_URL": fake.ws_url,
        "VENUE_FEED_COINBASE_REST_URL": fake.url,
        "VENUE_ORDERS_COINBASE_REST_URL": fake.url,
        "VENUE_ORDERS_COINBASE_WS_URL": fake.ws_url,
    }


class LiveEdge(EdgeProcess):
    """`run_edge --live` for some venues against their fakes; each start logs to a file of its own
    (a crashed run's log stays readable after the restart)."""

    def __init__(self, venues: list[str], urls: dict[str, str], env: dict[str, str] | None = None) -> None:
        super().__init__(venues, live=True, env={**urls, **(env or {})})
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / (
            f"live-edge-{os.getpid()}-{'-'.join(venues)}-{next(_starts)}.log"
        )

    def env(self) -> dict[str, str]:
        env = super().env()
        env.setdefault("LIVE_TRADING_VENUES", ",".join(self.venues))
        env.setdefault("LIVE_ORDER_POLL_SECONDS", "0.3")
        env.setdefault("VENUE_FEED_STALE_AFTER_SECONDS", "600")
        return env

    def wait_exit(self, *, what: str) -> int:
        """Wait for the process to end by itself (a crash point); returns its exit code."""
        assert self.process is not None
        wait_until(
            lambda: self.process.poll() is not None, timeout=60, what=what, logs={self.name: self.log_path}
        )
        code = self.process.returncode
        self.process = None
        unwatch_log(self.name)
        return code


@pytest.fixture
def live_edge(transactional_db, settings, kraken, coinbase) -> Iterator[Callable[..., LiveEdge]]:
    """Start `run_edge --live` processes (killed at the end). The API process gets the same
    switch and order URLs (the kill switch and `connect` call the venues from it)."""
    settings.LIVE_TRADING_VENUES = LIVE_VENUES
    for name, value in {**kraken_urls(kraken), **coinbase_urls(coinbase)}.items():
        setattr(settings, name, value)
    started: list[LiveEdge] = []

    def start(*venues: str, env: dict[str, str] | None = None) -> LiveEdge:
        urls: dict[str, str] = {}
        if "kraken" in venues:
            urls.update(kraken_urls(kraken))
        if "coinbase" in venues:
            urls.update(coinbase_urls(coinbase))
        edge = LiveEdge(list(venues), urls, env)
        started.append(edge)
        return edge.start()  # type: ignore[return-value]

    yield start
    for edge in started:
        if edge.process is not None:
            edge.process.kill()
            edge.process.wait()
        unwatch_log(edge.name)


@pytest.fixture
def live_api(client: HttpClient, live_key) -> ApiCaller:
    return ApiCaller(http=client, key=live_key.plaintext)


@pytest.fixture
def connect(live_api: ApiCaller, kraken: KrakenFake, coinbase: FakeCoinbase, live_edge) -> Callable[..., Any]:
    """Make an account at the fake venue and connect it through `POST /v1/venues/{venue}/connect`;
    returns the account's key (Kraken's API key, Coinbase's key name)."""

    def make(venue: str, balances: dict[str, str]) -> str:
        if venue == "kraken":
            key, secret = kraken.add_account(balances)
            credentials = {"api_key": key, "api_secret": secret}
        else:
            key, pem, public = new_cdp_key()
            coinbase.add_account(key, public, balances)
            credentials = {"key_name": key, "private_key": pem}
        status, out = live_api.post(f"/v1/venues/{venue}/connect", json={"credentials": credentials})
        assert status == 201, out
        return key

    return make


def node(venue: str, symbol: str, side: str, qty: str, price: str, node_id: str = "n1") -> dict[str, Any]:
    return {
        "node_id": node_id,
        "venue": venue,
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "limit_price": price,
    }


def submit(api: ApiCaller, *nodes: dict[str, Any], sandbox: bool = False) -> tuple[int, dict[str, Any]]:
    return api.post("/v1/graphs", json={"nodes": list(nodes), "sandbox": sandbox})


def order_of(graph_id: str, node_id: str = "n1") -> Order:
    return Order.objects.get(graph__graph_id=graph_id, node__node_id=node_id)


def node_of(graph_id: str, node_id: str = "n1") -> Node:
    return Node.objects.get(graph__graph_id=graph_id, node_id=node_id)


def fills_of(graph_id: str) -> list[Fill]:
    return list(Fill.objects.filter(order__graph__graph_id=graph_id).order_by("pk"))


# -- what the fakes hold (read in their own loop: they are servers in another thread) ------------
def kraken_orders(fake: KrakenFake, key: str, *, status: str | None = "open") -> list[Any]:
    async def read() -> list[Any]:
        return [
            o for o in fake.orders.values() if o.account == key and (status is None or o.status == status)
        ]

    return fake.call(read)


def kraken_calls(fake: KrakenFake, method: str) -> int:
    async def read() -> int:
        return sum(1 for m, _ in fake.private_calls if m == method)

    return fake.call(read)


def coinbase_orders(fake: FakeCoinbase, key: str, *, status: str | None = "OPEN") -> list[Any]:
    async def read() -> list[Any]:
        return [
            o
            for o in fake.orders.values()
            if o.account.name == key and (status is None or o.status == status)
        ]

    return fake.call(read)


def coinbase_creates(fake: FakeCoinbase) -> int:
    async def read() -> int:
        return sum(
            1 for m, p in fake.http_requests if m == "POST" and p.startswith("/api/v3/brokerage/orders")
        )

    return fake.call(read)
