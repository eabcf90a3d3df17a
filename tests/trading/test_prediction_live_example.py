"""examples/strategies/prediction_smoke on live Kalshi and Polymarket feeds (the fake venues on
127.0.0.1): the catalogues synced by the real Celery task, a real `run_edge --feed live` sandbox
edge, a real daphne, the example deployed and run as a hosted strategy in the real sandbox. Its
discovery, stream and quote steps must find the fakes' markets, token ids and prices, and its
paper orders rest on the live books and are cancelled (issue 12)."""

from __future__ import annotations

import tomllib

import pytest

from edges.models import Edge, VenueMarket
from edges.tasks import sync_catalogues
from sequence_site.scope import Scope
from strategies import services as strategy_services
from strategies.models import StrategyRun
from tests.e2e.conftest import running_daphne
from tests.edges.conftest import wait_for
from tests.fakevenues.kalshi import FakeKalshi
from tests.fakevenues.polymarket import FakePolymarket
from tests.trading.prediction_live import (
    KALSHI_SYMBOL,
    KALSHI_TICKER,
    POLY_MARKET,
    POLY_YES,
    feed_env,
    live_feed_settings,
    one,
    quotes_published,
    run_lines,
)
from tests.trading.test_prediction_smoke_example import EXAMPLE, artifact
from trading.lifecycle import GraphStatus, NodeStatus
from trading.models import Fill, Graph, Node

pytestmark = pytest.mark.slow


@pytest.fixture
def fakes():
    with FakeKalshi() as kalshi, FakePolymarket.from_fixtures() as poly:
        poly.book_gamma_markets()
        yield kalshi, poly


def test_prediction_smoke_on_live_feeds_finds_the_fake_venues_markets_and_prices(
    fakes, settings, strategy_runner, prediction_edges, owner, sandbox_key
):
    kalshi, poly = fakes
    live_feed_settings(settings, kalshi, poly)
    env = feed_env(kalshi, poly)

    # The catalogues, synced by the beat task on the runner's worker (it serves `default` too).
    sync_catalogues.delay()
    wait_for(
        lambda: {"kalshi", "polymarket"} <= set(VenueMarket.objects.values_list("venue", flat=True)),
        timeout=60,
        what="the catalogue sync",
    )

    edge = prediction_edges(env)
    # The live edges follow the synced markets (not the simulator's made-up ones).
    for venue, wanted in (("kalshi", KALSHI_SYMBOL), ("polymarket", POLY_YES)):
        row = Edge.objects.get(edge_id=f"venue-edge-{venue}", is_sandbox=True)
        assert row.feed == "live" and wanted in row.symbols, (venue, row.symbols)
    wait_for(
        quotes_published(True, [("kalshi", KALSHI_SYMBOL), ("polymarket", POLY_YES)]),
        timeout=60,
        what=f"the live books of both venues ({edge.output()})",
    )

    with running_daphne(env) as url:
        settings.SEQUENCE_PUBLIC_API_URL = url
        toml = tomllib.loads((EXAMPLE / "Sequence.toml").read_text())
        strategy = strategy_services.strategy_deploy(
            scope=Scope(client=owner, is_sandbox=True, api_key=sandbox_key.api_key),
            name=toml["strategy"]["name"],
            artifact=artifact(),
            entrypoint=toml["hosted"]["entrypoint"],
            latency_target=toml["hosted"]["placement"]["latency_target"],
            sequence_api_key=sandbox_key.plaintext,
            start=True,
        ).strategy
        run = wait_for(
            lambda: StrategyRun.objects.filter(strategy=strategy, ended_at__isnull=False).first(),
            timeout=180,
            what="the hosted run to end",
        )
    lines = run_lines(run)
    assert run.exit_code == 0, (run.reason, lines[-5:])
    assert lines[-1]["event"] == "done" and lines[-1]["graphs_submitted"] == 2, lines[-3:]

    # Discovery: the fakes' markets.
    found = one(lines, "discovery_done")
    assert found["kalshi_slug"] == KALSHI_TICKER.lower() and found["kalshi_chosen_side"] == "yes"
    assert found["polymarket_slug"] == POLY_MARKET["slug"]
    assert found["polymarket_outcome"] == "Stephen A. Smith"

    # Stream: prices:{symbol} of both, with the fakes' top of book.
    ws = {r["channel"]: r for r in lines if r["event"] == "ws_msg"}
    assert set(ws) == {f"prices:{KALSHI_SYMBOL}", f"prices:{POLY_YES}"[:60]}, ws
    k, p = ws[f"prices:{KALSHI_SYMBOL}"], ws[f"prices:{POLY_YES}"[:60]]
    assert (k["bid"], k["ask"], k["mid"]) == (0.22, 0.44, 0.33)
    assert (p["bid"], p["ask"], p["mid"]) == (0.01, 0.011, 0.0105)

    # Quotes: the books walked through /v1/quotes, level by level.
    book = one(lines, "book", venue="kalshi")
    assert book["symbol"] == KALSHI_SYMBOL
    assert (book["bid"], book["ask"], book["bid_size"], book["ask_size"]) == (0.22, 0.44, 333.0, 146.0)
    levels = [
        (r["side"], r["price"], r["size"])
        for r in lines
        if r["event"] == "book_level" and r["venue"] == "kalshi"
    ]
    assert levels == [
        ("bids", 0.22, 333.0),
        ("bids", 0.08, 300.0),
        ("asks", 0.44, 146.0),
        ("asks", 0.46, 20.0),
    ]
    book = one(lines, "book", venue="polymarket")
    assert book["symbol"] == POLY_YES[:40]
    assert (book["bid"], book["ask"], book["bid_size"], book["ask_size"]) == (0.01, 0.011, 500.0, 500.0)
    levels = [(r["side"], r["price"], r["size"]) for r in lines if r["event"] == "book_level" and r["venue"] == "polymarket"]  # fmt: skip
    assert levels == [("bids", 0.01, 500.0), ("bids", 0.009, 1000.0), ("asks", 0.011, 500.0), ("asks", 0.012, 1000.0)]  # fmt: skip

    # Orders: half the bid on the market's tick (Polymarket's 0.001: 0.005, below its 0.01 bid),
    # paper-resting on the live books, then cancelled; nothing filled.
    intent = one(lines, "graph_submit_intent", venue="kalshi")
    assert (intent["limit_price"], intent["qty"], intent["best_bid"]) == (0.11, 1.0, 0.22)
    intent = one(lines, "graph_submit_intent", venue="polymarket")
    assert (intent["limit_price"], intent["qty"], intent["best_bid"]) == (0.005, 201.0, 0.01)
    assert intent["notional_usd"] >= 1.0
    assert [r["status"] for r in lines if r["event"] == "graph_status"] == ["active", "active"]
    graphs = Graph.objects.filter(client=owner, is_sandbox=True)
    assert graphs.count() == 2 and all(g.status == GraphStatus.CANCELLED and g.paper for g in graphs)
    nodes = Node.objects.filter(graph__in=graphs)
    assert {(n.venue, n.symbol) for n in nodes} == {("kalshi", KALSHI_SYMBOL), ("polymarket", POLY_YES)}
    wait_for(lambda: all(n.status == NodeStatus.CANCELLED for n in Node.objects.filter(graph__in=graphs)),
             timeout=60, what="the edge to confirm both cancels")  # fmt: skip
    assert not Fill.objects.exists()
    # The venues saw market-data subscriptions only: no order reached them.
    assert not kalshi.orders and not poly.trading.orders
    assert edge.stop() == 0
