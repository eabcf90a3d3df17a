"""The edge's side of execution graphs: work the orders the database wants on this venue.

Each reconcile pass hands `GraphOrders.apply` the venue's open orders (desired state); new ones
are placed in the simulated venue, each under its own account (so its matching engine lives
exactly as long as the order and is then released), cancelled ones taken down. Fills arrive
through the adapter's fill callback on the tick path, where they are only appended to a list;
`flush` reports them (and the order states) through the trading service, off the tick path, and
keeps them for the next flush if the database is unreachable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from venues.matching import BUY, SELL, Fill
from venues.rejects import reject_reason
from venues.sim.adapter import SimVenueAdapter

ACCOUNT_PREFIX = "graph-order-"


class _Held:
    __slots__ = ("pk", "symbol", "account", "base_filled_1e8", "filled_1e8")

    def __init__(self, pk: int, symbol: str, base_filled_1e8: int) -> None:
        self.pk = pk
        self.symbol = symbol
        self.account = f"{ACCOUNT_PREFIX}{pk}"
        self.base_filled_1e8 = base_filled_1e8
        self.filled_1e8 = 0


class GraphOrders:
    """Orders of execution graphs held by one edge (one venue, one mode)."""

    def __init__(self, adapter: SimVenueAdapter) -> None:
        self.adapter = adapter
        self.held: dict[int, _Held] = {}
        # Orders this edge finished (filled, cancelled, rejected) whose report the database has not
        # applied yet: while it still lists them as open they must not be placed again.
        self.finished: set[int] = set()
        self._release: list[tuple[str, str]] = []
        self.updates: list[Any] = []  # trading.services.OrderUpdate
        self.fills: list[Any] = []  # trading.services.FillReport

    @staticmethod
    def owns(account: str) -> bool:
        return account.startswith(ACCOUNT_PREFIX)

    # -- reconcile (control path) ----------------------------------------------------------------
    def apply(self, open_orders: Sequence[Any]) -> None:
        """Converge on the database's open orders (`trading.selectors.OpenOrder`)."""
        from trading.services import OrderUpdate

        wanted = {o.pk: o for o in open_orders}
        self.finished &= wanted.keys()
        for pk in [pk for pk in self.held if pk not in wanted]:
            self._take_down(pk)  # finished elsewhere: nothing of it may stay on the book
        for o in open_orders:
            if o.pk in self.finished:
                continue
            if o.desired_state == "cancel":
                if o.pk in self.held:
                    self._take_down(o.pk)
                self.finished.add(o.pk)
                self.updates.append(
                    OrderUpdate(order_pk=o.pk, status="cancelled", reason="cancelled by client")
                )
                continue
            if o.pk not in self.held:
                self._place(o)
        self._release_done()

    def _place(self, o: Any) -> None:
        from trading.services import OrderUpdate

        held = _Held(o.pk, o.symbol, o.filled_qty_1e8)
        self.held[o.pk] = held  # before submit: a crossing order's fills arrive inside submit
        side = BUY if o.side == "buy" else SELL
        res = self.adapter.submit(o.symbol, side, o.price_1e9, o.leaves_qty_1e8, o.pk, account=held.account)
        if not res.accepted:
            self._forget(o.pk)
            self.updates.append(
                OrderUpdate(
                    order_pk=o.pk,
                    status="rejected",
                    # The named reason with the venue's rule, as the algo logs and traces say it.
                    reason=reject_reason(
                        res.reason,
                        instrument=self.adapter.instrument(o.symbol),
                        price_1e9=o.price_1e9,
                        qty_1e8=o.leaves_qty_1e8,
                    ),
                )
            )
            return
        self.updates.append(OrderUpdate(order_pk=o.pk, status="working", dormant=res.dormant))

    def _take_down(self, pk: int) -> None:
        held = self.held.get(pk)
        if held is not None:
            self.adapter.cancel(held.symbol, pk, account=held.account)
            self._forget(pk)

    def _forget(self, pk: int) -> None:
        held = self.held.pop(pk)
        self.finished.add(pk)
        self._release.append((held.account, held.symbol))

    def _release_done(self) -> None:
        for account, symbol in self._release:
            self.adapter.release_account(account, symbol)
        self._release.clear()

    # -- fills (tick path: no database, no adapter mutation) ---------------------------------------
    def on_fill(self, account: str, fill: Fill) -> None:
        from trading.services import FillReport

        pk = int(account[len(ACCOUNT_PREFIX) :])
        held = self.held.get(pk)
        if held is None:
            return
        held.filled_1e8 += fill.qty_1e8
        self.fills.append(
            FillReport(
                order_pk=pk,
                side="buy" if fill.side == BUY else "sell",
                price_1e9=fill.price_1e9,
                qty_1e8=fill.qty_1e8,
                fee_1e9=fill.fee_1e9,
                liquidity=fill.liquidity,
                ts_ns=fill.ts_ns,
                filled_after_1e8=held.base_filled_1e8 + held.filled_1e8,
            )
        )
        if fill.leaves_qty_1e8 == 0:
            # Released later (`_release_done`): the adapter may be iterating its engines right now.
            self._forget(pk)

    # -- report (control path) --------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        return bool(self.updates or self.fills or self._release)

    def flush(self, report: Callable[..., Any]) -> None:
        """Send what happened since the last flush; on failure it stays for the next one."""
        self._release_done()
        if not self.updates and not self.fills:
            return
        report(updates=list(self.updates), fills=list(self.fills))
        self.updates.clear()
        self.fills.clear()
