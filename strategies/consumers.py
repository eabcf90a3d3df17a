"""Live log tail of one strategy over a websocket: a database catch-up after a cursor, then live lines.

Two doors, one consumer: ``/v1/strategies/<id>/logs/stream`` for the CLI (``Authorization: Bearer``
key) and ``/ws/strategies/<id>/logs/`` for the dashboard (session login, current sandbox/live mode).
Query: ``run_id`` (the run to start from; default the latest), ``after`` (the cursor within that
run) and ``follow``: ``latest`` (switch to each new run as the strategy restarts; the default without
``run_id``) or ``run`` (that run only; the default with ``run_id``).

Server messages, all JSON:

    {"type": "lines", "run_id": "...", "lines": [{"seq": 1, "ts": "...", "stream": "stdout", "line": "..."}]}
    {"type": "run", "run_id": "...", "previous_run_id": "..." | null}      a new run is being followed
    {"type": "strategy", "status": "failed", "action": "crash", "run_id": "...", "reason": "..."}
        (also once right after the catch-up, with "action": "snapshot": where the strategy stands)
    {"type": "error", "status": 401 | 404 | 400, "message": "..."}          then the socket closes

Exactly once and in order: lines are sent only when their ``seq`` is the cursor + 1. Live events
that skip ahead (a follower that fell behind and lost fan-out messages) trigger a catch-up from
the database instead, where every line is.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from sequence_site.errors import DomainError
from sequence_site.scope import Scope
from sequence_site.ws_auth import RefuseBeforeJoining, scope_from_handshake
from strategies import selectors
from strategies.lifecycle import group_name
from strategies.schemas import LogLineOut

CATCH_UP_PAGE = 1000


class StrategyLogConsumer(RefuseBeforeJoining, AsyncJsonWebsocketConsumer):
    groups: list[str] = []

    async def handshake_refusal(self) -> tuple[int, dict[str, Any]] | None:
        # Everything that can refuse is decided here, before the consumer joins the channel layer
        # (RefuseBeforeJoining). Refusals are accepted, to say why in an error message, then closed.
        def refuse(close_code: int, status: int, message: str) -> tuple[int, dict[str, Any]]:
            return close_code, {"type": "error", "status": status, "message": message}

        scope = await database_sync_to_async(self._authenticate)()
        if scope is None:
            return refuse(4401, 401, "Authenticate with `Authorization: Bearer <API key>` or log in.")
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        try:
            after = int((query.get("after") or ["0"])[0])
            if not 0 <= after <= selectors.MAX_CURSOR:
                raise ValueError
        except ValueError:
            return refuse(4400, 400, "after must be 0 or a cursor (a line's seq).")
        pinned = (query.get("run_id") or [""])[0] or None
        follow = (query.get("follow") or ["run" if pinned else "latest"])[0]
        if follow not in ("run", "latest"):
            return refuse(4400, 400, "follow must be 'run' or 'latest'.")
        try:
            self._resolved = await database_sync_to_async(self._resolve)(
                scope, self.scope["url_route"]["kwargs"]["strategy_id"], pinned
            )
        except DomainError as exc:
            return refuse(4000 + exc.status, exc.status, exc.message)
        self._after, self._follow_mode = after, follow
        return None

    async def connect(self) -> None:
        # Accepted only once subscribed: a client that sees the handshake succeed misses nothing.
        strategy_id, run_id = self._resolved
        after, follow = self._after, self._follow_mode
        self.strategy_id = strategy_id
        self.pinned = follow == "run"
        self.run_id: str | None = run_id
        self.cursor = after
        self.left_runs: set[str] = set()
        self.group = group_name(strategy_id)
        # Join before reading the database, so nothing committed in between is missed.
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.groups = [self.group]
        await self.accept()
        await self._catch_up()
        # A newer run may have started (and even ended) before we joined: catch it up too, then
        # say where the strategy stands, so a follower of a strategy that just stopped knows.
        latest, status = await database_sync_to_async(self._latest)()
        if not self.pinned and latest is not None and latest != self.run_id:
            await self._follow(latest)
            await self._catch_up()
        await self.send_json(
            {"type": "strategy", "status": status, "action": "snapshot", "run_id": latest, "reason": ""}
        )

    def _latest(self) -> tuple[str | None, str]:
        run_id = selectors.strategy_latest_run_id(strategy_id=self.strategy_id)
        status = selectors.strategy_status(strategy_id=self.strategy_id) or "deleted"
        return (str(run_id) if run_id else None), status

    def _authenticate(self) -> Scope | None:
        return scope_from_handshake(self.scope)

    def _resolve(self, scope: Scope, strategy_id: str, run_id: str | None) -> tuple[UUID, str | None]:
        strategy = selectors.strategy_get(scope=scope, strategy_id=strategy_id)
        run = selectors.strategy_run_get(strategy=strategy, run_id=run_id)
        return strategy.pk, (str(run.pk) if run is not None else None)

    def _page(self, run_id: str, after: int) -> tuple[list[dict[str, Any]], bool]:
        run = selectors.strategy_run_find(strategy_id=self.strategy_id, run_id=run_id)
        page = selectors.strategy_log_page(run=run, after=after, limit=CATCH_UP_PAGE)
        return [LogLineOut.wire(row) for row in page.lines], page.has_more

    async def _catch_up(self) -> None:
        while self.run_id is not None:
            lines, more = await database_sync_to_async(self._page)(self.run_id, self.cursor)
            if lines:
                await self.send_json({"type": "lines", "run_id": self.run_id, "lines": lines})
                self.cursor = lines[-1]["seq"]
            if not more:
                return

    async def _follow(self, run_id: str) -> None:
        previous, self.run_id, self.cursor = self.run_id, run_id, 0
        if previous is not None:
            self.left_runs.add(previous)
        await self.send_json({"type": "run", "run_id": run_id, "previous_run_id": previous})

    # -- channel-layer events (one handler per type) ------------------------------------------
    async def log_lines(self, event: dict[str, Any]) -> None:
        run_id = event["run_id"]
        if run_id != self.run_id:
            if self.pinned or run_id in self.left_runs:
                return
            await self._follow(run_id)  # the strategy restarted: a new run id
        fresh = [line for line in event["lines"] if line["seq"] > self.cursor]
        if not fresh:
            return
        if fresh[0]["seq"] != self.cursor + 1:
            await self._catch_up()  # we missed fan-out messages; the database has every line
            return
        await self.send_json({"type": "lines", "run_id": run_id, "lines": fresh})
        self.cursor = fresh[-1]["seq"]

    async def strategy_changed(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "strategy", **{k: event.get(k) for k in ("status", "action", "run_id", "reason")}}
        )
        if event.get("status") == "deleted":
            await self.close(code=4410)
