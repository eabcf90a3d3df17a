"""PositionBook: hand-checked average-cost PnL in exact integers."""

from __future__ import annotations

import pytest

from venues.accounting import PositionBook
from venues.book import BookSnapshot
from venues.instruments import PRICE_SCALE, get_instrument
from venues.matching import BUY, SELL, MatchingEngine

P = PRICE_SCALE
Q = 100_000_000


def test_hand_checked_sequence() -> None:
    pb = PositionBook("algo-1", "BTC/USD")
    # buy 1 @ 100 (fee 0.04), buy 1 @ 110 (fee 0.044): long 2 @ avg 105
    assert pb.on_fill(BUY, 100 * P, Q, 40_000_000) == 0
    pb.on_fill(BUY, 110 * P, Q, 44_000_000)
    assert pb.position_1e8 == 2 * Q and pb.avg_entry_price_1e9 == 105 * P
    pb.mark(115 * P)
    assert pb.unrealized_pnl_1e9 == 20 * P  # (115 − 105) × 2
    # sell 0.5 @ 120 (fee 0.024): realizes (120 − 105) × 0.5 = 7.5
    assert pb.on_fill(SELL, 120 * P, Q // 2, 24_000_000) == 7_500_000_000
    assert pb.position_1e8 == 3 * Q // 2 and pb.avg_entry_price_1e9 == 105 * P
    assert pb.gross_realized_pnl_1e9 == 7_500_000_000
    # sell 2 @ 100 (fee 0.08): closes 1.5 at a loss of 7.5, opens short 0.5 @ 100
    assert pb.on_fill(SELL, 100 * P, 2 * Q, 80_000_000) == -7_500_000_000
    assert pb.position_1e8 == -Q // 2 and pb.avg_entry_price_1e9 == 100 * P
    assert pb.gross_realized_pnl_1e9 == 0 and pb.trade_count == 1
    pb.mark(90 * P)
    assert pb.unrealized_pnl_1e9 == 5 * P  # short 0.5 from 100, marked at 90
    assert pb.unrealized_at(104 * P) == -2 * P
    # buy 0.5 @ 95 (fee 0.019): covers at +2.5, flat
    assert pb.on_fill(BUY, 95 * P, Q // 2, 19_000_000) == 2_500_000_000
    assert pb.position_1e8 == 0 and pb.avg_entry_price_1e9 == 0 and pb.unrealized_pnl_1e9 == 0
    assert pb.fees_1e9 == 207_000_000
    assert pb.realized_pnl_1e9 == 2_500_000_000 - 207_000_000
    assert pb.session_realized_pnl_1e9 == pb.realized_pnl_1e9
    assert (pb.fill_count, pb.trade_count, pb.volume_1e8) == (5, 2, 5 * Q)
    assert pb.notional_1e9 == (100 + 110 + 60 + 200 + 47) * P + P // 2  # 517.5


def test_rounding_never_leaks_through_a_round_trip() -> None:
    """Three buys whose average is 4/3: partial closes floor, the flat position is exact."""
    pb = PositionBook()
    for price in (1, 1, 2):
        pb.on_fill(BUY, price * P, 1)  # 1e-8 units each: the smallest quantity
    assert pb.avg_entry_price_1e9 == 1_333_333_333
    pb.on_fill(SELL, 3 * P, 1)
    pb.on_fill(SELL, 3 * P, 2)
    assert pb.position_1e8 == 0
    # exact: proceeds 9 × 1e-8, cost 4 × 1e-8 → 5e-8 USD = 50 × 1e-9
    assert pb.gross_realized_pnl_1e9 == 50 and pb.realized_pnl_1e9 == 50


def test_session_reset_keeps_position_and_lifetime() -> None:
    pb = PositionBook()
    pb.on_fill(BUY, 10 * P, Q, 1_000)
    pb.on_fill(SELL, 12 * P, Q // 2, 1_000)
    assert pb.session_realized_pnl_1e9 == P - 2_000
    pb.reset_session()
    assert pb.session_realized_pnl_1e9 == 0 and pb.session_fees_1e9 == 0
    assert pb.position_1e8 == Q // 2 and pb.realized_pnl_1e9 == P - 2_000
    pb.on_fill(SELL, 9 * P, Q // 2, 500)
    assert pb.session_realized_pnl_1e9 == -P // 2 - 500
    assert pb.realized_pnl_1e9 == P // 2 - 2_500


def test_counters_marks_and_bad_input() -> None:
    pb = PositionBook("a", "s")
    pb.on_order()
    pb.on_order()
    pb.on_reject()
    pb.on_cancel(3)
    pb.mark(5 * P)
    pb.mark(0)  # an empty book keeps the last mark
    assert pb.mark_price_1e9 == 5 * P
    d = pb.as_dict()
    assert (d["order_count"], d["reject_count"], d["cancel_count"]) == (2, 1, 3)
    assert d["unrealized_pnl_1e9"] == 0 and d["position_1e8"] == 0
    with pytest.raises(ValueError):
        pb.on_fill(BUY, P, 0)
    with pytest.raises(ValueError):
        pb.on_fill(3, P, 1)


def test_engine_fills_feed_the_position_book() -> None:
    inst = get_instrument("kraken", "BTC/USD")  # taker 0.40%, maker 0.25%
    eng = MatchingEngine(inst, rng_seed=1, fill_prob_at_touch=0.0)
    pb = PositionBook("algo", inst.symbol)
    eng.on_book(BookSnapshot(1, [(97_999 * P, Q)], [(98_000 * P, Q)]))
    res = eng.submit(BUY, 98_000 * P, Q // 2, 1, order_id=1)  # taker: 0.5 @ 98000, fee 196
    for f in res.fills:
        pb.apply_fill(f)
    eng.submit(SELL, 98_100 * P, Q // 2, 1, order_id=2)
    for f in eng.on_book(BookSnapshot(2, [(98_150 * P, Q)], [(98_160 * P, Q)])):  # bid through our ask
        pb.apply_fill(f)  # maker: 0.5 @ 98100, fee 122.625
    assert pb.position_1e8 == 0 == eng.position_1e8
    assert pb.fees_1e9 == 196 * P + 122_625_000_000
    assert pb.realized_pnl_1e9 == 50 * P - 196 * P - 122_625_000_000  # +50 gross, −318.625 fees
