"""The live venues' catalogues synced into the database by a real Celery worker (edges.sync_catalogues,
the beat task) from the fake Kalshi and Polymarket, and /v1/markets answered from them in the seed's
shape (../shared/spec/hosted-strategies.txt) while the feeds are live."""

from __future__ import annotations

import json

import pytest

from edges.models import VenueMarket
from edges.tasks import sync_catalogues
from sequence_site.celery import app as celery_app
from tests.celery_worker import purge, running_worker
from tests.fakevenues.kalshi import REST, FakeKalshi
from tests.fakevenues.polymarket import FakePolymarket
from tests.waiting import wait_until

SEED_FIELDS = {
    "slug",
    "yes_token_id",
    "no_token_id",
    "liquidity",
    "volume",
    "outcome_name",
    "is_placeholder_outcome",
    "tick_size",
    "symbol",
    "status",
}


@pytest.fixture
def fakes():
    with FakeKalshi() as kalshi, FakePolymarket.from_fixtures() as poly:
        yield kalshi, poly


@pytest.fixture
def live(settings, fakes):
    kalshi, poly = fakes
    settings.VENUE_FEED_KALSHI = "live"
    settings.VENUE_FEED_KALSHI_REST_URL = kalshi.url + REST
    settings.VENUE_FEED_POLYMARKET = "live"
    settings.VENUE_FEED_POLYMARKET_REST_URL = poly.url
    settings.VENUE_FEED_POLYMARKET_OPTIONS = {"clob_url": poly.url}
    return kalshi, poly


def test_the_beat_schedule_syncs_the_catalogues():
    entry = celery_app.conf.beat_schedule["venue-catalogues"]
    assert entry["task"] == "edges.sync_catalogues" and entry["options"]["queue"] == "default"


def test_a_worker_syncs_the_live_catalogues_and_markets_answer_from_them(transactional_db, api, live):
    kalshi, poly = live
    # Live, but never synced: said plainly, not answered from the simulator's made-up markets.
    status, body = api.get("/v1/markets?venue=kalshi&active=true")
    assert status == 503 and "not been synced" in json.dumps(body)

    purge(["default"])
    with running_worker(queues=["default"]):
        sync_catalogues.delay()
        wait_until(
            lambda: (
                VenueMarket.objects.filter(venue="kalshi").exists()
                and VenueMarket.objects.filter(venue="polymarket").exists()
            ),
            timeout=60,
            what="the catalogue sync",
        )

    # Kalshi: the fake's open markets, by volume, each with its YES/NO symbols.
    status, body = api.get("/v1/markets?venue=kalshi&active=true&order=volume")
    assert status == 200, body
    rows = body["markets"]
    assert [r["ticker"] for r in rows] == [
        "KXBTC-25MAR15-B100000",
        "FED-23DEC-T3.00",
        "KXGDPSHAREMANU-29",
        "KXHIGHNY-26JUL04-T90",
        "KXHIGHNY-26JUL04-T95",
    ]
    assert [r["volume"] for r in rows] == sorted((r["volume"] for r in rows), reverse=True)
    for r in rows:
        assert set(r) >= SEED_FIELDS
        assert (r["yes_token_id"], r["no_token_id"]) == (f"{r['ticker']}-YES", f"{r['ticker']}-NO")
        assert r["active"] is True and r["status"] == "active"

    # Polymarket: expand=outcomes flattens the multi-outcome event into one row per outcome.
    status, body = api.get("/v1/markets?venue=polymarket&expand=outcomes&limit=200")
    assert status == 200, body
    flat = body["markets"]
    per_event: dict[str, int] = {}
    for r in flat:
        per_event[r["event"]] = per_event.get(r["event"], 0) + 1
    assert max(per_event.values()) > 1  # the multi-outcome event, one row per outcome
    for r in flat:
        assert set(r) >= SEED_FIELDS and r["yes_token_id"] and r["no_token_id"]
    binary = poly.gamma_markets[0]
    yes, no = json.loads(binary["clobTokenIds"])
    assert any((r["yes_token_id"], r["no_token_id"]) == (yes, no) for r in flat)
    # Without expand, that event is one row carrying its outcomes.
    status, body = api.get("/v1/markets?venue=polymarket&limit=200")
    grouped = body["markets"]
    assert len(grouped) < len(flat) and any(len(r.get("outcomes") or ()) > 1 for r in grouped)

    # /v1/quotes knows the live catalogue's symbols: a synced token is looked up on the live venue
    # (no edge publishes it here, so 503 naming the venue), the simulator's tokens are unknown.
    status, body = api.get("/v1/quotes?symbol=KXBTC-25MAR15-B100000-NO")
    assert status == 503 and "kalshi" in json.dumps(body), body
    status, body = api.get(f"/v1/quotes?symbol={yes}&venue=polymarket")
    assert status == 503 and "polymarket" in json.dumps(body), body
    status, body = api.get("/v1/quotes?symbol=NOT-A-KALSHI-TICKER-YES&venue=kalshi")
    assert status == 404, body

    # A second sync replaces the catalogue: a market the venue no longer lists is gone.
    kalshi.markets = [m for m in kalshi.markets if m["ticker"] != "FED-23DEC-T3.00"]
    assert sync_catalogues("kalshi") == {"kalshi": 4}
    tickers = [
        r["ticker"] for r in api.get("/v1/markets?venue=kalshi&active=true&order=volume")[1]["markets"]
    ]
    assert "FED-23DEC-T3.00" not in tickers and tickers[0] == "KXBTC-25MAR15-B100000"


