"""examples/strategies/prediction_smoke with a live key (`sandbox=False`): one resting limit order
on Kalshi and one on Polymarket, sent by a real `run_edge --live` process with the credentials
connected through `POST /v1/venues/{venue}/connect`, then cancelled (issue 13).

The fakes (tests/fakevenues) verify every Kalshi request's RSA-PSS signature and every Polymarket
order's EIP-712 signature and L2 headers, and keep the resting orders; what reached them is
asserted there."""

from __future__ import annotations

import signal
import tomllib
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from edges.models import VenueMarket
from edges.tasks import sync_catalogues
from sequence_site.scope import Scope
from strategies import services as strategy_services
from strategies.models import StrategyRun
from tests.conftest import ApiCaller
from tests.e2e.conftest import running_daphne
from tests.edges.conftest import wait_for
from tests.fakevenues.kalshi import FakeKalshi
from tests.fakevenues.polymarket import FakePolymarket
from tests.trading.prediction_live import (
    KALSHI_SYMBOL,
    KALSHI_TICKER,
    POLY_YES,
    feed_env,
    live_feed_settings,
    one,
    quotes_published,
    run_lines,
)
from tests.trading.test_prediction_smoke_example import EXAMPLE, artifact
from trading.lifecycle import GraphStatus, NodeStatus, OrderStatus
from trading.models import Fill, Graph, Order

pytestmark = pytest.mark.slow

KALSHI_KEY_ID = "predict-live-key"
POLY_WALLET = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # Hardhat #0, public


def rsa_key() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture
def fakes():
    with FakeKalshi() as kalshi, FakePolymarket.from_fixtures() as poly:
        poly.book_gamma_markets()
        yield kalshi, poly


def order_env(kalshi: FakeKalshi, poly: FakePolymarket) -> dict[str, str]:
    """Live trading switched on for both venues, their order APIs at the fakes."""
    return {
        "LIVE_TRADING_VENUES": "kalshi,polymarket",
        "VENUE_ORDERS_KALSHI_REST_URL": kalshi.url,
        "VENUE_ORDERS_KALSHI_WS_URL": kalshi.ws_url,
        "VENUE_ORDERS_POLYMARKET_REST_URL": poly.url,
        "VENUE_ORDERS_POLYMARKET_WS_URL": f"ws://127.0.0.1:{poly.port}{poly.user_ws_path}",
        "LIVE_ORDER_POLL_SECONDS": "0.3",
    }


