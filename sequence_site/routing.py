"""Websocket routes of every app, gathered for `asgi.py`. Each app lists its own in `<app>/routing.py`."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