def test_a_venue_on_the_simulator_lists_the_simulated_catalogue_without_fetching(db, api):
    status, body = api.get("/v1/markets?venue=kalshi&active=true&order=volume")
    assert status == 200 and body["markets"]
    assert not VenueMarket.objects.exists()


def test_sync_on_demand_and_a_failed_fetch_keeps_the_stored_catalogue(db, live, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("sync_catalogues", "--venue", "kalshi", stdout=out)
    assert out.getvalue().strip() == "kalshi: 5 entries"
    before = set(VenueMarket.objects.filter(venue="kalshi").values_list("key", flat=True))

    kalshi, _ = live
    settings.VENUE_FEED_KALSHI_REST_URL = kalshi.url + "/no-such-api"  # the fake answers 404
    with pytest.raises(CommandError, match="kalshi"):
        call_command("sync_catalogues", "--venue", "kalshi", stdout=StringIO())
    assert set(VenueMarket.objects.filter(venue="kalshi").values_list("key", flat=True)) == before


@pytest.fixture
def spot_fakes(settings):
    from tests.fakevenues.coinbase import FakeCoinbase
    from tests.fakevenues.kraken import KrakenFake

    with KrakenFake() as kraken, FakeCoinbase() as coinbase:
        settings.VENUE_FEED_KRAKEN = "live"
        settings.VENUE_FEED_KRAKEN_REST_URL = kraken.url
        settings.VENUE_FEED_COINBASE = "live"
        settings.VENUE_FEED_COINBASE_REST_URL = coinbase.url
        yield kraken, coinbase


def test_a_worker_syncs_the_spot_venues_and_markets_list_their_rules(transactional_db, api, spot_fakes):
    kraken, coinbase = spot_fakes
    status, body = api.get("/v1/markets?venue=kraken")
    assert status == 503 and "not been synced" in json.dumps(body)

    purge(["default"])
    with running_worker(queues=["default"]):
        sync_catalogues.delay()
        wait_until(
            lambda: (
                VenueMarket.objects.filter(venue="kraken").exists()
                and VenueMarket.objects.filter(venue="coinbase").exists()
            ),
            timeout=60,
            what="the spot catalogue sync",
        )
    assert ("GET", "/api/v3/brokerage/market/products?product_type=SPOT") in coinbase.http_requests

    # Kraken: every AssetPairs entry, v2 names, tick = tick_size, lot = 10^-lot_decimals,
    # min_qty = ordermin, min_notional = costmin (the fake serves Kraken's documented example).
    status, body = api.get("/v1/markets?venue=kraken&limit=200")
    assert status == 200, body
    rules = {
        r["symbol"]: (r["tick_size"], r["lot_size"], r["min_qty"], r["min_notional"], r["active"])
        for r in body["markets"]
    }
    assert rules == {
        "ETH-BTC": ("0.00001", "0.00000001", "0.01", "0.00002", True),
        "BTC-USD": ("0.1", "0.00000001", "0.0001", "0.5", True),
        "ETH-USD": ("0.01", "0.00000001", "0.002", "0.5", True),
    }
    for r in body["markets"]:
        assert (r["venue"], r["instrument_type"], r["status"]) == ("kraken", "spot", "active")

    # Coinbase: the SPOT products (the future is not asked for), tick = price_increment, lot =
    # base_increment, min_qty = base_min_size, min_notional = quote_min_size; a delisted one is
    # listed as closed and left out by active=true.
    status, body = api.get("/v1/markets?venue=coinbase&limit=200")
    assert status == 200, body
    rules = {
        r["symbol"]: (r["tick_size"], r["lot_size"], r["min_qty"], r["min_notional"], r["active"])
        for r in body["markets"]
    }
    spot = [p for p in coinbase.catalogue if p["product_type"] == "SPOT"]
    assert set(rules) == {p["product_id"] for p in spot}
    assert rules["BTC-USD"] == ("0.01", "0.00000001", "0.00000001", "1", True)
    assert rules["XRP-USD"] == ("0.0001", "0.000001", "0.000001", "1", True)
    assert rules["OLD-USD"][-1] is False
    status, body = api.get("/v1/markets?venue=coinbase&active=true&limit=200")
    assert "OLD-USD" not in {r["symbol"] for r in body["markets"]}

    # The pairs' rules are what /v1/quotes and the edges look symbols up by.
    from edges.catalogue import stored_instrument

    btc = stored_instrument("kraken", "BTC-USD")
    assert (btc.tick_1e9, btc.min_qty_1e8, btc.min_notional_1e9) == (100_000_000, 10_000, 500_000_000)


def test_a_venue_traded_live_has_its_catalogue_synced_whatever_its_feed(settings):
    from edges.catalogue import live_catalogue_venues

    settings.LIVE_TRADING_VENUES = ("kraken", "coinbase")
    assert live_catalogue_venues() == []  # every feed on the simulator: spot pairs need no fetch
    settings.LIVE_TRADING_VENUES = ("kraken", "polymarket", "kalshi")
    assert live_catalogue_venues() == ["kalshi", "polymarket"]
