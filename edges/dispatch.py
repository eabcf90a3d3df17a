"""One algo on one symbol of one venue: its host and the dispatch of book updates to it. No Django,
no wall clock in what the algo sees (event time only), so the edge worker and the backtest replay
run algos through exactly this code.

The per-update work happens in wasm: an `AlgoCore` (edges/core) links the algo with seqcore, which
serves the algo's imports, matches its paper orders against the book, keeps positions and PnL and
calls the algo's callbacks. Flow of one book update, inside one call into the core: all resting
orders are matched against the new book and then their fills reach on_fill, on_book runs, and
on_timer when due; the fills and rejects of orders placed in a callback are delivered right after
it (queued: no callback re-enters another). This module turns what the core reports (fills,
rejects, traced actions, the algo's log lines) into log lines and traces, after the call, and owns
the lifecycle (start, stop, pause, rebuild after a trap, a position carried over).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any, Protocol

from edges.core.instance import (
    A_COST,
    A_NOTIONAL,
    A_REALIZED,
    A_SESSION_REALIZED,
    ACT_CANCEL,
    ACT_CANCEL_ALL,
    ACT_PLACE,
    CALLBACK_NAMES,
    CB_FILL,
    CB_REJECT,
    EV_FILL,
    EV_REJECT,
    EV_ROUTE_CANCEL,
    EV_ROUTE_PLACE,
    IMPORT_NAMES,
    MAX_QUEUED_EVENTS,
    PAUSE_FLAG,
    S_ARGS,
    S_ASK,
    S_BID,
    S_CANCELS,
    S_FEES,
    S_FILLS,
    S_MARK,
    S_NACT,
    S_NEV,
    S_NOW,
    S_ORDERS,
    S_POSITION,
    S_REJECTS,
    S_SESSION_FEES,
    S_TRADES,
    S_UPDATES,
    S_VOLUME,
    ST_ACCEPTED,
    ST_PAUSED,
    AlgoCore,
)
from edges.runtime import AlgoLoadError, AlgoTrap, CompiledAlgo, RuntimeLimits
from venues.accounting import average_entry_price_1e9, net_realized_pnl_1e9, position_summary
from venues.book import BookSnapshot, DepthShape
from venues.instruments import Instrument
from venues.rejects import place_error_reason, reject_reason

LEVEL_NAMES = ("DEBUG", "INFO", "WARN", "ERROR")
SELF_TRADING_REASON = f"over {MAX_QUEUED_EVENTS} fills/rejects after one callback: trading with itself?"
_LATENCY_WINDOW = 4096
_Q = 100_000_000
_M64 = (1 << 64) - 1


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


def _fixed_1e9(value: int) -> str:
    """value / 1e9 in plain decimal, no trailing zeros (exact: integer arithmetic). One %-format
    and two strips: about a third of the time of building the parts apart, and a fill line formats
    one or two of these on the edge's update path whenever the memo misses."""
    if value < 0:
        return "-" + _fixed_1e9(-value)
    # %-format on purpose: twice as fast as f"{frac:09d}" here (measured), and this is a hot path
    return ("%d.%09d" % divmod(value, 1_000_000_000)).rstrip("0").rstrip(".")  # noqa: UP031


# Texts of prices and fees seen: a day of ETH at a cent's tick visits thousands of prices. With
# 4,096 entries the memo was cleared every few hours of a continuous market and 4 lookups in 10
# missed in the edge bench; with 16,384 (about 2 MB a memo), 1.7 in 10, nearly all first sightings.
_MEMO_MAX = 16_384
_PRICE_TEXT: dict[int, str] = {}
_FEE_TEXT: dict[int, str] = {}  # fees repeat too (a quote size at those prices); kept apart so they
# do not evict the prices


def _memo_fixed(memo: dict[int, str], value_1e9: int) -> str:
    text = memo.get(value_1e9)
    if text is None:
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        text = memo[value_1e9] = _fixed_1e9(value_1e9)
    return text


