"""Deterministic, seeded market data for the simulated venues.

`MarketSimulator(instrument, seed, start_ns)` yields `BookSnapshot`s: one per book update, with
exponential inter-arrival times (so a liquid spot pair gets ~90k updates per simulated day and a
month ~2.7M), a latent fair price that random-walks (GBM for spot, a bounded walk in probability
for prediction markets), occasional jumps, volatility regimes that widen the spread, several depth
levels with varying sizes, every price on the tick grid and inside the instrument's bounds, and
one-sided books where the instrument says so.

Spot prices on different venues follow one market. The latent fair price of a base asset (ETH) is
a `ReferencePath` shared by every venue and every pair of that asset (ETH/USD and ETH/USDC, each
times its own reference price) and anchored to absolute time: its level at a moment depends only
on (market seed, asset, moment). Each venue's book sits on that path with
its own moves within each second of it (a Brownian bridge pinned to the path at every second), its
own spreads, sizes, depth and update times. So Kraken's and Coinbase's ETH/USD differ by about a
basis point (mostly the market's move since the staler book updated), not by the percents two
independent walks drift apart; a restarted edge continues where the market is now instead of
starting again from the reference price; and a backtest month is one continuous path across its
days. Prediction markets (each symbol listed on one venue) keep a bounded walk of their own.

Determinism: every random draw comes from `random.Random`s seeded with strings (hashed with
SHA-512 by `random`, so PYTHONHASHSEED does not matter): the venue's own draws from (seed,
instrument's seed key), the reference path from (market seed, base asset) and the hour. Same
(instrument, seed, market seed, start_ns) → the identical sequence; another seed → another
sequence. The YES and NO tokens of a market share their seed key: run with the same seed they show
the same event times and exactly mirrored books.

Speed: the generator keeps its whole state in locals and draws one 64-bit random number per event;
each field of the event (inter-arrival, shock, spread, sizes, rare events) takes its own bits and
looks up precomputed tables. A snapshot stores the top of book as plain attributes and shares
immutable depth "shapes" with its neighbours; the depth levels are only materialised (and then
cached) when `bids`/`asks` is read, which the matching engine does only when an order is at or
through the touch.
"""

from __future__ import annotations

import math
import random
import sys
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterator
from itertools import accumulate
from statistics import NormalDist

from venues.book import BookSnapshot
from venues.instruments import PRICE_SCALE, Instrument

__all__ = ["MarketSimulator", "ReferencePath", "reference_path"]

_Shape = tuple[int, tuple[tuple[int, int], ...]]  # (limit price, ((offset_px, qty), ...)) levels 1..N-1

_NS_PER_YEAR = 365 * 86_400 * 1_000_000_000
_TBITS = 12
_TSIZE = 1 << _TBITS
_TMASK = _TSIZE - 1


