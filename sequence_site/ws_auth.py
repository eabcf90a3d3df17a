"""Who is on the other end of a websocket: the one authentication path of every consumer."""

from __future__ import annotations

from typing import Any

from sequence_site.errors import DomainError
from sequence_site.middleware import session_is_sandbox
from sequence_site.scope import Scope
from sequence_site.selectors import client_for_user
from sequence_site.services import api_key_authenticate, bearer_token


def scope_from_handshake(handshake: dict[str, Any], *, allow_session: bool = True) -> Scope | None:
    """The Scope of a websocket handshake, or None when it is not authenticated.

    ``Authorization: Bearer <key>`` (CLI, SDK, scripts) decides when present, right or wrong. Without
    it, a logged-in dashboard user acts as their client in the mode their session's switch is on
    (``allow_session=False`` for API-only streams). Runs database queries: call it through
    ``database_sync_to_async`` from a consumer.
    """
    headers = dict(handshake.get("headers") or [])
    authorization = headers.get(b"authorization", b"").decode("latin-1").strip()
    if authorization:
        token = bearer_token(authorization)
        if token is None:
            return None
        try:
            return api_key_authenticate(token=token)
        except DomainError:
            return None
    if not allow_session:
        return None
    user = handshake.get("user")
    if user is None or not user.is_authenticated:
        return None
    client = client_for_user(user=user)
    if client is None:
        return None
    return Scope(client=client, is_sandbox=session_is_sandbox(handshake.get("session")))
