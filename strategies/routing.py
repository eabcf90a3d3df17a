"""Websocket routes of hosted strategies (gathered by ``sequence_site.routing``)."""

from __future__ import annotations

from django.urls import path

from strategies.consumers import StrategyLogConsumer

websocket_urlpatterns = [
    # The CLI's `strategy logs --follow` (API key in the Authorization header).
    path("v1/strategies/<str:strategy_id>/logs/stream", StrategyLogConsumer.as_asgi()),
    # The dashboard's live tail (session login).
    path("ws/strategies/<str:strategy_id>/logs/", StrategyLogConsumer.as_asgi()),
]
