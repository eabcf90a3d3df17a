"""ASGI entry point (daphne): Django for HTTP, Channels for websockets."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sequence_site.settings")
# Django must be set up before anything imports models (consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from sequence_site import webguard  # noqa: E402
from sequence_site.routing import websocket_urlpatterns  # noqa: E402
from sequence_site.ws_security import browser_origin_validator  # noqa: E402

# daphne refuses oversize bodies before buffering them (sequence_site/webguard.py).
webguard.install()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": browser_origin_validator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
