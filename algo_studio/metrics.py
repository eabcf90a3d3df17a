"""Time-series of an algo's metric samples, bucketed: the read side of GET .../metrics and the charts."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from algo_studio.models import Deployment, MetricSample
from sequence_site.errors import InvalidInput

MAX_POINTS = 5000
_INTERVAL = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> int:
    """``30s``, ``1m``, ``5m``, ``1h``, ``1d`` -> seconds."""
    match = _INTERVAL.match(text.strip()) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(f"Bad interval {text!r}: use a number and a unit, e.g. 30s, 1m, 5m, 1h, 1d.")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_time(text: str, *, name: str) -> datetime:
    """ISO 8601 (``2026-01-01T00:00:00Z``, a bare date) or Unix seconds -> aware UTC datetime."""
    value = text.strip() if isinstance(text, str) else ""
    try:
        if re.fullmatch(r"-?\d+(\.\d+)?", value):
            return datetime.fromtimestamp(float(value), tz=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(
            f"Bad {name} {text!r}: use ISO 8601 (2026-01-01T00:00:00Z) or Unix seconds."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def series(
    *,
    deployment: Deployment,
    start: datetime,
    end: datetime,
    interval_s: int,
    edge_id: str | None = None,
    symbol: str | None = None,
) -> list[dict[str, Any]]:
    """One point per interval that has samples. Per (edge, symbol) the last sample of the bucket is
    its state at the bucket's end; position, PnL and fills add up across them, latency is the mean
    of every sample in the bucket."""
    if end <= start:
        raise InvalidInput("`to` must be after `from`.")
    if (end - start).total_seconds() / interval_s > MAX_POINTS:
        raise InvalidInput(f"That range and interval make over {MAX_POINTS} points: use a larger interval.")
    samples = MetricSample.objects.filter(deployment=deployment, ts__gte=start, ts__lt=end)
    if edge_id:
        samples = samples.filter(edge_id=edge_id)
    if symbol:
        samples = samples.filter(symbol=symbol)
    origin = int(start.timestamp())
    last: dict[int, dict[tuple[str, str], Any]] = defaultdict(dict)
    latency: dict[int, list[int]] = defaultdict(list)
    for sample in samples.order_by("ts", "id").iterator(chunk_size=5000):
        bucket = origin + (int(sample.ts.timestamp()) - origin) // interval_s * interval_s
        last[bucket][(sample.edge_id, sample.symbol)] = sample
        latency[bucket].append(sample.callback_latency_ns)
    points = []
    for bucket in sorted(last):
        states = last[bucket].values()
        points.append(
            {
                "ts": bucket,
                "position_1e8": sum(s.position_1e8 for s in states),
                "realized_pnl_1e9": sum(s.realized_pnl_1e9 for s in states),
                "unrealized_pnl_1e9": sum(s.unrealized_pnl_1e9 for s in states),
                "callback_latency_ns": sum(latency[bucket]) // len(latency[bucket]),
                "fill_count": sum(s.fill_count for s in states),
            }
        )
    return points
