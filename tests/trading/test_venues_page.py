"""The Venues page and the kill switch through Django's test client: login required, a sandbox
session refused by the same services (and the same words) as a sandbox API key, and the kill
switch's confirm step (GET changes nothing)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from sequence_site import services as site_services
from sequence_site.middleware import SESSION_MODE_KEY
from trading.models import Graph, RiskLimit, VenueCredential


@pytest.fixture
def browser(client, owner):
    user = get_user_model().objects.create_user(username="alice", password="correct horse battery")
    site_services.client_add_member(client=owner, user=user)
    client.force_login(user)
    return client


def go_live(browser) -> None:
    session = browser.session
    session[SESSION_MODE_KEY] = "live"
    session.save()


def flashes(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_pages_require_login(client, db):
    for method, path in [
        ("get", "/venues/"),
        ("get", "/kill/"),
        ("post", "/kill/"),
        ("post", "/venues/kraken/connect/"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path


def test_nav_has_venues_and_the_overview_a_kill_switch(browser):
    html = browser.get("/").content.decode()
    nav = re.search(r'<nav class="nav">(.*?)</nav>', html, re.S).group(1)
    assert re.search(r'<a href="/venues/"[^>]*>Venues</a>', nav)
    assert 'data-testid="kill-switch"' in html and 'href="/kill/"' in html


def test_a_sandbox_session_is_refused_like_a_sandbox_key(browser):
    page = browser.get("/venues/").content.decode()
    assert "Connecting a venue" not in page  # the listing's own refusal:
    assert "Listing venue connections needs a live (seq_live_) key" in page
    assert 'type="password"' not in page

    response = browser.post(
        "/venues/kraken/connect/", {"api_key": "k", "api_secret": "c2VjcmV0"}, follow=True
    )
    assert flashes(response) == [
        "Not connected: Connecting a venue needs a live (seq_live_) key: sandbox keys paper-trade "
        "and never reach a venue."
    ]
    response = browser.post("/venues/kraken/limits/", {"max_open_orders": "1"}, follow=True)
    assert flashes(response)[0].startswith("Limits not changed: Risk limits needs a live (seq_live_) key")
    response = browser.post("/venues/kraken/disconnect/", follow=True)
    assert "needs a live (seq_live_) key" in flashes(response)[0]
    assert not VenueCredential.objects.exists() and not RiskLimit.objects.exists()


def test_live_session_bad_input_is_refused_before_any_venue(browser, settings):
    go_live(browser)
    settings.VENUE_ORDERS_KRAKEN_REST_URL = "http://127.0.0.1:9"  # never reached
    response = browser.post("/venues/kraken/connect/", {"api_key": "k"}, follow=True)
    assert flashes(response) == ["Not connected: missing credential fields for kraken: api_secret"]
    response = browser.post("/venues/binance/connect/", {}, follow=True)
    assert "unknown venue 'binance'" in flashes(response)[0]
    response = browser.post("/venues/kraken/limits/", {"max_order_notional": "abc"}, follow=True)
    assert flashes(response)[0].startswith("Limits not changed: max_order_notional:")
    assert not VenueCredential.objects.exists() and not RiskLimit.objects.exists()


def test_kill_get_only_asks_post_cancels_sandbox_graphs(browser, api, sandbox_edges):
    node = {"node_id": "a", "venue": "kraken", "symbol": "BTC-USD", "side": "buy", "qty": "0.001",
            "limit_price": "1000"}  # fmt: skip
    status, body = api.post("/v1/graphs", json={"nodes": [node], "edges": []})
    assert status == 201, body
    graph_id = body["graph_id"]
    page = browser.get("/kill/").content.decode()
    assert 'data-testid="kill-confirm"' in page and "no venue is called" in page
    assert Graph.objects.get(graph_id=graph_id).status == "active"

    page = browser.post("/kill/").content.decode()
    assert "1 graph(s) cancelled, 0 algo(s) stopped." in page and graph_id in page
    assert Graph.objects.get(graph_id=graph_id).status == "cancelled"


def test_the_page_says_when_this_server_sends_no_live_orders_to_a_venue(browser, settings):
    go_live(browser)
    settings.LIVE_TRADING_VENUES = ("kraken",)
    page = browser.get("/venues/").content.decode()
    assert 'data-testid="orders-off-kraken"' not in page
    for venue in ("coinbase", "kalshi", "polymarket"):
        assert f'data-testid="orders-off-{venue}"' in page


def test_unknown_orders_the_edge_reported_are_listed(browser, owner):
    from trading.credentials import venue_unknown_orders_report
    from trading.models import VenueCredential

    go_live(browser)
    VenueCredential.objects.create(
        client=owner, venue="kraken", ciphertext=b"x", nonce=b"y", field_names=["api_key", "api_secret"]
    )
    order = {"venue_order_id": "OQCLML-BW3P3-BUCMWZ", "client_order_id": None, "symbol": "ETH/USD",
             "side": "buy", "price": "3300.00", "qty": "0.01"}  # fmt: skip
    venue_unknown_orders_report(client_id=owner.pk, venue="kraken", orders=[order])
    page = browser.get("/venues/").content.decode()
    assert 'data-testid="unknown-orders-kraken"' in page
    assert "OQCLML-BW3P3-BUCMWZ · ETH/USD buy 0.01 @ 3300.00" in page
