"""A run's output: which lines are stored (``LogQuota``), and storing and fanning out a batch."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from sequence_site.realtime import publish_on_commit
from strategies.lifecycle import (
    group_name,
)
from strategies.models import StrategyLog, StrategyRun
from strategies.schemas import LogLineOut
from strategies.services.artifacts import (
    MiB,
)


@dataclass(frozen=True, slots=True)
class LogRecord:
    seq: int
    stream: str
    ts: datetime
    line: str


class LogQuota:
    """What of one run's output is stored: a rate limit and a byte quota, like the algos' 200 lines/s.

    A token bucket of ``STRATEGY_LOG_LINES_PER_SECOND`` lines (bursts of ``STRATEGY_LOG_BURST_LINES``)
    and at most ``STRATEGY_LOG_MAX_MB_PER_RUN`` MiB of text per run. Dropped lines are never silent:
    ``admit`` hands back a marker line ("N lines dropped ...") to store before the next admitted line,
    at most one a second, and ``pending_marker`` the count still unreported (for the run's last words).
    A strategy that printed 300,000 lines in 21 s used to store all of them (83 MB of database).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(settings.STRATEGY_LOG_LINES_PER_SECOND)
        self.burst = float(settings.STRATEGY_LOG_BURST_LINES)
        self.max_bytes = settings.STRATEGY_LOG_MAX_MB_PER_RUN * MiB
        self.clock = clock
        self.tokens = self.burst
        self.refilled = clock()
        self.stored_bytes = 0
        self.dropped = 0  # since the last marker
        self.dropped_total = 0
        self.last_marker = float("-inf")
        self.over_quota_said = False

    def admit(self, size: int) -> tuple[bool, str | None]:
        """(store this line?, a marker line to store first, or None)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.stored_bytes + size > self.max_bytes:
            self._drop()
            if not self.over_quota_said:
                self.over_quota_said = True
                return False, self._marker(
                    now,
                    f"this run reached its log quota of {self.max_bytes // MiB} MiB; "
                    "further output is dropped",
                )
            return False, None
        if self.tokens < 1:
            self._drop()
            return False, None
        self.tokens -= 1
        self.stored_bytes += size
        if self.dropped and now - self.last_marker >= 1.0:
            return True, self._marker(now, f"over {self.rate:g} lines/s")
        return True, None

    def pending_marker(self) -> str | None:
        """The marker for drops not reported yet (call before the run's final system lines)."""
        if not self.dropped:
            return None
        return self._marker(self.clock(), "over the log limits")

    def _drop(self) -> None:
        self.dropped += 1
        self.dropped_total += 1

    def _marker(self, now: float, why: str) -> str:
        text = f"{self.dropped:,} lines dropped ({why}; {self.dropped_total:,} in this run)"
        self.dropped = 0
        self.last_marker = now
        return text


class RunGone(Exception):
    """The run's rows were deleted (the strategy was deleted) while it was writing logs."""


def strategy_logs_append(*, strategy_id: UUID, run_id: UUID, records: Sequence[LogRecord]) -> None:
    """Insert a batch of log lines and fan them out to live followers after commit."""
    if not records:
        return
    try:
        with transaction.atomic():
            _insert_logs(run_id, records)
            for chunk in _fanout_chunks(records):
                publish_on_commit(
                    group_name(strategy_id),
                    {
                        "type": "log.lines",
                        "strategy_id": str(strategy_id),
                        "run_id": str(run_id),
                        "lines": chunk,
                    },
                )
    except IntegrityError:
        if not StrategyRun.objects.filter(pk=run_id).exists():
            raise RunGone(str(run_id)) from None
        raise


FANOUT_CHUNK_BYTES = 256 * 1024


def _fanout_chunks(records: Sequence[LogRecord]) -> list[list[dict[str, Any]]]:
    """The batch as channel-layer messages of at most ~256 KiB: 2,000 lines of 16 KiB would
    otherwise be one 32 MiB message through Redis and down every follower's websocket."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for r in records:
        if chunks[-1] and size + len(r.line) > FANOUT_CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(LogLineOut.wire(r))
        size += len(r.line) + 64
    return chunks


def _insert_logs(run_id: UUID, records: Sequence[LogRecord]) -> None:
    if connection.vendor != "postgresql":
        StrategyLog.objects.bulk_create(
            [StrategyLog(run_id=run_id, seq=r.seq, stream=r.stream, ts=r.ts, line=r.line) for r in records]
        )
        return
    # COPY instead of a multi-row INSERT: 4-5x the rows/s (docs/benchmarks.md), which is what
    # lets a chatty strategy's output keep up. wrap_database_errors turns psycopg's errors into
    # Django's (IntegrityError when the run was deleted meanwhile).
    table = StrategyLog._meta.db_table
    statement = f"COPY {table} (run_id, seq, stream, ts, line) FROM STDIN"
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(statement) as copy,
    ):
        for r in records:
            copy.write_row((run_id, r.seq, r.stream, r.ts, r.line))
