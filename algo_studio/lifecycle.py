"""The algo deployment state machine: one table of allowed transitions and one ``transition()``.

Desired state is what users ask for (``running`` / ``stopped``) per (deployment, edge, symbol);
edges report what they observe in ``EdgeStatus``. Every desired-state change bumps ``generation``,
which is how an edge knows it has something new to apply (and how a trap-paused algo stays paused
until the user acts again).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F

from sequence_site.errors import InvalidTransition


class DesiredState(models.TextChoices):
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


class EdgeStatus(models.TextChoices):
    """What an edge reports for one (deployment, symbol).

    pending  - the edge has not applied the latest desired state yet
    accepted - loaded and validated, not receiving market data (deployed stopped, or stopped)
    running  - receiving market data and trading
    paused   - the edge paused it by itself (trap, fuel, memory, risk); ``pause_reason`` says why;
               it stays paused until the user stops or starts it again
    rejected - the edge refused to load it; ``pause_reason`` says why
    """

    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    REJECTED = "rejected", "Rejected"


# (from, to) pairs a user action may make. Deploying creates rows in STOPPED or RUNNING.
ALLOWED = {
    (DesiredState.STOPPED, DesiredState.RUNNING),  # start
    (DesiredState.RUNNING, DesiredState.STOPPED),  # stop
    # Starting a running algo re-arms it: an algo paused by a trap runs again.
    (DesiredState.RUNNING, DesiredState.RUNNING),
    (DesiredState.STOPPED, DesiredState.STOPPED),
}


def aggregate_status(statuses: list[str]) -> str:
    """One word for a deployment across its edges (the spec's running, paused, accepted, pending,
    rejected): attention first (paused), then running, then in-flight, then idle; rejected only when
    every edge rejected it."""
    present = set(statuses)
    if not present:
        return EdgeStatus.PENDING
    for status in (EdgeStatus.PAUSED, EdgeStatus.RUNNING, EdgeStatus.PENDING, EdgeStatus.ACCEPTED):
        if status in present:
            return status
    return EdgeStatus.REJECTED


def transition(rows: models.QuerySet, *, to: DesiredState) -> int:
    """Move the desired state of ``rows`` (DeploymentEdge) to ``to`` with one conditional update.

    Returns how many rows changed. Raises ``InvalidTransition`` when no row could move.
    """
    allowed_from = [old for (old, new) in ALLOWED if new == to]
    # The edge sees generation > applied_generation and reports "pending" until it has applied it.
    changed = rows.filter(desired_state__in=allowed_from).update(
        desired_state=to, generation=F("generation") + 1
    )
    if changed == 0:
        raise InvalidTransition(f"Nothing to {'start' if to == DesiredState.RUNNING else 'stop'}.")
    return changed


def state_word(status: str, desired: str | None = None) -> str:
    """What the dashboard calls an algo's state: the API's aggregate word read with what the user
    asked for. An algo the edge holds loaded but idle (``accepted``) after Stop or a stopped deploy is
    ``stopped``; one asked to run that the edge has not picked up yet is ``starting``; one asked to
    stop that still runs is ``stopping``. Paused, running and rejected keep their words. The API's
    ``status`` field keeps the spec's words; this is only how pages show them."""
    if desired == DesiredState.STOPPED:
        if status == EdgeStatus.ACCEPTED:
            return "stopped"
        if status == EdgeStatus.RUNNING:
            return "stopping"
    if desired == DesiredState.RUNNING and status in (EdgeStatus.ACCEPTED, EdgeStatus.PENDING):
        return "starting"
    return str(status)
