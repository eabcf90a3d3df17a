"""SimVenueAdapter: merged market data, paper orders and the fill callback."""

from __future__ import annotations

import pytest

from venues.adapter import VenueAdapter
from venues.instruments import get_instrument
from venues.matching import BUY, REJECT_BAD_PRICE, SELL, Fill
from venues.sim.adapter import SimVenueAdapter

SEC = 1_000_000_000
START = 1_767_225_600 * SEC


def test_implements_the_protocol() -> None:
    assert isinstance(SimVenueAdapter("kraken", seed=1, start_ns=START), VenueAdapter)


def test_updates_are_merged_in_time_order_and_deterministic() -> None:
    def run() -> list[tuple[str, tuple]]:
        ad = SimVenueAdapter("kraken", seed=3, start_ns=START, symbols=["BTC-USD", "ETH/USD", "XRP/USD"])
        return [(sym, snap.as_tuple()) for sym, snap in ad.updates(START + 600 * SEC)]

    a = run()
    assert a == run()
    ts = [t[1][0] for t in a]
    assert ts == sorted(ts)
    assert {sym for sym, _ in a} == {"BTC/USD", "ETH/USD", "XRP/USD"}


def test_poll_is_paced_by_the_caller() -> None:
    ad = SimVenueAdapter("coinbase", seed=1, start_ns=START, symbols=["BTC/USD"])
    first = ad.poll(START)  # the initial book at exactly START
    assert len(first) == 1 and first[0][1].ts_ns == START
    assert ad.book("btc-usd") is first[0][1]
    got = ad.poll(START + 10 * SEC)
    assert 0 < len(got) < 40 and all(START < s.ts_ns <= START + 10 * SEC for _, s in got)
    assert ad.now_ns == START + 10 * SEC
    assert ad.poll(START + 10 * SEC) == []
    some = ad.poll(START + 3_600 * SEC, max_events=5)
    assert len(some) == 5 and ad.now_ns == some[-1][1].ts_ns


def test_orders_fill_through_the_callback() -> None:
    ad = SimVenueAdapter("kraken", seed=2, start_ns=START, symbols=["BTC/USD"])
    fills: list[tuple[str, str, Fill]] = []
    ad.set_fill_callback(lambda account, symbol, fill: fills.append((account, symbol, fill)))
    ad.poll(START)
    book = ad.book("BTC/USD")
    assert book is not None
    tick = get_instrument("kraken", "BTC/USD").tick_1e9
    # crossing one tick through the ask: immediate taker fill, reported through the callback
    res = ad.submit("BTC/USD", BUY, book.ask_px + tick, 10_000, 1, account="dep-1")
    assert res.accepted and res.fills and fills[0][:2] == ("dep-1", "BTC/USD")
    assert fills[0][2] == res.fills[0]
    # a sell $2 above the bid rests in another account (its own ids) and fills as the market
    # moves through it within the hour (BTC moves ~$300 an hour)
    assert ad.submit("BTC/USD", SELL, book.bid_px + 20 * tick, 10_000, 1, account="dep-2").fills == ()
    bad = ad.submit("BTC/USD", SELL, book.bid_px + tick // 2, 10_000, 2, account="dep-2")
    assert not bad.accepted and bad.reason == REJECT_BAD_PRICE
    ad.poll(START + 3_600 * SEC)
    dep2 = [f for acc, _, f in fills if acc == "dep-2"]
    assert dep2 and dep2[0].liquidity == "maker" and dep2[0].price_1e9 == book.bid_px + 20 * tick
    assert ad.engine("BTC/USD", account="dep-2").position_1e8 == -10_000
    assert ad.engine("BTC/USD", account="dep-1").position_1e8 == 10_000
    assert ad.cancel_all("BTC/USD", account="nobody") == []
    assert ad.cancel("BTC/USD", 99, account="dep-2") is False


def test_configure_account_limits_and_late_subscription() -> None:
    ad = SimVenueAdapter("kalshi", seed=1, start_ns=START, symbols=["KXBTC-26DEC31-B100K-YES"])
    ad.poll(START + 60 * SEC)
    eng = ad.configure_account("dep", "KXBTC-26DEC31-B100K-YES", max_open_orders=1)
    assert eng.book is not None  # primed with the current book
    assert ad.submit("KXBTC-26DEC31-B100K-YES", BUY, 10_000_000, 100_000_000, 1, account="dep").accepted
    assert not ad.submit("KXBTC-26DEC31-B100K-YES", BUY, 10_000_000, 100_000_000, 2, account="dep").accepted
    ad.subscribe(["KXBTC-26DEC31-B100K-NO"])
    later = ad.poll(START + 120 * SEC)
    no_updates = [s for sym, s in later if sym == "KXBTC-26DEC31-B100K-NO"]
    assert no_updates and no_updates[0].ts_ns >= START + 60 * SEC
    ad.unsubscribe(["KXBTC-26DEC31-B100K-NO"])
    assert ad.symbols == ["KXBTC-26DEC31-B100K-YES"]
    assert all(sym != "KXBTC-26DEC31-B100K-NO" for sym, _ in ad.poll(START + 600 * SEC))


def test_reconfiguring_limits_keeps_the_position_and_refuses_with_open_orders() -> None:
    ad = SimVenueAdapter("coinbase", seed=5, start_ns=START, symbols=["ETH-USD"])
    ad.poll(START)
    book = ad.book("ETH/USD")
    assert book is not None
    assert ad.submit("ETH/USD", BUY, book.ask_px, 1_000_000, 1, account="d").fills
    eng = ad.configure_account("d", "ETH/USD", max_position_1e8=1_500_000)
    assert eng.position_1e8 == 1_000_000 and ad.engine("ETH/USD", account="d") is eng
    assert not ad.submit("ETH/USD", BUY, book.bid_px - 100 * 10_000_000, 1_000_000, 2, account="d").accepted
    assert ad.submit("ETH/USD", BUY, book.bid_px - 100 * 10_000_000, 500_000, 3, account="d").accepted
    with pytest.raises(ValueError):
        ad.configure_account("d", "ETH/USD")  # it has an open order
    assert ad.cancel("eth-usd", 3, account="d") is True
