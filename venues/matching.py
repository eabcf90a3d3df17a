"""The paper matching engine: OUR orders (one account on one symbol) against the simulated book.

Two users: the venue adapter matches execution graphs' orders (trading app) with it, and it is the
reference model of seqcore (edges/core/seqcore.c), which applies these same rules to algos' orders
inside wasm; tests/edges/core checks that the two agree fill for fill. Change both together.

Other participants' queues are not simulated, only the displayed book, so the rules are:

- A new order that crosses the book fills at once as a taker, at the book's prices, level by level
  up to its limit, consuming displayed size; what is left rests at the limit price.
- A resting buy fills as a maker, at its own limit price, when the ask moves to or below it (up to
  the displayed size at or below the limit); when it is at the touch or inside the spread
  (price >= best bid) it may also fill at the touch with a seeded probability per book update, up
  to the displayed touch size. A buy resting below the best bid never fills. Sells mirror this.
  A book side that is missing (one-sided book) gives no touch fills on that side.
- Displayed size we take is remembered until the next book update, so two of our orders (or a
  resting fill and a new order in the same callback) cannot both take the same liquidity.
- Venue rules: price on the tick grid and inside the instrument's bounds (else BAD_PRICE);
  quantity > 0, a lot multiple, >= the venue minimum and <= the absurd-size guard (else BAD_QTY);
  risk limits (RISK_LIMIT); an inactive market or a halted engine (MARKET_CLOSED); crossing one of
  our own resting orders (SELF_TRADE). An order under the instrument's minimum notional (price x
  quantity: Kraken's costmin, Coinbase's quote_min_size) is BAD_QTY, except where the minimum
  rests (`min_notional_rests`: Polymarket's $1): such an order is accepted and rests forever, never
  filling, even when the book crosses it (it still counts as an open order).
- Fees: `fee_model` "bps": ceil(notional × bps / 1e4); "kalshi": takers pay
  ceil_to_cent(0.07 × contracts × P × (1 − P)) per fill, makers nothing. Fees are in 1e9 units.

Cost: `on_book` compares the book's best bid/ask with our best resting prices (two integer
compares) and returns the shared empty tuple when no order can fill, so a book update with nothing
near the touch costs a function call.
"""

from __future__ import annotations

import random
from typing import Final, NamedTuple

from venues.book import BookSnapshot
from venues.instruments import PRICE_SCALE, QTY_SCALE, Instrument

__all__ = [
    "BUY",
    "SELL",
    "MAKER",
    "TAKER",
    "REJECT_BAD_PRICE",
    "REJECT_BAD_QTY",
    "REJECT_RISK_LIMIT",
    "REJECT_POST_ONLY_WOULD_CROSS",
    "REJECT_VENUE_REJECT",
    "REJECT_SELF_TRADE",
    "REJECT_MARKET_CLOSED",
    "ERR_BAD_SIDE",
    "ERR_BAD_PRICE",
    "ERR_BAD_QTY",
    "ERR_RISK",
    "ERR_RATE",
    "ERR_HALTED",
    "PLACE_ORDER_ERROR",
    "Fill",
    "Order",
    "SubmitResult",
    "MatchingEngine",
    "fee_1e9",
]

BUY: Final = 0
SELL: Final = 1
MAKER: Final = "maker"
TAKER: Final = "taker"

# on_reject reason codes (ABI v1)
REJECT_BAD_PRICE: Final = 1
REJECT_BAD_QTY: Final = 2
REJECT_RISK_LIMIT: Final = 3
REJECT_POST_ONLY_WOULD_CROSS: Final = 4  # reserved by the ABI; the engine has no post-only orders
REJECT_VENUE_REJECT: Final = 5
REJECT_SELF_TRADE: Final = 6
REJECT_MARKET_CLOSED: Final = 7

# place_order() negative return codes (ABI v1)
ERR_BAD_SIDE: Final = -1
ERR_BAD_PRICE: Final = -2
ERR_BAD_QTY: Final = -3
ERR_RISK: Final = -4
ERR_RATE: Final = -5  # host-side (actions per callback); the engine never returns it
ERR_HALTED: Final = -6

