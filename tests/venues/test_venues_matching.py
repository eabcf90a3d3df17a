"""The paper matching engine against hand-made books."""

from __future__ import annotations

import dataclasses

import pytest

from venues.book import BookSnapshot
from venues.instruments import PRICE_SCALE, Instrument, get_instrument, markets
from venues.matching import (
    BUY,
    ERR_BAD_PRICE,
    ERR_BAD_QTY,
    ERR_BAD_SIDE,
    ERR_HALTED,
    ERR_RISK,
    MAKER,
    REJECT_BAD_PRICE,
    REJECT_BAD_QTY,
    REJECT_MARKET_CLOSED,
    REJECT_RISK_LIMIT,
    REJECT_SELF_TRADE,
    REJECT_VENUE_REJECT,
    SELL,
    TAKER,
    Fill,
    MatchingEngine,
    SubmitResult,
    fee_1e9,
)
from venues.rejects import reject_reason
from venues.sim.simulator import MarketSimulator

BTC = get_instrument("kraken", "BTC/USD")  # tick 0.1, taker 40 bps, maker 25 bps
Q = 100_000_000  # qty_1e8 per 1.0


def px(value: str) -> int:
    """Decimal string → price_1e9 (exact)."""
    whole, _, frac = value.partition(".")
    return int(whole) * PRICE_SCALE + int((frac + "0" * 9)[:9])


def qty(value: str) -> int:
    whole, _, frac = value.partition(".")
    return int(whole) * Q + int((frac + "0" * 8)[:8])