def test_prediction_smoke_with_a_live_key_rests_one_order_per_venue_and_cancels_both(
    fakes, settings, client, strategy_runner, prediction_edges, owner, live_key
):
    kalshi, poly = fakes
    live_feed_settings(settings, kalshi, poly)
    env = {**feed_env(kalshi, poly), **order_env(kalshi, poly)}
    settings.LIVE_TRADING_VENUES = ("kalshi", "polymarket")
    for name in ("KALSHI", "POLYMARKET"):
        setattr(settings, f"VENUE_ORDERS_{name}_REST_URL", env[f"VENUE_ORDERS_{name}_REST_URL"])
        setattr(settings, f"VENUE_ORDERS_{name}_WS_URL", env[f"VENUE_ORDERS_{name}_WS_URL"])

    sync_catalogues.delay()
    wait_for(
        lambda: {"kalshi", "polymarket"} <= set(VenueMarket.objects.values_list("venue", flat=True)),
        timeout=60,
        what="the catalogue sync",
    )

    # Accounts at the venues, connected through the API with the live key (checked at once with
    # an authenticated balances read at each fake).
    private_pem, public_pem = rsa_key()
    kalshi.add_account(KALSHI_KEY_ID, public_pem, balance_cents=1_000)
    poly_credentials = poly.trading.add_account(POLY_WALLET, usdc="10")
    api = ApiCaller(http=client, key=live_key.plaintext)
    status, body = api.post(
        "/v1/venues/kalshi/connect",
        json={"credentials": {"key_id": KALSHI_KEY_ID, "private_key": private_pem}},
    )
    assert status == 201, body
    status, body = api.post("/v1/venues/polymarket/connect", json={"credentials": poly_credentials})
    assert status == 201, body

    edge = prediction_edges(env, live=True)
    wait_for(
        quotes_published(False, [("kalshi", KALSHI_SYMBOL), ("polymarket", POLY_YES)]),
        timeout=60,
        what=f"the live edges' books ({edge.output()})",
    )

    with running_daphne(env) as url:
        settings.SEQUENCE_PUBLIC_API_URL = url
        toml = tomllib.loads((EXAMPLE / "Sequence.toml").read_text())
        strategy = strategy_services.strategy_deploy(
            scope=Scope(client=owner, is_sandbox=False, api_key=live_key.api_key),
            name=toml["strategy"]["name"],
            artifact=artifact(),
            entrypoint=toml["hosted"]["entrypoint"],
            latency_target=toml["hosted"]["placement"]["latency_target"],
            sequence_api_key=live_key.plaintext,
            start=True,
        ).strategy
        run = wait_for(
            lambda: StrategyRun.objects.filter(strategy=strategy, ended_at__isnull=False).first(),
            timeout=180,
            what="the hosted run to end",
        )
        lines = run_lines(run)
        assert run.exit_code == 0, (run.reason, lines[-5:], edge.output())
        assert lines[0]["is_sandbox"] == "false"
        assert lines[-1]["event"] == "done" and lines[-1]["graphs_submitted"] == 2, lines[-3:]
        found = one(lines, "discovery_done")
        assert found["kalshi_slug"] == KALSHI_TICKER.lower()

        # The orders: half the bid, on each market's tick; both live graphs were working.
        k_intent = one(lines, "graph_submit_intent", venue="kalshi")
        assert (k_intent["limit_price"], k_intent["qty"], k_intent["best_bid"]) == (0.11, 1.0, 0.22)
        p_intent = one(lines, "graph_submit_intent", venue="polymarket")
        assert (p_intent["limit_price"], p_intent["qty"], p_intent["best_bid"]) == (0.005, 201.0, 0.01)
        assert [r["status"] for r in lines if r["event"] == "graph_status"] == ["active", "active"]

        graphs = Graph.objects.filter(client=owner, is_sandbox=False)
        assert graphs.count() == 2 and all(g.status == GraphStatus.CANCELLED and not g.paper for g in graphs)
        orders = {o.venue: o for o in Order.objects.filter(graph__in=graphs)}
        assert set(orders) == {"kalshi", "polymarket"} and not any(o.paper for o in orders.values())
        wait_for(
            lambda: all(
                o.status == OrderStatus.CANCELLED and o.node.status == NodeStatus.CANCELLED
                for o in Order.objects.select_related("node").filter(graph__in=graphs)
            ),
            timeout=60,
            what=f"the live edge to cancel both orders at the venues ({edge.output()})",
        )
        orders = {o.venue: o for o in Order.objects.filter(graph__in=graphs)}

    # Kalshi: one order, every request signed right (RSA-PSS, checked by the fake), rested on the
    # book (a buy of YES at 11c under the 22c bid), then taken off it by our DELETE.
    assert kalshi.rest_refusals == []
    (k_order,) = [o for o in kalshi.orders if o.account == KALSHI_KEY_ID]
    assert (k_order.ticker, k_order.side, k_order.action, k_order.price, k_order.count) == (
        KALSHI_TICKER, "yes", "buy", 11, 1,
    )  # fmt: skip
    assert k_order.client_order_id == orders["kalshi"].client_order_id
    assert orders["kalshi"].venue_order_id == k_order.order_id
    assert k_order.filled == 0 and k_order.status == "canceled"
    assert [e for e in kalshi.order_events if e[1] == k_order.order_id] == [
        ("placed", k_order.order_id, "resting"),
        ("canceled", k_order.order_id, "canceled"),
    ]
    assert kalshi.balances[KALSHI_KEY_ID] == 1_000  # nothing spent

    # Polymarket: one order, its EIP-712 signature recovered to the wallet and its L2 headers
    # verified by the fake; rested (LIVE) at 0.005 for 201 shares, then cancelled by us.
    assert poly.trading.refusals == []
    (p_order,) = poly.trading.orders.values()
    assert (p_order.token, p_order.side, str(p_order.price), str(p_order.size)) == (
        POLY_YES, "BUY", "0.005", "201",
    )  # fmt: skip
    assert orders["polymarket"].venue_order_id == p_order.id
    assert p_order.matched == 0 and p_order.status == "CANCELED"
    assert [e for e in poly.trading.order_events if e[1] == p_order.id] == [
        ("placed", p_order.id, "LIVE"),
        ("canceled", p_order.id, "CANCELED"),
    ]
    assert not Fill.objects.exists()
    assert edge.stop() == 0


