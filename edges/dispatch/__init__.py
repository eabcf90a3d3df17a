"""One algo on one symbol of one venue: its host and the dispatch of book updates to it. No Django,
no wall clock in what the algo sees (event time only), so the edge worker and the backtest replay
run algos through exactly this code.

The per-update work happens in wasm: an `AlgoCore` (edges/core) links the algo with seqcore, which
serves the algo's imports, matches its paper orders against the book, keeps positions and PnL and
calls the algo's callbacks. Flow of one book update, inside one call into the core: all resting
orders are matched against the new book and then their fills reach on_fill, on_book runs, and
on_timer when due; the fills and rejects of orders placed in a callback are delivered right after
it (queued: no callback re-enters another). This package turns what the core reports (fills,
rejects, traced actions, the algo's log lines) into log lines and traces, after the call, and owns
the lifecycle (start, stop, pause, rebuild after a trap, a position carried over).

By seam: ``slot`` (`AlgoSlot`: the lifecycle, what it hands the core, the ports it talks through),
``decoding`` (what the core reports, as log lines and traces) and ``positions`` (position and PnL
read from the core, and what a new slot carries over). Callers import from ``edges.dispatch``.
"""

from edges.dispatch.decoding import LEVEL_NAMES, format_price
from edges.dispatch.positions import CarriedPosition, SlotPositions
from edges.dispatch.slot import SELF_TRADING_REASON, AlgoSlot, OrderRouter, SlotSink, SlotState, VenuePort

__all__ = [
    "LEVEL_NAMES",
    "SELF_TRADING_REASON",
    "AlgoSlot",
    "CarriedPosition",
    "OrderRouter",
    "SlotPositions",
    "SlotSink",
    "SlotState",
    "VenuePort",
    "format_price",
]
