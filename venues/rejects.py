"""One named reason for a refused order, the same in logs, traces, order states and the dashboard.

The matching engine answers with the ABI's reason codes (``REJECT_BAD_QTY`` = 2) and place_order()
with its negative results (``ERR_BAD_QTY`` = -3). Neither tells a user what to change; this turns
the code and the order into a sentence that does, naming the venue's rule it broke:

    BELOW_MIN_QTY: 0.01 < kraken min 2
    PRICE_OFF_TICK: 0.12345 not on coinbase tick 0.0001
    BELOW_MIN_NOTIONAL: 0.0001 @ 1000 = 0.1 < kraken min notional 0.5

Pure (no Django, no I/O): the edge's hot path calls it only for orders that were refused.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from venues import matching as m
from venues.instruments import PRICE_SCALE, QTY_SCALE

# The ABI's reason code → its name (docs/algo-abi.md, on_reject).
REASON_NAMES: dict[int, str] = {
    m.REJECT_BAD_PRICE: "BAD_PRICE",
    m.REJECT_BAD_QTY: "BAD_QTY",
    m.REJECT_RISK_LIMIT: "RISK_LIMIT",
    m.REJECT_POST_ONLY_WOULD_CROSS: "POST_ONLY_WOULD_CROSS",
    m.REJECT_VENUE_REJECT: "VENUE_REJECT",
    m.REJECT_SELF_TRADE: "SELF_TRADE",
    m.REJECT_MARKET_CLOSED: "MARKET_CLOSED",
}
# place_order()'s negative results → the reason code behind them (ERR_RATE and ERR_BAD_SIDE have none).
_ERROR_REASON: dict[int, int] = {err: reason for reason, err in m.PLACE_ORDER_ERROR.items()}
ERROR_NAMES: dict[int, str] = {
    m.ERR_BAD_SIDE: "BAD_SIDE",
    m.ERR_BAD_PRICE: "BAD_PRICE",
    m.ERR_BAD_QTY: "BAD_QTY",
    m.ERR_RISK: "RISK_LIMIT",
    m.ERR_RATE: "RATE_LIMIT",
    m.ERR_HALTED: "HALTED",
}


def _qty(qty_1e8: int) -> str:
    return _plain(Decimal(qty_1e8) / QTY_SCALE)


def _price(price_1e9: int) -> str:
    return _plain(Decimal(price_1e9) / PRICE_SCALE)


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


def below_min_notional(instrument: Any, *, price_1e9: int, qty_1e8: int) -> bool:
    """Whether the venue refuses this order for its value (price x quantity under the minimum
    notional: Kraken's costmin, Coinbase's quote_min_size). False where such an order rests instead
    (`min_notional_rests`: Polymarket's $1) and for a price not given (0)."""
    return (
        price_1e9 > 0
        and not getattr(instrument, "min_notional_rests", False)
        and price_1e9 * qty_1e8 < instrument.min_notional_1e9 * QTY_SCALE
    )


def reject_reason(code: int, *, instrument: Any = None, price_1e9: int = 0, qty_1e8: int = 0) -> str:
    """The named reason for reason ``code`` (positive, as on_reject gets it) of an order of
    ``qty_1e8`` at ``price_1e9``; with the ``instrument`` (venues.instruments.Instrument) it says
    which of the venue's rules the order broke and the rule's value."""
    name = REASON_NAMES.get(code, f"REJECT_{code}")
    inst = instrument
    if inst is None:
        return name
    venue = inst.venue
    if code == m.REJECT_BAD_QTY:
        if qty_1e8 <= 0:
            return f"BAD_QTY: {_qty(qty_1e8)} is not a positive quantity"
        if qty_1e8 < inst.min_qty_1e8:
            return f"BELOW_MIN_QTY: {_qty(qty_1e8)} < {venue} min {_qty(inst.min_qty_1e8)}"
        if qty_1e8 > inst.max_qty_1e8:
            return f"ABOVE_MAX_QTY: {_qty(qty_1e8)} > {venue} max {_qty(inst.max_qty_1e8)}"
        if qty_1e8 % inst.lot_1e8:
            return f"QTY_OFF_LOT: {_qty(qty_1e8)} is not a multiple of {venue} lot {_qty(inst.lot_1e8)}"
        if below_min_notional(inst, price_1e9=price_1e9, qty_1e8=qty_1e8):
            return (
                f"BELOW_MIN_NOTIONAL: {_qty(qty_1e8)} @ {_price(price_1e9)} = "
                f"{_price(price_1e9 * qty_1e8 // QTY_SCALE)} < {venue} min notional "
                f"{_price(inst.min_notional_1e9)}"
            )
        return name
    if code == m.REJECT_BAD_PRICE:
        if price_1e9 <= 0:
            return f"BAD_PRICE: {_price(price_1e9)} is not a positive price"
        if price_1e9 < inst.min_price_1e9 or price_1e9 > inst.max_price_1e9:
            return (
                f"PRICE_OUT_OF_RANGE: {_price(price_1e9)} outside {venue} "
                f"{_price(inst.min_price_1e9)}..{_price(inst.max_price_1e9)}"
            )
        if price_1e9 % inst.tick_1e9:
            return f"PRICE_OFF_TICK: {_price(price_1e9)} not on {venue} tick {_price(inst.tick_1e9)}"
        return name
    if code == m.REJECT_RISK_LIMIT:
        return "RISK_LIMIT: max open orders, position or order notional reached"
    if code == m.REJECT_SELF_TRADE:
        return f"SELF_TRADE: {_price(price_1e9)} would trade against your own resting order"
    if code == m.REJECT_MARKET_CLOSED:
        return f"MARKET_CLOSED: {inst.symbol} is not trading on {venue}"
    if code == m.REJECT_VENUE_REJECT:
        return f"VENUE_REJECT: {venue} refused the order"
    return name


def place_error_reason(result: int, *, instrument: Any = None, price_1e9: int = 0, qty_1e8: int = 0) -> str:
    """The named reason for a refused place_order(): ``result`` is its negative return code, or a
    positive reason code for a refusal reported later through on_reject."""
    if result > 0:
        return reject_reason(result, instrument=instrument, price_1e9=price_1e9, qty_1e8=qty_1e8)
    code = _ERROR_REASON.get(result)
    if code is not None and code != m.REJECT_MARKET_CLOSED:
        return reject_reason(code, instrument=instrument, price_1e9=price_1e9, qty_1e8=qty_1e8)
    if result == m.ERR_HALTED:
        return "HALTED: the market is closed or the algo is stopping"
    if result == m.ERR_RATE:
        return "RATE_LIMIT: too many order actions in one callback"
    return ERROR_NAMES.get(result, f"ERROR_{result}")


def first_order_problem(instrument: Any, *, price_1e9: int, qty_1e8: int) -> str | None:
    """A reason the venue would refuse an order of this price and quantity whatever the market does
    (its fixed rules: quantity bounds and lot, price bounds and tick), or None when it passes."""
    code = 0
    if (
        qty_1e8 <= 0
        or qty_1e8 < instrument.min_qty_1e8
        or qty_1e8 > instrument.max_qty_1e8
        or qty_1e8 % instrument.lot_1e8
        or below_min_notional(instrument, price_1e9=price_1e9, qty_1e8=qty_1e8)
    ):
        code = m.REJECT_BAD_QTY
    elif price_1e9 > 0 and (
        price_1e9 < instrument.min_price_1e9
        or price_1e9 > instrument.max_price_1e9
        or price_1e9 % instrument.tick_1e9
    ):
        code = m.REJECT_BAD_PRICE
    if not code:
        return None
    return reject_reason(code, instrument=instrument, price_1e9=price_1e9, qty_1e8=qty_1e8)
