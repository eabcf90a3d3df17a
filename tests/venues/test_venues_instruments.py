"""The instrument catalog and the spot symbol normalizer."""

from __future__ import annotations

import pytest

from venues.instruments import (
    PREDICTION_VENUES,
    PRICE_SCALE,
    SPOT_VENUES,
    VENUES,
    all_instruments,
    find_instrument,
    find_instruments,
    get_instrument,
    get_market,
    instruments_for_venue,
    market_for_token,
    markets,
)
from venues.symbols import normalize_spot_symbol


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("btc-usd", "BTC/USD"), ("BTC/USD", "BTC/USD"), ("eth-usdc", "ETH/USDC"), ("Xrp-Usd", "XRP/USD")],
)
def test_normalize_spot_symbol(raw: str, canonical: str) -> None:
    assert normalize_spot_symbol(raw) == canonical


GARBAGE = ["", "BTC", "BTC/USD/EUR", "KXBTC-26DEC31-B100K-YES", "BTC-BTC", "1-2", "B-USD", "BTC USD"]
GARBAGE += ["BTC_USD", " BTC-USD", "BTC-USD\n", "BTCUSD"]


@pytest.mark.parametrize("raw", GARBAGE)
def test_normalize_spot_symbol_rejects_garbage(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_spot_symbol(raw)


def test_venue_lists() -> None:
    assert SPOT_VENUES == ("kraken", "coinbase")
    assert PREDICTION_VENUES == ("kalshi", "polymarket")
    assert set(VENUES) == set(SPOT_VENUES) | set(PREDICTION_VENUES)


def test_spot_pairs_on_both_venues_with_venue_ticks() -> None:
    for venue in SPOT_VENUES:
        assert {i.symbol for i in instruments_for_venue(venue)} == {
            "BTC/USD",
            "ETH/USD",
            "XRP/USD",
            "ETH/USDC",
            "BTC/USDC",
        }
    assert get_instrument("kraken", "BTC-USD").tick_1e9 == PRICE_SCALE // 10
    assert get_instrument("coinbase", "btc-usd").tick_1e9 == PRICE_SCALE // 100
    assert get_instrument("kraken", "XRP/USD").tick_1e9 == 10_000  # 0.00001
    assert get_instrument("coinbase", "XRP/USD").tick_1e9 == 100_000  # 0.0001


def test_venues_listing_a_spot_pair_share_its_market_parameters() -> None:
    # The simulated venues quote one shared market per pair (simulator.ReferencePath): a reference
    # price or volatility of its own would put one venue's book permanently off the other's.
    for symbol in {i.symbol for i in instruments_for_venue("kraken")}:
        kraken, coinbase = get_instrument("kraken", symbol), get_instrument("coinbase", symbol)
        assert (kraken.ref_price_1e9, kraken.volatility) == (coinbase.ref_price_1e9, coinbase.volatility)
    # ... and every pair of a base asset (ETH/USD, ETH/USDC) moves with that asset's one path.
    spot = [i for venue in SPOT_VENUES for i in instruments_for_venue(venue)]
    for base in {i.base for i in spot}:
        assert len({i.volatility for i in spot if i.base == base}) == 1, base


def test_every_instrument_is_self_consistent() -> None:
    for inst in all_instruments():
        assert inst.venue in VENUES
        assert inst.tick_1e9 > 0 and inst.lot_1e8 > 0
        assert inst.min_price_1e9 % inst.tick_1e9 == 0 and inst.max_price_1e9 % inst.tick_1e9 == 0
        assert inst.min_price_1e9 <= inst.ref_price_1e9 <= inst.max_price_1e9
        assert inst.ref_price_1e9 % inst.tick_1e9 == 0
        assert inst.min_qty_1e8 % inst.lot_1e8 == 0 and 0 < inst.min_qty_1e8 < inst.max_qty_1e8
        assert 1 <= inst.spread_ticks <= inst.max_spread_ticks
        assert inst.updates_per_day > 0 and inst.volatility > 0
        if inst.is_prediction:
            assert inst.min_price_1e9 == PRICE_SCALE // 100 and inst.max_price_1e9 == 99 * PRICE_SCALE // 100
            assert inst.tick_1e9 in (PRICE_SCALE // 100, PRICE_SCALE // 1000)
            assert inst.outcome in ("YES", "NO")
        else:
            assert inst.kind == "spot" and inst.min_notional_1e9 == 0


def test_polymarket_has_dollar_minimum_and_fine_ticks() -> None:
    insts = instruments_for_venue("polymarket")
    assert all(i.min_notional_1e9 == PRICE_SCALE for i in insts)
    assert any(i.tick_1e9 == PRICE_SCALE // 1000 for i in insts)
    assert all(i.min_notional_1e9 == 0 for i in instruments_for_venue("kalshi"))
    # Polymarket token ids are long decimal strings.
    assert all(i.symbol.isdigit() and len(i.symbol) >= 70 for i in insts)


def test_yes_and_no_tokens_are_instruments_and_mirror() -> None:
    for venue in PREDICTION_VENUES:
        for row in markets(venue, expand_outcomes=True):
            yes = get_instrument(venue, row["yes_token_id"])
            no = get_instrument(venue, row["no_token_id"])
            assert yes.ref_price_1e9 + no.ref_price_1e9 == PRICE_SCALE
            assert no.mirror_of == yes.symbol and yes.mirror_of is None
            assert yes.seed_key == no.seed_key
            assert {yes.book_sides, no.book_sides} in ({"both"}, {"asks_only", "bids_only"})
            assert market_for_token(venue, yes.symbol) == market_for_token(venue, no.symbol)


def test_kalshi_symbols_and_lookup() -> None:
    inst = get_instrument("kalshi", "KXBTC-26DEC31-B100K-YES")
    assert inst.outcome == "YES" and inst.fee_model == "kalshi"
    assert get_instrument("kalshi", "kxbtc-26dec31-b100k-no").outcome == "NO"
    assert find_instrument("KXBTC-26DEC31-B100K-YES") is inst
    assert get_market("kalshi", "KXBTC-26DEC31-B100K").yes_token_id == inst.symbol


def test_find_instrument_across_venues() -> None:
    both = find_instruments("btc-usd")
    assert [i.venue for i in both] == ["kraken", "coinbase"]
    assert find_instrument("BTC/USD") is both[0]
    assert find_instrument("NOPE/USD") is None
    assert find_instruments("garbage") == ()


def test_unknown_lookups_raise() -> None:
    with pytest.raises(KeyError):
        get_instrument("binance", "BTC/USD")
    with pytest.raises(KeyError):
        get_instrument("kraken", "DOGE/USD")
    with pytest.raises(KeyError):
        get_instrument("kraken", "KXBTC-26DEC31-B100K-YES")


def test_market_rows_have_the_fields_strategies_read() -> None:
    kalshi = markets("kalshi")
    assert 6 <= len(kalshi) <= 12
    for row in kalshi:
        for key in (
            "slug",
            "title",
            "event",
            "outcome_name",
            "yes_token_id",
            "no_token_id",
            "liquidity",
            "volume",
        ):
            assert row[key] is not None
        assert isinstance(row["is_placeholder_outcome"], bool) and isinstance(row["active"], bool)
    assert any(not r["active"] for r in kalshi)
    assert any(r["one_sided"] for r in kalshi)
    assert any(r["liquidity"] < 100 for r in kalshi)  # below the strategies' liquidity floor


def test_polymarket_multi_outcome_events_and_expand() -> None:
    grouped = markets("polymarket")
    world_cup = next(r for r in grouped if r["event"] == "2026-fifa-world-cup-winner")
    assert world_cup["yes_token_id"] is None and len(world_cup["outcomes"]) >= 5
    names = [o["outcome_name"] for o in world_cup["outcomes"]]
    assert "Other" in names
    flat = markets("polymarket", expand_outcomes=True)
    assert len(flat) > len(grouped)
    assert all(r["yes_token_id"] for r in flat)
    other = next(r for r in flat if r["outcome_name"] == "Other")
    assert other["is_placeholder_outcome"] is True
    assert sum(r["is_placeholder_outcome"] for r in flat) == 1
    # A binary event is one row with its tokens even without expansion.
    btc = next(r for r in grouped if r["slug"] == "bitcoin-above-150k-on-december-31-2026")
    assert btc["yes_token_id"]


def test_markets_order_and_active_filters() -> None:
    rows = markets("polymarket", expand_outcomes=True, active=True, order="volume")
    volumes = [r["volume"] for r in rows]
    assert volumes == sorted(volumes, reverse=True)
    assert all(r["active"] for r in rows)
    assert markets("kraken") == []
    with pytest.raises(ValueError):
        markets("kalshi", order="price")  # type: ignore[arg-type]


def test_the_hosted_example_discovery_finds_tradable_markets() -> None:
    """The spec's discovery: Kalshi liquidity >= 100, Polymarket non-placeholder liquidity >= 1000."""
    k = [r for r in markets("kalshi", active=True, order="volume") if r["liquidity"] >= 100]
    assert k
    p = [
        r
        for r in markets("polymarket", expand_outcomes=True, active=True, order="volume")
        if not r["is_placeholder_outcome"] and r["liquidity"] >= 1000
    ]
    assert p and not p[0]["one_sided"]
