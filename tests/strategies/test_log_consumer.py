"""The live log tail websocket, through the real ASGI application and the Redis channel layer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client as HttpClient
from strategy_testing import make_tar

from sequence_site import services as site_services
from sequence_site.asgi import application
from sequence_site.models import Mode
from sequence_site.scope import Scope
from strategies import services
from strategies.models import Strategy, StrategyLog, StrategyRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def strategy(owner, fast) -> Strategy:
    scope = Scope(client=owner, is_sandbox=True)
    return services.strategy_deploy(scope=scope, name="tail", artifact=make_tar({"main.py": "1"})).strategy


def add_run(strategy: Strategy, lines: int = 0) -> StrategyRun:
    run = StrategyRun.objects.create(strategy=strategy, status="running")
    if lines:
        append(strategy, run, range(1, lines + 1), publish=False)
    return run


def append(strategy: Strategy, run: StrategyRun, seqs, *, publish: bool = True) -> None:
    records = [
        services.LogRecord(seq=s, stream="stdout", ts=datetime.now(tz=UTC), line=f"line {s}") for s in seqs
    ]
    if publish:
        services.strategy_logs_append(strategy_id=strategy.pk, run_id=run.pk, records=records)
    else:
        StrategyLog.objects.bulk_create(
            StrategyLog(run=run, seq=r.seq, stream=r.stream, ts=r.ts, line=r.line) for r in records
        )


def headers(key: str | None = None, cookie: str | None = None) -> list[tuple[bytes, bytes]]:
    out = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if key:
        out.append((b"authorization", f"Bearer {key}".encode()))
    if cookie:
        out.append((b"cookie", cookie.encode()))
    return out


async def receive_all(
    comm: WebsocketCommunicator, *, until_seq: int | None = None, timeout: float = 3
) -> list[dict[str, Any]]:
    messages = []
    while True:
        message = await comm.receive_json_from(timeout=timeout)
        messages.append(message)
        if until_seq is None or (message["type"] == "lines" and message["lines"][-1]["seq"] >= until_seq):
            return messages


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [line["seq"] for m in messages if m["type"] == "lines" for line in m["lines"]]


def test_catch_up_then_live_lines_exactly_once(strategy, sandbox_key):
    run = add_run(strategy, lines=3)

    async def scenario() -> list[dict[str, Any]]:
        comm = WebsocketCommunicator(
            application,
            f"/v1/strategies/{strategy.pk}/logs/stream?after=1",
            headers=headers(sandbox_key.plaintext),
        )
        connected, _ = await comm.connect()
        assert connected
        messages = await receive_all(comm, until_seq=3)
        await database_sync_to_async(append)(strategy, run, [4, 5])
        messages += await receive_all(comm, until_seq=5)
        # A follower that missed fan-out messages: line 6 is only in the database, 7 arrives live.
        await database_sync_to_async(append)(strategy, run, [6], publish=False)
        await database_sync_to_async(append)(strategy, run, [7])
        messages += await receive_all(comm, until_seq=7)
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()
        return messages

    messages = async_to_sync(scenario)()
    assert seqs(messages) == [2, 3, 4, 5, 6, 7]
    assert {m["run_id"] for m in messages} == {str(run.pk)}


def test_follows_the_next_run_after_a_restart(strategy, sandbox_key):
    first = add_run(strategy, lines=2)

    async def scenario() -> list[dict[str, Any]]:
        comm = WebsocketCommunicator(
            application, f"/v1/strategies/{strategy.pk}/logs/stream", headers=headers(sandbox_key.plaintext)
        )
        await comm.connect()
        messages = await receive_all(comm, until_seq=2)
        second = await database_sync_to_async(add_run)(strategy)
        await database_sync_to_async(append)(strategy, second, [1, 2])
        messages += await receive_all(comm, until_seq=2)
        # A straggler line of the old run is not mixed into the new one.
        await database_sync_to_async(append)(strategy, first, [3])
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()
        return messages

    messages = async_to_sync(scenario)()
    switch = [m for m in messages if m["type"] == "run"]
    assert len(switch) == 1 and switch[0]["previous_run_id"] == str(first.pk)
    assert seqs(messages) == [1, 2, 1, 2]


def test_a_pinned_run_ignores_other_runs(strategy, sandbox_key):
    first = add_run(strategy, lines=1)

    async def scenario() -> list[dict[str, Any]]:
        comm = WebsocketCommunicator(
            application,
            f"/v1/strategies/{strategy.pk}/logs/stream?run_id={first.pk}",
            headers=headers(sandbox_key.plaintext),
        )
        await comm.connect()
        messages = await receive_all(comm, until_seq=1)
        assert (await comm.receive_json_from(timeout=3))["action"] == "snapshot"
        second = await database_sync_to_async(add_run)(strategy)
        await database_sync_to_async(append)(strategy, second, [1])
        assert await comm.receive_nothing(timeout=0.4)
        await comm.disconnect()
        return messages

    assert seqs(async_to_sync(scenario)()) == [1]


def test_a_newer_run_is_caught_up_on_connect(strategy, sandbox_key):
    first = add_run(strategy, lines=3)
    second = add_run(strategy, lines=2)
    Strategy.objects.filter(pk=strategy.pk).update(status="stopped")

    async def scenario() -> list[dict[str, Any]]:
        path = f"/v1/strategies/{strategy.pk}/logs/stream?run_id={first.pk}&after=1&follow=latest"
        comm = WebsocketCommunicator(application, path, headers=headers(sandbox_key.plaintext))
        await comm.connect()
        messages = [await comm.receive_json_from(timeout=3) for _ in range(4)]
        await comm.disconnect()
        return messages

    lines_first, switch, lines_second, snapshot = async_to_sync(scenario)()
    assert [line["seq"] for line in lines_first["lines"]] == [2, 3] and lines_first["run_id"] == str(first.pk)
    assert switch == {"type": "run", "run_id": str(second.pk), "previous_run_id": str(first.pk)}
    assert [line["seq"] for line in lines_second["lines"]] == [1, 2]
    assert snapshot["status"] == "stopped" and snapshot["run_id"] == str(second.pk)


def test_status_changes_are_announced_and_delete_closes(strategy, sandbox_key):
    async def scenario() -> list[dict[str, Any]]:
        comm = WebsocketCommunicator(
            application, f"/v1/strategies/{strategy.pk}/logs/stream", headers=headers(sandbox_key.plaintext)
        )
        await comm.connect()
        snapshot = await comm.receive_json_from(timeout=3)
        assert snapshot == {
            "type": "strategy",
            "status": "stopped",
            "action": "snapshot",
            "run_id": None,
            "reason": "",
        }
        await database_sync_to_async(services.strategy_start)(strategy=strategy)
        messages = [await comm.receive_json_from(timeout=3)]
        await database_sync_to_async(services.strategy_delete)(strategy=strategy)
        messages.append(await comm.receive_json_from(timeout=3))
        output = await comm.receive_output(timeout=3)
        assert output == {"type": "websocket.close", "code": 4410}
        return messages

    started, deleted = async_to_sync(scenario)()
    assert started["type"] == "strategy" and started["status"] == "queued" and started["action"] == "start"
    assert deleted["status"] == "deleted"


@pytest.mark.parametrize("who", ["nobody", "stranger", "live", "bad-key", "unknown"])
def test_refusals(strategy, stranger_sandbox_key, live_key, who):
    key = {
        "stranger": stranger_sandbox_key.plaintext,
        "live": live_key.plaintext,
        "bad-key": "seq_test_nope",
    }.get(who)
    target = "00000000-0000-0000-0000-000000000000" if who == "unknown" else strategy.pk
    key = key or (
        site_services.api_key_create(client=strategy.client, mode=Mode.SANDBOX).plaintext
        if who == "unknown"
        else None
    )

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        comm = WebsocketCommunicator(
            application, f"/v1/strategies/{target}/logs/stream", headers=headers(key)
        )
        await comm.connect()
        return await comm.receive_json_from(timeout=3), await comm.receive_output(timeout=3)

    error, closed = async_to_sync(scenario)()
    expected = 401 if who in ("nobody", "bad-key") else 404
    assert error["type"] == "error" and error["status"] == expected
    assert closed == {"type": "websocket.close", "code": 4000 + expected}


def test_bad_cursor_is_refused(strategy, sandbox_key):
    async def scenario() -> dict[str, Any]:
        comm = WebsocketCommunicator(
            application,
            f"/v1/strategies/{strategy.pk}/logs/stream?after=-4",
            headers=headers(sandbox_key.plaintext),
        )
        await comm.connect()
        return await comm.receive_json_from(timeout=3)

    assert async_to_sync(scenario)()["status"] == 400


def test_dashboard_session_in_its_mode(strategy, owner):
    user = get_user_model().objects.create_user(username="dash", password="x" * 12)
    site_services.client_add_member(client=owner, user=user)
    http = HttpClient()
    http.force_login(user)
    cookie = f"sessionid={http.cookies['sessionid'].value}"
    add_run(strategy, lines=2)

    async def connect() -> dict[str, Any]:
        comm = WebsocketCommunicator(
            application, f"/ws/strategies/{strategy.pk}/logs/", headers=headers(cookie=cookie)
        )
        await comm.connect()
        message = await comm.receive_json_from(timeout=3)
        await comm.disconnect()
        return message

    assert seqs([async_to_sync(connect)()]) == [1, 2]
    http.post("/mode/", {"mode": "live"})  # the live dashboard can't see a sandbox strategy
    assert async_to_sync(connect)()["status"] == 404
