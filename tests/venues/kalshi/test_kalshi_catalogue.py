"""Kalshi's catalogue from the fake's REST markets/events: cursor paging, status words, tick grids,
YES/NO instruments and /v1/markets rows."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.fakevenues.kalshi import REST, FakeKalshi
from venues.instruments import to_price_1e9, to_qty_1e8
from venues.kalshi import catalogue
from venues.kalshi.catalogue import (
    KalshiCatalogueError,
    build_catalogue,
    fetch_catalogue,
    fetch_events,
    fetch_markets,
    market_instruments,
    market_row,
    tick_of,
)
from venues.live.rest import RestClient, RestError


@pytest.fixture
def fake() -> Iterator[FakeKalshi]:
    with FakeKalshi() as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def client(fake) -> RestClient:
    return RestClient(fake.url + REST, sleep=lambda s: None)


def test_open_markets_are_paged_with_the_cursor(fake, client, monkeypatch):
    monkeypatch.setattr(catalogue, "MARKETS_PAGE", 2)
    markets = fetch_markets(client)
    assert {m["ticker"] for m in markets} == {
        "KXGDPSHAREMANU-29", "KXBTC-25MAR15-B100000", "FED-23DEC-T3.00", "KXHIGHNY-26JUL04-T90", "KXHIGHNY-26JUL04-T95",
    }  # fmt: skip
    gets = [p for m, p in fake.http_requests if p.startswith(f"{REST}/markets")]
    assert len(gets) == 3  # 5 active markets, 2 a page
    assert all("status=open" in p and "limit=2" in p and "mve_filter=exclude" in p for p in gets)
    assert "cursor=" not in gets[0] and all("cursor=" in p for p in gets[1:])
    assert {m["ticker"] for m in fetch_markets(client, status="settled")} == {"KXSB-26-KC"}
    assert {m["ticker"] for m in fetch_markets(client, status="unopened")} == {"KXRECSSNBER-27"}


def test_events_are_paged_too(fake, client, monkeypatch):
    monkeypatch.setattr(catalogue, "EVENTS_PAGE", 1)
    events = fetch_events(client)
    assert [e["event_ticker"] for e in events] == [
        "KXGDPSHAREMANU-29",
        "KXBTC-25MAR15",
        "FED-23DEC",
        "KXHIGHNY-26JUL04",
    ]


def test_the_fake_refuses_what_kalshi_refuses(client):
    for params in (
        {"limit": 1001},
        {"limit": 0},
        {"status": "active"},
        {"cursor": "not-ours"},
        {"mve_filter": "x"},
    ):
        with pytest.raises(RestError) as err:
            client.get_json("/markets", params)
        assert err.value.status == 400
    with pytest.raises(RestError) as err:
        client.get_json("/events", {"limit": 201})
    assert err.value.status == 400


def test_a_429_is_retried_and_the_catalogue_still_completes(fake, client):
    fake.fail_http(2, 429)
    cat = fetch_catalogue(client)
    assert client.retries == 2
    assert len(cat.markets) == 5 and len(cat.instruments) == 10 and cat.skipped == []


def test_a_looping_cursor_is_an_error_not_an_endless_sync(fake, client, monkeypatch):
    calls = []

    def looping(path, params=None, headers=None):
        calls.append(params)
        return {"markets": [], "cursor": "same"}

    monkeypatch.setattr(client, "get_json", looping)
    with pytest.raises(KalshiCatalogueError, match="repeats"):
        fetch_markets(client)
    assert len(calls) == 2


def test_rows_and_instruments_have_the_seeds_fields(client):
    cat = fetch_catalogue(client)
    rows = {m.ticker: m for m in cat.markets}
    fed = rows["FED-23DEC-T3.00"]
    d = fed.as_dict()
    assert d["slug"] == "fed-23dec-t3.00" and d["yes_token_id"] == "FED-23DEC-T3.00-YES"
    assert d["no_token_id"] == "FED-23DEC-T3.00-NO" and d["is_placeholder_outcome"] is False
    assert d["event"] == "FED-23DEC" and d["event_title"] == "Fed funds rate after the December 2023 meeting"
    assert d["category"] == "Economics" and d["active"] is True and d["tick_size"] == "0.01"
    assert d["outcome_name"] == "Above 3.00%"
    # liquidity: 0.22 x 333 YES bid + (1 - 0.44) x 146 NO bid behind the ask; volume: contracts x $1
    assert d["liquidity"] == pytest.approx(0.22 * 333 + 0.56 * 146)
    assert d["volume"] == 33896.0
    assert d["yes_price_1e9"] == to_price_1e9("0.33")  # the mid
    inst = {i.symbol: i for i in cat.instruments}
    yes, no = inst["FED-23DEC-T3.00-YES"], inst["FED-23DEC-T3.00-NO"]
    assert yes.outcome == "YES" and no.outcome == "NO" and no.mirror_of == yes.symbol
    assert yes.tick_1e9 == to_price_1e9("0.01") and yes.lot_1e8 == to_qty_1e8("1")
    assert (yes.min_price_1e9, yes.max_price_1e9) == (to_price_1e9("0.01"), to_price_1e9("0.99"))
    assert yes.fee_model == "kalshi" and yes.min_notional_1e9 == 0 and yes.market == "FED-23DEC-T3.00"
    # the real capture: deci_cent grid and fractional trading
    gdp = {i.symbol: i for i in cat.instruments}["KXGDPSHAREMANU-29-YES"]
    assert gdp.tick_1e9 == to_price_1e9("0.001") and gdp.lot_1e8 == to_qty_1e8("0.01")
    # a YES side nobody bids: liquidity is the NO bids only, the reference the last price
    t95 = rows["KXHIGHNY-26JUL04-T95"].as_dict()
    assert t95["liquidity"] == pytest.approx(0.98 * 500) and t95["yes_price_1e9"] == to_price_1e9("0.01")


def test_tick_grids():
    assert tick_of(
        {"price_level_structure": "linear_cent", "price_ranges": [{"start": "0", "end": "1", "step": "0.01"}]}
    ) == Decimal("0.01")
    tapered = {
        "price_level_structure": "tapered_deci_cent",
        "price_ranges": [
            {"start": "0.00", "end": "0.10", "step": "0.001"},
            {"start": "0.10", "end": "0.90", "step": "0.01"},
        ],
    }
    assert tick_of(tapered) == Decimal("0.001")
    assert tick_of({"tick_size": 1}) == Decimal("0.01")  # only the deprecated cents field
    assert tick_of({}) == Decimal("0.01")


def test_unreadable_markets_are_skipped_and_named():
    good = {
        "ticker": "A-1",
        "event_ticker": "A",
        "status": "active",
        "yes_bid_dollars": "0.1000",
        "yes_ask_dollars": "0.2000",
    }
    bad = {"ticker": "B-1", "event_ticker": "B", "status": "active", "yes_bid_dollars": 0.1}
    cat = build_catalogue([good, bad, {"event_ticker": "C"}, good], [])
    assert [m.ticker for m in cat.markets] == ["A-1"] and len(cat.instruments) == 2
    assert cat.skipped[0].startswith("B-1:") and cat.skipped[1].startswith("None:")
    with pytest.raises(ValueError):
        market_instruments({"ticker": ""})
    assert market_row(good).title == "A-1" and market_row(good).event_title == "A-1"
