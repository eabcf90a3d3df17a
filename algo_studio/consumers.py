"""Live log tail over a websocket, for the CLI (`sequence logs --follow`) and Algo Studio.

    ws://HOST/v1/deployments/{deployment_id}/logs/stream[?edge_id=E&after=ID&backlog=N]
    ws://HOST/v1/algos/{symbol}/logs/stream[?edge_id=E&after=ID&backlog=N]

Authentication: ``Authorization: Bearer seq_...`` in the handshake (CLI, scripts), or the
dashboard's session (browser). The server sends ``{"type": "hello", ...}``, then the backlog (the
last ``backlog`` lines, default 100, or every line after ``after``), then every new line as it is
stored: ``{"type": "log", "id", "ts_ns", "level", "message", "edge_id", "symbol"}``. Ids increase,
so a client that reconnects with ``after=<last id>`` gets every line exactly once. A deleted
deployment closes the stream with code 4404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from algo_studio import selectors
from edges.services import log_event, logs_group
from sequence_site.errors import DomainError
from sequence_site.scope import Scope
from sequence_site.symbols import parse_symbol
from sequence_site.ws_auth import RefuseBeforeJoining, scope_from_handshake

MAX_BACKLOG = 1000


class DeploymentLogConsumer(RefuseBeforeJoining, AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def handshake_refusal(self) -> int | None:
        # Decided before the consumer joins the channel layer (RefuseBeforeJoining).
        scope = await database_sync_to_async(scope_from_handshake)(self.scope)
        if scope is None:
            return 4401
        params = {k: v[-1] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items()}
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            self.deployment = await database_sync_to_async(self._deployment)(scope, kwargs)
            self._after_id = int(params["after"]) if "after" in params else None
            self._backlog_size = min(int(params.get("backlog", 100)), MAX_BACKLOG)
        except (DomainError, ValueError):
            return 4404
        self._params = params
        return None

    async def connect(self) -> None:
        params, kwargs = self._params, self.scope["url_route"]["kwargs"]
        after, backlog = self._after_id, self._backlog_size
        self.edge_id = params.get("edge_id") or None
        self.symbol = kwargs.get("symbol")
        self.last_id = 0
        await self.accept()
        # Join the group before reading the backlog: a line stored in between arrives twice at
        # worst (and is dropped by id), never zero times.
        self.group = logs_group(self.deployment.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "hello", "deployment_id": self.deployment.deployment_id})
        for line in await database_sync_to_async(self._backlog)(after, backlog):
            await self._send_line(line)

    def _deployment(self, scope: Scope, kwargs: dict[str, str]) -> Any:
        if "symbol" in kwargs:
            symbol = kwargs["symbol"]
            deployment = selectors.deployment_for_symbol(scope=scope, symbol=symbol)
            kwargs["symbol"] = parse_symbol(symbol).slash
            return deployment
        return selectors.deployment_get(scope=scope, deployment_id=kwargs["deployment_id"])

    def _backlog(self, after: int | None, backlog: int) -> list[dict[str, Any]]:
        if after is not None:
            lines = selectors.logs_after(deployment=self.deployment, after_id=after, edge_id=self.edge_id)
        else:
            lines = selectors.recent_logs(deployment=self.deployment, edge_id=self.edge_id, limit=backlog)
        return [log_event(line) for line in lines]

    async def _send_line(self, line: dict[str, Any]) -> None:
        if line["id"] is None or line["id"] <= self.last_id:
            return
        if self.edge_id and line["edge_id"] != self.edge_id:
            return
        if self.symbol and line["symbol"] != self.symbol:
            return
        self.last_id = line["id"]
        await self.send_json({"type": "log", **line})

    async def log_lines(self, event: dict[str, Any]) -> None:
        for line in event["lines"]:
            await self._send_line(line)

    async def deployment_deleted(self, event: dict[str, Any]) -> None:
        await self.close(code=4404)

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The stream is one-way; a ping gets a pong so clients can check the connection.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
