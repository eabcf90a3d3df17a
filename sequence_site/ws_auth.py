"""Who is on the other end of a websocket: the one authentication path of every consumer."""

from __future__ import annotations

import json
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


class RefuseBeforeJoining:
    """A consumer mixin that decides on the handshake before the consumer joins the channel layer.

    Channels starts a consumer's channel-layer read (a blocking Redis read) before ``connect()``
    runs, so a consumer that refuses in ``connect()`` still holds that read until the client's
    disconnect arrives, and cancelling it can take up to the read's socket timeout (test event
    loops hung on it at teardown). With this mixin, ``handshake_refusal()`` runs first: a refusal
    answers the socket at once and ends the consumer, with no Redis read at all; ``None`` lets the
    handshake through to the consumer as usual.

    A refusal is a close code, or ``(close_code, message)``: the socket is then accepted, sent the
    message as JSON (to say why, for clients that cannot read close codes) and closed.
    """

    async def handshake_refusal(self) -> int | tuple[int, dict[str, Any]] | None:
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        first = await receive()
        if first.get("type") == "websocket.connect":
            refusal = await self.handshake_refusal()
            if refusal is not None:
                code, message = refusal if isinstance(refusal, tuple) else (refusal, None)
                if message is not None:
                    await send({"type": "websocket.accept"})
                    await send({"type": "websocket.send", "text": json.dumps(message)})
                await send({"type": "websocket.close", "code": code})
                return
        pending = [first]

        async def replay() -> Any:
            return pending.pop() if pending else await receive()

        await super().__call__(scope, replay, send)  # type: ignore[misc]