def book(ts: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> BookSnapshot:
    return BookSnapshot(ts, [(px(p), qty(q)) for p, q in bids], [(px(p), qty(q)) for p, q in asks])


def engine(inst: Instrument = BTC, **kw: object) -> MatchingEngine:
    kw.setdefault("rng_seed", 1)
    return MatchingEngine(inst, **kw)  # type: ignore[arg-type]


BASE = book(1, [("100.0", "0.4"), ("99.9", "1.0")], [("100.1", "0.4"), ("100.3", "1.0")])


def test_resting_below_the_bid_never_fills() -> None:
    eng = engine(fill_prob_at_touch=1.0)
    eng.on_book(BASE)
    res = eng.submit(BUY, px("99.9"), qty("0.1"), 1, order_id=1)
    assert res.accepted and res.fills == () and res.leaves_qty_1e8 == qty("0.1")
    for ts in range(2, 2_000):
        assert eng.on_book(book(ts, [("100.0", "0.4")], [("100.1", "0.4")])) == ()
    assert eng.open_order_count == 1 and eng.position_1e8 == 0


def test_crossing_by_one_tick_fills_at_once_as_taker_at_the_book_price() -> None:
    eng = engine()
    eng.on_book(BASE)
    res = eng.submit(BUY, px("100.2"), qty("0.1"), 7, order_id=1)
    assert res.accepted and res.leaves_qty_1e8 == 0
    (f,) = res.fills
    assert (f.order_id, f.side, f.price_1e9, f.qty_1e8, f.ts_ns, f.liquidity, f.leaves_qty_1e8) == (
        1,
        BUY,
        px("100.1"),
        qty("0.1"),
        7,
        TAKER,
        0,
    )
    assert f.fee_1e9 == 40_040_000  # 10.01 USD notional × 0.40% = 0.04004 USD
    assert eng.position_1e8 == qty("0.1") and eng.open_order_count == 0
    # and a sell one tick under the bid
    res = eng.submit(SELL, px("99.9"), qty("0.2"), 8, order_id=2)
    (f,) = res.fills
    assert (f.price_1e9, f.qty_1e8, f.liquidity) == (px("100.0"), qty("0.2"), TAKER)
    assert eng.position_1e8 == -qty("0.1")


def test_partial_fill_when_size_exceeds_the_level_then_rest_fills_as_the_book_moves() -> None:
    eng = engine(fill_prob_at_touch=0.0)
    eng.on_book(BASE)
    res = eng.submit(BUY, px("100.2"), qty("1.0"), 1, order_id=5)
    (f,) = res.fills
    assert (f.price_1e9, f.qty_1e8, f.leaves_qty_1e8) == (px("100.1"), qty("0.4"), qty("0.6"))
    assert res.leaves_qty_1e8 == qty("0.6") and eng.open_order_count == 1
    # The next update shows asks above our limit: nothing.
    assert eng.on_book(book(2, [("100.0", "1")], [("100.3", "1")])) == ()
    # The ask moves down to our price: we fill at OUR price as a maker.
    (f,) = eng.on_book(book(3, [("100.0", "1")], [("100.2", "2")]))
    assert (f.order_id, f.price_1e9, f.qty_1e8, f.liquidity, f.ts_ns, f.leaves_qty_1e8) == (
        5,
        px("100.2"),
        qty("0.6"),
        MAKER,
        3,
        0,
    )
    assert f.fee_1e9 == fee_1e9(BTC, px("100.2"), qty("0.6"), MAKER) == 150_300_000  # 60.12 × 0.25%
    assert eng.position_1e8 == qty("1.0") and eng.open_order_count == 0


def test_crossing_walks_several_levels_up_to_the_limit() -> None:
    eng = engine()
    eng.on_book(BASE)
    res = eng.submit(BUY, px("100.3"), qty("1.0"), 1, order_id=1)
    assert [(f.price_1e9, f.qty_1e8) for f in res.fills] == [
        (px("100.1"), qty("0.4")),
        (px("100.3"), qty("0.6")),
    ]
    assert res.leaves_qty_1e8 == 0


def test_resting_sell_fills_when_the_bid_moves_through_it() -> None:
    eng = engine(fill_prob_at_touch=0.0)
    eng.on_book(BASE)
    assert eng.submit(SELL, px("100.5"), qty("0.3"), 1, order_id=9).fills == ()
    assert eng.on_book(book(2, [("100.3", "1")], [("100.4", "1")])) == ()
    # Bids at 100.6 and 100.5 (0.2 + 0.5 displayed) are at or above our 100.5: fill 0.3 at 100.5.
    (f,) = eng.on_book(book(3, [("100.6", "0.2"), ("100.5", "0.5")], [("100.7", "1")]))
    assert (f.side, f.price_1e9, f.qty_1e8, f.liquidity) == (SELL, px("100.5"), qty("0.3"), MAKER)
    assert eng.position_1e8 == -qty("0.3")


def test_resting_fill_is_limited_by_displayed_size() -> None:
    eng = engine(fill_prob_at_touch=0.0)
    eng.on_book(BASE)
    eng.submit(SELL, px("100.5"), qty("1.0"), 1, order_id=9)
    (f,) = eng.on_book(book(2, [("100.5", "0.25"), ("100.4", "5")], [("100.6", "1")]))
    assert f.qty_1e8 == qty("0.25") and f.leaves_qty_1e8 == qty("0.75")
    assert eng.get_order(9).leaves_1e8 == qty("0.75")  # type: ignore[union-attr]


def test_touch_fills_follow_the_seeded_probability() -> None:
    def run(seed: int, prob: float) -> list[int]:
        eng = engine(rng_seed=seed, fill_prob_at_touch=prob)
        eng.on_book(BASE)
        eng.submit(BUY, px("100.0"), qty("1000"), 0, order_id=1)  # joins the bid
        filled_at = []
        for ts in range(1, 2_001):
            for f in eng.on_book(book(ts, [("100.0", "0.01")], [("100.1", "1")])):
                assert (f.price_1e9, f.qty_1e8, f.liquidity) == (px("100.0"), qty("0.01"), MAKER)
                filled_at.append(ts)
        return filled_at

    assert run(1, 0.0) == []
    assert len(run(1, 1.0)) == 2_000
    half = run(3, 0.25)
    assert 400 < len(half) < 600
    assert run(3, 0.25) == half  # deterministic
    assert run(4, 0.25) != half


def test_order_inside_the_spread_can_fill_at_the_touch_but_not_on_a_missing_side() -> None:
    eng = engine(fill_prob_at_touch=1.0)
    eng.on_book(BASE)
    eng.submit(BUY, px("100.0"), qty("0.1"), 0, order_id=1)
    (f,) = eng.on_book(book(2, [("99.9", "1")], [("100.1", "1")]))  # we are the best bid now
    assert f.price_1e9 == px("100.0")
    eng.submit(BUY, px("100.0"), qty("0.1"), 0, order_id=2)
    assert eng.on_book(book(3, [], [("100.1", "1")])) == ()  # no bids displayed: no touch fills


@pytest.mark.parametrize("price", ["100.05", "100.01", "0.05"])
def test_off_tick_price_rejected(price: str) -> None:
    eng = engine()
    eng.on_book(BASE)
    res = eng.submit(BUY, px(price), qty("0.1"), 0, order_id=1)
    assert not res.accepted and res.reason == REJECT_BAD_PRICE and res.error == ERR_BAD_PRICE
    assert eng.open_order_count == 0


@pytest.mark.parametrize("price_1e9", [0, -1, -px("100.0"), px("9800000.0") + px("0.1"), 10**19])
def test_non_positive_or_absurd_price_rejected(price_1e9: int) -> None:
    res = engine().submit(SELL, price_1e9, qty("0.1"), 0, order_id=1)
    assert (res.accepted, res.reason, res.error) == (False, REJECT_BAD_PRICE, ERR_BAD_PRICE)


def test_prediction_prices_outside_0_01_to_0_99_rejected() -> None:
    row = next(r for r in markets("polymarket", expand_outcomes=True) if r["tick_size"] == "0.001")
    inst = get_instrument("polymarket", row["yes_token_id"])
    eng = engine(inst)
    for bad in (px("0.005"), px("0.995"), px("1.0"), px("0.0005"), 0):
        assert eng.submit(BUY, bad, qty("10"), 0, order_id=1).reason == REJECT_BAD_PRICE
    assert eng.submit(BUY, px("0.011"), qty("100"), 0, order_id=1).accepted  # 0.001 grid inside bounds
    assert eng.submit(BUY, px("0.99"), qty("1"), 0, order_id=2).accepted


@pytest.mark.parametrize("q", [0, -1, -Q])
def test_non_positive_qty_rejected(q: int) -> None:
    res = engine().submit(BUY, px("99.0"), q, 0, order_id=1)
    assert (res.accepted, res.reason, res.error) == (False, REJECT_BAD_QTY, ERR_BAD_QTY)


def test_lot_minimum_and_absurd_qty_rejected() -> None:
    xrp = get_instrument("coinbase", "XRP/USD")  # lot 0.000001 = 100 units of 1e-8
    assert engine(xrp).submit(BUY, px("2.0"), 150, 0, order_id=1).reason == REJECT_BAD_QTY
    assert engine(xrp).submit(BUY, px("2.0"), 200, 0, order_id=1).accepted
    assert engine().submit(BUY, px("99.0"), qty("0.00001"), 0, order_id=1).reason == REJECT_BAD_QTY  # < min
    assert engine().submit(BUY, px("99.0"), BTC.max_qty_1e8 + 1, 0, order_id=1).reason == REJECT_BAD_QTY
    kalshi = get_instrument("kalshi", "KXBTC-26DEC31-B100K-YES")
    assert engine(kalshi).submit(BUY, px("0.5"), qty("1.5"), 0, order_id=1).reason == REJECT_BAD_QTY
    assert engine().submit(BUY, px("99.0"), 1.5, 0, order_id=1).reason == REJECT_BAD_QTY  # type: ignore[arg-type]


def test_bad_side_duplicate_id_and_closed_market() -> None:
    eng = engine()
    res = eng.submit(2, px("99.0"), qty("0.1"), 0, order_id=1)
    assert (res.accepted, res.error, res.reason) == (False, ERR_BAD_SIDE, REJECT_VENUE_REJECT)
    assert eng.submit(BUY, px("99.0"), qty("0.1"), 0, order_id=1).accepted
    dup = eng.submit(BUY, px("99.0"), qty("0.1"), 0, order_id=1)
    assert (dup.accepted, dup.reason) == (False, REJECT_VENUE_REJECT)
    eng.halted = True
    res = eng.submit(BUY, px("99.0"), qty("0.1"), 0, order_id=2)
    assert (res.reason, res.error) == (REJECT_MARKET_CLOSED, ERR_HALTED)
    closed = get_instrument("kalshi", "KXSB-26-KC-YES")
    assert not closed.active
    assert engine(closed).submit(BUY, px("0.1"), Q, 0, order_id=1).reason == REJECT_MARKET_CLOSED


def test_risk_limits() -> None:
    eng = engine(max_open_orders=2)
    assert eng.submit(BUY, px("99.0"), qty("0.1"), 0, order_id=1).accepted
    assert eng.submit(BUY, px("98.0"), qty("0.1"), 0, order_id=2).accepted
    res = eng.submit(BUY, px("97.0"), qty("0.1"), 0, order_id=3)
    assert (res.reason, res.error) == (REJECT_RISK_LIMIT, ERR_RISK)
    eng.cancel(1)
    assert eng.submit(BUY, px("97.0"), qty("0.1"), 0, order_id=3).accepted

    # Position limit counts open orders on the same side (worst case) and filled position.
    eng = engine(max_position_1e8=qty("1.0"))
    eng.on_book(BASE)
    assert eng.submit(BUY, px("100.1"), qty("0.4"), 0, order_id=1).fills  # filled: position 0.4
    assert eng.submit(BUY, px("99.0"), qty("0.5"), 0, order_id=2).accepted  # worst case 0.9
    assert eng.submit(BUY, px("99.0"), qty("0.2"), 0, order_id=3).reason == REJECT_RISK_LIMIT  # 1.1
    assert eng.submit(SELL, px("101.0"), qty("1.4"), 0, order_id=4).accepted  # worst case -1.0
    assert eng.submit(SELL, px("101.0"), qty("0.1"), 0, order_id=5).reason == REJECT_RISK_LIMIT

    # Per-order notional.
    eng = engine(max_order_notional_1e9=1_000 * PRICE_SCALE)
    assert eng.submit(BUY, px("100.0"), qty("10"), 0, order_id=1).accepted  # exactly $1000
    assert eng.submit(BUY, px("100.0"), qty("10.00000001"), 0, order_id=2).reason == REJECT_RISK_LIMIT

    # No shorting.
    eng = engine(allow_short=False)
    eng.on_book(BASE)
    assert eng.submit(SELL, px("101.0"), qty("0.1"), 0, order_id=1).reason == REJECT_RISK_LIMIT
    eng.submit(BUY, px("100.1"), qty("0.3"), 0, order_id=2)
    assert eng.submit(SELL, px("101.0"), qty("0.3"), 0, order_id=3).accepted
    assert eng.submit(SELL, px("102.0"), qty("0.1"), 0, order_id=4).reason == REJECT_RISK_LIMIT


def test_self_trade_is_rejected() -> None:
    eng = engine()
    eng.on_book(BASE)
    assert eng.submit(SELL, px("100.5"), qty("0.1"), 0, order_id=1).accepted
    res = eng.submit(BUY, px("100.5"), qty("0.1"), 0, order_id=2)
    assert (res.accepted, res.reason) == (False, REJECT_SELF_TRADE)
    assert eng.submit(BUY, px("100.0"), qty("0.1"), 0, order_id=3).fills == ()  # rests at the bid
    assert eng.submit(SELL, px("100.0"), qty("0.1"), 0, order_id=4).reason == REJECT_SELF_TRADE
    assert eng.submit(SELL, px("100.1"), qty("0.1"), 0, order_id=5).accepted  # joins the ask


def _polymarket_two_sided() -> Instrument:
    row = next(
        r
        for r in markets("polymarket", expand_outcomes=True)
        if r["tick_size"] == "0.01" and not r["one_sided"] and r["active"]
    )
    return get_instrument("polymarket", row["yes_token_id"])


def test_polymarket_under_one_dollar_is_accepted_but_never_fills() -> None:
    inst = _polymarket_two_sided()
    eng = engine(inst, fill_prob_at_touch=1.0)
    eng.on_book(book(1, [("0.15", "500")], [("0.16", "500")]))
    # 5 shares one tick through the ask: $0.85 notional < $1.
    res = eng.submit(BUY, px("0.17"), qty("5"), 1, order_id=1)
    assert res.accepted and res.dormant and res.fills == () and res.leaves_qty_1e8 == qty("5")
    assert eng.open_order_count == 1
    for ts in range(2, 200):  # the book trades through it, again and again: nothing
        assert (
            eng.on_book(book(ts, [("0.17", "500")], [("0.10", "500")] if ts % 2 else [("0.12", "9")])) == ()
        )
    assert eng.position_1e8 == 0
    sell = eng.submit(SELL, px("0.10"), qty("9.99"), 200, order_id=2)  # $0.999
    assert sell.accepted and sell.dormant and sell.fills == ()
    assert eng.cancel(1) and eng.cancel(2) and eng.open_order_count == 0


def test_polymarket_one_dollar_and_more_fills() -> None:
    inst = _polymarket_two_sided()
    eng = engine(inst)
    eng.on_book(book(1, [("0.15", "500")], [("0.16", "500")]))
    res = eng.submit(BUY, px("0.17"), qty("8"), 1, order_id=1)  # $1.36
    assert not res.dormant and [(f.price_1e9, f.qty_1e8) for f in res.fills] == [(px("0.16"), qty("8"))]
    exact = eng.submit(BUY, px("0.20"), qty("5"), 1, order_id=2)  # exactly $1.00
    assert not exact.dormant and exact.fills


def test_an_order_under_a_spot_venues_minimum_notional_is_refused() -> None:
    # Kraken's AssetPairs costmin (XBT/USD: 0.5) and Coinbase's quote_min_size refuse such orders.
    inst = dataclasses.replace(get_instrument("kraken", "BTC/USD"), min_notional_1e9=px("0.5"))
    eng = engine(inst)
    eng.on_book(book(1, [("99.9", "5")], [("100.0", "5")]))
    res = eng.submit(BUY, px("1000.0"), qty("0.0001"), 1, order_id=1)  # 0.1 USD
    assert not res.accepted and (res.reason, res.error) == (REJECT_BAD_QTY, ERR_BAD_QTY)
    assert reject_reason(res.reason, instrument=inst, price_1e9=px("1000.0"), qty_1e8=qty("0.0001")) == (
        "BELOW_MIN_NOTIONAL: 0.0001 @ 1000 = 0.1 < kraken min notional 0.5"
    )
    assert eng.open_order_count == 0
    at_minimum = eng.submit(BUY, px("5000.0"), qty("0.0001"), 1, order_id=2)  # exactly 0.5 USD
    assert at_minimum.accepted and not at_minimum.dormant and at_minimum.fills


def test_cancel_and_cancel_all() -> None:
    eng = engine(fill_prob_at_touch=1.0)
    eng.on_book(BASE)
    eng.submit(BUY, px("99.0"), qty("0.1"), 0, order_id=1)
    eng.submit(SELL, px("101.0"), qty("0.1"), 0, order_id=2)
    eng.submit(BUY, px("98.0"), qty("0.1"), 0, order_id=3)
    assert eng.cancel(1) is True
    assert eng.cancel(1) is False and eng.cancel(42) is False
    # the cancelled buy would have been crossed here; only order 3 remains on the buy side
    assert eng.on_book(book(2, [("98.5", "1")], [("98.9", "1")])) == ()
    assert eng.cancel_all() == [2, 3]
    assert eng.open_order_count == 0 and eng.open_buy_qty_1e8 == 0 and eng.open_sell_qty_1e8 == 0
    assert eng.on_book(book(3, [("150.0", "9")], [("50.0", "9")])) == ()


def test_two_orders_cannot_take_the_same_displayed_liquidity() -> None:
    eng = engine()
    eng.on_book(BASE)
    a = eng.submit(BUY, px("100.1"), qty("0.3"), 1, order_id=1)
    b = eng.submit(BUY, px("100.1"), qty("0.3"), 1, order_id=2)
    assert sum(f.qty_1e8 for f in a.fills) == qty("0.3")
    assert sum(f.qty_1e8 for f in b.fills) == qty("0.1") and b.leaves_qty_1e8 == qty("0.2")
    # A new update refreshes the displayed size: the rest fills as a maker at its limit.
    (f,) = eng.on_book(book(2, [("100.0", "1")], [("100.1", "1")]))
    assert (f.order_id, f.qty_1e8, f.liquidity) == (2, qty("0.2"), MAKER)


def test_one_sided_book_crossing_rules() -> None:
    yes = get_instrument("kalshi", "KXBTC-26DEC31-B250K-YES")
    eng = engine(yes, fill_prob_at_touch=1.0)
    eng.on_book(book(1, [], [("0.04", "100")]))
    assert eng.submit(BUY, px("0.02"), Q, 1, order_id=1).fills == ()  # no bids: nothing to join
    assert eng.on_book(book(2, [], [("0.04", "100")])) == ()
    res = eng.submit(BUY, px("0.05"), 3 * Q, 2, order_id=2)
    assert [(f.price_1e9, f.qty_1e8) for f in res.fills] == [(px("0.04"), 3 * Q)]
    assert res.fills[0].fee_1e9 == 10_000_000  # Kalshi: ceil(0.07 × 3 × 0.04 × 0.96 = 0.008064) = 1 cent
    # A sell with no bids rests; a sell against a missing ask side gets no touch fills either.
    assert eng.submit(SELL, px("0.06"), Q, 3, order_id=3).fills == ()
    assert eng.on_book(book(4, [("0.03", "5")], [])) == ()


def test_fee_models() -> None:
    kalshi = get_instrument("kalshi", "KXBTC-26DEC31-B100K-YES")
    assert fee_1e9(kalshi, px("0.5"), 10 * Q, TAKER) == 180_000_000  # 0.175 → 0.18
    assert fee_1e9(kalshi, px("0.5"), Q, TAKER) == 20_000_000  # 0.0175 → 0.02
    assert fee_1e9(kalshi, px("0.5"), 10 * Q, MAKER) == 0
    assert fee_1e9(BTC, px("98000.0"), qty("0.5"), TAKER) == 196 * PRICE_SCALE  # 49000 × 0.40%
    assert fee_1e9(BTC, px("98000.0"), qty("0.5"), MAKER) == 122_500_000_000  # × 0.25%
    assert fee_1e9(BTC, px("0.1"), 1, TAKER) == 1  # rounds up to a nano-dollar
    rebate = dataclasses.replace(BTC, maker_fee_bps=-1)
    assert fee_1e9(rebate, px("100.0"), Q, MAKER) == -10_000_000


def test_engine_is_deterministic_against_the_simulator() -> None:
    """Same seeds → identical fills for a simple market maker around the touch."""

    def run(seed: int) -> list[tuple]:
        sim = MarketSimulator(BTC, seed, 0)
        eng = MatchingEngine(BTC, rng_seed=seed, fill_prob_at_touch=0.3)
        out: list[tuple] = []
        oid = 0
        for snap in sim.generate(0, 3_600 * 10**9):
            out.extend(eng.on_book(snap))
            if eng.open_order_count == 0:
                oid += 1
                eng.submit(BUY, snap.bid_px, qty("0.01"), snap.ts_ns, oid)
                oid += 1
                eng.submit(SELL, snap.ask_px + 10 * BTC.tick_1e9, qty("0.01"), snap.ts_ns, oid)
        return out

    a = run(5)
    assert a and a == run(5) and a != run(6)


def test_a_passive_order_rests_without_reading_the_depth() -> None:
    # Orders that do not reach the opposite touch take the fast path: no fills, no depth built.
    eng = engine()
    snap = MarketSimulator(BTC, 5, 0).next_event()
    eng.on_book(snap)
    buy = eng.submit(BUY, snap.bid_px, qty("0.1"), 1, 1)
    sell = eng.submit(SELL, snap.ask_px + BTC.tick_1e9, qty("0.1"), 1, 2)
    assert buy == SubmitResult(1, True, 0, 0, (), qty("0.1"), False)
    assert sell == SubmitResult(2, True, 0, 0, (), qty("0.1"), False)
    assert type(buy) is SubmitResult and buy.accepted and buy.fills == ()
    assert snap._bids is None and snap._asks is None
    assert [o.order_id for o in eng.open_orders()] == [1, 2]
    assert eng.open_buy_qty_1e8 == eng.open_sell_qty_1e8 == qty("0.1")
    # touching the opposite side is not passive: it fills as a taker
    taker = eng.submit(BUY, snap.ask_px, qty("0.1"), 1, 3)
    assert taker.fills and taker.fills[0].liquidity == TAKER and type(taker.fills[0]) is Fill


def test_cancel_all_with_nothing_open_returns_an_empty_list() -> None:
    eng = engine()
    assert eng.cancel_all() == []
    eng.on_book(BASE)
    eng.submit(BUY, px("99.9"), qty("0.1"), 1, 1)
    assert eng.cancel_all() == [1] and eng.cancel_all() == []