def test_a_polymarket_order_sent_before_a_crash_is_adopted_at_restart_not_sent_twice(
    fakes, settings, client, prediction_edges, owner, live_key
):
    """Polymarket echoes no client order id: after a kill -9 between the venue's ack and its
    record, the restarted edge finds the order among the open ones by what it is (token, side,
    price, size) and adopts it instead of sending it again."""
    from edges.catalogue import sync_catalogue
    from trading.models import VenueCredential

    kalshi, poly = fakes
    live_feed_settings(settings, kalshi, poly)
    env = {**feed_env(kalshi, poly), **order_env(kalshi, poly)}
    settings.LIVE_TRADING_VENUES = ("kalshi", "polymarket")
    settings.VENUE_ORDERS_POLYMARKET_REST_URL = env["VENUE_ORDERS_POLYMARKET_REST_URL"]
    assert sync_catalogue("polymarket") == 3
    api = ApiCaller(http=client, key=live_key.plaintext)
    status, body = api.post(
        "/v1/venues/polymarket/connect",
        json={"credentials": poly.trading.add_account(POLY_WALLET, usdc="10")},
    )
    assert status == 201, body

    edge = prediction_edges({**env, "SEQUENCE_LIVE_CRASH_POINT": "after_send"}, live=True)
    leg = {"node_id": "n1", "venue": "polymarket", "symbol": POLY_YES, "instrument_type": "prediction",
           "side": "buy", "qty": "201", "limit_price": "0.005"}  # fmt: skip
    status, body = api.post("/v1/graphs", json={"nodes": [leg], "sandbox": False})
    assert status == 201, body
    assert edge.wait_exit(what="the edge to kill itself after the send") == -signal.SIGKILL
    crashed = Order.objects.get(graph__graph_id=body["graph_id"])
    assert crashed.sent_at is not None and crashed.venue_order_id == ""
    (at_venue,) = poly.trading.orders.values()
    assert at_venue.status == "LIVE"

    prediction_edges(env, live=True)  # the restart, without the crash point
    wait_for(
        lambda: Order.objects.get(pk=crashed.pk).venue_order_id == at_venue.id,
        timeout=30,
        what="the order adopted",
    )
    assert Order.objects.get(pk=crashed.pk).status == OrderStatus.WORKING
    assert list(poly.trading.orders) == [at_venue.id] and poly.trading.refusals == []
    wait_for(
        lambda: VenueCredential.objects.get(client=owner, venue="polymarket").reconciled_at is not None,
        timeout=30,
        what="a reconcile pass",
    )
    assert VenueCredential.objects.get(client=owner, venue="polymarket").unknown_orders == []


