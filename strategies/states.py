"""A hosted strategy's statuses and its runs' (strategies/lifecycle.py moves between them). Imports
nothing of its app, so the models and the state machine both read it and neither imports the other."""

from __future__ import annotations

from django.db import models


class StrategyStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"  # exit 0 or a requested stop
    FAILED = "failed", "Failed"  # crashed, killed, out of memory, runner lost
    CANCELLED = "cancelled", "Cancelled"  # never claimed: stopped, or replaced, while queued
