from __future__ import annotations

from django.urls import re_path

from trading.consumers import PriceStreamConsumer

websocket_urlpatterns = [
    re_path(r"^v1/stream/?$", PriceStreamConsumer.as_asgi()),
]
