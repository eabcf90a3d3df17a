"""Refuse oversize request bodies in the web server, before any of the body is buffered.

daphne (on twisted) reads a whole request body into a temporary file, then puts all of it into the
ASGI application's queue before the application runs: a 300 MB POST without an API key cost the web
process 300 MB before the 401. This guard sits in daphne's request object at the HTTP-protocol
level: when the headers are in, a ``Content-Length`` over the path's limit (``body_limits``) is
answered at once with the API's JSON 413; a chunked body is counted as it arrives and refused the
moment it passes the limit. The refused body is then read and thrown away (so the client, still
sending, is not reset before it reads the 413) for at most ``LINGER_SECONDS``, and the connection is
closed. Nothing of the request reaches Django.

daphne has no hook for this, so ``install()`` swaps daphne's ``HTTPFactory`` for one that builds
``GuardedRequest``; ``sequence_site.asgi`` calls it, so every daphne serving this application has it
(daphne is pinned in pyproject.toml; tests/sequence_site/test_request_limits.py runs the real server).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Protocol, cast

from daphne import http_protocol
from daphne import server as daphne_server

from sequence_site.body_limits import request_body_limit, too_large_body, too_large_response_bytes


class _ReactorTime(Protocol):
    def callLater(self, delay: float, callable: Callable[..., object], *args: object) -> object: ...  # noqa: N802


logger = logging.getLogger(__name__)

LINGER_SECONDS = 5.0


class GuardedRequest(http_protocol.WebRequest):
    _refused = False
    _received = 0
    _limit = None

    def gotLength(self, length: int | None) -> None:
        channel = self.channel
        method = (getattr(channel, "_command", b"") or b"").decode("latin-1")
        path = (getattr(channel, "_path", b"") or b"").decode("latin-1")
        self._method, self._target = method, path
        self._limit = request_body_limit(method, path)
        if length is not None and length > self._limit.limit_bytes:
            # Never ask the client for the body it announced ("Expect: 100-continue").
            self.requestHeaders.removeHeader(b"Expect")
            self.content = io.BytesIO()
            self._refuse(length, streamed=False)
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return  # thrown away: read only so the client can finish sending and read the 413
        self._received += len(data)
        if self._limit is not None and self._received > self._limit.limit_bytes:
            self.content.close()
            self.content = io.BytesIO()
            self._refuse(self._received, streamed=True)
            return
        super().handleContentChunk(data)

    def process(self):  # type: ignore[no-untyped-def]
        if self._refused:
            # The refused body has arrived in full: the 413 is already written.
            self.channel.transport.loseConnection()
            return None
        return super().process()

    def _refuse(self, size: int, *, streamed: bool) -> None:
        self._refused = True
        assert self._limit is not None
        body = too_large_body(
            method=self._method, path=self._target, size_bytes=size, limit=self._limit, streamed=streamed
        )
        logger.warning("Refused %s %s: %s", self._method, self._target, body["message"])
        transport = self.channel.transport
        transport.write(too_large_response_bytes(body))
        self.channel.persistent = False
        from twisted.internet import reactor  # daphne installed its asyncio reactor by now

        # twisted declares the reactor's methods on zope interfaces, which mypy reads without `self`.
        cast(_ReactorTime, reactor).callLater(LINGER_SECONDS, _close, transport)


def _close(transport) -> None:  # type: ignore[no-untyped-def]
    if transport.connected:
        transport.loseConnection()


class GuardedHTTPFactory(http_protocol.HTTPFactory):
    def buildProtocol(self, addr):  # type: ignore[no-untyped-def]
        protocol = super().buildProtocol(addr)
        if protocol is not None:
            protocol.requestFactory = GuardedRequest
        return protocol


def install() -> None:
    """Make daphne's server build guarded requests (idempotent)."""
    daphne_server.HTTPFactory = GuardedHTTPFactory
