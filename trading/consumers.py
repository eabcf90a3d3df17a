"""GET /v1/stream: live prices over a websocket.

    ws://HOST/v1/stream        Authorization: Bearer seq_test_...|seq_live_...

Server → client: ``{"type": "welcome", ...}`` first; ``{"type": "ack", "op": "subscribe",
"channels": [...], "errors": [...]}`` for each (un)subscribe; then ``{"channel": "prices:SYM",
"data": {"bid", "ask", "mid", "bid_size", "ask_size", "venue", "symbol", "ts_ns"}}`` for every
book change of a subscribed symbol (the current book is sent right after the ack, so a quiet
market still shows its price); ``{"type": "heartbeat", "ts"}`` every HEARTBEAT_SECONDS.

Client → server: ``{"op": "subscribe" | "unsubscribe", "channels": ["prices:SYM", ...]}``,
``{"op": "ping"}`` (→ ``{"type": "pong"}``).

Slow consumers: messages wait in the channel layer's per-connection queue, which is bounded
(capacity) and drops beyond it; here a message older than what was already sent for its channel
is dropped too (conflation). Per-connection state is bounded by MAX_CHANNELS.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from sequence_site.errors import DomainError
from sequence_site.scope import Scope
from sequence_site.ws_auth import RefuseBeforeJoining, scope_from_handshake
from trading import selectors
from trading.stream import price_data, price_group

HEARTBEAT_SECONDS = 15.0
MAX_CHANNELS = 50
PREFIX = "prices:"


# A live venue's symbols are looked up in its synced catalogue (the database): never from the
# event loop itself (Django refuses ORM calls there, and the subscribe would die silently).
_resolve_symbol = database_sync_to_async(selectors.resolve_symbol)


@database_sync_to_async
def _authenticate(handshake: dict[str, Any]) -> Scope | None:
    return scope_from_handshake(handshake, allow_session=False)


class PriceStreamConsumer(RefuseBeforeJoining, AsyncJsonWebsocketConsumer):
    heartbeat_seconds = HEARTBEAT_SECONDS

    async def handshake_refusal(self) -> int | None:
        scope = await _authenticate(self.scope)
        if scope is None:
            return 4401  # refused before the consumer reads from the channel layer
        self.client_scope = scope
        return None

    async def connect(self) -> None:
        self.groups_by_channel: dict[str, list[str]] = {}  # "prices:SYM" → groups
        self.channels_by_group: dict[str, set[str]] = {}  # group → "prices:SYM" names
        self.last_ts: dict[str, int] = {}  # group → ts_ns of the last book sent
        self._heartbeat: asyncio.Task[None] | None = None
        scope = self.client_scope
        await self.accept()
        await self.send_json(
            {
                "type": "welcome",
                "mode": scope.mode.value,
                "client_id": scope.client.short_code,
                "heartbeat_s": self.heartbeat_seconds,
                "max_channels": MAX_CHANNELS,
            }
        )
        self._heartbeat = asyncio.ensure_future(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            await self.send_json({"type": "heartbeat", "ts": round(time.time(), 3)})

    async def disconnect(self, code: int) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for group in list(self.channels_by_group):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.channels_by_group.clear()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "message": "send a JSON object with an 'op'"})
            return
        op = content.get("op") or content.get("type") or content.get("action")
        if op == "ping":
            await self.send_json({"type": "pong"})
            return
        if op not in ("subscribe", "unsubscribe"):
            await self.send_json(
                {"type": "error", "message": f"unknown op {op!r}: subscribe, unsubscribe, ping"}
            )
            return
        channels = content.get("channels")
        if isinstance(channels, str):
            channels = [channels]
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            await self.send_json({"type": "error", "op": op, "message": "channels must be a list of strings"})
            return
        if op == "subscribe":
            await self._subscribe(channels)
        else:
            await self._unsubscribe(channels)

    async def _subscribe(self, channels: list[str]) -> None:
        ok: list[str] = []
        errors: list[dict[str, str]] = []
        fresh: list[str] = []
        for name in dict.fromkeys(channels):
            if name in self.groups_by_channel:
                ok.append(name)
                continue
            if not name.startswith(PREFIX) or not name[len(PREFIX) :].strip():
                errors.append({"channel": name, "message": "channels are 'prices:{symbol}'"})
                continue
            if len(self.groups_by_channel) >= MAX_CHANNELS:
                errors.append({"channel": name, "message": f"at most {MAX_CHANNELS} channels per connection"})
                continue
            try:
                instruments = await _resolve_symbol(name[len(PREFIX) :])
            except DomainError as exc:
                errors.append({"channel": name, "message": exc.message})
                continue
            groups = [
                price_group(is_sandbox=self.client_scope.is_sandbox, venue=i.venue, symbol=i.symbol)
                for i in instruments
            ]
            self.groups_by_channel[name] = groups
            for group in groups:
                if group not in self.channels_by_group:
                    await self.channel_layer.group_add(group, self.channel_name)
                self.channels_by_group.setdefault(group, set()).add(name)
            ok.append(name)
            fresh.append(name)
        await self.send_json({"type": "ack", "op": "subscribe", "channels": ok, "errors": errors})
        for name in fresh:
            await self._snapshot(name)

    async def _unsubscribe(self, channels: list[str]) -> None:
        done = []
        for name in channels:
            groups = self.groups_by_channel.pop(name, None)
            if groups is None:
                continue
            done.append(name)
            for group in groups:
                names = self.channels_by_group.get(group, set())
                names.discard(name)
                if not names:
                    self.channels_by_group.pop(group, None)
                    self.last_ts.pop(group, None)
                    await self.channel_layer.group_discard(group, self.channel_name)
        await self.send_json({"type": "ack", "op": "unsubscribe", "channels": done, "errors": []})

    async def _snapshot(self, name: str) -> None:
        """The current book of a newly subscribed channel, from the edges' quote hash."""
        try:
            instruments = await _resolve_symbol(name[len(PREFIX) :])
            books = await sync_to_async(selectors.raw_quotes, thread_sensitive=False)(
                is_sandbox=self.client_scope.is_sandbox, instruments=instruments
            )
        except DomainError:
            return
        for book in books:
            group = price_group(
                is_sandbox=self.client_scope.is_sandbox, venue=book["venue"], symbol=book["symbol"]
            )
            await self._deliver(group, price_data(book))

    async def _deliver(self, group: str, data: dict[str, Any]) -> None:
        names = self.channels_by_group.get(group)
        if not names:
            return
        ts = data.get("ts_ns") or 0
        if ts and ts <= self.last_ts.get(group, 0):
            return  # conflation: never send an older (or the same) book again
        self.last_ts[group] = ts
        for name in names:
            await self.send(text_data=json.dumps({"channel": name, "data": data}))

    async def price_update(self, event: dict[str, Any]) -> None:
        await self._deliver(event["group"], event["data"])
