"""The live log websocket: auth, backlog, live lines after the edge stores them, cursor, delete."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from algo_studio import services
from edges.models import Edge
from edges.services import LogLine, edge_logs_flush
from sequence_site.asgi import application
from sequence_site.scope import Scope

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(path: str, key: str | None) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
    return WebsocketCommunicator(application, path, headers=headers)


@pytest.fixture
def deployment(owner, sandbox_edges, wasm):
    return services.algo_deploy(
        scope=Scope(client=owner, is_sandbox=True), symbol="XRP/USD", wasm=wasm
    ).deployment


def store(deployment, *messages: str, edge_id: str = "venue-edge-kraken") -> None:
    edge = Edge.objects.get(edge_id=edge_id, is_sandbox=True)
    edge_logs_flush(
        edge=edge,
        logs=[LogLine(deployment.pk, "XRP/USD", 1_000 + i, "INFO", m) for i, m in enumerate(messages)],
    )


async def test_backlog_then_live_lines(deployment, sandbox_key):
    await sync_to_async(store)(deployment, "old 1", "old 2")
    ws = communicator(f"/v1/deployments/{deployment.deployment_id}/logs/stream", sandbox_key.plaintext)
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from())["type"] == "hello"
    first, second = await ws.receive_json_from(), await ws.receive_json_from()
    assert [first["message"], second["message"]] == ["old 1", "old 2"]
    assert second["id"] > first["id"] and first["edge_id"] == "venue-edge-kraken"
    await sync_to_async(store)(deployment, "new line")
    live = await ws.receive_json_from(timeout=5)
    assert live["type"] == "log" and live["message"] == "new line" and live["id"] > second["id"]
    await ws.disconnect()


async def test_symbol_route_edge_filter_and_cursor(deployment, sandbox_key):
    await sync_to_async(store)(deployment, "a", "b", "c")
    ws = communicator("/v1/algos/XRP-USD/logs/stream?edge_id=venue-edge-coinbase", sandbox_key.plaintext)
    assert (await ws.connect())[0]
    await ws.receive_json_from()  # hello
    await sync_to_async(store)(deployment, "kraken only")
    await sync_to_async(store)(deployment, "coinbase line", edge_id="venue-edge-coinbase")
    assert (await ws.receive_json_from(timeout=5))["message"] == "coinbase line"
    await ws.disconnect()

    from algo_studio.models import AlgoLog

    first_id = await sync_to_async(lambda: AlgoLog.objects.order_by("id").first().id)()
    ws = communicator(f"/v1/algos/XRP%2FUSD/logs/stream?after={first_id}", sandbox_key.plaintext)
    assert (await ws.connect())[0]
    await ws.receive_json_from()
    got = [(await ws.receive_json_from())["message"] for _ in range(4)]
    assert got == ["b", "c", "kraken only", "coinbase line"]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_refusals(deployment, stranger_sandbox_key, live_key):
    ws = communicator(f"/v1/deployments/{deployment.deployment_id}/logs/stream", None)
    connected, code = await ws.connect()
    assert not connected and code == 4401
    for key in (stranger_sandbox_key.plaintext, live_key.plaintext):
        ws = communicator(f"/v1/deployments/{deployment.deployment_id}/logs/stream", key)
        connected, code = await ws.connect()
        assert not connected and code == 4404
    ws = communicator(f"/v1/deployments/{deployment.deployment_id}/logs/stream", "seq_test_" + "x" * 44)
    assert (await ws.connect()) == (False, 4401)


async def test_delete_closes_the_stream(deployment, sandbox_key):
    ws = communicator(f"/v1/deployments/{deployment.deployment_id}/logs/stream", sandbox_key.plaintext)
    assert (await ws.connect())[0]
    await ws.receive_json_from()
    await sync_to_async(services.deployment_delete)(deployment=deployment)
    output = await ws.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4404}


async def test_a_foreign_browser_origin_is_refused(deployment, sandbox_key):
    ws = WebsocketCommunicator(
        application,
        f"/v1/deployments/{deployment.deployment_id}/logs/stream",
        headers=[
            (b"origin", b"https://evil.example"),
            (b"authorization", f"Bearer {sandbox_key.plaintext}".encode()),
        ],
    )
    connected, _ = await ws.connect()
    assert not connected
