"""Websocket routes of every app, gathered for `asgi.py`. Each app lists its own in `<app>/routing.py`."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []

from strategies.routing import websocket_urlpatterns as strategies_websockets  # noqa: E402

websocket_urlpatterns += strategies_websockets

from algo_studio.routing import websocket_urlpatterns as algo_websockets  # noqa: E402

websocket_urlpatterns += algo_websockets

from backtests.routing import websocket_urlpatterns as backtests_websockets  # noqa: E402

websocket_urlpatterns += backtests_websockets

from trading.routing import websocket_urlpatterns as trading_websockets  # noqa: E402

websocket_urlpatterns += trading_websockets
