"""What the host does to a thread that waits for frames: the yardstick for the feed benchmarks.

    .venv/bin/python bench/host_noise.py [--seconds 2] [--samples 2000]

The live feed's latency (bench/feed_to_algo.py) depends on the host as much as on our code: the same
commit met the target on one 2-vCPU VM and missed it on another the same day (docs/benchmarks.md,
"The same code on a noisy host"). Run this beside a feed benchmark to say which kind of host it ran on:

- interruptions: a thread spinning on the clock, every gap over 3 µs counted (the guest's own timer
  ticks are HZ a second; the rest are the host taking the vCPU away, invisible to the guest);
- cold work: `orjson.loads` of a Kalshi delta, back to back (warm), after 1 ms of spinning in
  Python, after 1 ms of spinning on `epoll` (what a busy-polling feed thread does), and after a 1 ms
  sleep (what a sleeping feed thread does): how much the host leaves in the caches between frames;
- a frame from another process: a child writes the delta to a socket pair every millisecond (as the
  benchmarks' fake venue does), this process spins on `epoll` and times `recv` + `orjson.loads`
  from the moment the socket is readable: the machine's floor of bench/feed_to_algo.py without
  WebSocket framing. On one host this was 5-9 µs while the single-process rows above were quiet.

Nothing here is Sequence's code; the figures are the machine's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import select
import socket
import statistics
import time

import orjson

FRAME = orjson.dumps(
    {
        "type": "orderbook_delta",
        "sid": 2,
        "seq": 5,
        "msg": {
            "market_ticker": "FED-23DEC-T3.00",
            "price_dollars": "0.3600",
            "delta_fp": "-54.00",
            "side": "yes",
            "ts": "2022-11-22T20:44:01Z",
        },
    }
)


def interruptions(seconds: float) -> tuple[int, float, float, float]:
    """Gaps over 3 µs in a spinning thread: (count per second, median, p90, max µs)."""
    clock = time.perf_counter_ns
    gaps: list[int] = []
    prev = clock()
    end = prev + int(seconds * 1e9)
    while prev < end:
        now = clock()
        if now - prev > 3000:
            gaps.append(now - prev)
        prev = now
    if not gaps:
        return 0, 0.0, 0.0, 0.0
    gaps.sort()
    return (
        round(len(gaps) / seconds),
        gaps[len(gaps) // 2] / 1e3,
        gaps[int(len(gaps) * 0.9)] / 1e3,
        gaps[-1] / 1e3,
    )


def cold_decode(mode: str, samples: int) -> tuple[float, float]:
    """`orjson.loads(FRAME)` after 1 ms of `mode`: (p50, p99 µs)."""
    ep = select.epoll()
    a, b = socket.socketpair()
    ep.register(b, select.EPOLLIN)
    out: list[int] = []
    clock, loads = time.perf_counter, orjson.loads
    try:
        for _ in range(samples):
            end = clock() + 0.001
            if mode == "spin":
                while clock() < end:
                    pass
            elif mode == "epoll":
                while clock() < end:
                    ep.poll(0)
            elif mode == "sleep":
                time.sleep(0.001)
            t0 = time.time_ns()
            loads(FRAME)
            out.append(time.time_ns() - t0)
    finally:
        ep.close()
        a.close()
        b.close()
    out.sort()
    return statistics.median(out) / 1e3, out[int(len(out) * 0.99)] / 1e3


def from_another_process(samples: int) -> tuple[float, float]:
    """`recv` + `orjson.loads` of a frame another process wrote, a frame a millisecond, this thread
    spinning on epoll: (p50, p99 µs)."""
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the sender: one frame a millisecond, paced by spinning (no sleep's wake-up)
        b.close()
        clock = time.perf_counter
        try:
            for _ in range(samples + 1):
                end = clock() + 0.001
                while clock() < end:
                    pass
                a.send(FRAME)
        finally:
            os._exit(0)
    a.close()
    b.setblocking(False)
    ep = select.epoll()
    ep.register(b, select.EPOLLIN)
    out: list[int] = []
    try:
        while len(out) < samples:
            while not ep.poll(0):
                pass
            t0 = time.time_ns()
            data = b.recv(65536)
            if not data:
                break
            orjson.loads(data[: len(FRAME)])
            out.append(time.time_ns() - t0)
    finally:
        ep.close()
        b.close()
        os.waitpid(pid, 0)
    out.sort()
    return statistics.median(out) / 1e3, out[int(len(out) * 0.99)] / 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0, help="how long the spinning thread runs")
    ap.add_argument("--samples", type=int, default=2000, help="decodes per mode")
    args = ap.parse_args()
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    print(
        f"Machine: {platform.node()}, {cpu}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
    )
    per_s, med, p90, worst = interruptions(args.seconds)
    print(f"interruptions of a spinning thread: {per_s:,} a second over 3 µs; median {med:.1f} µs, "
          f"p90 {p90:.1f}, max {worst:.1f}\n")  # fmt: skip
    print("| orjson.loads of a Kalshi delta | p50 µs | p99 µs |")
    print("|---|---|---|")
    for mode, label in (
        ("warm", "back to back (warm)"),
        ("spin", "after 1 ms spinning in Python"),
        ("epoll", "after 1 ms spinning on epoll (a busy-polling feed thread)"),
        ("sleep", "after a 1 ms sleep (a sleeping feed thread)"),
    ):
        p50, p99 = cold_decode(mode, args.samples)
        print(f"| {label} | {p50:.2f} | {p99:.2f} |")
    p50, p99 = from_another_process(args.samples)
    print(f"| recv + decode, a frame a ms from another process, spinning on epoll | {p50:.2f} | {p99:.2f} |")


if __name__ == "__main__":
    main()
