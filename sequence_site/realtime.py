"""Side effects after commit: channel-layer fan-out and edge nudges.

Both are nudges, not the source of truth: a lost message only delays a follower or an edge until
its next poll or reconcile pass.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def group_send(group: str, event: dict[str, Any]) -> None:
    """Send now (outside any transaction); failures are logged, never raised into the caller."""
    try:
        async_to_sync(get_channel_layer().group_send)(group, event)
    except Exception:
        logger.warning("channel layer send to %s failed", group, exc_info=True)


def publish_on_commit(group: str, event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: group_send(group, event))


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def edge_nudge_channel(*, venue: str, is_sandbox: bool) -> str:
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    return f"{prefix}:edge-nudge:{'test' if is_sandbox else 'live'}:{venue}"


def nudge_edges_on_commit(*, venues: set[str], is_sandbox: bool) -> None:
    """Ask the edges of these venues to reconcile now instead of at their next pass."""

    def send() -> None:
        try:
            client = _redis()
            for venue in venues:
                client.publish(edge_nudge_channel(venue=venue, is_sandbox=is_sandbox), "reconcile")
        except redis.RedisError:
            logger.warning("edge nudge failed; edges will reconcile on their next pass", exc_info=True)

    transaction.on_commit(send)
