from __future__ import annotations

from django.urls import re_path

from backtests.consumers import BacktestProgressConsumer

websocket_urlpatterns = [
    re_path(r"^v1/backtest/(?P<job_id>bt_[0-9a-f]{8})/stream$", BacktestProgressConsumer.as_asgi()),
]
