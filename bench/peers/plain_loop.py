"""The market maker and Sequence's paper matching as one plain Python loop (no framework), and the
same function compiled with numba (``--jit``): the floor for this logic. The numba loop is timed
as the median of 25 runs of the day (one run lasts a few milliseconds).

    python bench/peers/plain_loop.py --data DAY.i64 --fill-prob 0 --rng-seed TEXT [--jit]

Per event, as seqcore.c's ``step`` does: the resting orders are matched against the new top of
book first (a buy fills when the ask comes down to its price, a sell when the bid comes up to its
price, at the order's price, for at most the displayed size; an order at the touch fills with
probability ``fill_prob`` from Python's Mersenne Twister seeded like the core's), then the
strategy runs: cancel both quotes, and on a sane book join the best bid and the best ask.
Prices ×1e9, sizes ×1e8, as in the store.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from peers_data import QTY_1E8, load


def market_maker(bid_px, bid_qty, ask_px, ask_qty, qty, prob, rand):
    buy_px = sell_px = 0  # our resting quotes (price ×1e9), 0 = none
    buy_left = sell_left = 0  # their open size (×1e8)
    fills = position = 0
    notional = 0.0
    for i in range(len(bid_px)):
        b, bq, a, aq = bid_px[i], bid_qty[i], ask_px[i], ask_qty[i]
        # match the resting quotes against the new book
        if buy_left:
            q = 0
            if a and a <= buy_px:
                q = min(buy_left, aq)
            elif b and buy_px >= b and rand() < prob:
                q = min(buy_left, bq)
            if q > 0:
                fills += 1
                position += q
                notional += buy_px * 1e-9 * q * 1e-8
        if sell_left:
            q = 0
            if b and b >= sell_px:
                q = min(sell_left, bq)
            elif a and sell_px <= a and rand() < prob:
                q = min(sell_left, aq)
            if q > 0:
                fills += 1
                position -= q
                notional += sell_px * 1e-9 * q * 1e-8
        # the strategy: cancel, then join the touch on both sides
        buy_left = sell_left = 0
        if b > 0 and a > b:
            buy_px, buy_left = b, qty
            sell_px, sell_left = a, qty
    return fills, position, notional


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--qty", type=int, default=QTY_1E8)
    p.add_argument("--fill-prob", type=float, required=True)
    p.add_argument("--rng-seed", required=True, help="Sequence's matching seed text")
    p.add_argument("--jit", action="store_true")
    args = p.parse_args()
    day = load(args.data)
    cols = [day[k] for k in ("bid_px", "bid_qty", "ask_px", "ask_qty")]
    if args.jit:
        import numba

        fn = numba.njit(cache=False)(market_maker)
        # numba's own generator, not Python's: the same fills as Sequence only with fill_prob 0
        rand = numba.njit(lambda: random.random())
        fn(*(c[:100] for c in cols), args.qty, args.fill_prob, rand)  # compile outside the clock
        label = "numba loop"
        repeats = 25  # the day takes milliseconds here: the median of 25 runs, not one preemption
    else:
        fn, rand = market_maker, random.Random(f"sequence-match|{args.rng_seed}").random
        cols = [c.tolist() for c in cols]  # Python ints: the loop reads plain lists
        label = "plain Python loop"
        repeats = 1
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fills, position, notional = fn(*cols, args.qty, args.fill_prob, rand)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    seconds, cpu_seconds = statistics.median(walls), statistics.median(cpus)
    print(
        json.dumps(
            {
                "engine": label,
                "events": len(cols[0]),
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "fills": int(fills),
                "position": int(position) / 1e8,
                "notional": float(notional),
            }
        )
    )


if __name__ == "__main__":
    main()
