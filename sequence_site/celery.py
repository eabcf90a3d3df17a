"""The Celery app: queues `default`, `backtests`, `strategies` (routes in settings.CELERY_TASK_ROUTES)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sequence_site.settings")

app = Celery("sequence_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
