"""Live progress of one backtest over a websocket: ``ws://HOST/v1/backtest/{job_id}/stream``.

Authentication: ``Authorization: Bearer seq_...`` in the handshake (CLI, scripts) or the dashboard
session. The server sends the current status at once, then every ``backtest.progress`` event the
worker pushes (the same body as ``GET /v1/backtest/{job_id}``), and closes after a final status.
Unknown jobs, and jobs of another client or mode, close with 4404.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from backtests import selectors
from backtests.lifecycle import FINAL
from backtests.services import progress_group
from sequence_site.errors import DomainError
from sequence_site.ws_auth import RefuseBeforeJoining, scope_from_handshake


@database_sync_to_async
def _status(handshake: dict[str, Any], job_id: str) -> dict[str, Any] | None:
    scope = scope_from_handshake(handshake)
    if scope is None:
        return None
    try:
        return selectors.backtest_status(selectors.backtest_get(scope=scope, job_id=job_id))
    except DomainError:
        return None


class BacktestProgressConsumer(RefuseBeforeJoining, AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def handshake_refusal(self) -> int | None:
        # A job this key cannot see is refused before the consumer joins the channel layer.
        self.group = None
        if await _status(self.scope, self.scope["url_route"]["kwargs"]["job_id"]) is None:
            return 4404
        return None

    async def connect(self) -> None:
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        # Join before reading the status: an event pushed in between arrives (late) rather than never.
        self.group = progress_group(job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        status = await _status(self.scope, job_id)
        if status is None:  # deleted in between
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None
            await self.close(code=4404)
            return
        await self.accept()
        await self.send_json(status)
        if status["status"] in FINAL:
            await self.close()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def backtest_progress(self, event: dict[str, Any]) -> None:
        body = {k: v for k, v in event.items() if k != "type"}
        await self.send_json(body)
        if body.get("status") in FINAL:
            await self.close()
