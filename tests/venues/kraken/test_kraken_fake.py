"""The fake Kraken refuses what the real one refuses (a fake that accepts more is a bug)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from tests.fakevenues.kraken import ERRORS, KrakenFake


@pytest.fixture
def fake() -> Iterator[KrakenFake]:
    with KrakenFake(heartbeat_s=0.05) as srv:
        yield srv  # type: ignore[misc]


def recv(ws) -> dict:
    while True:
        msg = json.loads(ws.recv(timeout=30))
        if msg.get("channel") != "heartbeat":
            return msg


def sub(params: dict, req_id: int = 1) -> str:
    return json.dumps({"method": "subscribe", "params": params, "req_id": req_id})


def test_status_first_then_acks_snapshot_and_heartbeats(fake: KrakenFake) -> None:
    with connect(fake.ws_url) as ws:
        status = recv(ws)
        assert status["channel"] == "status" and status["data"][0]["system"] == "online"
        ws.send(sub({"channel": "book", "symbol": ["BTC/USD"], "depth": 10}, 7))
        ack = recv(ws)
        assert ack["success"] is True and ack["req_id"] == 7
        assert ack["result"] == {"channel": "book", "depth": 10, "snapshot": True, "symbol": "BTC/USD"}
        snap = recv(ws)
        assert snap["type"] == "snapshot" and len(snap["data"][0]["bids"]) == 10
        beat = json.loads(ws.recv(timeout=30))
        assert beat == {"channel": "heartbeat"}


def ws_raw_snapshot(fake: KrakenFake) -> str:
    with connect(fake.ws_url) as ws:
        ws.recv(timeout=30)
        ws.send(sub({"channel": "book", "symbol": ["BTC/USD"]}))
        ws.recv(timeout=30)
        return ws.recv(timeout=30)


def test_numbers_keep_their_trailing_zeros(fake: KrakenFake) -> None:
    raw = ws_raw_snapshot(fake)
    assert '"qty":4.00000000' in raw and '"price":29430.2' in raw


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (sub({"channel": "book", "symbol": "BTC/USD"}), ERRORS["symbol"]),  # a string, not a list
        (sub({"channel": "book", "symbol": []}), ERRORS["symbol"]),
        (sub({"channel": "book"}), ERRORS["symbol"]),
        (sub({"channel": "book", "symbol": ["BTC/USD"], "depth": 11}), ERRORS["depth"]),
        (sub({"channel": "book", "symbol": ["BTC/USD"], "depth": "10"}), ERRORS["depth"]),
        (sub({"channel": "book", "symbol": ["BTC/USD"], "snapshot": "yes"}), ERRORS["snapshot"]),
        (sub({"channel": "nope", "symbol": ["BTC/USD"]}), ERRORS["channel"]),
        (json.dumps({"method": "subscribe", "req_id": 1}), ERRORS["params"]),
        (
            json.dumps(
                {"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}, "req_id": "a"}
            ),
            ERRORS["req_id"],
        ),
        (
            json.dumps({"method": "ping", "params": {}, "req_id": 1}),
            "Unsupported field: 'params' for the given msg type: ping",
        ),
        (json.dumps({"method": "subscrbe", "params": {}, "req_id": 1}), "Unsupported event"),
        ("{nope", "Malformed request"),
    ],
)
def test_refuses_malformed_requests(fake: KrakenFake, message: str, error: str) -> None:
    with connect(fake.ws_url) as ws:
        recv(ws)
        ws.send(message)
        answer = recv(ws)
        assert answer["success"] is False and answer["error"] == error
        assert "time_in" in answer and "time_out" in answer
    assert fake.subscribed("BTC/USD") == 0


def test_unknown_pairs_are_refused_one_by_one(fake: KrakenFake) -> None:
    with connect(fake.ws_url) as ws:
        recv(ws)
        ws.send(sub({"channel": "book", "symbol": ["XBT/USD", "ETH/USD"]}, 3))
        err = recv(ws)
        assert err == {
            **err,
            "error": "Currency pair not supported XBT/USD",
            "symbol": "XBT/USD",
            "success": False,
            "req_id": 3,
            "method": "subscribe",
        }
        ack = recv(ws)
        assert ack["success"] is True and ack["result"]["symbol"] == "ETH/USD"
        assert recv(ws)["type"] == "snapshot"
        ws.send(sub({"channel": "book", "symbol": ["ETH/USD"]}, 4))
        again = recv(ws)
        assert again["success"] is False and again["symbol"] == "ETH/USD"  # already subscribed
        ws.send(json.dumps({"method": "unsubscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}}))
        assert recv(ws)["success"] is False  # not subscribed
        ws.send(json.dumps({"method": "ping", "req_id": 9}))
        assert recv(ws)["method"] == "pong"


def test_updates_carry_checksums_of_the_top_10(fake: KrakenFake) -> None:
    with connect(fake.ws_url) as ws:
        recv(ws)
        ws.send(sub({"channel": "book", "symbol": ["ETH/USD"], "depth": 10}))
        recv(ws)
        snap = recv(ws)["data"][0]
        best_bid = snap["bids"][0]["price"]
        fake.update("ETH/USD", bids=[(str(best_bid), "0")])  # delete the best bid: the 11th enters
        upd = recv(ws)["data"][0]
        prices = [lv["price"] for lv in upd["bids"]]
        assert best_bid in prices and len(prices) == 2
        assert [lv["qty"] for lv in upd["bids"] if lv["price"] == best_bid] == [0]
