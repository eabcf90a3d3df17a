"""The live edge's order half: send the clients' live orders to the venue with their own
credentials, cancel them, and bring their fills back (docs/trading-live.md).

The database is the outbox. An order row (with its `client_order_id`) is committed by the trading
services before this module sees it; each pass here:

1. asks the venue, per client with open orders, for its recent fills and open orders;
2. reports the fills (counted once by the venue's fill id: ``Fill.fill_id`` is unique);
3. sends each order nobody claimed yet: first a conditional update sets ``sent_at`` (so a cancel
   or the kill switch that got there first wins, and nothing is sent twice by two passes), then
   `OrderClient.place`; the venue's answer is reported through `trading.services.orders_report`;
4. an order claimed by an earlier process that died before its answer was recorded (``sent_at``
   set, no venue order id) is looked up at the venue by its client order id: adopted when the
   venue has it (open or with fills), sent now when it does not;
5. cancels what is desired ``cancel``; an order that vanished from the venue's open orders for two
   passes without filling is reported cancelled with the venue's silence as the reason;
6. reports venue orders that no order of ours explains (never adopted, never cancelled by us).

The calls are synchronous and run on the edge's control path. Live algos' orders are rows of the
same outbox (`edges.live_algos` persists each one and sends it at once through `send_new`, cancels
through `cancel_now`); these passes reconcile them like any other.

Each client's private user stream (`OrderClient.user_stream()`, `_UserStream` below) runs in a
thread of its own and only tells the control path that something happened: the pass then runs at
once for that venue. Fills from a stream whose fill ids are the ones `recent_fills()` gives
(Kraken) are reported straight away; the others arrive through the pass. Passes every
LIVE_ORDER_POLL_SECONDS remain the fallback and the reconcile.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from venues.instruments import PRICE_SCALE, QTY_SCALE
from venues.orders import OrderClient, OrderError, OrderRequest, VenueFill, VenueOrder

logger = logging.getLogger(__name__)

# Fault injection for the crash tests (tests/live/test_live_crash.py): the process kills itself
# (SIGKILL, no cleanup) at that point of sending an order. Never set in production.
CRASH_POINT_ENV = "SEQUENCE_LIVE_CRASH_POINT"  # "before_send" | "after_send"
FILLS_LOOKBACK_NS = 600 * 1_000_000_000  # fills are asked for since the oldest open order, minus this
# An order that ended by our cancel (or at the venue) may still have a fill on the way: one that
# crossed the cancel, or that the venue's fill history shows a little late. The client's fills keep
# being read for this long after, though the order is no longer open.
LATE_FILLS_NS = 30 * 1_000_000_000
# A send whose outcome is unknown (timeout, 5xx, crash) may still be in flight to the venue: while
# the venue does not show it, it is sent again (or, desired cancel, reported cancelled) only once it
# was missing from at least two lookups this long apart.
UNSURE_RECHECK_NS = 2 * 1_000_000_000


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_POINT_ENV) == name:
        logger.warning("crash point %s: killing this process", name)
        os.kill(os.getpid(), signal.SIGKILL)


class _Session:
    def __init__(self, client_id: int, client: OrderClient, version: float) -> None:
        self.client_id = client_id
        self.client = client
        self.version = version
        self.reconciled = False
        self.unknown: list[dict[str, Any]] | None = None
        self.gone: set[int] = set()  # order pks missing from the venue's open orders last pass
        # unknown-outcome sends the venue did not show: order pk -> when first missed
        self.missing: dict[int, int] = {}
        # client order id -> order pk reported cancelled without the venue ever showing it: if it
        # shows up later (it was in flight), it is cancelled there
        self.ghosts: dict[str, int] = {}
        self.stream: _UserStream | None = None  # the client's private stream, where the venue has one
        self.auth_failures = 0  # passes in a row the venue refused the credentials
        # fills are still read until `late_fills_until_ns` (an order ended at `late_fills_from_ns`)
        self.late_fills_from_ns = 0
        self.late_fills_until_ns = 0

    def watch_late_fills(self) -> None:
        now = time.time_ns()
        if not self.watching_late_fills():
            self.late_fills_from_ns = now
        self.late_fills_until_ns = now + LATE_FILLS_NS

    def watching_late_fills(self) -> bool:
        return self.late_fills_until_ns >= time.time_ns()


def _d(value: int, scale: int) -> Decimal:
    return Decimal(value) / scale


def _same_order(o: Any, candidates: list[VenueOrder]) -> VenueOrder | None:
    """The venue order among `candidates` (open, unexplained, without a client order id) that is
    order `o` sent by a process that died before recording the venue's answer: same symbol,
    side, price and quantity, nothing filled yet. Taken out of `candidates` (one venue order
    explains one of ours). A venue that echoes no client order id (Polymarket) leaves nothing
    better: without this, the order would be sent a second time."""
    for v in candidates:
        if (
            v.symbol == o.symbol
            and v.side == o.side
            and v.price * PRICE_SCALE == o.price_1e9
            and v.qty * QTY_SCALE == o.qty_1e8
            and not v.filled_qty
        ):
            candidates.remove(v)
            return v
    return None


# A crashed send's fills start at most this long before the claim was recorded (clocks differ).
_CLAIM_SLACK_NS = 5 * 1_000_000_000


def _same_fills(o: Any, groups: list[list[VenueFill]]) -> str | None:
    """The venue order id of the fills among `groups` (one venue order each, unexplained) that
    are order `o`'s, sent by a process that died (or lost the venue's answer) before recording
    the venue order id: same symbol and side, at prices its limit allows, no more than its
    quantity, after it was claimed. Taken out of `groups`. A match that is not ours only means
    ours is not sent (the safe way); a miss would send it a second time."""
    for group in groups:
        qty = sum((f.qty for f in group), Decimal(0))
        if (
            all(
                f.symbol == o.symbol
                and f.side == o.side
                and (
                    f.price * PRICE_SCALE <= o.price_1e9
                    if o.side == "buy"
                    else f.price * PRICE_SCALE >= o.price_1e9
                )
                and f.ts_ns >= (o.sent_at_ns or 0) - _CLAIM_SLACK_NS
                for f in group
            )
            and qty * QTY_SCALE <= o.qty_1e8
        ):
            groups.remove(group)
            return group[0].venue_order_id
    return None


class LiveOrders:
    """Live orders of one venue, every client (the live edge of that venue)."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.sessions: dict[int, _Session] = {}
        self.inflight: dict[int, str] = {}  # pk -> venue order id acknowledged, report not applied yet
        self.finished: set[int] = set()  # pks reported done (cancelled/rejected), not applied yet
        self.seen_fills: set[str] = set()
        self.foreign_fills: set[str] = set()  # fills no order of ours explains (warned once)
        self.updates: list[Any] = []  # trading.services.OrderUpdate
        self.fills: list[Any] = []  # trading.services.FillReport
        self.started = False
        # The edge loop's wake event (EdgeRunner sets it): a private stream's event ends its sleep.
        self.wakeup: Any = None

    # -- sessions ---------------------------------------------------------------------------------
    def _session(self, client_id: int) -> _Session | None:
        from trading.credentials import order_client, venue_credentials_open

        opened = venue_credentials_open(client_id=client_id, venue=self.venue)
        held = self.sessions.get(client_id)
        if opened is None:
            if held is not None:
                self._end(held)
                del self.sessions[client_id]
            return None
        credentials, version = opened
        if held is not None and held.version == version:
            return held
        if held is not None:
            self._end(held)
        session = _Session(client_id, order_client(self.venue, credentials), version)
        self.sessions[client_id] = session
        self._start_stream(session)
        return session

    def _start_stream(self, session: _Session) -> None:
        """The client's private stream of fills and order updates, where the venue's order client
        offers one (Kraken `executions`, Coinbase `user`, ...): it makes a fill arrive at once;
        the passes every LIVE_ORDER_POLL_SECONDS stay as the fallback and the reconcile."""
        try:
            protocol = session.client.user_stream()
        except Exception:  # a client that cannot build its stream still trades by polling
            logger.exception("%s user stream for client %s could not be built", self.venue, session.client_id)
            return
        if protocol is None:
            return
        session.stream = _UserStream(
            session.client_id, protocol, self.wakeup, name=f"user-stream-{self.venue}-{session.client_id}"
        ).start()

    @staticmethod
    def _end(session: _Session) -> None:
        if session.stream is not None:
            session.stream.stop()
            session.stream = None
        session.client.close()

    def close(self) -> None:
        for session in self.sessions.values():
            self._end(session)
        self.sessions.clear()

    def stream_status(self) -> dict[str, int]:
        """The private streams at a glance, for the edge's report (counts only: the edge registry
        is not per client)."""
        streams = [s.stream for s in self.sessions.values() if s.stream is not None]
        return {
            "clients": len(streams),
            "connected": sum(1 for s in streams if s.connected),
            "connects": sum(s.connects for s in streams),
        }

    def poked(self) -> bool:
        """A private stream heard something since the last pass (a fill, an order change, a
        reconnect): the edge runs a pass now instead of at the next poll."""
        return any(s.stream is not None and not s.stream.events.empty() for s in self.sessions.values())

    def _drain_streams(self) -> set[int]:
        """Take what the streams heard. Fills whose ids are the ones `recent_fills()` gives
        (`fill_ids_match_recent_fills` on the protocol: Kraken's exec_id is the trade id) are
        reported now; every event makes the client's pass run (Coinbase's `user` channel carries
        no fill id at all, so its fills always come through `recent_fills()`)."""
        poked: set[int] = set()
        for client_id, session in self.sessions.items():
            if session.stream is None:
                continue
            events = session.stream.drain()
            if not events:
                continue
            poked.add(client_id)
            fills = [e for e in events if isinstance(e, VenueFill)]
            if fills and getattr(session.stream.protocol, "fill_ids_match_recent_fills", False):
                self._report_fills(session, fills)
        return poked

    # -- one pass (control path) ----------------------------------------------------------------------
    def apply(self, open_orders: Sequence[Any]) -> None:
        """Converge on the database's open live orders (`trading.selectors.LiveOpenOrder`)."""
        from trading.models import VenueCredential

        wanted = {o.pk for o in open_orders}
        poked = self._drain_streams()
        self.finished &= wanted
        self.inflight = {pk: v for pk, v in self.inflight.items() if pk in wanted}
        by_client: dict[int, list[Any]] = {}
        for o in open_orders:
            by_client.setdefault(o.client_id, []).append(o)
        if not self.started:
            # After a (re)start: reconcile every connected client once, open orders or not, so
            # what rests at the venue unexplained is reported.
            for client_id in VenueCredential.objects.filter(venue=self.venue).values_list(
                "client_id", flat=True
            ):
                by_client.setdefault(client_id, [])
            self.started = True
        for client_id in poked:
            by_client.setdefault(client_id, [])
        for client_id, held in self.sessions.items():
            if held.watching_late_fills():
                by_client.setdefault(client_id, [])
        for client_id, orders in by_client.items():
            session = self._session(client_id)
            if session is None:
                self._no_credentials(orders)
                continue
            if (
                not orders
                and session.reconciled
                and client_id not in poked
                and not session.watching_late_fills()
            ):
                continue
            try:
                self._work(session, orders)
                session.reconciled = True
                session.auth_failures = 0
            except OrderError as exc:
                logger.warning(
                    "%s refused a read for client %s: %s: %s",
                    self.venue,
                    client_id,
                    exc.code,
                    exc.venue_message,
                )
                if exc.code == "auth_failed":
                    session.auth_failures += 1
                    # twice in a row (one stale nonce is not a revoked key): the orders not sent
                    # yet never will be with these credentials; say so on them
                    if session.auth_failures >= 2:
                        self._refuse_unsent(orders, exc)
                continue
            except (OSError, TimeoutError) as exc:
                logger.warning(
                    "%s unreachable for client %s (%s); next pass", self.venue, client_id, type(exc).__name__
                )

    def _refuse_unsent(self, orders: list[Any], exc: OrderError) -> None:
        from trading.services import OrderUpdate

        for o in orders:
            if o.pk in self.finished or o.venue_order_id or o.sent_at_ns is not None:
                continue  # one that may be at the venue stays open until it can be checked
            self.finished.add(o.pk)
            working = o.desired_state == "working"
            self.updates.append(
                OrderUpdate(
                    order_pk=o.pk,
                    status="rejected" if working else "cancelled",
                    reason=f"{exc.code}: {self.venue} refused the credentials; reconnect with "
                    f"`sequence connect {self.venue}` ({exc.venue_message})",
                    error_code=exc.code,
                    venue_message=exc.venue_message,
                )
            )

    def _no_credentials(self, orders: list[Any]) -> None:
        from trading.services import OrderUpdate

        for o in orders:
            if o.pk in self.finished or o.venue_order_id or o.sent_at_ns is not None:
                continue  # one sent already stays open until it can be cancelled
            self.finished.add(o.pk)
            self.updates.append(
                OrderUpdate(
                    order_pk=o.pk,
                    status="rejected" if o.desired_state == "working" else "cancelled",
                    reason=f"venue_not_connected: no {self.venue} credentials "
                    f"(sequence connect {self.venue})",
                    error_code="venue_not_connected",
                )
            )

    def _work(self, session: _Session, orders: list[Any]) -> None:
        from trading.services import OrderUpdate

        client = session.client
        late = session.watching_late_fills()
        starts = [o.created_at_ns for o in orders] + ([session.late_fills_from_ns] if late else [])
        since = min(starts, default=0) - FILLS_LOOKBACK_NS
        venue_fills = client.recent_fills(max(since, 0)) if orders or late or not session.reconciled else []
        venue_open = client.open_orders()
        open_by_coid = {v.client_order_id: v for v in venue_open if v.client_order_id}
        open_by_void = {v.venue_order_id: v for v in venue_open}
        filled_coids = {f.client_order_id for f in venue_fills if f.client_order_id}
        filled_by_void: dict[str, Decimal] = {}
        for f in venue_fills:
            filled_by_void[f.venue_order_id] = filled_by_void.get(f.venue_order_id, Decimal(0)) + f.qty

        self._report_fills(session, venue_fills)
        # Open venue orders that carry no client order id (Polymarket echoes none) and that no
        # order of ours explains: a crashed send is found among them by what it is.
        unechoed = self._unexplained(session, [v for v in venue_open if not v.client_order_id])
        filled_unechoed: list[list[VenueFill]] | None = None  # built when a crashed send needs it
        for v in venue_open:
            ghost = session.ghosts.pop(v.client_order_id or "", None)
            if ghost is None:
                continue
            logger.warning(
                "order %s (%s) reached %s after it was reported cancelled: cancelling it there",
                ghost,
                v.client_order_id,
                self.venue,
            )
            try:
                client.cancel(v.symbol, v.venue_order_id)
            except OrderError as exc:
                logger.warning("cancel of order %s refused: %s: %s", ghost, exc.code, exc.venue_message)
                session.ghosts[v.client_order_id or ""] = ghost  # tried again next pass
            session.watch_late_fills()

        for o in orders:
            if o.pk in self.finished:
                continue
            void = o.venue_order_id or self.inflight.get(o.pk, "")
            if not void and o.sent_at_ns is not None and o.pk not in self.inflight:
                # Claimed by a process that died before the venue's answer was recorded.
                found = open_by_coid.get(o.client_order_id)
                if found is None and o.client_order_id not in filled_coids:
                    found = _same_order(o, unechoed)
                taken = None
                if found is None and o.client_order_id not in filled_coids:
                    # Filled (no longer open) at a venue whose fills do not name the client order
                    # id (Coinbase, Kraken's history): found by its fills, never sent twice.
                    if filled_unechoed is None:
                        filled_unechoed = self._unexplained_fills(session, venue_fills)
                    taken = _same_fills(o, filled_unechoed)
                if found is not None or taken is not None or o.client_order_id in filled_coids:
                    void = (
                        found.venue_order_id
                        if found is not None
                        else taken
                        if taken is not None
                        else next(
                            f.venue_order_id for f in venue_fills if f.client_order_id == o.client_order_id
                        )
                    )
                    logger.info("order %s (%s) is at the venue as %s: adopted", o.pk, o.client_order_id, void)
                    session.missing.pop(o.pk, None)
                    self.inflight[o.pk] = void
                    self.updates.append(OrderUpdate(order_pk=o.pk, status="working", venue_order_id=void))
                elif time.time_ns() - session.missing.setdefault(o.pk, time.time_ns()) < UNSURE_RECHECK_NS:
                    continue  # may still be in flight: asked again next pass
                elif o.desired_state == "working":
                    session.missing.pop(o.pk, None)
                    logger.info(
                        "order %s (%s) never reached the venue: sending it now", o.pk, o.client_order_id
                    )
                    self._send(session, o)
                    continue
                else:
                    session.missing.pop(o.pk, None)
                    session.ghosts[o.client_order_id] = o.pk
                    session.watch_late_fills()
            if o.desired_state == "cancel":
                self._cancel(session, o, void)
                continue
            if not void:
                if o.sent_at_ns is None:
                    from trading.services import live_order_mark_sending

                    if live_order_mark_sending(order_pk=o.pk):
                        _crash_point("before_send")
                        self._send(session, o)
                continue
            # Working at the venue, as far as we know: gone from its open orders twice without
            # filling means the venue ended it (expired, cancelled by the venue or by hand).
            if void in open_by_void:
                session.gone.discard(o.pk)
            elif filled_by_void.get(void, Decimal(0)) * QTY_SCALE >= o.qty_1e8:
                session.gone.discard(o.pk)  # filled completely: its fills (reported) end it
            elif o.pk in session.gone:
                session.gone.discard(o.pk)
                session.watch_late_fills()
                self.finished.add(o.pk)
                self.updates.append(
                    OrderUpdate(
                        order_pk=o.pk,
                        status="cancelled",
                        reason=f"no longer open at {self.venue} (ended at the venue)",
                        venue_order_id=void,
                    )
                )
            else:
                session.gone.add(o.pk)
        self._report_unknown(session, venue_open)

    def _unexplained(self, session: _Session, venue_open: list[VenueOrder]) -> list[VenueOrder]:
        from trading.selectors import live_order_ids

        if not venue_open:
            return []
        ours = live_order_ids(
            venue=self.venue, client_id=session.client_id, ids=sorted(v.venue_order_id for v in venue_open)
        )
        held = set(self.inflight.values())
        return [v for v in venue_open if v.venue_order_id not in ours and v.venue_order_id not in held]

    def _unexplained_fills(self, session: _Session, venue_fills: list[VenueFill]) -> list[list[VenueFill]]:
        """The venue's fills that name no client order id and whose venue order no order of ours
        explains, grouped by venue order."""
        from trading.selectors import live_order_ids

        bare = [f for f in venue_fills if not f.client_order_id and f.venue_order_id]
        if not bare:
            return []
        ours = live_order_ids(
            venue=self.venue, client_id=session.client_id, ids=sorted({f.venue_order_id for f in bare})
        )
        held = set(self.inflight.values())
        groups: dict[str, list[VenueFill]] = {}
        for f in bare:
            if f.venue_order_id not in ours and f.venue_order_id not in held:
                groups.setdefault(f.venue_order_id, []).append(f)
        return list(groups.values())

    # -- at once (live algos: edges.live_algos) ---------------------------------------------------
    def send_new(self, session: _Session, o: Any) -> None:
        """Claim and send an order just persisted (a live algo's): what the venue said is in
        `updates` (and `inflight`/`finished`), as after a pass. Not claimed (cancelled meanwhile,
        or claimed by a pass): nothing is sent."""
        from trading.services import live_order_mark_sending

        if live_order_mark_sending(order_pk=o.pk):
            _crash_point("before_send")
            self._send(session, o)

    def cancel_now(self, session: _Session, o: Any) -> bool:
        """Cancel an order (desired ``cancel`` already) whose venue order id is known now; False
        when it is not (unanswered yet, or done): the next pass takes it."""
        void = o.venue_order_id or self.inflight.get(o.pk, "")
        if not void or o.pk in self.finished:
            return False
        self._cancel(session, o, void)
        return True

    def _send(self, session: _Session, o: Any) -> None:
        from trading.services import OrderUpdate

        request = OrderRequest(
            client_order_id=o.client_order_id,
            symbol=o.symbol,
            side=o.side,
            price=_d(o.price_1e9, PRICE_SCALE).normalize(),
            qty=_d(o.leaves_qty_1e8, QTY_SCALE).normalize(),
        )
        try:
            ack: VenueOrder = session.client.place(request)
        except OrderError as exc:
            if exc.code == "duplicate_client_order_id":
                # An open order already has this client order id: ours, sent earlier with an
                # unknown outcome. It is there: looked up again next pass, never taken for refused.
                logger.warning("order %s: %s already has it open; looked up next pass", o.pk, self.venue)
                return
            if exc.http_status is not None and exc.http_status >= 500:
                # The venue (or the gateway in front of it) failed after the request reached it:
                # the order may well be placed. As for an unreachable venue, sent_at stays set and
                # the next pass looks it up by its client order id (adopted, or sent then).
                logger.warning(
                    "order %s: %s answered HTTP %s while placing it; looked up next pass",
                    o.pk,
                    self.venue,
                    exc.http_status,
                )
                return
            self._rejected(o.pk, exc.code, exc.venue_message)
            return
        except (OSError, TimeoutError) as exc:
            # Unknown whether it reached the venue: sent_at stays set, so the next pass looks it
            # up by its client order id before anything is sent again.
            logger.warning(
                "order %s: %s unreachable while sending (%s)", o.pk, self.venue, type(exc).__name__
            )
            return
        _crash_point("after_send")
        if ack.state == "rejected":
            self._rejected(o.pk, "rejected", ack.venue_message or "rejected")
            return
        self.inflight[o.pk] = ack.venue_order_id
        self.updates.append(OrderUpdate(order_pk=o.pk, status="working", venue_order_id=ack.venue_order_id))

    def _rejected(self, pk: int, code: str, venue_message: str) -> None:
        from trading.services import OrderUpdate

        self.finished.add(pk)
        self.updates.append(
            OrderUpdate(
                order_pk=pk,
                status="rejected",
                reason=f"{code}: {venue_message}",
                error_code=code,
                venue_message=venue_message,
            )
        )

    def _cancel(self, session: _Session, o: Any, void: str) -> None:
        from trading.services import OrderUpdate

        if void:
            try:
                session.client.cancel(o.symbol, void)  # False: unknown or already done there
            except OrderError as exc:
                if exc.code != "unknown_order":
                    logger.warning("cancel of order %s refused: %s: %s", o.pk, exc.code, exc.venue_message)
                    return  # tried again next pass
            session.watch_late_fills()  # a fill may have crossed the cancel
        self.finished.add(o.pk)
        self.updates.append(
            OrderUpdate(order_pk=o.pk, status="cancelled", reason="cancelled by client", venue_order_id=void)
        )

    def _report_fills(self, session: _Session, venue_fills: list[VenueFill]) -> None:
        from trading.selectors import live_order_ids
        from trading.services import FillReport

        new = [f for f in venue_fills if f"{self.venue}:{f.venue_fill_id}" not in self.seen_fills]
        if not new:
            return
        ids = sorted({i for f in new for i in (f.client_order_id, f.venue_order_id) if i})
        pks = live_order_ids(venue=self.venue, client_id=session.client_id, ids=ids)
        # an order acknowledged in this process whose venue id is not applied to its row yet (a
        # crossing order fills in its ack; the report of the ack is still pending)
        pks.update({void: pk for pk, void in self.inflight.items() if void not in pks})
        for f in new:
            pk = pks.get(f.client_order_id or "") or pks.get(f.venue_order_id)
            fill_id = f"{self.venue}:{f.venue_fill_id}"
            if pk is None:
                if fill_id not in self.foreign_fills:
                    self.foreign_fills.add(fill_id)
                    logger.warning(
                        "fill %s of an order that is not ours (%s): not counted", fill_id, f.venue_order_id
                    )
                continue  # looked at again next pass: an order of ours may yet explain it
            self.seen_fills.add(fill_id)
            self.fills.append(
                FillReport(
                    order_pk=pk,
                    side=f.side,
                    price_1e9=int(f.price * PRICE_SCALE),
                    qty_1e8=int(f.qty * QTY_SCALE),
                    fee_1e9=int(f.fee * PRICE_SCALE),
                    liquidity=f.liquidity,
                    ts_ns=f.ts_ns,
                    filled_after_1e8=0,
                    fill_id=fill_id,
                )
            )

    def _report_unknown(self, session: _Session, venue_open: list[VenueOrder]) -> None:
        from trading.credentials import venue_unknown_orders_report
        from trading.selectors import live_order_ids

        ids = sorted({i for v in venue_open for i in (v.client_order_id, v.venue_order_id) if i})
        ours = live_order_ids(venue=self.venue, client_id=session.client_id, ids=ids)
        ours.update({void: pk for pk, void in self.inflight.items()})  # acknowledged or adopted
        unknown = [
            {
                "venue_order_id": v.venue_order_id,
                "client_order_id": v.client_order_id,
                "symbol": v.symbol,
                "side": v.side,
                "price": str(v.price),
                "qty": str(v.qty),
            }
            for v in venue_open
            if v.venue_order_id not in ours and (v.client_order_id or "") not in ours
        ]
        if unknown != session.unknown:
            if unknown:
                logger.warning(
                    "%d order(s) rest at %s for client %s that are not ours: reported, not adopted",
                    len(unknown),
                    self.venue,
                    session.client_id,
                )
            venue_unknown_orders_report(client_id=session.client_id, venue=self.venue, orders=unknown)
            session.unknown = unknown

    # -- report (control path) ----------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        return bool(self.updates or self.fills)

    def flush(self, report: Callable[..., Any]) -> Any:
        """Send what happened since the last flush; on failure it stays for the next one. Returns
        what `report` returned (None when there was nothing)."""
        if not self.updates and not self.fills:
            return None
        result = report(updates=list(self.updates), fills=list(self.fills))
        self.updates.clear()
        self.fills.clear()
        return result


