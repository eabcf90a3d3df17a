"""The fake Coinbase is strict: it refuses what the real venue refuses and speaks the documented
shapes (checked here with a plain WebSocket client, no code of ours in between)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.fakevenues.coinbase import FakeCoinbase, fixture

CEILING = 30.0
ERR = fixture("errors.json")["ws"]


@pytest.fixture
def venue() -> Iterator[FakeCoinbase]:
    with FakeCoinbase(heartbeat_interval_s=0.05) as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def ws(venue: FakeCoinbase) -> Iterator[ClientConnection]:
    with connect(venue.ws_url, open_timeout=CEILING) as conn:
        yield conn


def send(ws: ClientConnection, msg: Any) -> None:
    ws.send(msg if isinstance(msg, str) else orjson.dumps(msg).decode())


def recv(ws: ClientConnection, *, skip_heartbeats: bool = True) -> dict[str, Any]:
    while True:
        msg = orjson.loads(ws.recv(timeout=CEILING))
        if not (skip_heartbeats and msg.get("channel") == "heartbeats"):
            return msg


def sub(products: list[str], channel: str = "level2", kind: str = "subscribe") -> dict[str, Any]:
    return {"type": kind, "product_ids": products, "channel": channel}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "not_an_object"),
        ({"type": "subscribes", "product_ids": ["BTC-USD"], "channel": "level2"}, "bad_type"),
        ({"product_ids": ["BTC-USD"], "channel": "level2"}, "bad_type"),
        ({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["level2"]}, "channels_list"),
        ({"type": "subscribe", "product_ids": ["BTC-USD"]}, "missing_channel"),
        ({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": ["level2"]}, "missing_channel"),
        ({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "l2_data"}, "unknown_channel"),
        ({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "full"}, "unknown_channel"),
        ({"type": "subscribe", "channel": "level2"}, "missing_product_ids"),
        ({"type": "subscribe", "product_ids": [], "channel": "level2"}, "missing_product_ids"),
        ({"type": "subscribe", "product_ids": "BTC-USD", "channel": "level2"}, "bad_product_ids"),
        ({"type": "subscribe", "product_ids": [1], "channel": "level2"}, "bad_product_ids"),
        ({"type": "subscribe", "product_ids": ["DOGE-EUR"], "channel": "level2"}, "unknown_product"),
        ({"type": "subscribe", "product_ids": ["btc-usd"], "channel": "level2"}, "unknown_product"),
        ({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "user"}, "authentication_failure"),
        (
            {"type": "subscribe", "product_ids": [], "channel": "futures_balance_summary"},
            "authentication_failure",
        ),
        ({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "level2", "jwt": 5}, "bad_jwt"),
    ],
)
def test_refusals(venue: FakeCoinbase, ws: ClientConnection, message: Any, error: str) -> None:
    send(ws, message)
    assert recv(ws) == {"type": "error", "message": ERR[error]}
    # the socket stays open and a right subscribe still works
    send(ws, sub(["BTC-USD"]))
    assert recv(ws)["channel"] == "subscriptions"
    assert recv(ws)["events"][0]["type"] == "snapshot"


def test_the_one_captured_error_text_is_the_real_one() -> None:
    assert fixture("ws_messages.json")["error_authentication_failure"] == {
        "type": "error",
        "message": ERR["authentication_failure"],
    }


def test_snapshot_then_updates_with_one_rising_sequence(venue: FakeCoinbase, ws: ClientConnection) -> None:
    send(ws, sub(["BTC-USD", "ETH-USD"]))
    ack, snap_btc, snap_eth = recv(ws), recv(ws), recv(ws)
    assert ack["channel"] == "subscriptions"
    assert ack["events"] == [{"subscriptions": {"level2": ["BTC-USD", "ETH-USD"]}}]
    assert snap_btc["channel"] == "l2_data" and snap_btc["events"][0]["type"] == "snapshot"
    assert snap_btc["events"][0]["product_id"] == "BTC-USD"
    levels = {(u["side"], u["price_level"], u["new_quantity"]) for u in snap_btc["events"][0]["updates"]}
    captured = fixture("ws_messages.json")["l2_data_snapshot"]["events"][0]["updates"]
    assert levels == {(u["side"], u["price_level"], u["new_quantity"]) for u in captured}
    assert snap_eth["events"][0]["product_id"] == "ETH-USD"
    venue.update("BTC-USD", [("bid", "68900.00", "2.00000000"), ("offer", "68901.00", "0")])
    upd = recv(ws)
    assert upd["events"][0]["type"] == "update" and len(upd["events"][0]["updates"]) == 2
    assert set(upd) == {"channel", "client_id", "timestamp", "sequence_num", "events"}
    assert [m["sequence_num"] for m in (ack, snap_btc, snap_eth, upd)] == [0, 1, 2, 3]
    assert venue.book_levels("BTC-USD")["offer"].get("68901.00") is None


def test_heartbeats_count_up_in_the_same_sequence(venue: FakeCoinbase, ws: ClientConnection) -> None:
    send(ws, sub([], "heartbeats"))
    assert recv(ws)["channel"] == "subscriptions"
    beats = [recv(ws, skip_heartbeats=False) for _ in range(3)]
    assert [b["channel"] for b in beats] == ["heartbeats"] * 3
    assert [b["events"][0]["heartbeat_counter"] for b in beats] == [1, 2, 3]
    assert [b["sequence_num"] for b in beats] == [1, 2, 3]
    # no product ids at all is fine for heartbeats too
    send(ws, {"type": "subscribe", "channel": "heartbeats"})
    assert recv(ws)["channel"] == "subscriptions"


def test_gaps_and_resubscribing(venue: FakeCoinbase, ws: ClientConnection) -> None:
    send(ws, sub(["BTC-USD"]))
    recv(ws), recv(ws)
    venue.skip_sequence(2)
    venue.update("BTC-USD", [("bid", "68900.00", "3")])
    assert recv(ws)["sequence_num"] == 4  # 2 and 3 never came
    send(ws, sub(["BTC-USD"]))  # already subscribed: nothing new
    assert recv(ws)["channel"] == "subscriptions"
    send(ws, sub(["BTC-USD"], kind="unsubscribe"))
    assert recv(ws)["events"] == [{"subscriptions": {}}]
    send(ws, sub(["BTC-USD"]))
    recv(ws)
    fresh = recv(ws)["events"][0]
    assert fresh["type"] == "snapshot"
    levels = [(u["side"], u["price_level"], u["new_quantity"]) for u in fresh["updates"]]
    assert ("bid", "68900.00", "3") in levels  # the book as it is now
    assert venue.snapshots_sent == ["BTC-USD", "BTC-USD"]


def test_usdc_products_get_the_usd_book(venue: FakeCoinbase, ws: ClientConnection) -> None:
    send(ws, sub(["BTC-USDC"]))
    recv(ws)
    assert recv(ws)["events"][0]["product_id"] == "BTC-USD"
    venue.update("BTC-USD", [("bid", "68900.00", "4")])
    assert recv(ws)["events"][0]["product_id"] == "BTC-USD"


def test_ack_after_the_snapshot_when_asked() -> None:
    with FakeCoinbase(ack_first=False) as venue, connect(venue.ws_url, open_timeout=CEILING) as ws:
        send(ws, sub(["ETH-USD"]))
        assert [recv(ws)["channel"], recv(ws)["channel"]] == ["l2_data", "subscriptions"]


def test_no_subscribe_in_time_closes_the_connection() -> None:
    with (
        FakeCoinbase(subscribe_timeout_s=0.2) as venue,
        connect(venue.ws_url, open_timeout=CEILING) as ws,
        pytest.raises(ConnectionClosed),
    ):
        ws.recv(timeout=CEILING)


def test_more_than_the_allowed_messages_in_the_window_are_refused() -> None:
    # A wide window, so that a slow machine sending slowly still falls inside it.
    with FakeCoinbase(window_s=600.0) as venue, connect(venue.ws_url, open_timeout=CEILING) as ws:
        for _ in range(9):
            send(ws, sub([], "heartbeats"))
        answers = [recv(ws) for _ in range(9)]
        assert [a.get("channel") for a in answers[:8]] == ["subscriptions"] * 8
        assert answers[8] == {"type": "error", "message": ERR["rate_limited"]}


def test_silence_swallows_messages_but_keeps_counting(venue: FakeCoinbase, ws: ClientConnection) -> None:
    send(ws, sub(["BTC-USD"]))
    recv(ws), recv(ws)
    venue.set_silent(True)
    venue.update("BTC-USD", [("bid", "68900.00", "5")])
    venue.set_silent(False)
    venue.update("BTC-USD", [("bid", "68900.00", "6")])
    msg = recv(ws)
    assert msg["sequence_num"] == 3 and msg["events"][0]["updates"][0]["new_quantity"] == "6"


def test_disconnect_and_raw_frames(venue: FakeCoinbase, ws: ClientConnection) -> None:
    send(ws, sub(["BTC-USD"]))
    recv(ws), recv(ws)
    venue.inject("{garbage")
    assert ws.recv(timeout=CEILING) == "{garbage"
    venue.disconnect_all()
    deadline = time.monotonic() + CEILING
    with pytest.raises(ConnectionClosed):
        while time.monotonic() < deadline:
            ws.recv(timeout=CEILING)
