"""Kraken's AssetPairs → instruments, from the documented example and through the fake's REST."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakevenues.kraken import KrakenFake
from venues.instruments import to_price_1e9, to_qty_1e8
from venues.kraken.catalogue import KrakenError, fetch_instruments, fetch_pairs, parse_asset_pairs, v2_symbol
from venues.live.rest import RestClient

DOC = json.loads(Path("/work/shared/venues/kraken/rest_doc_examples_api_specs.json").read_text())


@pytest.fixture
def fake() -> Iterator[KrakenFake]:
    with KrakenFake() as srv:
        yield srv  # type: ignore[misc]


def test_doc_example_pairs() -> None:
    pairs = {p.symbol: p for p in parse_asset_pairs(DOC["AssetPairs_response"])}
    assert set(pairs) == {"BTC/USD", "ETH/BTC"}  # XBT is BTC on v2
    btc = pairs["BTC/USD"]
    assert (btc.rest_name, btc.altname, btc.wsname) == ("XXBTZUSD", "XBTUSD", "XBT/USD")
    assert btc.precision == (1, 8)
    inst = btc.instrument()
    assert inst.venue == "kraken" and inst.symbol == "BTC/USD" and inst.kind == "spot"
    assert inst.tick_1e9 == to_price_1e9("0.1")
    assert inst.lot_1e8 == 1
    assert inst.min_qty_1e8 == to_qty_1e8("0.0001")
    assert inst.min_notional_1e9 == to_price_1e9("0.5")
    assert (inst.maker_fee_bps, inst.taker_fee_bps) == (16, 26)
    assert inst.base == "BTC" and inst.quote == "USD" and inst.active
    eth = pairs["ETH/BTC"].instrument()
    assert eth.tick_1e9 == to_price_1e9("0.00001") and eth.min_qty_1e8 == to_qty_1e8("0.01")


def test_v2_names() -> None:
    assert v2_symbol("XBT/USD") == "BTC/USD"
    assert v2_symbol("XDG/EUR") == "DOGE/EUR"
    assert v2_symbol("ETH/USD") == "ETH/USD"


def test_error_array_and_bad_bodies() -> None:
    with pytest.raises(KrakenError, match="EQuery:Unknown asset pair"):
        parse_asset_pairs({"error": ["EQuery:Unknown asset pair"]})
    with pytest.raises(KrakenError):
        parse_asset_pairs([])
    with pytest.raises(KrakenError, match="malformed"):
        parse_asset_pairs({"error": [], "result": {"X": {"wsname": "A/B"}}})


def test_fetch_through_the_fake_with_a_429(fake: KrakenFake) -> None:
    slept: list[float] = []
    client = RestClient(fake.url, sleep=slept.append)
    fake.fail_http(1, 429)
    instruments = {i.symbol: i for i in fetch_instruments(client)}
    assert {"BTC/USD", "ETH/USD", "ETH/BTC"} <= set(instruments)
    assert slept == [1.0]
    assert instruments["ETH/USD"].tick_1e9 == to_price_1e9("0.01")
    assert [p.symbol for p in fetch_pairs(client, ["XBTUSD"])] == ["BTC/USD"]
    with pytest.raises(KrakenError, match="EQuery:Unknown asset pair"):
        fetch_pairs(client, ["NOPE"])