def test_fills_of_resting_kalshi_and_polymarket_orders_come_back_once(
    fakes, settings, client, prediction_edges, owner, live_key
):
    """A live graph's resting orders at both fakes, taken by a counterparty there: each fill comes
    back through the live edge once (keyed by the venue's fill id), fills the node and moves the
    position."""
    from edges.catalogue import sync_catalogue
    from trading.models import Node, Position
    from venues.kalshi.orders import KalshiOrderClient
    from venues.orders import OrderConfig, OrderRequest

    kalshi, poly = fakes
    live_feed_settings(settings, kalshi, poly)
    env = {**feed_env(kalshi, poly), **order_env(kalshi, poly)}
    settings.LIVE_TRADING_VENUES = ("kalshi", "polymarket")
    for name in ("KALSHI", "POLYMARKET"):
        setattr(settings, f"VENUE_ORDERS_{name}_REST_URL", env[f"VENUE_ORDERS_{name}_REST_URL"])
    assert sync_catalogue("kalshi") == 5 and sync_catalogue("polymarket") == 3
    private_pem, public_pem = rsa_key()
    kalshi.add_account(KALSHI_KEY_ID, public_pem, balance_cents=1_000)
    api = ApiCaller(http=client, key=live_key.plaintext)
    for venue, credentials in (
        ("kalshi", {"key_id": KALSHI_KEY_ID, "private_key": private_pem}),
        ("polymarket", poly.trading.add_account(POLY_WALLET, usdc="10")),
    ):
        status, body = api.post(f"/v1/venues/{venue}/connect", json={"credentials": credentials})
        assert status == 201, body
    prediction_edges(env, live=True)

    legs = [
        {"node_id": "k", "venue": "kalshi", "symbol": KALSHI_SYMBOL, "instrument_type": "prediction",
         "side": "buy", "qty": "1", "limit_price": "0.11"},
        {"node_id": "p", "venue": "polymarket", "symbol": POLY_YES, "instrument_type": "prediction",
         "side": "buy", "qty": "201", "limit_price": "0.005"},
    ]  # fmt: skip
    status, body = api.post("/v1/graphs", json={"nodes": legs, "sandbox": False})
    assert status == 201, body
    orders = Order.objects.filter(graph__graph_id=body["graph_id"])
    wait_for(lambda: all(o.venue_order_id for o in orders.all()), timeout=30, what="both orders acknowledged")
    k_void = orders.get(venue="kalshi").venue_order_id
    p_void = orders.get(venue="polymarket").venue_order_id

    # The counterparties: another Kalshi account sells 334 YES down to 11c (the book's 333 bid at
    # 22c first, then our resting 11c bid: we are the maker of 1); at Polymarket a taker takes
    # all 201 shares.
    seller_pem, seller_public = rsa_key()
    kalshi.add_account("seller", seller_public, balance_cents=1_000)
    seller = KalshiOrderClient(
        {"key_id": "seller", "private_key": seller_pem}, OrderConfig(rest_url=kalshi.url)
    )
    sold = seller.place(
        OrderRequest(client_order_id="seller-1", symbol=KALSHI_SYMBOL, side="sell", price=Decimal("0.11"), qty=Decimal(334))
    )  # fmt: skip
    assert sold.state == "filled", sold
    poly.trading.fill_resting(p_void, "201")

    def filled() -> bool:
        nodes = Node.objects.filter(graph__graph_id=body["graph_id"])
        return set(nodes.values_list("status", flat=True)) == {NodeStatus.FILLED}

    try:
        wait_for(filled, timeout=60, what="both nodes filled through the live edge")
    except AssertionError:
        state = list(Node.objects.filter(graph__graph_id=body["graph_id"]).values_list("node_id", "status"))
        raise AssertionError(
            (state, list(Fill.objects.values_list("fill_id", flat=True)), kalshi.fills, poly.trading.trades)
        ) from None
    fills = {f.venue: f for f in Fill.objects.filter(order__graph__graph_id=body["graph_id"])}
    assert set(fills) == {"kalshi", "polymarket"} and Fill.objects.count() == 2
    assert (fills["kalshi"].price_1e9, fills["kalshi"].qty_1e8) == (110_000_000, 100_000_000)
    assert (fills["polymarket"].price_1e9, fills["polymarket"].qty_1e8) == (5_000_000, 20_100_000_000)
    k_fill = next(f for f in kalshi.fills[KALSHI_KEY_ID] if f["order_id"] == k_void)
    assert fills["kalshi"].fill_id == f"kalshi:{k_fill['trade_id']}"
    assert fills["polymarket"].fill_id.startswith("polymarket:") and p_void in fills["polymarket"].fill_id
    positions = {p.venue: p for p in Position.objects.filter(client=owner, is_sandbox=False, paper=False)}
    assert positions["kalshi"].position_1e8 == 100_000_000
    assert positions["polymarket"].position_1e8 == 20_100_000_000
    assert positions["kalshi"].fill_count == 1 and positions["polymarket"].fill_count == 1
