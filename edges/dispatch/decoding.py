"""Decoding what an algo's core reports, after each call into it: fills, rejects, routed order
actions and rate-limit warnings become log lines (in the order they happened, the algo's own
log() lines among them), and a traced callback becomes a trace record. Prices and fees are
formatted exactly (integer arithmetic) and memoised: this runs on the edge's update path."""

from __future__ import annotations

from time import perf_counter_ns
from typing import Any

from edges.core.instance import (
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
    S_ARGS,
    S_ASK,
    S_BID,
    S_NACT,
    S_NEV,
    S_NOW,
    S_POSITION,
    AlgoCore,
)
from edges.dispatch.positions import SlotPositions
from edges.runtime import AlgoTrap
from venues.instruments import Instrument
from venues.rejects import place_error_reason, reject_reason

LEVEL_NAMES = ("DEBUG", "INFO", "WARN", "ERROR")


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


_LIQUIDITY = ("maker", "taker")
_SIDE_WORD = ("BUY", "SELL")
_BOOK_SIDE = ("bid", "ask")


class SlotOutput:
    """The half of `AlgoSlot` that turns what its core reports into log lines and traces: the core's
    records (fills, rejects, routed order actions, rate-limit warnings), the algo's own log() lines
    and its callbacks' traces, handed to the slot's sink (and, routed, its router) after a call into
    the core. The attributes are the slot's (set in `AlgoSlot.__init__`); the slots named here are
    this half's own state."""

    __slots__ = ("fill_observer", "_pending", "_tracing", "_trace_logs", "_trace_t0", "_reject_qty")

    core: AlgoCore | None
    instrument: Instrument
    positions: SlotPositions
    # The slot's SlotSink and OrderRouter (None unless routed), typed in edges.dispatch.slot: both
    # take the slot itself, and this module cannot import that one back.
    sink: Any
    router: Any
    fill_observer: Any
    _pending: list[tuple[int, int, int, str]]
    _tracing: int
    _trace_logs: list[str]
    _trace_t0: int
    _reject_qty: dict[int, int]

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
                self.router.place(self, oid, side, price, qty, ts)
            elif kind == EV_ROUTE_CANCEL:
                self.router.cancel(self, oid, ts)
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
        """The traced callback's record. What it shows is read from the core now (as ints: a
        RawTrace); the text is made by ``trace_record``, at once for a sink that only has
        ``trace``, or later (maybe never) for one with ``trace_later``: a backtest keeps 100 of its
        traces, chosen when the run is over."""
        latency = perf_counter_ns() - self._trace_t0
        kind = self._tracing
        self._tracing = 0
        core = self.core
        assert core is not None
        G = core.G
        positions = self.positions
        actions = []
        A, w = core.ACT, core.act_words
        for i in range(int(G[S_NACT])):
            o = i * w
            k, side, price, result, extra = A[o], A[o + 1], A[o + 2], A[o + 3], A[o + 4]
            # a refused place's reason needs the core's reject records of this callback: now
            refusal = self._refusal(extra, result, price) if k == ACT_PLACE and result else None
            actions.append((k, side, price, result, extra, refusal))
        self._reject_qty.clear()
        raw: RawTrace = (
            kind,
            int(G[S_NOW]),
            latency,
            int(G[S_BID]),  # the core's book: also right in a backtest's chunks
            int(G[S_ASK]),
            int(G[S_POSITION]),
            positions.realized_pnl_1e9 + positions.unrealized_pnl_1e9,
            (int(G[S_ARGS]), int(G[S_ARGS + 1]), int(G[S_ARGS + 2]), int(G[S_ARGS + 3])),
            actions,
            trap.reason if trap is not None else None,
            list(self._trace_logs),
        )
        later = getattr(self.sink, "trace_later", None)
        if later is not None:
            later(self, raw)
        else:
            self.sink.trace(self, trace_record(raw))


# A traced callback as read from the core (AlgoSlot._finish_trace): callback kind, event time,
# latency (ns), best bid and ask, position, PnL (×1e9), the callback's first arguments, its actions
# (kind, side, price, result, extra, refusal text), the trap's reason, its log lines.
_RawAction = tuple[int, int, int, int, int, str | None]
RawTrace = tuple[
    int, int, int, int, int, int, int, tuple[int, int, int, int], list[_RawAction], str | None, list[str]
]


def trace_record(raw: RawTrace) -> dict[str, Any]:
    """A traced callback's record (the trace of the edge's log tail and of a backtest's results)."""
    kind, now, latency, bid, ask, position, pnl_1e9, args, raw_actions, trap, logs = raw
    spread_bps = round((ask - bid) * 20000 / (ask + bid), 4) if bid and ask else None
    inputs: dict[str, Any] = {
        "book": {
            "best_bid": format_price(bid) if bid else None,
            "best_ask": format_price(ask) if ask else None,
        },
        "spread_bps": spread_bps,
        "position_1e8": position,
        "pnl": round(pnl_1e9 / 1e9, 9),
    }
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
    for k, side, price, result, extra, refusal in raw_actions:
        if k == ACT_PLACE:
            action = f"place_{_BOOK_SIDE[side]}@{format_price(price)}"
            actions.append(f"{action} rejected: {refusal}" if result else action)
        elif k == ACT_CANCEL:
            actions.append(f"cancel#{extra}")
        elif k == ACT_CANCEL_ALL:
            actions.append("cancel_all")
        else:
            actions.append(
                f"place_{_BOOK_SIDE[side]}@{format_price(price)} refused: {place_error_reason(result)}"
            )
    output: dict[str, Any] = {"actions": actions}
    if trap is not None:
        output["trap"] = trap
    return {
        "callback_type": CALLBACK_NAMES.get(kind, "?"),
        "ts_ns": now,
        "latency_ns": latency,
        "input": inputs,
        "output": output,
        "logs": logs,
    }
