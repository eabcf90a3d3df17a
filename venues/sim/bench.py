"""Hand-run micro-benchmarks of the simulated venue (prints figures; asserts nothing).

    .venv/bin/python -m venues.sim.bench [events]

Figures: simulator events/s; `MatchingEngine.on_book` cost per event with two resting orders away
from the touch (the early-out), and with one order at the touch (the slow path); a replay-shaped
loop (simulate + match + mark) in events/s; the adapter's merged stream. Machines are shared and
noisy: compare ratios within one run, best of a few repeats.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from venues.accounting import PositionBook
from venues.book import BookSnapshot
from venues.instruments import get_instrument
from venues.matching import BUY, SELL, MatchingEngine
from venues.sim.adapter import SimVenueAdapter
from venues.sim.simulator import MarketSimulator


def _best_of(fn: Callable[[], float], repeats: int = 3) -> float:
    return min(fn() for _ in range(repeats))


def main(n: int = 1_000_000) -> None:
    inst = get_instrument("kraken", "BTC/USD")
    tick = inst.tick_1e9

    def sim_only() -> float:
        sim = MarketSimulator(inst, 1, 0)
        it = iter(sim)
        t = time.perf_counter()
        for _ in range(n):
            next(it)
        return time.perf_counter() - t

    dt = _best_of(sim_only)
    print(f"simulator            : {n / dt:>12,.0f} events/s  ({dt / n * 1e9:6.0f} ns/event)")

    snaps: list[BookSnapshot] = []
    sim = MarketSimulator(inst, 1, 0)
    for snap in sim:
        snaps.append(snap)
        if len(snaps) == n:
            break

    def loop_only() -> float:
        t = time.perf_counter()
        for _snap in snaps:
            pass
        return time.perf_counter() - t

    def on_book_far() -> float:
        eng = MatchingEngine(inst, rng_seed=1)
        first = snaps[0]
        eng.on_book(first)
        # Two resting orders ±$5,000 away: never near the touch over the run.
        eng.submit(BUY, first.bid_px - 50_000 * tick, 1_000_000, 0, 1)
        eng.submit(SELL, first.ask_px + 50_000 * tick, 1_000_000, 0, 2)
        on_book = eng.on_book
        t = time.perf_counter()
        for snap in snaps:
            on_book(snap)
        return time.perf_counter() - t

    def on_book_touch() -> float:
        eng = MatchingEngine(inst, rng_seed=1, fill_prob_at_touch=0.0)
        eng.on_book(snaps[0])
        # A buy far above the market would cross; instead keep one buy exactly at each new bid:
        # measure the slow path (order at the touch, a touch-probability draw per update).
        on_book = eng.on_book
        submit, cancel = eng.submit, eng.cancel
        t = time.perf_counter()
        for oid, snap in enumerate(snaps, 1):
            on_book(snap)
            cancel(oid - 1)
            submit(BUY, snap.bid_px, 1_000_000, snap.ts_ns, oid)
        return time.perf_counter() - t

    def submit_cancel_only() -> float:
        eng = MatchingEngine(inst, rng_seed=1, fill_prob_at_touch=0.0)
        eng.on_book(snaps[0])
        submit, cancel = eng.submit, eng.cancel
        px = snaps[0].bid_px - 1_000 * tick
        t = time.perf_counter()
        for oid, snap in enumerate(snaps, 1):
            cancel(oid - 1)
            submit(BUY, px, 1_000_000, snap.ts_ns, oid)
        return time.perf_counter() - t

    base = _best_of(loop_only)
    far = _best_of(on_book_far)
    print(f"on_book, 2 orders far: {(far - base) / n * 1e9:>8.0f} ns/event (loop overhead excluded)")

    def on_book_static_touch() -> float:
        # One order resting at an unchanging best bid: the touch-probability path on every update.
        eng = MatchingEngine(inst, rng_seed=1, fill_prob_at_touch=0.0)
        first = snaps[0]
        static = [BookSnapshot(s.ts_ns, first.bids, first.asks) for s in snaps[:100_000]]
        eng.on_book(static[0])
        eng.submit(BUY, first.bid_px, 1_000_000, 0, 1)
        on_book = eng.on_book
        t = time.perf_counter()
        for snap in static:
            on_book(snap)
        return (time.perf_counter() - t) * (n / len(static))

    touch = _best_of(on_book_static_touch)
    print(f"on_book, 1 order at an unchanged bid: {(touch - base) / n * 1e9:>6.0f} ns/event")
    moving = _best_of(on_book_touch)
    sc = _best_of(submit_cancel_only)
    print(
        f"on_book, re-quoting at each new bid: {(moving - sc) / n * 1e9:>7.0f} ns/event "
        "(often crossed: builds depth, fills; submit+cancel excluded)"
    )
    print(f"submit + cancel      : {(sc - base) / n * 1e9:>8.0f} ns/pair")

    def replay() -> float:
        sim = MarketSimulator(inst, 1, 0)
        eng = MatchingEngine(inst, rng_seed=1)
        pb = PositionBook("bench", inst.symbol)
        first = sim.peek()
        eng.on_book(first)
        eng.submit(BUY, first.bid_px - 50_000 * tick, 1_000_000, 0, 1)
        eng.submit(SELL, first.ask_px + 50_000 * tick, 1_000_000, 0, 2)
        on_book, mark, apply = eng.on_book, pb.mark, pb.apply_fill

        def callback(bp: int, bq: int, ap: int, aq: int, ts: int) -> None:
            pass

        it = iter(sim)
        t = time.perf_counter()
        for _ in range(n):
            snap = next(it)
            fills = on_book(snap)
            if fills:
                for f in fills:
                    apply(f)
            mark(snap.bid_px)
            callback(snap.bid_px, snap.bid_qty, snap.ask_px, snap.ask_qty, snap.ts_ns)
        return time.perf_counter() - t

    dt = _best_of(replay)
    print(f"replay loop (sim+match+mark+stub cb): {n / dt:>10,.0f} events/s ({dt / n * 1e9:.0f} ns/event)")

    def adapter() -> float:
        ad = SimVenueAdapter("kraken", seed=1, start_ns=0, symbols=["BTC/USD"])
        ad.configure_account("a", "BTC/USD")
        it = ad.updates()
        t = time.perf_counter()
        for _ in range(n):
            next(it)
        return time.perf_counter() - t

    dt = _best_of(adapter)
    print(f"adapter.updates, 1 symbol, 1 account: {n / dt:>10,.0f} events/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
