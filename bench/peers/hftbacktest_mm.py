"""The market maker on hftbacktest 2.4.4 (numba strategy, Rust engine).

    python bench/peers/hftbacktest_mm.py --data DAY.i64 --strategy mm|idle

The day's top of book becomes hftbacktest depth events: per snapshot, a side whose price moved
loses its old level (qty 0) before the new one is set, so the engine's book is always the top
of book, and all events of a snapshot share its timestamp (one ``wait_next_feed`` wakes once per
snapshot). Zero feed and order latency, no trades: with ``no_partial_fill_exchange`` a resting
buy fills, at its price, when the best ask comes down to it (a sell when the bid comes up), as in
Sequence's replay with fill_prob_at_touch 0.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from hftbacktest import (
    DEPTH_EVENT,
    EXCH_EVENT,
    GTC,
    LIMIT,
    LOCAL_EVENT,
    NEW,
    BacktestAsset,
    HashMapMarketDepthBacktest,
)
from hftbacktest.binding import event_dtype
from hftbacktest.types import BUY_EVENT, SELL_EVENT
from numba import njit
from peers_data import load

TICK, LOT = 0.01, 1e-8
BID_EV = EXCH_EVENT | LOCAL_EVENT | BUY_EVENT | DEPTH_EVENT
ASK_EV = EXCH_EVENT | LOCAL_EVENT | SELL_EVENT | DEPTH_EVENT
INVALID_MIN, INVALID_MAX = -(2**63), 2**63 - 1  # hftbacktest's empty-side ticks (i64 bounds)
FOREVER = 10**15  # wait_next_feed's timeout (ns): longer than the day


def to_events(ts, bid_px, bid_qty, ask_px, ask_qty):
    """Top-of-book snapshots -> hftbacktest depth events (prices and sizes as floats)."""
    rows = []
    pb = pa = 0
    cols = (ts.tolist(), bid_px.tolist(), bid_qty.tolist(), ask_px.tolist(), ask_qty.tolist())
    for t, b, bq, a, aq in zip(*cols, strict=True):
        if pb and b != pb:
            rows.append((BID_EV, t, t, pb * 1e-9, 0.0))
        if pa and a != pa:
            rows.append((ASK_EV, t, t, pa * 1e-9, 0.0))
        if b:
            rows.append((BID_EV, t, t, b * 1e-9, bq * 1e-8))
        if a:
            rows.append((ASK_EV, t, t, a * 1e-9, aq * 1e-8))
        pb, pa = b, a
    out = np.zeros(len(rows), event_dtype)
    for k, name in enumerate(("ev", "exch_ts", "local_ts", "px", "qty")):
        out[name] = [r[k] for r in rows]
    return out


@njit
def market_maker(hbt, qty):
    next_id = 1
    feeds = 0
    while hbt.wait_next_feed(False, FOREVER) == 2:
        feeds += 1
        # cancel both quotes (an order already filled is gone from the book)
        values = hbt.orders(0).values()
        while True:
            order = values.next()
            if order is None:
                break
            if order.status == NEW:
                hbt.cancel(0, order.order_id, False)
        hbt.clear_inactive_orders(0)
        depth = hbt.depth(0)
        bid, ask = depth.best_bid_tick, depth.best_ask_tick
        if bid == INVALID_MIN or ask == INVALID_MAX or ask <= bid:
            continue
        hbt.submit_buy_order(0, next_id, bid * TICK, qty, GTC, LIMIT, False)
        hbt.submit_sell_order(0, next_id + 1, ask * TICK, qty, GTC, LIMIT, False)
        next_id += 2
    return feeds


@njit
def do_nothing(hbt, qty):
    feeds = 0
    while hbt.wait_next_feed(False, FOREVER) == 2:
        feeds += 1
    return feeds


def backtest(events):
    asset = (
        BacktestAsset()
        .data([events])
        .linear_asset(1.0)
        .constant_order_latency(0, 0)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.004, 0.006)
        .tick_size(TICK)
        .lot_size(LOT)
    )
    return HashMapMarketDepthBacktest([asset])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--strategy", choices=("mm", "idle"), required=True)
    p.add_argument("--qty", type=float, default=0.5)
    args = p.parse_args()
    day = load(args.data)
    events = to_events(*(day[k] for k in ("ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty")))
    strategy = market_maker if args.strategy == "mm" else do_nothing
    warm = backtest(events[:2000])  # compile the strategy outside the clock
    strategy(warm, args.qty)
    warm.close()
    hbt = backtest(events)
    t0, c0 = time.perf_counter(), time.process_time()
    feeds = strategy(hbt, args.qty)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    sv = hbt.state_values(0)
    print(
        json.dumps(
            {
                "engine": "hftbacktest",
                "events": int(len(day["ts_ns"])),
                "feeds": int(feeds),
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "fills": int(sv.num_trades),
                "position": round(float(hbt.position(0)), 8),
                "notional": float(sv.trading_value),
            }
        )
    )
    hbt.close()


if __name__ == "__main__":
    main()
