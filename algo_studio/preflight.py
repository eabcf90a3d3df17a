"""A dry run at deploy and start: would the venue refuse this algo's first orders?

Kraken refused every order of an algo that sent 0.01 XRP (its minimum is 2), and the user found out
from the logs after pressing Start. Before that happens, the algo runs for a few seconds of event
time on a quiet simulated book of each symbol it is deployed on (the venue's own rules: tick, lot,
minimum size and notional), through the backtest replay, and every order the matching engine
refused is reported with its named reason (`BELOW_MIN_QTY: 0.01 < kraken min 2`). The answer is a
warning, never a refusal: a real book may lead the algo elsewhere.

About 50 ms per symbol (the module is compiled once and cached by its sha256).
"""

from __future__ import annotations

import io
import logging
import re
import tempfile
from datetime import date
from decimal import Decimal

from edges.replay import Replay, ReplayCancelled, ReplayFailed, ReplaySpec
from edges.runtime.errors import AlgoError
from venues.instruments import PRICE_SCALE, QTY_SCALE, Instrument, get_instrument
from venues.marketdata.importer import parse_csv
from venues.marketdata.store import MarketDataStore

logger = logging.getLogger(__name__)

__all__ = ["first_order_warnings"]

DRY_RUN_UPDATES = 30  # one book update a second
_DAY = date(2026, 1, 1)
_REJECT = re.compile(r"\bREJECT: .* reason=(?P<reason>.+)$")


def _book_csv(inst: Instrument) -> str:
    """A calm book around the instrument's reference price: the touch one tick either side of the
    mid, moving a tick now and then, at the venue's typical touch size."""
    tick = inst.tick_1e9
    mid = max(inst.ref_price_1e9, inst.min_price_1e9 + 2 * tick) // tick * tick
    mid = min(mid, inst.max_price_1e9 - 2 * tick) if inst.max_price_1e9 > 4 * tick else mid
    qty = Decimal(max(inst.touch_qty_1e8, inst.min_qty_1e8, inst.lot_1e8)) / QTY_SCALE
    rows = ["timestamp,bid_px,bid_qty,ask_px,ask_qty"]
    for second in range(DRY_RUN_UPDATES):
        drift = ((second // 5) % 3 - 1) * tick  # -1, 0, +1 tick in turns of five seconds
        bid = Decimal(mid + drift - tick) / PRICE_SCALE
        ask = Decimal(mid + drift + tick) / PRICE_SCALE
        rows.append(f"{_DAY.isoformat()}T00:00:{second:02d}Z,{bid},{qty},{ask},{qty}")
    return "\n".join(rows) + "\n"


def _dry_run(wasm: bytes, inst: Instrument) -> list[str]:
    """The named reasons of the orders refused in the dry run, in order."""
    with tempfile.TemporaryDirectory(prefix="sequence-preflight-") as tmp:
        store = MarketDataStore(tmp)
        store.import_table(inst.venue, inst.symbol, parse_csv(io.StringIO(_book_csv(inst))))
        spec = ReplaySpec(
            instruments=(inst,), first_day=_DAY, last_day=_DAY, seed=1, capital_1e9=10**6 * PRICE_SCALE
        )
        results = Replay(wasm=wasm, spec=spec, store=store).run()
    reasons = []
    for line in results["logs"]:
        match = _REJECT.search(line["message"])
        if match:
            reasons.append(match.group("reason"))
    return reasons


def first_order_warnings(*, wasm: bytes, venue_symbols: list[tuple[str, str]]) -> list[str]:
    """One warning per (venue, symbol) whose dry run had orders refused by the venue's rules."""
    warnings = []
    for venue, symbol in venue_symbols:
        try:
            inst = get_instrument(venue, symbol)
        except KeyError:
            continue  # a live catalogue's symbol the simulated catalogue lacks: nothing to check against
        try:
            reasons = _dry_run(wasm, inst)
        except (ReplayFailed, ReplayCancelled, AlgoError):
            continue  # a trap is reported by the edge itself, with its pause reason
        except Exception:  # a dry run must never break a deploy
            logger.exception("preflight of %s on %s failed", symbol, venue)
            continue
        if reasons:
            first = reasons[0]
            others = len(set(reasons)) - 1
            count = f"{len(reasons)} order{'s' if len(reasons) > 1 else ''}"
            warnings.append(
                f"{inst.symbol} on {venue}: the venue would refuse {count} of the algo's "
                f"{DRY_RUN_UPDATES}-second dry run on a simulated book: {first}"
                + (f" (and {others} other reason{'s' if others > 1 else ''})" if others else "")
            )
    return warnings
