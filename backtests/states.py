"""The backtest job's states (backtests/lifecycle.py moves between them). Imports nothing of its app,
so the models and the state machine both read it and neither imports the other back."""

from __future__ import annotations

from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
