"""One algo on one symbol of one venue, `AlgoSlot`: its lifecycle (start, stop, pause, rebuild after a
trap, a position carried over), the book updates and (routed) the venue's answers it hands to its
core, and the ports it talks through (`SlotSink`, `OrderRouter`, `VenuePort`). What the core
reports is decoded by its base, `edges.dispatch.decoding.SlotOutput`."""

from __future__ import annotations

import enum
from time import perf_counter_ns
from typing import Any, Protocol

from edges.core.instance import (
    A_COST,
    A_REALIZED,
    A_SESSION_REALIZED,
    MAX_QUEUED_EVENTS,
    PAUSE_FLAG,
    S_FEES,
    S_FILLS,
    S_NOW,
    S_ORDERS,
    S_POSITION,
    S_REJECTS,
    S_SESSION_FEES,
    S_TRADES,
    S_UPDATES,
    ST_ACCEPTED,
    ST_PAUSED,
    AlgoCore,
)
from edges.dispatch.decoding import SlotOutput
from edges.dispatch.positions import CarriedPosition, Q, SlotPositions, set_i128
from edges.runtime import AlgoLoadError, AlgoTrap, CompiledAlgo, RuntimeLimits
from venues.book import BookSnapshot, DepthShape
from venues.instruments import Instrument

SELF_TRADING_REASON = f"over {MAX_QUEUED_EVENTS} fills/rejects after one callback: trading with itself?"
_LATENCY_WINDOW = 4096


class SlotState(enum.StrEnum):
    ACCEPTED = "accepted"  # loaded, not trading
    RUNNING = "running"
    PAUSED = "paused"  # paused by the edge (trap, limit); pause_reason says why
    REJECTED = "rejected"  # could not be loaded


class SlotSink(Protocol):
    """Where a slot's log lines and traces go (the edge buffers them; a backtest keeps them)."""

    def log(self, slot: AlgoSlot, ts_ns: int, level: str, message: str) -> None: ...

    def trace(self, slot: AlgoSlot, record: dict[str, Any]) -> None: ...


class OrderRouter(Protocol):
    """Where a routed (live) slot's order actions go: called after a call into the core (or when
    its record buffer fills up during one), so it must only take note; the edge sends them."""

    def place(
        self, slot: AlgoSlot, order_id: int, side: int, price_1e9: int, qty_1e8: int, ts_ns: int
    ) -> None: ...

    def cancel(self, slot: AlgoSlot, order_id: int, ts_ns: int) -> None: ...


class VenuePort(Protocol):
    """What a slot needs from its venue: the instrument and the paper-matching settings of an
    (account, symbol): MatchingEngine keyword arguments (rng_seed, fill_prob_at_touch, risk limits),
    and its event time (`now_ns`, where a new instance's on_init runs). SimVenueAdapter implements
    it; so does the backtest's venue."""

    now_ns: int

    def instrument(self, symbol: str) -> Instrument: ...

    def engine_settings(self, symbol: str, *, account: str) -> dict[str, Any]: ...


_RUNNING = SlotState.RUNNING


