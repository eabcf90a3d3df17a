"""The shared part of the fake venue servers: an aiohttp app (WebSocket and REST on one port) on
127.0.0.1, run in a background thread with its own event loop, and the venue-independent faults.

A venue's server subclasses `FakeVenueServer`, adds its routes in `routes()`, and answers its
clients through `send()`. Tests drive it from their own thread: every public method here is
thread-safe (it hands the work to the server's loop and waits for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["FakeVenueServer"]


class FakeVenueServer:
    """Start with `start()` (or as a context manager); `url` and `ws_url` are then set."""

    ws_path = "/ws"

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clients: set[web.WebSocketResponse] = set()
        self.received: list[Any] = []  # every frame clients sent, decoded when it was JSON
        self.http_requests: list[tuple[str, str]] = []  # (method, path_qs)
        self.connections = 0  # WebSocket connections accepted so far
        self.silent = False  # while True, nothing is sent to clients (heartbeats included)
        self._http_failures: list[int] = []  # statuses to answer the next REST requests with
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- what a venue adds ------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        """Add the venue's REST routes (the WebSocket route is added for you)."""

    async def on_connect(self, ws: web.WebSocketResponse, request: web.Request) -> bool:
        """Check the handshake (Kalshi signs it); return False to refuse (401 is sent)."""
        return True

    async def on_message(self, ws: web.WebSocketResponse, data: str) -> None:
        """One text frame from a client."""

    # -- life -------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.ws_path}"

    def start(self) -> FakeVenueServer:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), daemon=True, name=type(self).__name__
        )
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError(f"{type(self).__name__} did not start within 30 s")
        return self

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application(middlewares=[self._http_faults])
        app.router.add_get(self.ws_path, self._ws_handler)
        self.routes(app)
        self._runner = web.AppRunner(app, handle_signals=False)
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        if self._thread is None:
            return
        self.call(self._shutdown)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self._thread = None

    async def _shutdown(self) -> None:
        for ws in list(self.clients):
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> FakeVenueServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, timeout: float = 30) -> Any:
        """Run a coroutine function on the server's loop from a test thread and return its result."""
        return asyncio.run_coroutine_threadsafe(fn(*args), self.loop).result(timeout)

    # -- sending ------------------------------------------------------------------------------------
    async def send(self, ws: web.WebSocketResponse, text: str) -> None:
        if self.silent or ws.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(text)

    async def broadcast(self, text: str) -> None:
        for ws in list(self.clients):
            await self.send(ws, text)

    # -- venue-independent faults (call from the test thread) --------------------------------------
    def inject(self, text: str) -> None:
        """Send a raw frame (malformed JSON, a crafted message) to every client."""
        self.call(self.broadcast, text)

    def disconnect_all(self) -> None:
        """Drop every WebSocket connection (the server keeps listening)."""

        async def drop() -> None:
            for ws in list(self.clients):
                with contextlib.suppress(Exception):
                    await ws.close()

        self.call(drop)

    def set_silent(self, silent: bool) -> None:
        """Stop (or resume) sending anything at all, heartbeats included."""
        self.silent = silent

    def fail_http(self, times: int = 1, status: int = 429) -> None:
        """Answer the next `times` REST requests with `status` (429 with a Retry-After header)."""
        self._http_failures.extend([status] * times)

    # -- plumbing ----------------------------------------------------------------------------------
    @web.middleware
    async def _http_faults(self, request: web.Request, handler: Callable[..., Awaitable[Any]]) -> Any:
        if request.path != self.ws_path:
            self.http_requests.append((request.method, request.path_qs))
            if self._http_failures:
                status = self._http_failures.pop(0)
                headers = {"Retry-After": "1"} if status == 429 else {}
                return web.json_response({"error": "fault injected"}, status=status, headers=headers)
        return await handler(request)

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        if not await self.on_connect(ws, request):
            return web.json_response({"error": "unauthorized"}, status=401)
        await ws.prepare(request)
        self.connections += 1
        self.clients.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self.on_message(ws, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self.clients.discard(ws)
        return ws