def _quantile_tables() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Standard normal and unit exponential quantiles at the 4096 bin midpoints, rescaled to unit
    variance / unit mean so that the discretised distributions keep the nominal moments."""
    nd = NormalDist()
    z = [nd.inv_cdf((i + 0.5) / _TSIZE) for i in range(_TSIZE)]
    sd = math.sqrt(math.fsum(v * v for v in z) / _TSIZE)
    e = [-math.log1p(-(i + 0.5) / _TSIZE) for i in range(_TSIZE)]
    mean = math.fsum(e) / _TSIZE
    return tuple(v / sd for v in z), tuple(v / mean for v in e)


_Z, _EXP = _quantile_tables()

# Volatility regimes: (volatility multiplier, spread multiplier range). Calm markets quote the
# typical spread; volatile ones (after a jump, say) quote several times wider. A switch leaves
# calm and volatile for normal, and normal for calm (3/4) or volatile (1/4): the stationary mix is
# 3/8 calm, 1/2 normal, 1/8 volatile. The multipliers are rescaled so that the mix has the
# instrument's nominal variance.
_REGIMES_RAW: tuple[tuple[float, float, float], ...] = (
    (0.6, 1.0, 1.4),  # calm
    (1.0, 1.0, 2.4),  # normal
    (2.2, 2.0, 6.0),  # volatile
)
_REGIME_MIX = (3 / 8, 1 / 2, 1 / 8)
_VOL_NORM = math.sqrt(math.fsum(w * r[0] ** 2 for w, r in zip(_REGIME_MIX, _REGIMES_RAW, strict=True)))
_REGIMES = tuple((vm / _VOL_NORM, lo, hi) for vm, lo, hi in _REGIMES_RAW)
_SWITCHES_PER_DAY = 24.0
_JUMPS_PER_DAY = 2.0
_SHAPE_SWAP_PROB = 1 / 8  # how often the depth beyond the touch changes
_SHAPES = 32  # depth shapes per side in the pool


# --------------------------------------------------------------------------------------------------
# The shared reference path of a spot pair

_NS_PER_SECOND = 1_000_000_000
_SECONDS_PER_HOUR = 3_600
_NS_PER_HOUR = _SECONDS_PER_HOUR * _NS_PER_SECOND
_MEAN_REVERSION_DAYS = 60.0  # the daily level reverts to the reference price over months (sd ~ 5.5 daily sds)
_HOURS_KEPT = 4  # per path: the hour grids recently used (the venues and pairs of a process share them)
_PATHS_KEPT = 16  # paths per process (a backtest worker meets one per seed and asset)


class ReferencePath:
    """The fair price of one spot asset as a function of absolute time, shared by every venue and
    pair trading it: `hour(h)` is the relative level (1.0 = a pair's reference price) at each second of the
    UTC hour `h` (hours since 1970), 3,601 values from the hour's start to the next hour's start.

    Built coarse to fine, so any hour is computed on its own, in under a millisecond:
    - the level at each UTC midnight is a mean-reverting walk in log price (one draw per day since
      1970, kept: a few milliseconds once per path);
    - the 24 hourly levels of a day are a Brownian bridge between that midnight and the next;
    - the seconds of an hour are a bridge between its two hourly levels, with the volatility
      regimes and jumps of the module's model (relative moves from the hour's first level, which
      is exact enough at an hour's scale). The same draws give the same hour, whichever hour was
      asked for first.
    """

    def __init__(self, market_seed: int | str, asset: str, volatility: float) -> None:
        self.key = f"sequence-path|{market_seed}|{asset}|{volatility!r}"
        self._daily_sd = volatility / math.sqrt(365.0)
        self._phi = math.exp(-1.0 / _MEAN_REVERSION_DAYS)
        self._second_sd = volatility / math.sqrt(365.0 * 86_400.0)
        self._midnights = array("d", [0.0])  # log level at each UTC midnight since 1970
        self._midnight_rng = random.Random(self.key + "|days")
        self._days: OrderedDict[int, tuple[float, ...]] = OrderedDict()
        self._hours: OrderedDict[int, list[float]] = OrderedDict()
        self._lock = threading.Lock()  # the edge's threads and a backtest may share a path

    def _midnight(self, day: int) -> float:
        levels = self._midnights
        if len(levels) <= day:
            phi, sd, gauss = self._phi, self._daily_sd, self._midnight_rng.gauss
            last = levels[-1]
            while len(levels) <= day:
                last = last * phi + sd * gauss(0.0, 1.0)
                levels.append(last)
        return levels[day]

    def _hourly(self, day: int) -> tuple[float, ...]:
        """Log levels at the 25 hour marks of `day`, both midnights included."""
        hours = self._days.get(day)
        if hours is None:
            start, end = self._midnight(day), self._midnight(day + 1)
            rng = random.Random(f"{self.key}|day|{day}")
            sd = self._daily_sd / math.sqrt(24.0)
            walk = [0.0]
            for _ in range(24):
                walk.append(walk[-1] + sd * rng.gauss(0.0, 1.0))
            miss = walk[24] - (end - start)
            hours = tuple(start + walk[k] - miss * k / 24.0 for k in range(25))
            self._days[day] = hours
            if len(self._days) > 4:
                self._days.popitem(last=False)
        return hours

    def hour(self, hour: int) -> list[float]:
        """Relative levels at each second of UTC hour `hour`, both ends included (3,601 values)."""
        if hour < 0:
            raise ValueError("the path starts in 1970: hour must be >= 0")
        with self._lock:
            grid = self._hours.get(hour)
            if grid is not None:
                self._hours.move_to_end(hour)
                return grid
            day, k = divmod(hour, 24)
            marks = self._hourly(day)
            grid = self._seconds(hour, marks[k], marks[k + 1])
            self._hours[hour] = grid
            if len(self._hours) > _HOURS_KEPT:
                self._hours.popitem(last=False)
            return grid

    def _seconds(self, hour: int, start: float, end: float) -> list[float]:
        rng = random.Random(f"{self.key}|hour|{hour}")
        n = _SECONDS_PER_HOUR
        mults = tuple(vm for vm, _, _ in _REGIMES)
        # The regime at the hour's start is drawn from the stationary mix. Switches and jumps come
        # at the module's daily rates, as a Poisson process over the hour's seconds.
        u0 = rng.random()
        regime = 0 if u0 < _REGIME_MIX[0] else 1 if u0 < _REGIME_MIX[0] + _REGIME_MIX[1] else 2
        rare_rate = (_SWITCHES_PER_DAY + _JUMPS_PER_DAY) / 86_400.0
        p_jump = _JUMPS_PER_DAY / (_SWITCHES_PER_DAY + _JUMPS_PER_DAY)
        rare: list[int] = []
        t = rng.expovariate(rare_rate)
        while t < n:
            rare.append(int(t))
            t += rng.expovariate(rare_rate)
        z_tab = _Z
        draws = array("H", rng.randbytes(2 * n))
        if sys.byteorder == "big":
            draws.byteswap()  # the same path on every machine
        unit = [z_tab[v & _TMASK] for v in draws]  # N(0,1) per second
        # Segments of one regime, and the log moves of the jumps between them.
        segments: list[tuple[int, int, float]] = []  # (first second, end, sd)
        jumps: dict[int, float] = {}
        done = 0
        for i in rare:
            segments.append((done, i + 1, self._second_sd * mults[regime]))
            done = i + 1
            if rng.random() < p_jump:
                sign = 1.0 if rng.random() < 0.5 else -1.0
                jumps[i] = jumps.get(i, 0.0) + sign * (0.05 + 0.2 * rng.random()) * self._daily_sd
                regime = 2  # news: the walk speeds up
            else:
                regime = 1 if regime != 1 else (2 if rng.random() < 0.25 else 0)
        segments.append((done, n, self._second_sd * mults[regime]))
        # Within the hour the walk is relative to its first level (the moves are small). The bridge
        # spreads the miss over the seconds so that the hour ends exactly at the next hour's level,
        # and hours join without a gap.
        total = sum(sd * sum(unit[a:b]) for a, b, sd in segments) + sum(jumps.values())
        scale = math.exp(start)
        miss = scale * (total - math.expm1(end - start)) / n
        steps: list[float] = []
        for a, b, sd in segments:
            k = scale * sd
            steps.extend([k * x - miss for x in unit[a:b]])
        for i, move in jumps.items():
            steps[i] += scale * move
        return list(accumulate(steps, initial=scale))

    def level(self, ts_ns: int) -> float:
        """The relative level at `ts_ns`, linear between the seconds."""
        hour, off = divmod(ts_ns, _NS_PER_HOUR)
        grid = self.hour(hour)
        i, rem = divmod(off, _NS_PER_SECOND)
        return grid[i] + (grid[i + 1] - grid[i]) * (rem / _NS_PER_SECOND)


_PATHS: OrderedDict[tuple[str, str, float], ReferencePath] = OrderedDict()
_PATHS_LOCK = threading.Lock()


def reference_path(market_seed: int | str, asset: str, volatility: float) -> ReferencePath:
    """The process's `ReferencePath` of (market seed, asset): every simulator of the asset in this
    process (the venues and pairs of one edge process, a backtest's days) shares its computed hours."""
    key = (str(market_seed), asset, volatility)
    with _PATHS_LOCK:
        path = _PATHS.get(key)
        if path is None:
            path = _PATHS[key] = ReferencePath(market_seed, asset, volatility)
            if len(_PATHS) > _PATHS_KEPT:
                _PATHS.popitem(last=False)
        else:
            _PATHS.move_to_end(key)
        return path


def _round_qty(value: float, lot: int, floor: int) -> int:
    """A displayed size: `value` rounded to the lot grid, never below `floor` (the min order)."""
    q = int(round(value / lot)) * lot
    return max(q, floor)


class MarketSimulator:
    """Seeded book updates for one instrument.

    `next_event()` returns the next snapshot; iterating the simulator yields snapshots forever;
    `generate(start_ns, end_ns)` yields those with start_ns <= ts_ns < end_ns and keeps the first
    one at/after `end_ns` pending, so consecutive windows chain without losing an event. The first
    event is the initial book at exactly `start_ns`; event times are strictly increasing.

    `market_seed` (default: `seed`) seeds a spot pair's `ReferencePath`, the market every venue
    shares: simulators of one symbol on two venues with one market seed quote the same market.
    `mean_interval_ns` overrides the instrument's update rate; `start_price_1e9` scales the path so
    that it starts at this price (e.g. the last real quote) instead of where the market is.
    """

    __slots__ = ("instrument", "seed", "market_seed", "start_ns", "mean_interval_ns", "_gen", "_pending")

    def __init__(
        self,
        instrument: Instrument,
        seed: int | str,
        start_ns: int,
        *,
        market_seed: int | str | None = None,
        mean_interval_ns: int | None = None,
        start_price_1e9: int | None = None,
    ) -> None:
        if mean_interval_ns is None:
            mean_interval_ns = instrument.mean_interval_ns
        if mean_interval_ns <= 0:
            raise ValueError("mean_interval_ns must be > 0")
        if start_ns < 0:
            raise ValueError("start_ns must be >= 0 (nanoseconds since 1970)")
        if start_price_1e9 is not None and not (
            instrument.min_price_1e9 <= start_price_1e9 <= instrument.max_price_1e9
        ):
            raise ValueError(f"start price {start_price_1e9} outside the instrument's bounds")
        self.instrument = instrument
        self.seed = seed
        self.market_seed = seed if market_seed is None else market_seed
        self.start_ns = int(start_ns)
        self.mean_interval_ns = int(mean_interval_ns)
        rng = random.Random(f"sequence-sim|{seed}|{instrument.seed_key}")
        path = None
        if not instrument.is_prediction:
            asset = instrument.base or instrument.symbol
            path = reference_path(self.market_seed, asset, instrument.volatility)
        self._gen: Iterator[BookSnapshot] = _events(
            instrument,
            rng,
            self.start_ns,
            self.mean_interval_ns,
            instrument.ref_price_1e9 if start_price_1e9 is None else int(start_price_1e9),
            path,
            start_price_1e9 is not None,
        )
        self._pending: BookSnapshot | None = None

    def next_event(self) -> BookSnapshot:
        """The next book update (never ends)."""
        snap = self._pending
        if snap is not None:
            self._pending = None
            return snap
        return next(self._gen)

    def __iter__(self) -> Iterator[BookSnapshot]:
        return self.generate()

    def generate(self, start_ns: int | None = None, end_ns: int | None = None) -> Iterator[BookSnapshot]:
        """Yield the updates with start_ns <= ts_ns < end_ns (None: unbounded) in time order.

        Updates before `start_ns` are generated and dropped (fast-forward at generation speed);
        the simulator cannot go back in time, so a `start_ns` already passed yields from "now".
        """
        gen = self._gen
        snap = self._pending
        self._pending = None
        if snap is None:
            snap = next(gen)
        if start_ns is not None:
            while snap.ts_ns < start_ns:
                snap = next(gen)
        if end_ns is None:
            yield snap
            yield from gen
            return
        if snap.ts_ns >= end_ns:
            self._pending = snap
            return
        yield snap
        for snap in gen:
            if snap.ts_ns >= end_ns:
                self._pending = snap
                return
            yield snap

    def skip_to(self, ts_ns: int) -> int:
        """Drop every update before `ts_ns`; returns how many were dropped."""
        n = 0
        snap = self.next_event()
        gen = self._gen
        while snap.ts_ns < ts_ns:
            n += 1
            snap = next(gen)
        self._pending = snap
        return n

    def peek(self) -> BookSnapshot:
        """The next update without consuming it."""
        if self._pending is None:
            self._pending = next(self._gen)
        return self._pending


def _spread_table(typical: int, max_spread: int, lo: float, hi: float) -> tuple[int, ...]:
    """16 spread widths in ticks, skewed towards the low end of [typical*lo, typical*hi]."""
    out = []
    for k in range(16):
        f = lo + (hi - lo) * (k / 15) ** 2
        out.append(min(max_spread, max(1, int(round(typical * f)))))
    return tuple(out)


def _events(
    inst: Instrument,
    rng: random.Random,
    start_ns: int,
    mean_ns: int,
    start_px: int,
    path: ReferencePath | None,
    rescale: bool,
) -> Iterator[BookSnapshot]:
    """The event generator. All state is local for speed; see the module docstring for the model.

    Spot: the fair price is `path` (relative, times the reference price, or scaled so that it is
    `start_px` at `start_ns` when `rescale`) with this venue's bridge within each second.
    Prediction: a bounded walk from `start_px`; NO tokens are simulated in YES space (the YES
    token's latent probability) and mirrored on output, so a YES and a NO simulator with the same
    seed agree exactly.
    """
    one = PRICE_SCALE
    tick = inst.tick_1e9
    pred = inst.is_prediction
    mirror = inst.mirror_of is not None
    sides: str = inst.book_sides
    if mirror:
        # In YES space, the NO token's bids are YES asks and vice versa.
        sides = {"bids_only": "asks_only", "asks_only": "bids_only"}.get(sides, sides)
        start_px = one - start_px
        lo_px, hi_px = one - inst.max_price_1e9, one - inst.min_price_1e9
    else:
        lo_px, hi_px = inst.min_price_1e9, inst.max_price_1e9
    has_bid = sides != "asks_only"
    has_ask = sides != "bids_only"
    lo_t = -(-lo_px // tick)  # first tick index inside the bounds
    hi_t = hi_px // tick
    n_ticks = one // tick  # ticks per 1.0 (prediction: price of certainty)

    # --- per-event volatility, in ticks -----------------------------------------------------------
    events_per_year = _NS_PER_YEAR / mean_ns
    sigma_event = inst.volatility / math.sqrt(events_per_year)
    # Spot: fair += fair * c * z (relative). Prediction: fair += c * z * fair * (N - fair), which is
    # sigma_event*N*z at p=0.5 and shrinks like 4p(1-p) towards the bounds.
    base_c = sigma_event if not pred else 4.0 * sigma_event / n_ticks
    steps = tuple(base_c * vm for vm, _, _ in _REGIMES)
    spreads = tuple(_spread_table(inst.spread_ticks, inst.max_spread_ticks, lo, hi) for _, lo, hi in _REGIMES)

    # --- rare events, as thresholds on 20 random bits ------------------------------------------------
    per_day = 86_400e9 / mean_ns
    p_jump = max(1, int((1 << 20) * _JUMPS_PER_DAY / per_day))
    p_switch = max(1, int((1 << 20) * _SWITCHES_PER_DAY / per_day))
    p_swap = int((1 << 20) * _SHAPE_SWAP_PROB)
    cut_jump, cut_switch, cut_rare = p_jump, p_jump + p_switch, p_jump + p_switch + p_swap

    # --- tables drawn once from the rng: inter-arrival times, sizes, depth shapes ----------------------
    dtt = tuple(max(1, int(round(mean_ns * e))) for e in _EXP)
    lot = inst.lot_1e8
    qmin = max(inst.min_qty_1e8, lot)
    touch = inst.touch_qty_1e8
    # Touch sizes: lognormal around the instrument's median (sigma 0.8), in a shuffled table so
    # 8 random bits pick one.
    qtab = [_round_qty(touch * math.exp(0.8 * _Z[(i * _TSIZE) // 256 + 8]), lot, qmin) for i in range(256)]
    rng.shuffle(qtab)
    qtab_t = tuple(qtab)
    depth = max(1, inst.depth_levels)
    gap_max = max(1, inst.level_gap_ticks)

    def make_pairs() -> tuple[tuple[int, int], ...]:
        pairs = []
        off = 0
        for i in range(1, depth):
            off += 1 + int((gap_max - 1) * rng.random() ** 2)
            size = touch * (1.0 + 0.35 * i) * math.exp(0.6 * _Z[rng.getrandbits(_TBITS)])
            pairs.append((off * tick, _round_qty(size, lot, qmin)))
        return tuple(pairs)

    bid_pool = [make_pairs() for _ in range(_SHAPES)]  # YES-space bid depth
    ask_pool = [make_pairs() for _ in range(_SHAPES)]  # YES-space ask depth
    out_lo, out_hi = inst.min_price_1e9, inst.max_price_1e9
    if mirror:
        out_bid_shapes: list[_Shape] = [(out_lo, p) for p in ask_pool]
        out_ask_shapes: list[_Shape] = [(out_hi, p) for p in bid_pool]
    else:
        out_bid_shapes = [(out_lo, p) for p in bid_pool]
        out_ask_shapes = [(out_hi, p) for p in ask_pool]

    # --- spot: the shared path, and this venue's Brownian bridge between its seconds --------------
    # Between two seconds of the path the price is not a straight line (that would make the next
    # move predictable): each venue draws its own bridge, pinned to the path at every second, with
    # the volatility of a second. So venues agree at the seconds and differ a little in between.
    grid: list[float] = []
    hour_start = hour_end = 0
    base = start_px / tick  # the path's 1.0, in ticks
    bridge_sds = tuple(inst.volatility / math.sqrt(365.0 * 86_400.0) * vm for vm, _, _ in _REGIMES)
    bridge_sd = bridge_sds[1]
    cur_i = -1  # the second the bridge is in
    # sqrt(f * (1 - f)), the bridge's sd from the second's start, per 2^20 ns of the second
    bridge_tab = tuple(
        math.sqrt(f * (1.0 - f)) for f in (min(1.0, (k + 0.5) * (1 << 20) * 1e-9) for k in range(954))
    )
    g0 = dg = frac = dev = 0.0
    sqrt = math.sqrt
    ns_hour, ns_second = _NS_PER_HOUR, _NS_PER_SECOND
    if path is not None:
        if rescale:
            base /= path.level(start_ns)
        hour_start = start_ns - start_ns % _NS_PER_HOUR
        hour_end = hour_start + _NS_PER_HOUR
        grid = [v * base for v in path.hour(hour_start // _NS_PER_HOUR)]  # in ticks

    # --- state ---------------------------------------------------------------------------------
    fair = start_px / tick  # latent fair price in ticks (YES space)
    flo, fhi = float(lo_t), float(hi_t)
    regime = 1
    step = steps[regime]
    spread_t = spreads[regime]
    bsi = asi = 0  # YES-space shape indices
    b_shape_out = out_bid_shapes[asi] if mirror else out_bid_shapes[bsi]
    a_shape_out = out_ask_shapes[bsi] if mirror else out_ask_shapes[asi]
    pb = pa = -1  # previous YES-space best bid/ask tick indices
    bq = aq = qtab_t[0]
    getbits = rng.getrandbits
    new = object.__new__
    snap_cls = BookSnapshot
    z_tab = _Z
    next_ts = start_ns

    while True:
        r = getbits(64)
        ts = next_ts
        next_ts = ts + dtt[r & _TMASK]
        z = z_tab[(r >> 12) & _TMASK]
        u = (r >> 24) & 0xFFFFF
        if u < cut_rare:
            # Rare branch (~13% of events): a jump, a regime switch or a new depth shape.
            r2 = getbits(32)
            if u < cut_jump:
                size = (r2 & 0xFFFF) / 65536.0
                sign = 1.0 if r2 & 0x10000 else -1.0
                if pred:
                    # 1..4 probability points at p=0.5, less near the bounds.
                    fair += sign * (0.01 + 0.03 * size) * 4.0 * fair * (n_ticks - fair) / n_ticks
                # Spot: the shared path has the market's jumps; here, a venue's own shock.
                regime = 2  # news: the spread widens and the walk speeds up
            elif u < cut_switch:
                regime = 1 if regime != 1 else (2 if r2 & 3 == 0 else 0)
            elif r2 & 1:
                bsi = (r2 >> 1) % _SHAPES
            else:
                asi = (r2 >> 1) % _SHAPES
            step = steps[regime]
            bridge_sd = bridge_sds[regime]
            spread_t = spreads[regime]
            if mirror:
                b_shape_out, a_shape_out = out_bid_shapes[asi], out_ask_shapes[bsi]
            else:
                b_shape_out, a_shape_out = out_bid_shapes[bsi], out_ask_shapes[asi]
        if pred:
            fair += step * z * fair * (n_ticks - fair)
            if fair < flo:
                fair = flo + (flo - fair)
            elif fair > fhi:
                fair = fhi - (fair - fhi)
        else:
            if ts >= hour_end:
                hour_start = ts - ts % ns_hour
                hour_end = hour_start + ns_hour
                grid = [v * base for v in path.hour(hour_start // ns_hour)]  # type: ignore[union-attr]
                cur_i = -1
            i, rem = divmod(ts - hour_start, ns_second)
            f = rem * 1e-9
            if i != cur_i:  # a new second: the bridge starts from the path's level
                cur_i = i
                g0 = grid[i]
                dg = grid[i + 1] - g0
                dev = bridge_sd * z * bridge_tab[rem >> 20]
            else:
                # The bridge from (frac, dev) to (1, 0), at f: mean dev*(1-f)/(1-frac), variance
                # sd^2*(f-frac)*(1-f)/(1-frac). f >= frac: event times increase.
                left = 1.0 - f
                rest = 1.0 - frac
                dev = dev * left / rest + bridge_sd * z * sqrt((f - frac) * left / rest)
            frac = f
            fair = (g0 + dg * f) * (1.0 + dev)
        s = spread_t[(r >> 44) & 15]
        b = int(fair - s * 0.5)
        a = b + s
        if b < lo_t:
            b = lo_t
            if a <= b:
                a = b + 1
        if a > hi_t:
            a = hi_t
            if b >= a:
                b = a - 1
        if b != pb or a != pa:
            # The queue at a new best price is a fresh draw; an unchanged side keeps its size.
            if b != pb:
                bq = qtab_t[(r >> 48) & 255]
                pb = b
            if a != pa:
                aq = qtab_t[(r >> 56) & 255]
                pa = a
        elif r & 0x1000:
            bq = qtab_t[(r >> 48) & 255]
        else:
            aq = qtab_t[(r >> 56) & 255]

        snap = new(snap_cls)
        snap.ts_ns = ts
        if mirror:
            if has_ask:
                snap.bid_px = one - a * tick
                snap.bid_qty = aq
            else:
                snap.bid_px = snap.bid_qty = 0
            if has_bid:
                snap.ask_px = one - b * tick
                snap.ask_qty = bq
            else:
                snap.ask_px = snap.ask_qty = 0
        else:
            if has_bid:
                snap.bid_px = b * tick
                snap.bid_qty = bq
            else:
                snap.bid_px = snap.bid_qty = 0
            if has_ask:
                snap.ask_px = a * tick
                snap.ask_qty = aq
            else:
                snap.ask_px = snap.ask_qty = 0
        snap._bshape = b_shape_out
        snap._ashape = a_shape_out
        snap._bids = snap._asks = None
        yield snap
