"""The hosted-strategy state machine: the statuses, one table of allowed transitions, one ``transition()``.

Statuses (the spec's four, plus ``stopping``)::

    queued   - waiting for a runner to claim its run (a new run id each time)
    running  - a runner claimed the run and supervises the process
    stopping - a stop was asked; the runner sends SIGTERM (SIGKILL after the grace period)
    stopped  - not running and not coming back by itself: exit 0, a requested stop, or never started
    failed   - the last run crashed (non-zero exit, killed, out of memory, runner lost); a re-queue is
               scheduled at ``next_attempt_at`` with exponential backoff

Every change is one conditional UPDATE (``WHERE status = <old>``): two actors racing for the same
strategy cannot both win, and the loser gets ``InvalidTransition`` instead of silently overwriting.
Every change also writes a ``StrategyTransition`` row: the history the dashboard shows, and the
evidence tests read.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.utils import timezone

from sequence_site.errors import InvalidTransition
from sequence_site.realtime import publish_on_commit
from strategies.models import Strategy, StrategyRun
from strategies.states import RunStatus, StrategyStatus

__all__ = [
    "ALLOWED",
    "REFUSALS",
    "RUN_ALLOWED",
    "RunStatus",
    "StrategyStatus",
    "announce",
    "group_name",
    "record",
    "run_transition",
    "transition",
]


S = StrategyStatus

# (from, to) -> the actions that may make that move.
ALLOWED: dict[tuple[str, str], frozenset[str]] = {
    (S.STOPPED, S.QUEUED): frozenset({"start"}),
    (S.FAILED, S.QUEUED): frozenset({"start", "retry"}),
    (S.QUEUED, S.RUNNING): frozenset({"claim"}),
    (S.QUEUED, S.STOPPED): frozenset({"stop"}),
    (S.RUNNING, S.STOPPING): frozenset({"stop"}),
    (S.FAILED, S.STOPPED): frozenset({"stop"}),
    (S.RUNNING, S.STOPPED): frozenset({"exit"}),  # exit 0: done, never restarted
    (S.STOPPING, S.STOPPED): frozenset({"exit", "runner_lost"}),
    (S.RUNNING, S.FAILED): frozenset({"crash", "runner_lost"}),
    # Straight back to the queue, no backoff: a redeploy swapped the artifact under a running
    # process, or the runner's worker is shutting down and hands the strategy to another one.
    (S.RUNNING, S.QUEUED): frozenset({"restart"}),
}

# A run's moves (a run never comes back: a new attempt is a new run, created queued).
R = RunStatus
RUN_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        (R.QUEUED, R.RUNNING),  # a runner claims it
        (R.QUEUED, R.CANCELLED),  # stopped, or superseded by a newer run, before any runner took it
        (R.RUNNING, R.STOPPED),  # exit 0, or a requested stop
        (R.RUNNING, R.FAILED),  # crashed, killed, out of memory; or its runner stopped heartbeating
    }
)

# What a person is told when an action doesn't apply to the current status.
REFUSALS = {
    "start": "Strategy {name!r} is {status}: only a stopped or failed strategy can be started.",
    "stop": "Strategy {name!r} is {status}: nothing to stop.",
}


def transition(
    strategy: Strategy,
    *,
    to: StrategyStatus,
    action: str,
    reason: str = "",
    run: StrategyRun | None = None,
    actor: str = "",
    **fields: Any,
) -> None:
    """Move ``strategy`` from its current status to ``to`` (and set ``fields``) in one conditional
    update; write the transition row and announce the change after commit.

    Raises ``InvalidTransition`` when the move is not in the table or the row changed meanwhile.
    """
    old = strategy.status
    if action not in ALLOWED.get((old, to), frozenset()):
        template = REFUSALS.get(action, "Strategy {name!r} can't {action} while {status}.")
        raise InvalidTransition(template.format(name=strategy.name, status=old, action=action))
    now = timezone.now()
    changed = (
        type(strategy).objects.filter(pk=strategy.pk, status=old).update(status=to, updated_at=now, **fields)
    )
    if changed == 0:
        raise InvalidTransition(f"Strategy {strategy.name!r} changed meanwhile; try again.")
    strategy.status = to
    strategy.updated_at = now
    for name, value in fields.items():
        if not hasattr(value, "resolve_expression"):
            setattr(strategy, name, value)
    record(strategy, action=action, from_status=old, to_status=to, reason=reason, run=run, actor=actor)


def run_transition(
    run_id: UUID, *, frm: RunStatus, to: RunStatus, where: dict[str, Any] | None = None, **fields: Any
) -> bool:
    """Move run ``run_id`` from ``frm`` to ``to`` (and set ``fields``) in one conditional update, also
    filtered on ``where``. False when the run was not in ``frm`` (or ``where`` did not hold): another
    actor moved it first. Raises ``InvalidTransition`` for a move ``RUN_ALLOWED`` does not list."""
    if (frm, to) not in RUN_ALLOWED:
        raise InvalidTransition(f"A strategy run cannot go {frm} -> {to}.")
    return bool(
        StrategyRun.objects.filter(pk=run_id, status=frm, **(where or {})).update(status=to, **fields)
    )


def record(
    strategy: Strategy,
    *,
    action: str,
    from_status: str,
    to_status: str,
    reason: str = "",
    run: StrategyRun | None = None,
    actor: str = "",
) -> None:
    """Write one history row (also used for events that keep the status, like a redeploy)."""
    strategy.transitions.create(
        action=action,
        from_status=from_status,
        to_status=to_status,
        reason=reason[:500],
        run=run,
        actor=actor[:100],
    )
    announce(
        strategy.pk,
        action=action,
        status=to_status,
        run_id=run.pk if run is not None else None,
        reason=reason,
    )


def group_name(strategy_id: UUID | str) -> str:
    """The channel-layer group of one strategy: its status changes and its log lines."""
    return f"strategy.{strategy_id}"


def announce(
    strategy_id: UUID | str, *, action: str, status: str, run_id: UUID | str | None = None, reason: str = ""
) -> None:
    """Tell the strategy's followers, after commit, that it changed (``strategy.changed``)."""
    publish_on_commit(
        group_name(strategy_id),
        {
            "type": "strategy.changed",
            "strategy_id": str(strategy_id),
            "action": action,
            "status": status,
            "run_id": str(run_id) if run_id is not None else None,
            "reason": reason[:500],
        },
    )