class AlgoSlot(SlotOutput):
    """One algo on one symbol: its AlgoCore, lifecycle, log lines and traces."""

    __slots__ = (
        "key",
        "symbol",
        "venue",
        "account",
        "compiled",
        "limits",
        "sink",
        "core",
        "positions",
        "state",
        "pause_reason",
        "latencies",
        "last_latency_ns",
        "started_ts_ns",
        "instrument",
        "_settings",
        "_trace_every_ns",
        "_next_order_id",
        "_zero",
        "_bshape",
        "_bshape_index",
        "_ashape",
        "_ashape_index",
        "router",
        "_store",
    )

    def __init__(
        self,
        *,
        key: Any,
        symbol: str,
        venue: VenuePort,
        account: str,
        compiled: CompiledAlgo,
        sink: SlotSink,
        limits: RuntimeLimits | None = None,
        trace_every_ns: int = 1_000_000_000,
        next_order_id: int = 1,
        router: OrderRouter | None = None,
        store: Any = None,
    ) -> None:
        self.key = key
        # A replay's symbols share one wasmtime store (edges.core.instance.shared_store), so one
        # core can drive them all; None: a store of its own.
        self._store = store
        # Live: the algo's place/cancel actions are handed to `router` instead of paper-matched in
        # its core, and the venue's answers come back through route_fill/route_end.
        self.router = router
        self.symbol = symbol
        self.venue = venue
        self.account = account
        self.compiled = compiled
        self.limits = limits
        self.sink = sink
        self.instrument = venue.instrument(symbol)
        self._settings = venue.engine_settings(symbol, account=account)
        self._trace_every_ns = trace_every_ns
        self._next_order_id = next_order_id
        self._zero = [0] * 128
        self.core: AlgoCore | None = None
        self.positions = SlotPositions(self)
        self.state = SlotState.ACCEPTED
        self.pause_reason: str | None = None
        self.latencies: list[int] = []
        self.last_latency_ns = 0
        self.started_ts_ns = 0
        self._tracing = 0
        self._trace_logs: list[str] = []
        self._trace_t0 = 0
        self._reject_qty: dict[int, int] = {}  # order id -> qty of a refusal drained mid-callback
        # Called with each fill record (the backtest's trade list): (ts_ns, order_id, side,
        # price_1e9, qty_1e8, fee_1e9, taker, net_realized_1e9, position_after_1e8).
        self.fill_observer: Any = None
        self._pending: list[tuple[int, int, int, str]] = []  # the algo's log lines of this call
        self._bshape_index = self._ashape_index = -2  # the last depth shapes' index in the core
        self._load(None)

    # -- lifecycle -----------------------------------------------------------------------------
    def _load(self, carried: Any) -> None:
        try:
            core = AlgoCore(
                self.compiled,
                self.instrument,
                limits=self.limits,
                trace_every_ns=self._trace_every_ns,
                next_order_id=self._next_order_id,
                log=self._log_line,
                on_events=self._drain_output,
                on_trace=self._trace,
                routed=self.router is not None,
                store=self._store,
                **self._settings,
            )
        except AlgoLoadError as exc:
            self.state, self.pause_reason = SlotState.REJECTED, str(exc)
            return
        if carried is not None:
            core.adopt_state(carried)
        # on_init runs at the venue's event time: its now_ns() and its log lines carry it (not 0),
        # and so do the lines of a start function, logged while the core was being built.
        now = max(int(core.G[S_NOW]), int(self.venue.now_ns))
        core.G[S_NOW] = now
        self._pending = [(n, ts or now, level, text) for n, ts, level, text in self._pending]
        self.core = core
        # A new core has its own shape table.
        self._bshape: DepthShape | None = None
        self._ashape: DepthShape | None = None
        try:
            core.call_init()
        except AlgoTrap as trap:
            self.pause(trap.reason)
            return
        self._drain_output()  # on_init's (and a start function's) log lines

    @property
    def update_count(self) -> int:
        core = self.core
        return int(core.G[S_UPDATES]) if core is not None else 0

    def start(self, ts_ns: int) -> None:
        """Start (or re-arm after a pause: a trapped instance is rebuilt, its memory may be torn;
        positions, PnL and counters carry over)."""
        if self.state is SlotState.REJECTED:
            return
        core = self.core
        if core is None or core.trapped:
            carried = core.carried_state() if core is not None else None
            if core is not None:
                core.close()
            self.core = None
            self.state = SlotState.ACCEPTED
            self._load(carried)
            if self.state is not SlotState.ACCEPTED or self.core is None:
                return
            core = self.core
        self.pause_reason = None
        core.start(ts_ns)
        self.started_ts_ns = ts_ns
        self.state = SlotState.RUNNING

    def stop(self) -> None:
        """Stop trading; position and PnL are kept. Resting orders are cancelled: a stopped algo
        must not get filled while it cannot react."""
        if self.state is SlotState.RUNNING:
            if self.core is not None:
                self.core.halt(ST_ACCEPTED)
                if self.router is not None:
                    self._drain_output()  # the cancels of its open orders, to the venue
            self.state = SlotState.ACCEPTED

    def pause(self, reason: str) -> None:
        self._drain_output()
        core = self.core
        now = 0
        if core is not None:
            now = int(core.G[S_NOW])
            core.halt(ST_PAUSED)
            if self.router is not None:
                self._drain_output()  # the cancels of its open orders, to the venue
        self.state = SlotState.PAUSED
        self.pause_reason = reason
        self.sink.log(self, now, "ERROR", f"algo paused: {reason}")

    def close(self) -> None:
        core = self.core
        if core is not None:
            core.halt(ST_ACCEPTED)
            if self.router is not None:
                self._drain_output()  # the cancels of its open orders, to the venue
            core.close()
            self.core = None

    def restore_position(self, carried: CarriedPosition) -> None:
        """Continue from a known position and PnL; the counters start afresh. Call it before the
        first update."""
        core = self.core
        if core is None:
            return
        G = core.G
        G[S_POSITION] = carried.position_1e8
        set_i128(G, A_COST, carried.avg_entry_price_1e9 * carried.position_1e8)
        set_i128(G, A_REALIZED, carried.realized_pnl_1e9 * Q)
        set_i128(G, A_SESSION_REALIZED, carried.session_realized_pnl_1e9 * Q)
        G[S_FEES] = G[S_SESSION_FEES] = 0

    def restore_counters(self, *, updates: int, orders: int, fills: int, rejects: int, trades: int) -> None:
        """Continue the counters of an earlier process's report (call before the first update), so
        the dashboard and the API never see them go backwards."""
        core = self.core
        if core is None:
            return
        G = core.G
        G[S_UPDATES], G[S_ORDERS], G[S_FILLS], G[S_REJECTS], G[S_TRADES] = (
            updates,
            orders,
            fills,
            rejects,
            trades,
        )

    def open_orders(self) -> list[tuple[int, int, int, int, int, bool]]:
        """(order_id, side, price_1e9, qty_1e8, leaves_1e8, dormant) of each open order."""
        return self.core.open_orders() if self.core is not None else []

    # -- events from the venue -----------------------------------------------------------------
    def on_book(self, snap: BookSnapshot) -> None:
        """Hand one book update to the algo's core (matching, on_book, fills, timer)."""
        core = self.core
        if core is None:
            return
        try:
            bids, asks = snap._bids, snap._asks
        except AttributeError:  # built through object.__new__ without levels: the properties build them
            bids = asks = None
        t0 = perf_counter_ns()  # the algo's latency: the book handed to its core, through its answer
        try:
            if bids is not None and asks is not None:  # a live or recorded book: explicit depth
                r = core.on_book_levels(
                    snap.ts_ns, snap.bid_px, snap.bid_qty, snap.ask_px, snap.ask_qty, bids, asks
                )
                if isinstance(r, tuple):  # one C call answers a failure instead of raising it
                    raise core.book_failure(r)
            else:
                bshape, ashape = self._shapes(core, snap)
                r = core.on_book(
                    snap.ts_ns, snap.bid_px, snap.bid_qty, snap.ask_px, snap.ask_qty, bshape, ashape
                )
        except AlgoTrap as trap:
            self._trapped(trap)
            return
        latency = perf_counter_ns() - t0
        if self.state is _RUNNING:
            self.last_latency_ns = latency
            if len(self.latencies) < _LATENCY_WINDOW:
                self.latencies.append(latency)
        if r or self._pending:
            self._drain_output()
            if r & PAUSE_FLAG and self.state is _RUNNING:
                self.pause(SELF_TRADING_REASON)

    def _shapes(self, core: AlgoCore, snap: BookSnapshot) -> tuple[int, int]:
        """The core's depth-shape indices of a simulator snapshot (-1 for a side given as levels,
        which are then written as explicit depth)."""
        try:
            if snap._bids is None:
                shape = snap._bshape
                if shape is self._bshape:
                    bshape = self._bshape_index
                else:
                    bshape = self._bshape_index = core.shape_index(shape, True)
                    self._bshape = shape
            else:
                bshape = -1
            if snap._asks is None:
                shape = snap._ashape
                if shape is self._ashape:
                    ashape = self._ashape_index
                else:
                    ashape = self._ashape_index = core.shape_index(shape, False)
                    self._ashape = shape
            else:
                ashape = -1
        except AttributeError:  # a snapshot built from explicit levels
            bshape = ashape = -1
        if bshape == -1 or ashape == -1:
            core.set_levels(snap.bids, snap.asks)
        return bshape, ashape

    # -- the venue's answers (routed slots) -------------------------------------------------------
    def route_fill(
        self, order_id: int, side: int, price_1e9: int, qty_1e8: int, fee_1e9: int, taker: bool, ts_ns: int
    ) -> None:
        """A venue fill of one of this slot's orders: position and PnL, the fill's log line, on_fill
        (when running). Each fill must come here once (the edge keys them by the venue's fill id)."""
        core = self.core
        if core is None:
            return
        try:
            r = core.route_fill(order_id, side, price_1e9, qty_1e8, fee_1e9, taker, ts_ns)
        except AlgoTrap as trap:
            self._trapped(trap)
            return
        self._after_route(r)

    def route_end(self, order_id: int, reason_code: int, ts_ns: int) -> None:
        """An order ended at the venue unfilled: refused (`reason_code` > 0: on_reject) or
        cancelled/expired there (0)."""
        core = self.core
        if core is None:
            return
        try:
            r = core.route_end(order_id, reason_code, ts_ns)
        except AlgoTrap as trap:
            self._trapped(trap)
            return
        self._after_route(r)

    def _after_route(self, r: int) -> None:
        if r or self._pending:
            self._drain_output()
            if r & PAUSE_FLAG and self.state is _RUNNING:
                self.pause(SELF_TRADING_REASON)

    def _trapped(self, trap: AlgoTrap) -> None:
        core = self.core
        if core is not None:
            self._drain_output()
            if self._tracing:
                self._finish_trace(trap)
        self.pause(trap.reason)

    # -- reporting -----------------------------------------------------------------------------
    def take_latency_p50(self) -> int:
        """Median callback latency since the last call (the last one seen when there was none)."""
        samples = self.latencies
        if not samples:
            return self.last_latency_ns
        samples.sort()
        median = samples[len(samples) // 2]
        self.latencies = []
        return median
