"""One algo on one symbol of one venue: the host its WASM instance calls, and the dispatch of
book updates, fills and rejects to it. No Django, no wall clock (event time only), so the edge
worker and the backtest replay run algos through exactly this code.

Flow of one book update: the venue adapter matches resting orders against it first (fills arrive
through `on_venue_fill`, delivered to the algo at once since no callback is running), then
`on_book` calls the algo; orders it places may fill immediately, and those fills and any
asynchronous rejects are queued and delivered after the callback returns (the runtime forbids
re-entering an instance from inside a host call).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any, Protocol

from edges.runtime import AlgoInstance, AlgoLoadError, AlgoTrap, CompiledAlgo, RuntimeLimits
from edges.runtime.abi import CANCEL_OK, CANCEL_UNKNOWN, ERR_HALTED
from edges.venues.accounting import PositionBook
from edges.venues.matching import Fill
from edges.venues.simulator import BookSnapshot

LEVEL_NAMES = ("DEBUG", "INFO", "WARN", "ERROR")
_MAX_QUEUED_EVENTS = 256  # fills/rejects delivered after one callback; more means an algo ping-pong
_TIMER_EVERY_NS = 1_000_000_000
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


class OrderPort(Protocol):
    """Where one algo's orders on one symbol go: the simulated venue's ``MatchingEngine`` for that
    (account, symbol), or a live connector's equivalent. Immediate fills come back in the result's
    ``fills``; later fills reach the slot through ``AlgoSlot.on_venue_fill``."""

    @property
    def open_order_count(self) -> int: ...

    def submit(self, side: int, price_1e9: int, qty_1e8: int, ts_ns: int, order_id: int) -> Any: ...

    def cancel(self, order_id: int) -> bool: ...

    def cancel_all(self) -> list[int]: ...


class VenuePort(Protocol):
    """The part of a venue adapter a slot needs: its order port (SimVenueAdapter implements it)."""

    def engine(self, symbol: str, *, account: str) -> OrderPort: ...


def _fixed(value: int, digits: int) -> str:
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**digits)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{digits}d}".rstrip("0")


_PRICE_TEXT: dict[int, str] = {}  # format_price's memo: a market trades near a few hundred prices
_PRICE_TEXT_MAX = 4096


def format_price(price_1e9: int) -> str:
    """1800000000 -> "1.8" (exact: integer arithmetic, no float)."""
    text = _PRICE_TEXT.get(price_1e9)
    if text is None:
        if len(_PRICE_TEXT) >= _PRICE_TEXT_MAX:
            _PRICE_TEXT.clear()
        text = _PRICE_TEXT[price_1e9] = _fixed(price_1e9, 9)
    return text


def format_qty(qty_1e8: int) -> str:
    return _fixed(qty_1e8, 8)


_RUNNING = SlotState.RUNNING


class AlgoSlot:
    """The host of one AlgoInstance (see ``edges.runtime.AlgoHost``) plus its position book."""

    __slots__ = (
        "key",
        "symbol",
        "venue",
        "account",
        "compiled",
        "limits",
        "sink",
        "instance",
        "positions",
        "state",
        "pause_reason",
        "update_count",
        "latencies",
        "last_latency_ns",
        "started_ts_ns",
        "orders",
        "_book",
        "_now",
        "_next_order_id",
        "_queue",
        "_in_callback",
        "_tracing",
        "_actions",
        "_trace_logs",
        "_trace_every_ns",
        "_next_trace",
        "_next_timer_ns",
        "_has_fill",
        "_has_reject",
        "_has_timer",
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
    ) -> None:
        self.key = key
        self.symbol = symbol
        self.venue = venue
        self.account = account
        self.compiled = compiled
        self.limits = limits
        self.sink = sink
        self.positions = PositionBook(algo=str(account), symbol=symbol)
        # Orders go straight to this (account, symbol)'s engine: no per-order adapter look-ups.
        self.orders: OrderPort = venue.engine(symbol, account=account)
        self.state = SlotState.ACCEPTED
        self.pause_reason: str | None = None
        self.update_count = 0
        self.latencies: list[int] = []
        self.last_latency_ns = 0
        self.started_ts_ns = 0
        self._book: BookSnapshot | None = None
        self._now = 0
        self._next_order_id = next_order_id
        self._queue: list[tuple[str, tuple[int, ...]]] = []
        self._in_callback = False
        self._tracing = False
        self._actions: list[str] = []
        self._trace_logs: list[str] = []
        self._trace_every_ns = trace_every_ns
        self._next_trace = {"on_book": 0, "on_fill": 0, "on_reject": 0}  # event time of the next trace
        self._next_timer_ns = 0
        info = compiled.info
        self._has_fill = info.has_on_fill
        self._has_reject = info.has_on_reject
        self._has_timer = info.has_on_timer
        self.instance: AlgoInstance | None = None
        self._load()

    # -- lifecycle -----------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            self.instance = AlgoInstance(self.compiled, self, limits=self.limits)
        except AlgoLoadError as exc:
            self.state, self.pause_reason = SlotState.REJECTED, str(exc)
            return
        self._call(self.instance.on_init)

    def start(self, ts_ns: int) -> None:
        """Start (or re-arm after a pause: a trapped instance is rebuilt, its memory may be torn)."""
        if self.state is SlotState.REJECTED:
            return
        if self.instance is None or self.instance.trapped:
            self._close_instance()
            self.state = SlotState.ACCEPTED
            self._load()
            if self.state is not SlotState.ACCEPTED:
                return
        self.pause_reason = None
        self.positions.reset_session()
        self.started_ts_ns = ts_ns
        self.state = SlotState.RUNNING

    def stop(self) -> None:
        """Stop trading; position and PnL are kept. Resting orders are cancelled: a stopped algo
        must not get filled while it cannot react."""
        if self.state is SlotState.RUNNING:
            self._cancel_everything()
            self.state = SlotState.ACCEPTED

    def pause(self, reason: str) -> None:
        self._cancel_everything()
        self.state = SlotState.PAUSED
        self.pause_reason = reason
        self.sink.log(self, self._now, "ERROR", f"algo paused: {reason}")

    def close(self) -> None:
        self._cancel_everything()
        self._close_instance()

    def _close_instance(self) -> None:
        if self.instance is not None:
            self.instance.close()
            self.instance = None

    def _cancel_everything(self) -> None:
        cancelled = self.orders.cancel_all()
        if cancelled:
            self.positions.on_cancel(len(cancelled))

    # -- events from the venue -----------------------------------------------------------------
    def on_book(self, snap: BookSnapshot) -> None:
        """Hand one book update to the algo (call after the venue matched it)."""
        self._book = snap
        ts = self._now = snap.ts_ns
        bid, ask = snap.bid_px, snap.ask_px
        # PositionBook.mark, inlined (this runs on every update of every algo)
        if bid and ask:
            self.positions.mark_price_1e9 = (bid + ask) // 2
        elif bid or ask:
            self.positions.mark_price_1e9 = bid or ask
        if self.state is not _RUNNING:
            return
        self.update_count += 1
        instance = self.instance
        assert instance is not None
        if ts >= self._next_trace["on_book"]:
            self._next_trace["on_book"] = ts + self._trace_every_ns
            self._traced_call("on_book", instance.on_book, (bid, snap.bid_qty, ask, snap.ask_qty, ts))
        else:
            self._in_callback = True
            t0 = perf_counter_ns()
            try:
                instance.on_book(bid, snap.bid_qty, ask, snap.ask_qty, ts)
            except AlgoTrap as trap:
                self._in_callback = False
                self.pause(trap.reason)
                return
            latency = perf_counter_ns() - t0
            self._in_callback = False
            self.last_latency_ns = latency
            if len(self.latencies) < _LATENCY_WINDOW:
                self.latencies.append(latency)
        if self._queue:
            self._drain()
        if self._has_timer and ts >= self._next_timer_ns and self.state is _RUNNING:
            self._next_timer_ns = ts + _TIMER_EVERY_NS
            self._call(instance.on_timer, ts)

    def on_venue_fill(self, fill: Fill) -> None:
        """A fill of one of this algo's orders (from the adapter's fill callback)."""
        side, price, qty, ts = fill.side, fill.price_1e9, fill.qty_1e8, fill.ts_ns
        positions = self.positions
        positions.on_fill(side, price, qty, fill.fee_1e9)
        self.sink.log(
            self,
            ts,
            "INFO",
            f"{'BUY' if side == 0 else 'SELL'} FILL: order={fill.order_id} qty={qty} @${format_price(price)} "
            f"{fill.liquidity} fee={format_price(fill.fee_1e9)} pos={positions.position_1e8}",
        )
        if not self._has_fill or self.state is not _RUNNING:
            return
        args = (fill.order_id, side, price, qty, ts)
        if self._in_callback:
            self._queue.append(("on_fill", args))
        else:
            self._dispatch("on_fill", args)

    def _drain(self) -> None:
        delivered = 0
        while self._queue and self.state is _RUNNING:
            name, args = self._queue.pop(0)
            self._dispatch(name, args)
            delivered += 1
            if delivered > _MAX_QUEUED_EVENTS:
                self._queue.clear()
                self.pause(
                    f"over {_MAX_QUEUED_EVENTS} fills/rejects after one callback: trading with itself?"
                )
        self._queue.clear()

    def _dispatch(self, name: str, args: tuple[int, ...]) -> None:
        """Deliver on_fill/on_reject; traced at most once per trace interval per callback type."""
        instance = self.instance
        assert instance is not None
        fn = instance.on_fill if name == "on_fill" else instance.on_reject
        if self._now >= self._next_trace[name]:
            self._next_trace[name] = self._now + self._trace_every_ns
            self._traced_call(name, fn, args)
            return
        # Not timed: latency samples (and last_latency_ns) are of on_book, the market-data path.
        self._in_callback = True
        try:
            fn(*args)
        except AlgoTrap as trap:
            self._in_callback = False
            self.pause(trap.reason)
            return
        self._in_callback = False

    def _call(self, fn: Callable[..., None], *args: int) -> None:
        self._in_callback = True
        try:
            fn(*args)
        except AlgoTrap as trap:
            self._in_callback = False
            self.pause(trap.reason)
            return
        self._in_callback = False

    def _traced_call(self, callback: str, fn: Callable[..., None], args: tuple[int, ...]) -> None:
        self._tracing = True
        self._actions = []
        self._trace_logs = []
        self._in_callback = True
        t0 = perf_counter_ns()
        trapped: AlgoTrap | None = None
        try:
            fn(*args)
        except AlgoTrap as trap:
            trapped = trap
        latency = perf_counter_ns() - t0
        self._in_callback = False
        self._tracing = False
        self.last_latency_ns = latency
        if len(self.latencies) < _LATENCY_WINDOW:
            self.latencies.append(latency)
        self.sink.trace(self, self._trace_record(callback, args, latency, trapped))
        if trapped is not None:
            self.pause(trapped.reason)

    def _trace_record(
        self, callback: str, args: tuple[int, ...], latency: int, trap: AlgoTrap | None
    ) -> dict[str, Any]:
        book = self._book
        bid, ask = (book.bid_px, book.ask_px) if book is not None else (0, 0)
        spread_bps = round((ask - bid) * 20000 / (ask + bid), 4) if bid and ask else None
        pnl = (self.positions.realized_pnl_1e9 + self.positions.unrealized_pnl_1e9) / 1e9
        inputs: dict[str, Any] = {
            "book": {
                "best_bid": format_price(bid) if bid else None,
                "best_ask": format_price(ask) if ask else None,
            },
            "spread_bps": spread_bps,
            "position_1e8": self.positions.position_1e8,
            "pnl": round(pnl, 9),
        }
        if callback == "on_fill":
            inputs["fill"] = {
                "order_id": args[0],
                "side": "buy" if args[1] == 0 else "sell",
                "price": format_price(args[2]),
                "qty_1e8": args[3],
            }
        elif callback == "on_reject":
            inputs["reject"] = {"order_id": args[0], "reason_code": args[1]}
        output: dict[str, Any] = {"actions": list(self._actions)}
        if trap is not None:
            output["trap"] = trap.reason
        return {
            "callback_type": callback,
            "ts_ns": self._now,
            "latency_ns": latency,
            "input": inputs,
            "output": output,
            "logs": list(self._trace_logs),
        }

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

    # -- the AlgoHost side (called from inside the wasm callback) -------------------------------
    def place_order(self, side: int, price_1e9: int, qty_1e8: int) -> int:
        if self.state is not _RUNNING:
            if self._tracing:
                self._actions.append(
                    f"place_{'bid' if side == 0 else 'ask'}@{format_price(price_1e9)} refused(halted)"
                )
            return ERR_HALTED
        order_id = self._next_order_id
        self._next_order_id = order_id + 1
        self.positions.order_count += 1  # PositionBook.on_order, inlined
        result = self.orders.submit(side, price_1e9, qty_1e8, self._now, order_id)
        if self._tracing:
            action = f"place_{'bid' if side == 0 else 'ask'}@{format_price(price_1e9)}"
            self._actions.append(
                action if result.accepted else f"{action} rejected({result.error or result.reason})"
            )
        if result.accepted:
            fills = result.fills
            if fills:
                for fill in fills:  # immediate (taker) fills: on_fill is queued until we return
                    self.on_venue_fill(fill)
            return order_id
        self.positions.on_reject()
        side_word = "BUY" if side == 0 else "SELL"
        self.sink.log(
            self,
            self._now,
            "WARN",
            f"{side_word} REJECT: order={order_id} qty={qty_1e8} @${format_price(price_1e9)} "
            f"reason={result.reason}",
        )
        if result.error:
            return int(result.error)
        if self._has_reject:
            self._queue.append(("on_reject", (order_id, result.reason)))
        return order_id

    def cancel_order(self, order_id: int) -> int:
        ok = self.orders.cancel(order_id)
        if self._tracing:
            self._actions.append(f"cancel#{order_id}")
        if ok:
            self.positions.on_cancel(1)
            return CANCEL_OK
        return CANCEL_UNKNOWN

    def cancel_all(self) -> None:
        if self._tracing:
            self._actions.append("cancel_all")
        cancelled = self.orders.cancel_all()
        if cancelled:
            self.positions.cancel_count += len(cancelled)  # PositionBook.on_cancel, inlined

    def log(self, level: int, message: str) -> None:
        if self._tracing:
            self._trace_logs.append(message)
        self.sink.log(self, self._now, LEVEL_NAMES[level], message)

    def position_1e8(self) -> int:
        return self.positions.position_1e8

    def open_order_count(self) -> int:
        return int(self.orders.open_order_count)

    def book_level(self, side: int, index: int, which: int) -> int:
        book = self._book
        return book.level(side, index, which) if book is not None else 0

    def now_ns(self) -> int:
        return self._now
