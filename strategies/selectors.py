"""Reads about hosted strategies, always filtered by the caller's client and mode."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db.models import QuerySet

from sequence_site.errors import InvalidInput, NotFound
from sequence_site.scope import Scope
from strategies.models import Strategy, StrategyLog, StrategyRun, StrategyTransition

MAX_LOG_PAGE = 5000
MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_CURSOR = 2**63 - 1  # seq is a bigint


def strategy_list(*, scope: Scope) -> QuerySet[Strategy]:
    """The scope's strategies of its mode, by name."""
    return (
        Strategy.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox)
        .select_related("current_run")
        .order_by("name")
    )


def strategy_get(*, scope: Scope, strategy_id: UUID | str) -> Strategy:
    """One strategy of the scope, by id; ``NotFound`` for another client's or another mode's."""
    try:
        pk = strategy_id if isinstance(strategy_id, UUID) else UUID(str(strategy_id))
    except ValueError:
        raise NotFound(f"Strategy {strategy_id} not found.") from None
    strategy = strategy_list(scope=scope).filter(pk=pk).first()
    if strategy is None:
        raise NotFound(f"Strategy {strategy_id} not found.")
    return strategy


def strategy_runs(*, strategy: Strategy, limit: int = 20) -> list[StrategyRun]:
    return list(strategy.runs.order_by("-created_at")[:limit])


def strategy_transitions(*, strategy: Strategy, limit: int = 30) -> list[StrategyTransition]:
    return list(strategy.transitions.select_related("run").order_by("-created_at", "-pk")[:limit])


def strategy_run_get(*, strategy: Strategy, run_id: UUID | str | None) -> StrategyRun | None:
    """The named run of this strategy, or its latest run when ``run_id`` is None (None if it never ran)."""
    if run_id is None or run_id == "":
        return strategy.runs.order_by("-created_at").first()
    try:
        pk = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
    except ValueError:
        raise InvalidInput(f"run_id {run_id!r} is not a run id (a UUID).") from None
    run = strategy.runs.filter(pk=pk).first()
    if run is None:
        raise NotFound(f"Run {run_id} of strategy {strategy.name!r} not found.")
    return run


def strategy_status(*, strategy_id: UUID) -> str | None:
    """The strategy's status; None once it is deleted."""
    return Strategy.objects.filter(pk=strategy_id).values_list("status", flat=True).first()


def strategy_latest_run_id(*, strategy_id: UUID) -> UUID | None:
    """The id of the strategy's latest run; None if it never ran (or is deleted)."""
    return (
        StrategyRun.objects.filter(strategy_id=strategy_id)
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )


def strategy_run_find(*, strategy_id: UUID, run_id: UUID | str) -> StrategyRun | None:
    """A run of this strategy by id, without a scope check (the caller already made one); None
    when it is gone."""
    return StrategyRun.objects.filter(pk=run_id, strategy_id=strategy_id).first()


@dataclass(frozen=True, slots=True)
class LogPage:
    run: StrategyRun | None
    lines: list[StrategyLog]
    next_cursor: int
    has_more: bool


def strategy_log_page(*, run: StrategyRun | None, after: int = 0, limit: int = 1000) -> LogPage:
    """Lines with ``seq > after`` in order. ``seq`` has no gaps and a run has one writer committing
    in order, so paging by ``next_cursor`` yields every line exactly once."""
    if not 0 <= after <= MAX_CURSOR:
        raise InvalidInput("after must be 0 or a cursor returned by a previous call.")
    if not 1 <= limit <= MAX_LOG_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_LOG_PAGE}.")
    if run is None:
        return LogPage(run=None, lines=[], next_cursor=after, has_more=False)
    fetched = list(StrategyLog.objects.filter(run=run, seq__gt=after).order_by("seq")[: limit + 1])
    rows: list[StrategyLog] = []
    size = 0
    for row in fetched[:limit]:
        # A page stops near MAX_PAGE_BYTES too: 5,000 lines of 16 KiB would be an 80 MiB answer.
        if rows and size + len(row.line) > MAX_PAGE_BYTES:
            break
        rows.append(row)
        size += len(row.line)
    has_more = len(fetched) > len(rows)
    return LogPage(run=run, lines=rows, next_cursor=rows[-1].seq if rows else after, has_more=has_more)
