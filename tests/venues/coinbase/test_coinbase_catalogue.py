"""Coinbase's public product list → instruments (venues.coinbase.catalogue), on the captured list and
through the fake venue's REST endpoint."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakevenues.coinbase import FakeCoinbase, fixture
from venues.coinbase.catalogue import (
    aliases,
    fetch_instruments,
    fetch_products,
    parse_product,
    parse_products,
)
from venues.instruments import get_instrument, to_price_1e9, to_qty_1e8
from venues.live.factory import FeedConfig
from venues.live.rest import RestClient, RestError


@pytest.fixture
def venue() -> Iterator[FakeCoinbase]:
    with FakeCoinbase() as srv:
        yield srv  # type: ignore[misc]


def test_the_captured_product_list_becomes_instruments() -> None:
    products, skipped = parse_products(fixture("rest_products_list.json"))
    assert skipped == []
    assert [p.product_id for p in products] == ["BTC-USD", "BTC-USDC"]
    btc = products[0].instrument
    assert (btc.venue, btc.symbol, btc.kind, btc.base, btc.quote) == (
        "coinbase",
        "BTC/USD",
        "spot",
        "BTC",
        "USD",
    )
    assert btc.tick_1e9 == to_price_1e9("0.01")  # price_increment
    assert btc.lot_1e8 == to_qty_1e8("0.00000001")  # base_increment
    assert btc.min_qty_1e8 == to_qty_1e8("0.00000001")  # base_min_size
    assert btc.max_qty_1e8 == to_qty_1e8("3400")  # base_max_size
    assert btc.min_notional_1e9 == to_price_1e9("1")  # quote_min_size: one dollar
    assert btc.max_price_1e9 == to_price_1e9("6892598.00")  # 100x the last price, on the grid
    assert (btc.maker_fee_bps, btc.taker_fee_bps) == (40, 60) and btc.active
    # the live rules agree with the simulated Coinbase BTC/USD (tick and lot)
    sim = get_instrument("coinbase", "BTC/USD")
    assert (btc.tick_1e9, btc.lot_1e8) == (sim.tick_1e9, sim.lot_1e8)
    usdc = products[1]
    assert usdc.symbol == "BTC/USDC" and usdc.alias == "BTC-USD" and products[0].alias_to == ("BTC-USDC",)
    assert aliases(products) == {"BTC/USDC": "BTC-USD"}
    assert products[0].price == "68925.98" and products[0].volume_24h == "11005.02587005"


def test_one_product_record() -> None:
    p = parse_product(fixture("rest_product.json"))
    assert p.product_id == "BTC-USD" and p.status == "online" and not p.trading_disabled


def row(**changes: Any) -> dict[str, Any]:
    r = copy.deepcopy(fixture("rest_product.json"))
    r.update(changes)
    return r


@pytest.mark.parametrize(
    ("changes", "active"),
    [
        ({}, True),
        ({"status": "delisted"}, False),
        ({"trading_disabled": True}, False),
        ({"is_disabled": True}, False),
        ({"cancel_only": True}, False),
        ({"view_only": True}, False),
        ({"limit_only": True}, True),
        ({"post_only": True}, True),
        ({"auction_mode": True}, True),
    ],
)
def test_status_flags_decide_whether_a_product_trades(changes: dict[str, Any], active: bool) -> None:
    assert parse_product(row(**changes)).active is active


def test_quote_increment_is_the_tick_when_there_is_no_price_increment() -> None:
    p = parse_product(row(price_increment="", quote_increment="0.001", price=""))
    assert p.instrument.tick_1e9 == to_price_1e9("0.001")
    assert p.instrument.max_price_1e9 == to_price_1e9("1000000000")  # no last price: a wide bound


@pytest.mark.parametrize(
    "changes",
    [
        {"base_increment": "0.000000001"},  # finer than our 1e-8 sizes: never rounded
        {"price_increment": "0.0000000001"},
        {"base_increment": ""},
        {"base_increment": 0.00000001},
        {"quote_increment": "abc", "price_increment": ""},
        {"base_max_size": "0"},
        {"base_currency_id": None},
        {"trading_disabled": "false"},
        {"quote_min_size": "-1"},
    ],
)
def test_records_our_units_cannot_hold_are_refused_with_the_reason(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="^BTC-USD: "):
        parse_product(row(**changes))
    products, skipped = parse_products(
        {"products": [row(**changes), row(product_id="ETH-USD", base_currency_id="ETH")]}
    )
    assert [p.product_id for p in products] == ["ETH-USD"] and len(skipped) == 1


def test_not_a_product_list() -> None:
    for payload in ({}, {"products": "x"}, [], None):
        with pytest.raises(ValueError, match="products"):
            parse_products(payload)
    assert parse_products({"products": [row(product_type="FUTURE")]}) == ([], [])


def test_fetch_through_the_fake_venue(venue: FakeCoinbase) -> None:
    products, skipped = fetch_products(RestClient(venue.url))
    assert venue.http_requests == [("GET", "/api/v3/brokerage/market/products?product_type=SPOT")]
    assert skipped == []
    by_id = {p.product_id: p for p in products}
    assert sorted(by_id) == ["BTC-USD", "BTC-USDC", "ETH-USD", "ETH-USDC", "OLD-USD", "XRP-USD"]
    assert not by_id["OLD-USD"].active and by_id["XRP-USD"].instrument.tick_1e9 == to_price_1e9("0.0001")
    assert by_id["XRP-USD"].instrument.lot_1e8 == to_qty_1e8("0.000001")
    instruments = fetch_instruments(FeedConfig(ws_url=venue.ws_url, rest_url=venue.url))
    assert {i.symbol for i in instruments} == {
        "BTC/USD",
        "BTC/USDC",
        "ETH/USD",
        "ETH/USDC",
        "OLD/USD",
        "XRP/USD",
    }


def test_a_429_is_retried_and_the_private_path_needs_a_jwt(venue: FakeCoinbase) -> None:
    slept: list[float] = []
    venue.fail_http(1, 429)
    products, _ = fetch_products(RestClient(venue.url, sleep=slept.append))
    assert products and slept == [1.0]
    with pytest.raises(RestError) as err:
        RestClient(venue.url).get_json("/api/v3/brokerage/products")
    assert err.value.status == 401
    with pytest.raises(RestError) as err:
        RestClient(venue.url).get_json("/api/v3/brokerage/market/products/NOPE-USD")
    assert err.value.status == 404 and "NOT_FOUND" in err.value.body
    one = RestClient(venue.url).get_json("/api/v3/brokerage/market/products/ETH-USD")
    assert one["product_id"] == "ETH-USD"
    page = RestClient(venue.url).get_json(
        "/api/v3/brokerage/market/products", {"product_ids": "XRP-USD", "limit": 5}
    )
    assert [p["product_id"] for p in page["products"]] == ["XRP-USD"] and page["num_products"] == 1
    with pytest.raises(RestError) as err:
        RestClient(venue.url).get_json("/api/v3/brokerage/market/products", {"limit": "-1"})
    assert err.value.status == 400
