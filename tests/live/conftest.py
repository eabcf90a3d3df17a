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
    returns the account's key (Kraken's API key, Coinbase's key name). `credentials[key]` keeps
    what was connected (a test that trades "by hand" beside the platform uses them)."""
    credentials_by_key: dict[str, dict[str, str]] = {}

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
        credentials_by_key[key] = credentials
        return key

    make.credentials = credentials_by_key  # type: ignore[attr-defined]
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
        return sum(1 for m, p in fake.http_requests if (m, p) == ("POST", "/api/v3/brokerage/orders"))

    return fake.call(read)


class Venue:
    """One fake venue seen the same way by the tests that run on both: its account, its resting
    orders of that account, the orders sent to it, a trade through the book."""

    def __init__(self, name: str, fake: Any, connect: Callable[..., str]) -> None:
        self.name = name
        self.fake = fake
        self.symbol = "ETH/USD" if name == "kraken" else "BTC/USD"
        # a resting buy below the book, a price the book's best bid crosses for a sell
        self.rest_price, self.cross_sell_price = (
            ("3000.00", "3300.00") if name == "kraken" else ("60000.00", "68000.00")
        )
        balances = {"USD": "10000", "ETH": "1"} if name == "kraken" else {"USD": "10000", "BTC": "0"}
        self.key = connect(name, balances)
        self.credentials: dict[str, str] = connect.credentials[self.key]  # type: ignore[attr-defined]

    def open_orders(self) -> list[Any]:
        if self.name == "kraken":
            return kraken_orders(self.fake, self.key)
        return coinbase_orders(self.fake, self.key)

    def all_orders(self) -> list[Any]:
        if self.name == "kraken":
            return kraken_orders(self.fake, self.key, status=None)
        return coinbase_orders(self.fake, self.key, status=None)

    def coid(self, order: Any) -> str:
        return order.cl_ord_id if self.name == "kraken" else order.client_order_id

    def void(self, order: Any) -> str:
        return order.txid if self.name == "kraken" else order.order_id

    def sends(self) -> int:
        """Order placements that reached the venue (refused ones included)."""
        if self.name == "kraken":
            return kraken_calls(self.fake, "AddOrder")
        return coinbase_creates(self.fake)

    def trade_through(self, price: str, qty: str) -> int:
        """Another participant's sell at `price` takes our resting buys: maker fills."""
        if self.name == "kraken":
            return self.fake.trade(self.symbol, price, qty)
        return len(self.fake.trade("BTC-USD", "SELL", price, qty))

    def repeat_last_fill(self) -> None:
        """The venue sends its last fill again on the private stream."""
        if self.name == "kraken":
            self.fake.repeat_last_fill()
        else:
            self.fake.resend_last_user_update(self.key)

    def node(
        self, side: str = "buy", qty: str = "0.01", price: str | None = None, node_id: str = "n1"
    ) -> dict[str, Any]:
        return node(self.name, self.symbol, side, qty, price or self.rest_price, node_id)


@pytest.fixture(params=LIVE_VENUES)
def venue(request, kraken, coinbase, connect) -> Venue:
    return Venue(request.param, kraken if request.param == "kraken" else coinbase, connect)