def format_price(price_1e9: int) -> str:
    """1800000000 -> "1.8" (exact: integer arithmetic, no float)."""
    return _memo_fixed(_PRICE_TEXT, price_1e9)


def _i128(G: Any, i: int) -> int:
    """The core's exact accumulators are i128 (low word, high word) pairs in G."""
    value: int = (G[i] & _M64) | (G[i + 1] << 64)
    return value


def _set_i128(G: Any, i: int, value: int) -> None:
    low = value & _M64
    G[i] = low - (1 << 64) if low >= 1 << 63 else low
    G[i + 1] = value >> 64


@dataclass(frozen=True, slots=True)
class CarriedPosition:
    """What an algo's book continues from in a new slot (a new version of the algo, or an edge
    process that restarted): fees paid before are inside the realized figures."""

    position_1e8: int
    avg_entry_price_1e9: int
    realized_pnl_1e9: int
    session_realized_pnl_1e9: int


class SlotPositions:
    """Position, PnL and counters of one slot, read from its core (PositionBook's field names and
    arithmetic: average cost, fees deducted from realized PnL, floors on the ×1e9 figures)."""

    __slots__ = ("_slot", "algo", "symbol")

    def __init__(self, slot: AlgoSlot) -> None:
        self._slot = slot
        self.algo = str(slot.account)
        self.symbol = slot.symbol

    def _g(self) -> Any:
        core = self._slot.core
        return core.G if core is not None else self._slot._zero

    position_1e8 = property(lambda self: int(self._g()[S_POSITION]))
    mark_price_1e9 = property(lambda self: int(self._g()[S_MARK]))
    fees_1e9 = property(lambda self: int(self._g()[S_FEES]))
    session_fees_1e9 = property(lambda self: int(self._g()[S_SESSION_FEES]))
    order_count = property(lambda self: int(self._g()[S_ORDERS]))
    reject_count = property(lambda self: int(self._g()[S_REJECTS]))
    cancel_count = property(lambda self: int(self._g()[S_CANCELS]))
    fill_count = property(lambda self: int(self._g()[S_FILLS]))
    trade_count = property(lambda self: int(self._g()[S_TRADES]))
    volume_1e8 = property(lambda self: int(self._g()[S_VOLUME]))

    @property
    def avg_entry_price_1e9(self) -> int:
        G = self._g()
        return average_entry_price_1e9(G[S_POSITION], _i128(G, A_COST))

    @property
    def realized_pnl_1e9(self) -> int:
        G = self._g()
        return net_realized_pnl_1e9(_i128(G, A_REALIZED), G[S_FEES])

    @property
    def gross_realized_pnl_1e9(self) -> int:
        return _i128(self._g(), A_REALIZED) // _Q

    @property
    def session_realized_pnl_1e9(self) -> int:
        G = self._g()
        return net_realized_pnl_1e9(_i128(G, A_SESSION_REALIZED), G[S_SESSION_FEES])

    @property
    def unrealized_pnl_1e9(self) -> int:
        G = self._g()
        pos: int = G[S_POSITION]
        mark: int = G[S_MARK]
        if pos == 0 or mark == 0:
            return 0
        return (mark * pos - _i128(G, A_COST)) // _Q

    @property
    def notional_1e9(self) -> int:
        return _i128(self._g(), A_NOTIONAL) // _Q

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary with the API's field names."""
        return position_summary(self)

    def carried(self) -> CarriedPosition:
        return CarriedPosition(
            position_1e8=self.position_1e8,
            avg_entry_price_1e9=self.avg_entry_price_1e9,
            realized_pnl_1e9=self.realized_pnl_1e9,
            session_realized_pnl_1e9=self.session_realized_pnl_1e9,
        )


_RUNNING = SlotState.RUNNING
_LIQUIDITY = ("maker", "taker")
_SIDE_WORD = ("BUY", "SELL")
_BOOK_SIDE = ("bid", "ask")


