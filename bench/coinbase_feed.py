"""Coinbase level2 frames through the sans-I/O protocol (venues.coinbase.feed), no I/O.

The stream is the captured snapshot (tests/fakevenues/fixtures/coinbase/ws_messages.json) followed
by updates shaped exactly like the captured update (two levels per message, sizes changing at the
captured prices, one in ten removing a level and the next putting it back), numbered like one
connection, with a heartbeat every 100 frames. Each round feeds a fresh protocol every frame and
reports frames/s; the figure is the median of the rounds. The baseline in the same run is
`orjson.loads` alone on the same frames (the decode every protocol pays).

    .venv/bin/python bench/coinbase_feed.py [frames] [rounds]
"""

from __future__ import annotations

import copy
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakevenues.coinbase import fixture  # noqa: E402
from venues.coinbase.feed import CoinbaseFeed  # noqa: E402
from venues.live.protocol import BookChanged  # noqa: E402


def stream(n: int) -> list[bytes]:
    ws = fixture("ws_messages.json")
    snap = copy.deepcopy(ws["l2_data_snapshot"])
    snap["sequence_num"] = 0
    frames = [orjson.dumps(snap)]
    update = ws["l2_data_update"]
    heartbeat = ws["heartbeats"]
    bids = ["68900.00", "68899.50", "68899.00"]
    offers = ["68901.00", "68901.50", "68902.00"]
    for seq in range(1, n):
        if seq % 100 == 0:
            hb = copy.deepcopy(heartbeat)
            hb["sequence_num"] = seq
            hb["events"][0]["heartbeat_counter"] = seq // 100
            frames.append(orjson.dumps(hb))
            continue
        msg = copy.deepcopy(update)
        msg["sequence_num"] = seq
        a, b = msg["events"][0]["updates"]
        a["price_level"] = bids[seq % 3]
        a["new_quantity"] = f"{1 + seq % 7}.{seq % 100:02d}000000"
        b["price_level"] = offers[seq % 3]
        b["new_quantity"] = "0.00000000" if seq % 10 == 0 else f"0.{5 + seq % 4}0000000"
        frames.append(orjson.dumps(msg))
    return frames


def run_protocol(frames: list[bytes]) -> tuple[float, int]:
    feed = CoinbaseFeed(["BTC/USD"], ws_url="ws://bench/")
    feed.on_open()
    on_frame = feed.on_frame
    books = 0
    t0 = time.perf_counter()
    for i, f in enumerate(frames):
        for ev in on_frame(f, i):
            if type(ev) is BookChanged:
                books += 1
    return time.perf_counter() - t0, books


def run_decode(frames: list[bytes]) -> float:
    loads = orjson.loads
    t0 = time.perf_counter()
    for f in frames:
        loads(f)
    return time.perf_counter() - t0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    frames = stream(n)
    proto, base, books = [], [], 0
    for _ in range(rounds):  # interleaved, so both see the same machine
        base.append(len(frames) / run_decode(frames))
        secs, books = run_protocol(frames)
        proto.append(len(frames) / secs)
    med, bmed = statistics.median(proto), statistics.median(base)
    print(f"coinbase level2 protocol: {len(frames):,} frames ({books:,} books published), {rounds} rounds")
    print(f"  protocol (decode + book + snapshot): median {med:,.0f} frames/s ({1e6 / med:.2f} us/frame)")
    print(f"  baseline orjson.loads alone:         median {bmed:,.0f} frames/s ({1e6 / bmed:.2f} us/frame)")
    print(f"  rounds: protocol {', '.join(f'{x:,.0f}' for x in proto)}")


if __name__ == "__main__":
    main()
