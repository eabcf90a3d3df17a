"""Liveness of what every request needs: the database and Redis."""

from __future__ import annotations

from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

VERSION = "0.4.0"


def check() -> dict[str, Any]:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # a health check reports failures, it doesn't raise them
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        client.close()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(value == "ok" for value in checks.values())
    return {
        "ok": ok,
        "status": "ok" if ok else "degraded",
        "version": VERSION,
        "time": timezone.now(),
        "checks": checks,
    }