#: Reject reasons that place_order reports synchronously, and the code it returns. Reasons missing
#: here (VENUE_REJECT, SELF_TRADE) have no place_order code: the host returns an order id and then
#: calls on_reject(order_id, reason).
PLACE_ORDER_ERROR: Final[dict[int, int]] = {
    REJECT_BAD_PRICE: ERR_BAD_PRICE,
    REJECT_BAD_QTY: ERR_BAD_QTY,
    REJECT_RISK_LIMIT: ERR_RISK,
    REJECT_MARKET_CLOSED: ERR_HALTED,
}

_BIG: Final = 1 << 62  # above any price_1e9 (prices are i64)
_NO_SELL: Final = _BIG + 1  # "no resting sell": compares above `ask or _BIG`
_NO_BUY: Final = -1  # "no resting buy": compares below any bid, even a missing one (0)
_NO_FILLS: tuple[Fill, ...] = ()
_QTY_BPS: Final = QTY_SCALE * 10_000  # price_1e9 * qty_1e8 * bps / this = fee_1e9
_KALSHI_DIV: Final = 100 * QTY_SCALE * PRICE_SCALE * 10_000_000  # → whole cents
_CENT_1E9: Final = 10_000_000
# The hot paths build results with tuple.__new__ directly: half the cost of a NamedTuple's __new__.
_tuple_new = tuple.__new__


class Fill(NamedTuple):
    """One execution of one of our orders. `fee_1e9` is what we pay (negative = rebate);
    `liquidity` is "maker" or "taker"; `leaves_qty_1e8` is what is still open after this fill
    (0: the order is done)."""

    order_id: int
    side: int
    price_1e9: int
    qty_1e8: int
    fee_1e9: int
    ts_ns: int
    liquidity: str
    leaves_qty_1e8: int


class SubmitResult(NamedTuple):
    """The outcome of `submit`.

    accepted: False → `reason` is the on_reject code and `error` the place_order code (0 when the
    reason has none; see PLACE_ORDER_ERROR). accepted: True → reason/error are 0, `fills` are the
    immediate taker fills, `leaves_qty_1e8` rests on the book (0: fully filled); `dormant` marks a
    Polymarket order under the minimum notional, which rests and never fills.
    """

    order_id: int
    accepted: bool
    reason: int
    error: int
    fills: tuple[Fill, ...]
    leaves_qty_1e8: int
    dormant: bool


