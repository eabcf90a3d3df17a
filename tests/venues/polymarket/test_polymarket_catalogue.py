"""The Gamma/CLOB catalogue: captured Gamma rows parsed (JSON-string arrays, mixed number types),
turned into our market rows and instruments, and fetched page by page from the fake venue."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakevenues.polymarket import FakeBook, FakePolymarket, load_fixture
from venues.live import factory
from venues.live.factory import FeedConfig, build_protocol
from venues.live.rest import RestClient, RestError
from venues.polymarket.catalogue import (
    CatalogueError,
    entry_for,
    fetch_catalogue,
    fetch_gamma_markets,
    iter_gamma_pages,
    parse_gamma_event,
    parse_gamma_market,
    parse_json_array,
)
from venues.polymarket.feed import PolymarketFeed

BTC = "gamma/market__binary_btc_updown_2026.json"
EVENT = "gamma/event__negrisk_multi_outcome_2028_nomination.json"


def test_binary_market_capture() -> None:
    raw = load_fixture(BTC)
    assert isinstance(raw["clobTokenIds"], str)  # the live API sends a JSON string
    m = parse_gamma_market(raw)
    assert m.token_ids == (
        "104239898038807136052399800151408521467737075933964991162589336683346093173875",
        "71183960810705820955071415844881728181970340514894896943812046065452395013351",
    )
    assert m.outcome_names == ("Up", "Down") and m.outcome_name == "Up"
    assert (m.tick_size, m.min_order_size, m.neg_risk) == ("0.01", "5", False)
    assert m.liquidity == 20328.3747 and m.volume == 9.999997 and m.tradable
    assert m.event_slug == "btc-updown-5m-1773307200"
    e = entry_for(m)
    row = e.row.as_dict()
    assert row["yes_token_id"] == m.token_ids[0] and row["no_token_id"] == m.token_ids[1]
    assert row["tick_size"] == "0.01" and row["yes_price_1e9"] == 505_000_000 and row["active"] is True
    assert row["is_placeholder_outcome"] is False and row["slug"] == "btc-updown-5m-1773307200"
    assert e.yes.symbol == m.token_ids[0] and e.yes.outcome == "YES" and e.no.outcome == "NO"
    assert e.yes.tick_1e9 == 10_000_000 and e.yes.min_qty_1e8 == 500_000_000
    assert e.yes.min_notional_1e9 == 1_000_000_000 and e.yes.max_price_1e9 == 990_000_000
    assert e.extra["condition_id"] == raw["conditionId"]


def test_negrisk_event_markets_are_outcomes_of_one_event() -> None:
    (event,) = load_fixture(EVENT)
    rows, skipped = parse_gamma_event(event)
    assert skipped == [] and [r.outcome_name for r in rows] == ["Stephen A. Smith", "Gretchen Whitmer"]
    assert all(r.neg_risk and r.event_markets == 2 and r.tick_size == "0.001" for r in rows)
    assert {r.event_slug for r in rows} == {"democratic-presidential-nominee-2028"}
    assert not any(r.is_placeholder for r in rows)
    row = entry_for(rows[0]).row
    assert row.multi_outcome and row.event_title == "Democratic Presidential Nominee 2028"


@pytest.mark.parametrize(
    ("change", "placeholder"),
    [
        ({"negRiskOther": True}, True),
        ({"groupItemTitle": "Other"}, True),
        ({"groupItemTitle": "Person C"}, True),  # the event is augmented (negRiskAugmented)
        ({"groupItemTitle": "Gavin Newsom"}, False),
    ],
)
def test_placeholder_markers(change: dict[str, object], placeholder: bool) -> None:
    (event,) = load_fixture(EVENT)
    event["markets"][0].update(change)
    rows, _ = parse_gamma_event(event)
    assert rows[0].is_placeholder is placeholder


def test_closed_and_legacy_markets() -> None:
    closed = parse_gamma_market(load_fixture("gamma/market__closed_binary_accepting_false.json"))
    assert closed.closed and closed.accepting_orders is False and not closed.tradable
    legacy = parse_gamma_market(load_fixture("gamma/market__closed_nonbinary_legacy.json"))
    assert legacy.tick_size is None and legacy.outcome_names == ("Long", "Short")
    with pytest.raises(CatalogueError, match="tick size"):
        entry_for(legacy)
    sports = parse_gamma_market(load_fixture("gamma/market__sports_moneyline.json"))
    assert sports.outcome_name == "FaZe" and sports.group_item_title == "Match Winner"


def test_bad_rows_are_refused() -> None:
    raw = load_fixture(BTC)
    assert parse_json_array('["a", "b"]', "x") == ["a", "b"] and parse_json_array(["a"], "x") == ["a"]
    for field, value in [
        ("clobTokenIds", '["1"]'),
        ("clobTokenIds", "[not json"),
        ("clobTokenIds", '["12", "12"]'),
        ("clobTokenIds", '["0xabc", "12"]'),
        ("outcomes", 7),
        ("conditionId", "0x12"),
        ("slug", ""),
    ]:
        bad = copy.deepcopy(raw)
        bad[field] = value
        with pytest.raises(CatalogueError):
            parse_gamma_market(bad)


@pytest.fixture
def fake() -> Iterator[FakePolymarket]:
    with FakePolymarket.from_fixtures() as srv:
        yield srv  # type: ignore[misc]


def test_paging_and_filters(fake: FakePolymarket) -> None:
    gamma = RestClient(fake.url)
    rows, skipped = fetch_gamma_markets(gamma, page_size=1)
    # Active and not closed: only the BTC market among the captured standalone rows.
    assert [r.slug for r in rows] == ["btc-updown-5m-1773307200"] and skipped == []
    paths = [p for _, p in fake.http_requests]
    assert paths == [
        "/markets?active=true&closed=false&limit=1&offset=0",
        "/markets?active=true&closed=false&limit=1&offset=1",
    ]
    every = list(iter_gamma_pages(gamma, "/markets", {"closed": None}, page_size=3))
    assert len(every) == 4 and fake.http_requests[-1][1] == "/markets?limit=3&offset=3"


def test_full_sync_joins_the_clob_where_gamma_is_silent(fake: FakePolymarket) -> None:
    (event,) = copy.deepcopy(fake.gamma_events)
    for m in event["markets"]:
        m.pop("orderPriceMinTickSize")
        m.pop("orderMinSize")
    fake.gamma_events = [event]
    first, second = event["markets"]
    yes0 = json.loads(first["clobTokenIds"])[0]
    fake.add_book(
        FakeBook(
            token_id=yes0,
            market=first["conditionId"],
            bids={"0.01": "5"},
            asks={"0.02": "9"},
            tick_size="0.001",
            min_order_size="15",
            neg_risk=True,
        )
    )
    entries, notes = fetch_catalogue(RestClient(fake.url), RestClient(fake.url), page_size=50)
    by_slug = {e.row.slug: e for e in entries}
    assert set(by_slug) == {first["slug"], "btc-updown-5m-1773307200"}
    joined = by_slug[first["slug"]]
    assert joined.extra["tick_size"] == "0.001" and joined.extra["min_order_size"] == "15"
    assert joined.yes.min_qty_1e8 == 1_500_000_000 and joined.row.multi_outcome
    assert any("no order book" in n and second["slug"] in n for n in notes)  # CLOB /book said 404
    assert ("GET", f"/book?token_id={yes0}") in fake.http_requests


def test_rate_limited_answers_are_retried(fake: FakePolymarket) -> None:
    slept: list[float] = []
    fake.fail_http(2, 429)
    rows, _ = fetch_gamma_markets(RestClient(fake.url, sleep=slept.append))
    assert len(rows) == 1 and slept == [1.0, 1.0]
    fake.fail_http(5, 503)
    with pytest.raises(RestError):
        fetch_gamma_markets(RestClient(fake.url, max_retries=1, sleep=slept.append))


def test_factory_entries(fake: FakePolymarket) -> None:
    a, b = FakePolymarket.BURST_A, FakePolymarket.BURST_B
    proto = build_protocol("polymarket", [a, b], FeedConfig(ws_url=fake.ws_url, silence_s=5.0))
    assert isinstance(proto, PolymarketFeed) and proto.url() == fake.ws_url and proto.silence_s == 5.0
    real = build_protocol("polymarket", [a], FeedConfig())  # no URL set: the venue's own
    assert real.url() == "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    instruments = factory.CATALOGUES["polymarket"](
        FeedConfig(ws_url=fake.ws_url, rest_url=fake.url, options={"clob_url": fake.url})
    )
    symbols = {i.symbol for i in instruments}
    assert len(instruments) == 6  # BTC up/down + the two nomination markets, YES and NO each
    assert json.loads(load_fixture(BTC)["clobTokenIds"])[1] in symbols
    assert all(i.venue == "polymarket" and i.kind == "prediction" for i in instruments)


def _settings_value(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "from django.conf import settings; print(settings.VENUE_FEED_POLYMARKET,"
        " settings.VENUE_FEED_POLYMARKET_REST_URL, settings.VENUE_FEED_POLYMARKET_OPTIONS['clob_url'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "sequence_site.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_settings_offline_by_default_and_checked() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENUE_FEED_")}
    os_env_backup = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        default = _settings_value({})
        live = _settings_value(
            {
                "VENUE_FEED_POLYMARKET": "live",
                "VENUE_FEED_POLYMARKET_REST_URL": "http://127.0.0.1:9",
                "VENUE_FEED_POLYMARKET_CLOB_URL": "http://127.0.0.1:8",
            }
        )
        bad = _settings_value({"VENUE_FEED_POLYMARKET": "maybe"})
    finally:
        os.environ.clear()
        os.environ.update(os_env_backup)
    assert default.returncode == 0, default.stderr
    assert default.stdout.split() == [
        "sim",
        "https://gamma-api.polymarket.com",
        "https://clob.polymarket.com",
    ]
    assert live.returncode == 0 and live.stdout.split() == [
        "live",
        "http://127.0.0.1:9",
        "http://127.0.0.1:8",
    ]
    assert bad.returncode != 0 and "VENUE_FEED_POLYMARKET='maybe' must be sim or live" in bad.stderr


def test_the_edge_reads_polymarket_settings_into_a_feed_config(fake: FakePolymarket, settings: Any) -> None:
    from edges.feeds import venue_feed_config

    settings.VENUE_FEED_POLYMARKET_WS_URL = fake.ws_url
    settings.VENUE_FEED_POLYMARKET_REST_URL = fake.url
    settings.VENUE_FEED_POLYMARKET_OPTIONS = {"clob_url": fake.url}
    config = venue_feed_config("polymarket")
    assert build_protocol("polymarket", [FakePolymarket.BURST_A], config).url() == fake.ws_url
    instruments = factory.CATALOGUES["polymarket"](config)
    assert len(instruments) == 6 and fake.http_requests[0][1].startswith("/events?")
