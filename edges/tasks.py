"""Celery tasks of the edges app: the live venues' catalogue sync (edges/catalogue.py), on the
beat schedule and on demand. Routed to `default` (settings.CELERY_TASK_ROUTES)."""

from __future__ import annotations

import logging

from celery import shared_task

from edges import catalogue

logger = logging.getLogger(__name__)


@shared_task(name="edges.sync_catalogues")
def sync_catalogues(venue: str | None = None) -> dict[str, int | str]:
    """Sync one venue's catalogue (`venue`) or every live venue's; returns what was stored."""
    if venue:
        done: dict[str, int | str] = {venue: catalogue.sync_catalogue(venue)}
    else:
        done = catalogue.sync_live_catalogues()
    logger.info("catalogue sync: %s", done)
    return done