def fee_1e9(instrument: Instrument, price_1e9: int, qty_1e8: int, liquidity: str) -> int:
    """The fee (1e9 units, rounded up) for a fill of `qty_1e8` at `price_1e9` on `instrument`."""
    if instrument.fee_model == "kalshi":
        if liquidity == MAKER:
            return 0
        num = 7 * qty_1e8 * price_1e9 * (PRICE_SCALE - price_1e9)
        return -(-num // _KALSHI_DIV) * _CENT_1E9
    bps = instrument.maker_fee_bps if liquidity == MAKER else instrument.taker_fee_bps
    return -(-(price_1e9 * qty_1e8 * bps) // _QTY_BPS)


class Order:
    """One of our orders resting on the simulated book (read it, don't mutate it)."""

    __slots__ = ("order_id", "side", "price_1e9", "qty_1e8", "leaves_1e8", "ts_ns", "dormant")

    def __init__(self, order_id: int, side: int, price_1e9: int, qty_1e8: int, ts_ns: int, dormant: bool):
        self.order_id = order_id
        self.side = side
        self.price_1e9 = price_1e9
        self.qty_1e8 = qty_1e8
        self.leaves_1e8 = qty_1e8
        self.ts_ns = ts_ns
        self.dormant = dormant

    def __repr__(self) -> str:
        side = "buy" if self.side == BUY else "sell"
        return (
            f"Order(id={self.order_id}, {side} {self.leaves_1e8}/{self.qty_1e8} @ {self.price_1e9}"
            f"{', dormant' if self.dormant else ''})"
        )


class MatchingEngine:
    """Matches one algo's orders on one instrument against the simulated book.

    Feed every book update to `on_book` (it returns the fills it caused) before handing the book
    to the algo; `submit`/`cancel`/`cancel_all` act against the last book seen. Risk limits:
    `max_open_orders` (including dormant orders), `max_position_1e8` (absolute position if every
    open order on that side filled; None = no limit), `max_order_notional_1e9` (per order; None =
    no limit), `allow_short` (False: sells may not take the position below zero, counting open
    sells). `fill_prob_at_touch` is the chance per book update that an order at the touch fills.
    """

    __slots__ = (
        "instrument",
        "fill_prob_at_touch",
        "max_open_orders",
        "max_position_1e8",
        "max_order_notional_1e9",
        "allow_short",
        "halted",
        "position_1e8",
        "open_buy_qty_1e8",
        "open_sell_qty_1e8",
        "_orders",
        "_buys",
        "_sells",
        "_best_buy",
        "_best_sell",
        "_book",
        "_taken_bids",
        "_taken_asks",
        "_taken",
        "_rng",
        "_tick",
        "_lot",
        "_min_px",
        "_max_px",
        "_min_qty",
        "_max_qty",
        "_min_notional_scaled",
        "_min_notional_rests",
    )

    def __init__(
        self,
        instrument: Instrument,
        *,
        rng_seed: int | str,
        fill_prob_at_touch: float = 0.05,
        max_open_orders: int = 64,
        max_position_1e8: int | None = None,
        max_order_notional_1e9: int | None = None,
        allow_short: bool = True,
    ) -> None:
        if not 0.0 <= fill_prob_at_touch <= 1.0:
            raise ValueError("fill_prob_at_touch must be within [0, 1]")
        self.instrument = instrument
        self.fill_prob_at_touch = fill_prob_at_touch
        self.max_open_orders = max_open_orders
        self.max_position_1e8 = max_position_1e8
        self.max_order_notional_1e9 = max_order_notional_1e9
        self.allow_short = allow_short
        self.halted = False
        self.position_1e8 = 0
        self.open_buy_qty_1e8 = 0
        self.open_sell_qty_1e8 = 0
        self._orders: dict[int, Order] = {}
        self._buys: list[Order] = []  # live (non-dormant) buys, best (highest) price first, FIFO
        self._sells: list[Order] = []  # live sells, best (lowest) price first, FIFO
        self._best_buy = _NO_BUY
        self._best_sell = _NO_SELL
        self._book: BookSnapshot | None = None
        self._taken_bids: dict[int, int] = {}  # price → displayed bid size we took this update
        self._taken_asks: dict[int, int] = {}
        self._taken = False
        self._rng = random.Random(f"sequence-match|{rng_seed}")
        self._tick = instrument.tick_1e9
        self._lot = instrument.lot_1e8
        self._min_px = instrument.min_price_1e9
        self._max_px = instrument.max_price_1e9
        self._min_qty = instrument.min_qty_1e8
        self._max_qty = instrument.max_qty_1e8
        # notional_1e9 < min_notional  ⇔  price_1e9 * qty_1e8 < min_notional_1e9 * 1e8 (exact).
        self._min_notional_scaled = instrument.min_notional_1e9 * QTY_SCALE
        self._min_notional_rests = instrument.min_notional_rests

    def set_instrument(self, instrument: Instrument) -> None:
        """The venue changed this instrument's rules while trading (Polymarket moves a market's
        tick): new orders are checked against the new rules; resting orders keep their prices, as
        at the venue."""
        if instrument.symbol != self.instrument.symbol:
            raise ValueError(f"{instrument.symbol!r} is not {self.instrument.symbol!r}")
        self.instrument = instrument
        self._tick = instrument.tick_1e9
        self._lot = instrument.lot_1e8
        self._min_px = instrument.min_price_1e9
        self._max_px = instrument.max_price_1e9
        self._min_qty = instrument.min_qty_1e8
        self._max_qty = instrument.max_qty_1e8
        self._min_notional_scaled = instrument.min_notional_1e9 * QTY_SCALE
        self._min_notional_rests = instrument.min_notional_rests

    # ------------------------------------------------------------------------------------------
    # reads

    @property
    def book(self) -> BookSnapshot | None:
        """The last book passed to `on_book` (None before the first)."""
        return self._book

    @property
    def open_order_count(self) -> int:
        """Open orders, dormant ones included (what the ABI's open_order_count() returns)."""
        return len(self._orders)

    def open_orders(self) -> list[Order]:
        """Open orders in submission order."""
        return list(self._orders.values())

    def get_order(self, order_id: int) -> Order | None:
        """The open order with this id, or None (unknown, filled or cancelled)."""
        return self._orders.get(order_id)

    # ------------------------------------------------------------------------------------------
    # book updates (the hot path)

    def on_book(self, snap: BookSnapshot) -> tuple[Fill, ...] | list[Fill]:
        """Make `snap` the current book and fill the resting orders it reaches.

        Returns the fills in execution order (buys first, then sells), or an empty tuple — the
        common case, decided by two compares when no order is at or through the touch.
        """
        self._book = snap
        if self._taken:
            self._taken_bids.clear()
            self._taken_asks.clear()
            self._taken = False
        fills: tuple[Fill, ...] | list[Fill] = _NO_FILLS
        # A buy can fill only if it is at/above the best bid (touch or cross); `_NO_BUY` is below
        # even a missing bid (0). A sell only if at/below the best ask; a missing ask (0) becomes
        # _BIG so that the slow path checks whether the bids crossed it.
        if self._best_buy >= snap.bid_px:
            fills = self._match_resting(snap, BUY)
        if self._best_sell <= (snap.ask_px or _BIG):
            more = self._match_resting(snap, SELL)
            if more:
                fills = more if not fills else [*fills, *more]
        return fills

    def _match_resting(self, snap: BookSnapshot, side: int) -> list[Fill] | tuple[Fill, ...]:
        ts = snap.ts_ns
        fills: list[Fill] | None = None
        if side == BUY:
            orders, opp_px, touch_px, touch_qty = self._buys, snap.ask_px, snap.bid_px, snap.bid_qty
        else:
            orders, opp_px, touch_px, touch_qty = self._sells, snap.bid_px, snap.ask_px, snap.ask_qty
        for o in tuple(orders):  # a copy: fills remove orders from the list
            p = o.price_1e9
            if opp_px and (opp_px <= p if side == BUY else opp_px >= p):
                # The book traded through our price: fill at our price as a maker, up to the
                # displayed size at or better than our price that nobody (we) took yet.
                qty = self._take(snap, side, p, o.leaves_1e8)
                if qty:
                    f = self._fill(o, p, qty, ts, MAKER)
                    if fills is None:
                        fills = [f]
                    else:
                        fills.append(f)
                continue
            if not touch_px or (p < touch_px if side == BUY else p > touch_px):
                break  # behind the touch (orders are sorted best first): nothing further can fill
            # At the touch or inside the spread: an incoming order may hit us.
            if self._rng.random() < self.fill_prob_at_touch:
                qty = min(o.leaves_1e8, touch_qty)
                if qty > 0:
                    f = self._fill(o, p, qty, ts, MAKER)
                    if fills is None:
                        fills = [f]
                    else:
                        fills.append(f)
        return fills if fills is not None else _NO_FILLS

    def _take(self, snap: BookSnapshot, side: int, limit: int, want: int) -> int:
        """Consume up to `want` of the opposite displayed levels priced at or better than `limit`
        (asks <= limit for a buy, bids >= limit for a sell). Returns the quantity taken."""
        if side == BUY:
            levels, taken = snap.asks, self._taken_asks
        else:
            levels, taken = snap.bids, self._taken_bids
        got = 0
        for lp, lq in levels:
            if (lp > limit) if side == BUY else (lp < limit):
                break
            avail = lq - taken.get(lp, 0)
            if avail <= 0:
                continue
            q = min(avail, want - got)
            taken[lp] = taken.get(lp, 0) + q
            got += q
            if got == want:
                break
        if got:
            self._taken = True
        return got

    def _fill(self, o: Order, price: int, qty: int, ts: int, liquidity: str, listed: bool = True) -> Fill:
        """Apply a fill of `qty` at `price` to order `o` and the position; remove `o` when done
        (`listed`: `o` is in the resting lists, i.e. this is not an immediate fill at submit)."""
        o.leaves_1e8 -= qty
        if o.side == BUY:
            self.position_1e8 += qty
            self.open_buy_qty_1e8 -= qty
        else:
            self.position_1e8 -= qty
            self.open_sell_qty_1e8 -= qty
        if o.leaves_1e8 == 0:
            del self._orders[o.order_id]
            if listed:
                self._unlist(o)
        return _tuple_new(
            Fill,
            (
                o.order_id,
                o.side,
                price,
                qty,
                fee_1e9(self.instrument, price, qty, liquidity),
                ts,
                liquidity,
                o.leaves_1e8,
            ),
        )

    # ------------------------------------------------------------------------------------------
    # order entry

    def _reject(self, order_id: int, reason: int, error: int | None = None) -> SubmitResult:
        if error is None:
            error = PLACE_ORDER_ERROR.get(reason, 0)
        return SubmitResult(order_id, False, reason, error, _NO_FILLS, 0, False)

    def check(self, side: int, price_1e9: int, qty_1e8: int, order_id: int | None = None) -> int:
        """Validate an order without placing it. Returns 0 when `submit` would accept it, else the
        reject reason code (side errors report REJECT_VENUE_REJECT)."""
        inst = self.instrument
        if side != BUY and side != SELL:
            return REJECT_VENUE_REJECT
        if self.halted or not inst.active:
            return REJECT_MARKET_CLOSED
        if (
            type(price_1e9) is not int
            or price_1e9 <= 0
            or price_1e9 < self._min_px
            or price_1e9 > self._max_px
            or price_1e9 % self._tick
        ):
            return REJECT_BAD_PRICE
        if (
            type(qty_1e8) is not int
            or qty_1e8 <= 0
            or qty_1e8 % self._lot
            or qty_1e8 < self._min_qty
            or qty_1e8 > self._max_qty
        ):
            return REJECT_BAD_QTY
        if not self._min_notional_rests and price_1e9 * qty_1e8 < self._min_notional_scaled:
            return REJECT_BAD_QTY  # under the venue's minimum order value (BELOW_MIN_NOTIONAL)
        if order_id is not None and order_id in self._orders:
            return REJECT_VENUE_REJECT  # duplicate id: a host bug, refused rather than corrupting state
        if len(self._orders) >= self.max_open_orders:
            return REJECT_RISK_LIMIT
        scaled = price_1e9 * qty_1e8  # notional × 1e8, exact
        limit = self.max_order_notional_1e9
        if limit is not None and scaled > limit * QTY_SCALE:
            return REJECT_RISK_LIMIT
        pos = self.position_1e8
        if side == BUY:
            worst = pos + self.open_buy_qty_1e8 + qty_1e8
            if self.max_position_1e8 is not None and worst > self.max_position_1e8:
                return REJECT_RISK_LIMIT
            if price_1e9 >= self._best_sell:
                return REJECT_SELF_TRADE
        else:
            worst = pos - self.open_sell_qty_1e8 - qty_1e8
            if self.max_position_1e8 is not None and -worst > self.max_position_1e8:
                return REJECT_RISK_LIMIT
            if not self.allow_short and worst < 0:
                return REJECT_RISK_LIMIT
            if price_1e9 <= self._best_buy:
                return REJECT_SELF_TRADE
        return 0

    def submit(self, side: int, price_1e9: int, qty_1e8: int, ts_ns: int, order_id: int) -> SubmitResult:
        """Place a limit order (caller-assigned `order_id`, `ts_ns` = event time).

        Rejected orders change nothing. An accepted order that crosses the current book fills at
        once as a taker (`result.fills`); the rest (`result.leaves_qty_1e8`) rests. A Polymarket
        order under $1 notional is accepted with `dormant=True` and never fills.
        """
        if side != BUY and side != SELL:
            return self._reject(order_id, REJECT_VENUE_REJECT, ERR_BAD_SIDE)
        reason = self.check(side, price_1e9, qty_1e8, order_id)
        if reason:
            return self._reject(order_id, reason)
        dormant = price_1e9 * qty_1e8 < self._min_notional_scaled
        o = Order(order_id, side, price_1e9, qty_1e8, ts_ns, dormant)
        self._orders[order_id] = o
        if side == BUY:
            self.open_buy_qty_1e8 += qty_1e8
        else:
            self.open_sell_qty_1e8 += qty_1e8
        if dormant:
            return SubmitResult(order_id, True, 0, 0, _NO_FILLS, qty_1e8, True)

        book = self._book
        # The common case, a passive order: it does not reach the opposite touch, so nothing fills
        # and the depth levels are not even built.
        if book is None or (
            (not book.ask_px or price_1e9 < book.ask_px)
            if side == BUY
            else (not book.bid_px or price_1e9 > book.bid_px)
        ):
            self._list(o)
            return _tuple_new(SubmitResult, (order_id, True, 0, 0, _NO_FILLS, qty_1e8, False))
        fills: list[Fill] = []
        if book is not None:
            levels = book.asks if side == BUY else book.bids
            taken = self._taken_asks if side == BUY else self._taken_bids
            for lp, lq in levels:
                if (lp > price_1e9) if side == BUY else (lp < price_1e9):
                    break
                avail = lq - taken.get(lp, 0)
                if avail <= 0:
                    continue
                q = min(avail, o.leaves_1e8)
                taken[lp] = taken.get(lp, 0) + q
                self._taken = True
                fills.append(self._fill(o, lp, q, ts_ns, TAKER, listed=False))
                if o.leaves_1e8 == 0:
                    break
        if o.leaves_1e8:
            self._list(o)
        return SubmitResult(order_id, True, 0, 0, tuple(fills), o.leaves_1e8, False)

    def cancel(self, order_id: int) -> bool:
        """Cancel one open order. Returns False when the id is unknown or already done."""
        o = self._orders.pop(order_id, None)
        if o is None:
            return False
        if o.side == BUY:
            self.open_buy_qty_1e8 -= o.leaves_1e8
        else:
            self.open_sell_qty_1e8 -= o.leaves_1e8
        if not o.dormant:
            self._unlist(o)
        return True

    def cancel_all(self) -> list[int]:
        """Cancel every open order; returns the cancelled ids in submission order."""
        orders = self._orders
        if not orders:
            return []
        ids = list(orders)
        orders.clear()
        self._buys.clear()
        self._sells.clear()
        self._best_buy = _NO_BUY
        self._best_sell = _NO_SELL
        self.open_buy_qty_1e8 = 0
        self.open_sell_qty_1e8 = 0
        return ids

    # ------------------------------------------------------------------------------------------
    # the price-sorted lists of live orders (few orders per algo: linear inserts are fastest)

    def _list(self, o: Order) -> None:
        p = o.price_1e9
        if o.side == BUY:
            lst = self._buys
            i = 0
            while i < len(lst) and lst[i].price_1e9 >= p:
                i += 1
            lst.insert(i, o)
            self._best_buy = lst[0].price_1e9
        else:
            lst = self._sells
            i = 0
            while i < len(lst) and lst[i].price_1e9 <= p:
                i += 1
            lst.insert(i, o)
            self._best_sell = lst[0].price_1e9

    def _unlist(self, o: Order) -> None:
        if o.side == BUY:
            self._buys.remove(o)
            self._best_buy = self._buys[0].price_1e9 if self._buys else _NO_BUY
        else:
            self._sells.remove(o)
            self._best_sell = self._sells[0].price_1e9 if self._sells else _NO_SELL
