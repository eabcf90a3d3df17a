"""GET /v1/stream: the consumer in-process (WebsocketCommunicator, real Redis channel layer), and a
real websocket client (the SDK's stream) against daphne fed by a real edge."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from sequence_markets import Sequence, SequenceError
from trading.consumers import PriceStreamConsumer
from trading.stream import price_event
from venues.instruments import get_market

OKC = "KXNBA-26-OKC-YES"
SPAIN = get_market("polymarket", "will-spain-win-the-2026-fifa-world-cup").yes_token_id


def communicator(key: str | None) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
    return WebsocketCommunicator(PriceStreamConsumer.as_asgi(), "/v1/stream", headers=headers)


@pytest.mark.django_db(transaction=True)
async def test_a_bad_or_missing_key_is_refused(sandbox_key):
    for key in (None, "seq_test_nope"):
        ws = communicator(key)
        connected, code = await ws.connect()
        assert not connected and code == 4401
        # Refused before joining the channel layer: the consumer ends by itself, holding no Redis
        # read (wait() would cancel it after its ceiling if it were still running).
        await ws.wait()
        assert ws.future.done() and not ws.future.cancelled()


@pytest.mark.django_db(transaction=True)
async def test_welcome_ack_snapshot_updates_unsubscribe(sandbox_key, publish_quote):
    book = await sync_to_async(publish_quote)("kalshi", OKC, [("0.32", "800")], [("0.34", "700")])
    ws = communicator(sandbox_key.plaintext)
    connected, _ = await ws.connect()
    assert connected
    welcome = await ws.receive_json_from()
    assert welcome["type"] == "welcome" and welcome["mode"] == "test"

    await ws.send_json_to({"op": "subscribe", "channels": [f"prices:{OKC}", "prices:NOPE-XYZ-1", "quotes:x"]})
    ack = await ws.receive_json_from()
    assert ack["type"] == "ack" and ack["channels"] == [f"prices:{OKC}"]
    assert [e["channel"] for e in ack["errors"]] == ["prices:NOPE-XYZ-1", "quotes:x"]
    snapshot = await ws.receive_json_from()
    assert snapshot == {"channel": f"prices:{OKC}", "data": {
        "bid": 0.32, "ask": 0.34, "mid": 0.33, "bid_size": 800.0, "ask_size": 700.0, "venue": "kalshi",
        "symbol": OKC, "ts_ns": book["ts_ns"]}}  # fmt: skip

    layer = get_channel_layer()
    newer = {**book, "ts_ns": book["ts_ns"] + 1, "bid_px_1e9": 330_000_000}
    older = {**book, "ts_ns": book["ts_ns"] - 1}
    for payload in (older, newer):  # the older book is conflated away
        group, message = price_event(is_sandbox=True, payload=payload)
        await layer.group_send(group, message)
    update = await ws.receive_json_from(timeout=5)
    assert update["channel"] == f"prices:{OKC}" and update["data"]["bid"] == 0.33

    # a live-mode book never reaches a sandbox subscriber
    group, message = price_event(is_sandbox=False, payload={**newer, "ts_ns": newer["ts_ns"] + 5})
    await layer.group_send(group, message)
    await ws.send_json_to({"op": "ping"})
    assert (await ws.receive_json_from(timeout=5)) == {"type": "pong"}

    await ws.send_json_to({"op": "unsubscribe", "channels": [f"prices:{OKC}"]})
    assert (await ws.receive_json_from())["channels"] == [f"prices:{OKC}"]
    group, message = price_event(is_sandbox=True, payload={**newer, "ts_ns": newer["ts_ns"] + 9})
    await layer.group_send(group, message)
    assert await ws.receive_nothing(timeout=0.3)

    await ws.send_json_to({"op": "dance"})
    assert (await ws.receive_json_from())["type"] == "error"
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_heartbeats_and_the_channel_cap(sandbox_key, monkeypatch):
    monkeypatch.setattr(PriceStreamConsumer, "heartbeat_seconds", 0.1)
    monkeypatch.setattr("trading.consumers.MAX_CHANNELS", 2)
    ws = communicator(sandbox_key.plaintext)
    await ws.connect()
    await ws.receive_json_from()
    assert (await ws.receive_json_from(timeout=2))["type"] == "heartbeat"
    await ws.send_json_to(
        {"op": "subscribe", "channels": ["prices:BTC-USD", "prices:ETH-USD", f"prices:{OKC}"]}
    )
    while (msg := await ws.receive_json_from(timeout=2))["type"] != "ack":
        pass
    assert (
        msg["channels"] == ["prices:BTC-USD", "prices:ETH-USD"] and "at most 2" in msg["errors"][0]["message"]
    )
    await ws.disconnect()


@pytest.mark.slow
def test_a_real_client_gets_both_subscribed_channels_from_a_real_edge(daphne, edge_process, sandbox_key):
    edge_process("kalshi", "polymarket")
    seq = Sequence(sandbox_key.plaintext, daphne)
    channels = [f"prices:{OKC}", f"prices:{SPAIN}"]
    seen: dict[str, int] = {}
    started = time.monotonic()
    for msg in seq.stream(channels, duration_s=15, max_msgs=40):
        seen[msg["channel"]] = seen.get(msg["channel"], 0) + 1
        data = msg["data"]
        assert 0.01 <= data["bid"] < data["ask"] <= 0.99 and data["mid"] is not None
        if len(seen) == 2 and min(seen.values()) >= 3:
            break
    assert set(seen) == set(channels), seen
    assert min(seen.values()) >= 3, seen  # live updates, not only the snapshot
    assert time.monotonic() - started < 10

    with pytest.raises(SequenceError) as refused:
        next(Sequence("seq_test_wrong", daphne).stream(channels, duration_s=2))
    assert refused.value.status == 401
    with pytest.raises(SequenceError) as bad:
        next(seq.stream(["prices:NOPE-XYZ-1"], duration_s=2))
    assert bad.value.status == 400 and "unknown symbol" in bad.value.message