class AlgoSlot:
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
        "_tracing",
        "_trace_logs",
        "_trace_t0",
        "_reject_qty",
        "fill_observer",
        "_pending",
        "_bshape",
        "_bshape_index",
        "_ashape",
        "_ashape_index",
        "router",
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
    ) -> None:
        self.key = key
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
        _set_i128(G, A_COST, carried.avg_entry_price_1e9 * carried.position_1e8)
        _set_i128(G, A_REALIZED, carried.realized_pnl_1e9 * _Q)
        _set_i128(G, A_SESSION_REALIZED, carried.session_realized_pnl_1e9 * _Q)
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
            if snap._bids is None:  # a simulator snapshot: depth as a shared shape
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
        t0 = perf_counter_ns()
        try:
            r = core.on_book(snap.ts_ns, snap.bid_px, snap.bid_qty, snap.ask_px, snap.ask_qty, bshape, ashape)
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

    # -- what the core reports -----------------------------------------------------------------
    def _drain_output(self, _n: int = 0) -> None:
        """Log what the core recorded (fills, rejects, rate-limit warnings) and the algo's own
        log() lines, in the order they happened. Called after a call into the core (never during
        one, except when the core's record buffer is full): formatting stays off the update path."""
        core = self.core
        pending = self._pending
        if core is None:
            pending.clear()
            return
        n = int(core.G[S_NEV])
        if not n and not pending:
            return
        EV, w = core.EV, core.ev_words
        log = self.sink.log
        prices, fees = _PRICE_TEXT, _FEE_TEXT
        k = 0  # next pending algo line
        for i in range(n):
            while k < len(pending) and pending[k][0] <= i:
                _, ts, level, text = pending[k]
                log(self, ts, LEVEL_NAMES[level], text)
                k += 1
            # one slice: a list of the record's ints in one C call
            kind, oid, side, price, qty, fee, ts, taker, _leaves, pos, net, _ = EV[i * w : i * w + w]
            if kind == EV_FILL:
                if self.fill_observer is not None:
                    self.fill_observer((ts, oid, side, price, qty, fee, taker, net, pos))
                px = prices.get(price) or format_price(price)
                fee_text = fees.get(fee) or _memo_fixed(fees, fee)
                log(
                    self,
                    ts,
                    "INFO",
                    f"{_SIDE_WORD[side]} FILL: order={oid} qty={qty} @${px} {_LIQUIDITY[taker]} "
                    f"fee={fee_text} pos={pos}",
                )
            elif kind == EV_REJECT:  # price, qty, then the reason in the fee's place
                # The named reason (venues/rejects.py), as the trace and the order API say it.
                reason = reject_reason(fee, instrument=self.instrument, price_1e9=price, qty_1e8=qty)
                if self._tracing:
                    self._reject_qty[oid] = qty
                log(
                    self,
                    ts,
                    "WARN",
                    f"{_SIDE_WORD[side]} REJECT: order={oid} qty={qty} @${format_price(price)} "
                    f"reason={reason}",
                )
            elif kind == EV_ROUTE_PLACE:  # routed: the order to send; its leaves in the qty's place
                self.router.place(self, oid, side, price, qty, ts)  # type: ignore[union-attr]
            elif kind == EV_ROUTE_CANCEL:
                self.router.cancel(self, oid, ts)  # type: ignore[union-attr]
            else:  # a rate-limit warning: import, limit, callback
                text = (
                    f"{IMPORT_NAMES.get(oid, '?')}(): more than {side} order actions in "
                    f"{CALLBACK_NAMES.get(price, '?')}; "
                    "further place_order/cancel_order return ERR_RATE (-5) and cancel_all does nothing"
                )
                log(self, ts, "WARN", text)
        for j in range(k, len(pending)):
            _, ts, level, text = pending[j]
            log(self, ts, LEVEL_NAMES[level], text)
        pending.clear()
        core.G[S_NEV] = 0

    def _log_line(self, level: int, message: str) -> None:
        """The algo's log(): noted with its place among the core's records, logged after the call."""
        if self._tracing:
            self._trace_logs.append(message)
        core = self.core
        if core is None:  # the start function, while the core is being built
            self._pending.append((0, 0, level, message))
        else:
            G = core.G
            self._pending.append((G[S_NEV], G[S_NOW], level, message))

    def _trace(self, kind: int, phase: int) -> None:
        if phase == 0:
            self._tracing = kind
            self._trace_logs = []
            self._trace_t0 = perf_counter_ns()
            return
        self._finish_trace(None)

    def _refusal(self, order_id: int, result: int, price: int) -> str:
        """The named reason of a refused place_order in a trace: its quantity is in the core's
        reject record of this callback (or was, if a mid-callback drain took it)."""
        qty = self._reject_qty.get(order_id)
        core = self.core
        if qty is None and core is not None:
            EV, w = core.EV, core.ev_words
            for i in range(int(core.G[S_NEV])):
                if EV[i * w] == EV_REJECT and EV[i * w + 1] == order_id:
                    qty = int(EV[i * w + 4])
                    break
        if qty is None:  # unknown quantity: the reason's name, without a rule it may not have broken
            return place_error_reason(result)
        return place_error_reason(result, instrument=self.instrument, price_1e9=price, qty_1e8=qty)

    def _finish_trace(self, trap: AlgoTrap | None) -> None:
        latency = perf_counter_ns() - self._trace_t0
        kind = self._tracing
        self._tracing = 0
        core = self.core
        assert core is not None
        G = core.G
        callback = CALLBACK_NAMES.get(kind, "?")
        bid, ask = int(G[S_BID]), int(G[S_ASK])  # the core's book: also right in a backtest's chunks
        spread_bps = round((ask - bid) * 20000 / (ask + bid), 4) if bid and ask else None
        pnl = (self.positions.realized_pnl_1e9 + self.positions.unrealized_pnl_1e9) / 1e9
        inputs: dict[str, Any] = {
            "book": {
                "best_bid": format_price(bid) if bid else None,
                "best_ask": format_price(ask) if ask else None,
            },
            "spread_bps": spread_bps,
            "position_1e8": int(G[S_POSITION]),
            "pnl": round(pnl, 9),
        }
        args = [int(G[S_ARGS + k]) for k in range(5)]
        if kind == CB_FILL:
            inputs["fill"] = {
                "order_id": args[0],
                "side": "buy" if args[1] == 0 else "sell",
                "price": format_price(args[2]),
                "qty_1e8": args[3],
            }
        elif kind == CB_REJECT:
            inputs["reject"] = {"order_id": args[0], "reason_code": args[1], "reason": reject_reason(args[1])}
        actions = []
        A, w = core.ACT, core.act_words
        for i in range(int(G[S_NACT])):
            o = i * w
            k, side, price, result, extra = A[o], A[o + 1], A[o + 2], A[o + 3], A[o + 4]
            if k == ACT_PLACE:
                action = f"place_{_BOOK_SIDE[side]}@{format_price(price)}"
                actions.append(
                    f"{action} rejected: {self._refusal(extra, result, price)}" if result else action
                )
            elif k == ACT_CANCEL:
                actions.append(f"cancel#{extra}")
            elif k == ACT_CANCEL_ALL:
                actions.append("cancel_all")
            else:
                actions.append(
                    f"place_{_BOOK_SIDE[side]}@{format_price(price)} refused: {place_error_reason(result)}"
                )
        self._reject_qty.clear()
        output: dict[str, Any] = {"actions": actions}
        if trap is not None:
            output["trap"] = trap.reason
        self.sink.trace(
            self,
            {
                "callback_type": callback,
                "ts_ns": int(G[S_NOW]),
                "latency_ns": latency,
                "input": inputs,
                "output": output,
                "logs": list(self._trace_logs),
            },
        )

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
