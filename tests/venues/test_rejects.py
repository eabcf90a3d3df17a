"""venues/rejects.py: one named reason for a refused order."""

from __future__ import annotations

from venues import matching as m
from venues.instruments import get_instrument
from venues.rejects import first_order_problem, place_error_reason, reject_reason


def test_named_reasons_with_the_venue_rule() -> None:
    xrp = get_instrument("kraken", "XRP/USD")
    assert xrp.min_qty_1e8 == 200_000_000
    text = reject_reason(m.REJECT_BAD_QTY, instrument=xrp, price_1e9=500_000_000, qty_1e8=1_000_000)
    assert text == "BELOW_MIN_QTY: 0.01 < kraken min 2"
    assert place_error_reason(m.ERR_BAD_QTY, instrument=xrp, price_1e9=500_000_000, qty_1e8=1_000_000) == text
    assert place_error_reason(
        m.ERR_BAD_PRICE, instrument=xrp, price_1e9=500_000_001, qty_1e8=300_000_000
    ) == ("PRICE_OFF_TICK: 0.500000001 not on kraken tick 0.00001")
    assert place_error_reason(m.ERR_RATE).startswith("RATE_LIMIT: ")
    assert reject_reason(m.REJECT_SELF_TRADE) == "SELF_TRADE"
    assert first_order_problem(xrp, price_1e9=500_000_000, qty_1e8=300_000_000) is None
    assert first_order_problem(xrp, price_1e9=500_000_000, qty_1e8=1_000_000) == text
