from __future__ import annotations

from django.urls import re_path

from algo_studio.consumers import DeploymentLogConsumer

websocket_urlpatterns = [
    re_path(r"^v1/deployments/(?P<deployment_id>[^/]+)/logs/stream$", DeploymentLogConsumer.as_asgi()),
    re_path(r"^v1/algos/(?P<symbol>.+)/logs/stream$", DeploymentLogConsumer.as_asgi()),
]