class _UserStream:
    """One client's private venue stream (`OrderClient.user_stream()`), run over a WebSocket in a
    daemon thread of its own, with the feed's backoff (`venues.live.connection.Backoff`). It
    decides nothing: what it hears is queued for the control path (`LiveOrders.apply`), which
    wakes (`wakeup`) and reconciles that client at once. Polling stays the fallback."""

    def __init__(self, client_id: int, protocol: Any, wakeup: Any, *, name: str) -> None:
        import queue
        import threading

        from venues.live.connection import Backoff

        self.client_id = client_id
        self.protocol = protocol
        self.wakeup = wakeup  # a threading.Event of the edge's loop (or None)
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.backoff = Backoff(initial=0.5, maximum=30.0)
        self.connects = 0
        self.connected = False
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True, name=name)

    def start(self) -> _UserStream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _signal(self, event: Any) -> None:
        self.events.put(event)
        if self.wakeup is not None:
            self.wakeup.set()

    def _main(self) -> None:
        import asyncio

        try:
            asyncio.run(self._run())
        except Exception:  # never expected: polling carries on without the stream
            logger.exception("user stream of client %s crashed; polling only", self.client_id)

    async def _run(self) -> None:
        import asyncio
        import contextlib
        import time

        import websockets

        from venues.orders import StreamReconnect, StreamSend

        while not self._stop.is_set():
            healthy_at = opened_at = 0.0
            try:
                async with websockets.connect(
                    self.protocol.url(),
                    additional_headers=self.protocol.handshake_headers() or None,
                    open_timeout=10,
                    compression=None,
                    proxy=None,
                ) as ws:
                    # on_open may call the venue (Kraken's token): off the loop's thread
                    for frame in await asyncio.to_thread(self.protocol.on_open):
                        await ws.send(frame)
                    self.connects += 1
                    self.connected = True
                    healthy_at = opened_at = time.monotonic()
                    # after every (re)connect fills may have been missed: reconcile
                    self._signal(_CONNECTED)
                    silence = float(self.protocol.silence_s)
                    ping_every = self.protocol.ping_interval_s
                    next_ping = time.monotonic() + ping_every if ping_every else None
                    while not self._stop.is_set():
                        timeout = min(1.0, silence)
                        if next_ping is not None:
                            timeout = max(0.0, min(timeout, next_ping - time.monotonic()))
                        try:
                            data = await asyncio.wait_for(ws.recv(), timeout)
                        except TimeoutError:
                            if time.monotonic() - healthy_at > silence:
                                raise _StreamLost("silence") from None
                            if next_ping is not None and time.monotonic() >= next_ping:
                                frame = self.protocol.ping_frame()
                                if frame is not None:
                                    await ws.send(frame)
                                next_ping = time.monotonic() + ping_every
                            continue
                        healthy_at = time.monotonic()
                        for event in self.protocol.on_frame(data, time.time_ns()):
                            if isinstance(event, StreamSend):
                                await ws.send(event.frame)
                            elif isinstance(event, StreamReconnect):
                                raise _StreamLost(event.reason)
                            else:
                                self._signal(event)
            except _StreamLost as lost:
                self.last_error = lost.reason
            except Exception as exc:  # refused, closed, a token the venue would not give
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            self.connected = False
            if self._stop.is_set():
                break
            if opened_at and time.monotonic() - opened_at > 30:
                self.backoff.reset()  # it was up a while: this loss starts a fresh series
            logger.info("user stream of client %s lost (%s); reconnecting", self.client_id, self.last_error)
            delay = self.backoff.next()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._stop.wait, delay)

    def drain(self) -> list[Any]:
        import queue

        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out


class _StreamLost(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_CONNECTED = object()  # queued by a stream at each (re)connect
