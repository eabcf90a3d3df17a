"""Live algos: the order half of the algos on a live edge (docs/trading-live.md, docs/algo-abi.md).

A live algo's core runs in routed mode (edges/core: `C_ROUTED`): its place_order/cancel_order/
cancel_all are never paper-matched but handed out as records, which `AlgoSlot` passes to this
router. On the tick path the router only takes note; the edge's loop then calls `work()`, which,
for each action in the order the algo made them:

- place: runs the client's risk limits and persists the order (an outbox row of `trading.Order`
  with a client order id, `trading.services.live_algo_order_create`) in one transaction, then
  claims and sends it at once through the live edge's `LiveOrders` (the outbox code graphs use).
  A risk breach refuses it: the algo gets on_reject (RISK_LIMIT), a log line naming the rule and
  the figure, and is paused with pause_reason ``risk_limit`` (its other orders are cancelled).
  A venue refusal reaches on_reject with the ABI's nearest reason code and the venue's words in
  the log;
- cancel: desires ``cancel`` on the row and cancels at the venue at once when its venue order id
  is known (else the next pass of `LiveOrders` does, after looking the order up).

The venue's answers come back by the live edge's passes (`LiveOrders`: fills polled, counted once
by the venue's fill id, orders that ended at the venue): after each report to the database
`deliver()` hands the fills that were new to `AlgoSlot.route_fill` (position, PnL, on_fill) and
the ends to `AlgoSlot.route_end`.

A restarted edge's algo instance knows nothing of its predecessor's orders: when a live slot is
loaded, the deployment's open orders on that symbol are cancelled (never sent if unsent), and its
position and PnL are rebuilt from its fills in the database; fills of those older orders that
arrive later still reach it (on_fill with their old order id).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from edges.dispatch import AlgoSlot, CarriedPosition, SlotState
from edges.live_orders import LiveOrders
from venues.accounting import PositionBook

logger = logging.getLogger(__name__)

RISK_LIMIT = "risk_limit"  # the pause_reason of an algo a risk limit refused (spec status word)
# on_reject reason codes (docs/algo-abi.md) for what a venue's refusal means (venues.orders.ERROR_CODES)
R_BAD_PRICE, R_BAD_QTY, R_RISK, R_POST_ONLY, R_VENUE, R_CLOSED = 1, 2, 3, 4, 5, 7
_REASON_OF_ERROR = {
    "bad_tick": R_BAD_PRICE,
    "bad_lot": R_BAD_QTY,
    "below_minimum": R_BAD_QTY,
    "post_only_would_cross": R_POST_ONLY,
    "market_closed": R_CLOSED,
}
_SIDES = ("buy", "sell")


class _OrderView:
    """What `LiveOrders` reads of an order (`trading.selectors.LiveOpenOrder`'s fields it uses)."""

    __slots__ = ("pk", "client_order_id", "symbol", "side", "price_1e9", "leaves_qty_1e8", "venue_order_id")

    def __init__(self, order: Any) -> None:
        self.pk = order.pk
        self.client_order_id = order.client_order_id
        self.symbol = order.symbol
        self.side = order.side
        self.price_1e9 = order.price_1e9
        self.leaves_qty_1e8 = order.leaves_qty_1e8
        self.venue_order_id = order.venue_order_id


class LiveAlgoRouter:
    """The `OrderRouter` of every live algo slot of one live edge (one venue)."""

    def __init__(self, venue: str, live_orders: LiveOrders) -> None:
        self.venue = venue
        self.live = live_orders
        self.actions: list[tuple[bool, AlgoSlot, int, int, int, int, int]] = []
        self.failed: list[tuple[bool, AlgoSlot, int, int, int, int, int]] = []
        self.clients: dict[Any, int] = {}  # deployment uuid -> client id
        self.slots: dict[tuple[Any, str], AlgoSlot] = {}  # (deployment uuid, symbol) -> slot
        self.order_pks: dict[tuple[Any, str, int], int] = {}  # (deployment, symbol, algo id) -> pk
        self.refs: dict[int, tuple[Any, str, int]] = {}  # pk -> (deployment, symbol, algo id)
        self.views: dict[int, _OrderView] = {}

    # -- slots -----------------------------------------------------------------------------------
    def attach(self, slot: AlgoSlot, *, client_id: int) -> None:
        """A live slot was loaded: cancel what its deployment's earlier instance left open on this
        symbol and continue its position and PnL from its venue fills."""
        from trading.selectors import live_algo_fills
        from trading.services import live_algo_orders_cancel

        self.clients[slot.key] = client_id
        self.slots[(slot.key, slot.symbol)] = slot
        left = live_algo_orders_cancel(deployment_id=slot.key, symbol=slot.symbol)
        if left:
            logger.info("%s %s: %d order(s) of an earlier instance to cancel", slot.key, slot.symbol, left)
        book = PositionBook()
        for side, price, qty, fee in live_algo_fills(
            deployment_id=slot.key, venue=self.venue, symbol=slot.symbol
        ):
            book.on_fill(_SIDES.index(side), price, qty, fee)
        if book.fill_count:
            slot.restore_position(
                CarriedPosition(
                    position_1e8=book.position_1e8,
                    avg_entry_price_1e9=book.avg_entry_price_1e9,
                    realized_pnl_1e9=book.realized_pnl_1e9,
                    session_realized_pnl_1e9=0,
                )
            )

    def detach(self, slot: AlgoSlot) -> None:
        if self.slots.get((slot.key, slot.symbol)) is slot:
            del self.slots[(slot.key, slot.symbol)]

    # -- OrderRouter (called during and right after a call into a core: note only) ----------------
    def place(
        self, slot: AlgoSlot, order_id: int, side: int, price_1e9: int, qty_1e8: int, ts_ns: int
    ) -> None:
        self.actions.append((True, slot, order_id, side, price_1e9, qty_1e8, ts_ns))

    def cancel(self, slot: AlgoSlot, order_id: int, ts_ns: int) -> None:
        self.actions.append((False, slot, order_id, 0, 0, 0, ts_ns))

    @property
    def pending(self) -> bool:
        return bool(self.actions)

    # -- the edge's loop ---------------------------------------------------------------------------
    def work(self) -> None:
        """Persist and send the noted places, send the cancels, in the algos' order. Actions that
        these cause (a pause cancelling the other orders) are worked in the same call."""
        retry: list[tuple[bool, AlgoSlot, int, int, int, int, int]] = []
        while self.actions:
            actions, self.actions = self.actions, []
            for action in actions:
                is_place, slot, order_id, side, price, qty, ts = action
                try:
                    if is_place:
                        self._place(slot, order_id, side, price, qty, ts)
                    else:
                        self._cancel(slot, order_id)
                except Exception:
                    # The database or our own code failed (a venue's refusal or silence is handled
                    # inside): an order not persisted is refused to the algo, never left pending in
                    # its core; a cancel is tried again on the next round.
                    logger.exception("live algo %s %s: %s of order %s failed", slot.key, slot.symbol,
                                     "place" if is_place else "cancel", order_id)  # fmt: skip
                    if is_place and (slot.key, slot.symbol, order_id) not in self.order_pks:
                        slot.sink.log(slot, ts, "ERROR", f"order {order_id} not sent: internal error")
                        slot.route_end(order_id, R_VENUE, ts)
                    elif not is_place:
                        retry.append(action)
        self.failed.extend(retry)  # back in `actions` at the next live pass (`retry_failed`)

    def retry_failed(self) -> None:
        self.actions.extend(self.failed)
        self.failed.clear()

    def _place(self, slot: AlgoSlot, order_id: int, side: int, price: int, qty: int, ts: int) -> None:
        from trading.risk import RiskBreach
        from trading.services import live_algo_order_create

        if slot.state is not SlotState.RUNNING or slot.core is None:
            return  # stopped or paused since: its core cancelled the order already
        client_id = self.clients[slot.key]
        session = self.live._session(client_id)
        if session is None:
            slot.sink.log(
                slot,
                ts,
                "WARN",
                f"order {order_id} not sent: venue_not_connected: no {self.venue} credentials "
                f"(sequence connect {self.venue})",
            )
            slot.route_end(order_id, R_VENUE, ts)
            return
        try:
            order = live_algo_order_create(
                client_id=client_id,
                deployment_id=slot.key,
                venue=self.venue,
                symbol=slot.symbol,
                side=_SIDES[side],
                price_1e9=price,
                qty_1e8=qty,
                algo_order_id=order_id,
            )
        except RiskBreach as breach:
            slot.sink.log(slot, ts, "ERROR", f"order {order_id} refused: {breach.message}")
            slot.route_end(order_id, R_RISK, ts)
            if slot.state is SlotState.RUNNING:
                slot.pause(RISK_LIMIT)
            return
        key = (slot.key, slot.symbol, order_id)
        self.order_pks[key] = order.pk
        self.refs[order.pk] = key
        view = self.views[order.pk] = _OrderView(order)
        self.live.send_new(session, view)
        refused = next(
            (u for u in reversed(self.live.updates) if u.order_pk == order.pk and u.status == "rejected"),
            None,
        )
        if refused is not None:
            self._refused(slot, order_id, refused, ts)

    def _refused(self, slot: AlgoSlot, order_id: int, update: Any, ts: int) -> None:
        slot.sink.log(slot, ts, "WARN", f"order {order_id} refused by {self.venue}: {update.reason}")
        slot.route_end(order_id, _REASON_OF_ERROR.get(update.error_code, R_VENUE), ts)

    def _cancel(self, slot: AlgoSlot, order_id: int) -> None:
        from trading.services import live_algo_orders_cancel

        pk = self.order_pks.get((slot.key, slot.symbol, order_id))
        if pk is None:
            return  # refused before it was persisted: nothing at the venue
        live_algo_orders_cancel(order_pks=[pk])
        session = self.live._session(self.clients[slot.key])
        if session is not None:
            self.live.cancel_now(session, self.views[pk])

    # -- the venue's answers, after they were reported to the database ---------------------------------
    def deliver(self, updates: list[Any], result: Any) -> None:
        """Hand the fills the report recorded as new, and the orders that ended at the venue, to
        their algos' cores."""
        if result is None:
            return
        pks = [f.order_pk for f in result.new_fills] + [u.order_pk for u in updates]
        missing = [pk for pk in pks if pk not in self.refs]
        if missing:
            from trading.selectors import live_algo_order_refs

            for pk, found in live_algo_order_refs(pks=missing).items():
                self.refs[pk] = (found.deployment_id, found.symbol, found.algo_order_id)
        now = time.time_ns()
        for f in result.new_fills:
            ref = self.refs.get(f.order_pk)
            slot = self.slots.get(ref[:2]) if ref is not None else None
            if ref is None or slot is None:
                continue
            taker = f.liquidity == "taker"
            slot.route_fill(ref[2], _SIDES.index(f.side), f.price_1e9, f.qty_1e8, f.fee_1e9, taker, f.ts_ns)
        for u in updates:
            if u.status not in ("rejected", "cancelled"):
                continue
            ref = self.refs.get(u.order_pk)
            slot = self.slots.get(ref[:2]) if ref is not None else None
            if ref is None or slot is None:
                continue
            if u.status == "rejected":
                if slot.core is not None and any(o[0] == ref[2] for o in slot.open_orders()):
                    self._refused(slot, ref[2], u, now)
            else:
                slot.route_end(ref[2], 0, now)  # ended at the venue (or by our cancel: then a no-op)
