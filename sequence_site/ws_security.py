"""Origin checking for websockets that serve both browsers and API clients."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    """Browsers always send ``Origin``: when present it must be one of ALLOWED_HOSTS, which stops
    another site's page from opening a websocket with the user's session cookie. API clients (the
    CLI, the SDK, scripts) send no Origin and authenticate with a bearer key instead, so a missing
    Origin is allowed through to the consumer's own authentication."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def browser_origin_validator(application: Any) -> BrowserOriginValidator:
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed)
