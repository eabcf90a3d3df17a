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


def test_a_venue_traded_live_has_its_catalogue_synced_whatever_its_feed(settings):
    from edges.catalogue import live_catalogue_venues

    assert live_catalogue_venues() == []  # every feed on the simulator, nothing traded live
    settings.LIVE_TRADING_VENUES = ("polymarket", "kalshi")
    assert live_catalogue_venues() == ["kalshi", "polymarket"]
