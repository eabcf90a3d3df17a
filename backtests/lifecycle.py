"""The backtest job state machine: the states, one table of allowed transitions, one ``transition()``.

    queued ──▶ running ──▶ completed
       │          ├──────▶ failed      (error says why: the algo trapped at event N, bad data,
       │          │                     the worker stopped heartbeating (the janitor), ...)
       │          └──────▶ cancelled   (a user cancelled it while it ran)
       ├──────────────────▶ cancelled  (cancelled before a worker took it)
       └──────────────────▶ failed     (could not start: the artifact no longer loads)

``cancelled`` is a word the spec does not list (it lists queued, running, completed, failed); it is
final like ``failed`` and documented in docs/backtests.md.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from backtests.models import BacktestJob, BacktestTransition
from backtests.states import JobStatus
from sequence_site.errors import InvalidTransition

__all__ = ["ALLOWED", "FINAL", "JobStatus", "transition"]


FINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        (JobStatus.QUEUED, JobStatus.RUNNING),  # a worker claims it
        (JobStatus.QUEUED, JobStatus.CANCELLED),
        (JobStatus.QUEUED, JobStatus.FAILED),
        (JobStatus.RUNNING, JobStatus.COMPLETED),
        (JobStatus.RUNNING, JobStatus.FAILED),
        (JobStatus.RUNNING, JobStatus.CANCELLED),
    }
)


def transition(job: Any, to: JobStatus, *, note: str = "", **fields: Any) -> None:
    """Move ``job`` from its current status to ``to`` with a conditional update, so two writers (a
    worker finishing, a user cancelling) cannot both win; write the transition row. Raises
    ``InvalidTransition`` when the move is not in the table or the row changed under us."""
    old = job.status
    if (old, to) not in ALLOWED:
        raise InvalidTransition(f"Backtest {job.id} is {old}: it cannot become {to}.")
    now = timezone.now()
    if to == JobStatus.RUNNING:
        fields.setdefault("started_at", now)
    if to in FINAL:
        fields.setdefault("finished_at", now)
        fields.setdefault("phase", "")  # a phase describes a running job only
    with transaction.atomic():
        changed = BacktestJob.objects.filter(pk=job.pk, status=old).update(status=to, **fields)
        if not changed:
            current = BacktestJob.objects.filter(pk=job.pk).values_list("status", flat=True).first()
            raise InvalidTransition(f"Backtest {job.id} is {current or 'gone'}: it cannot become {to}.")
        BacktestTransition.objects.create(job_id=job.pk, from_status=old, to_status=to, note=note[:500])
    job.status = to
    for name, value in fields.items():
        setattr(job, name, value)
