"""The fake Kalshi is strict: it refuses what Kalshi refuses (NOTES.md "Auth checks", the asyncapi
error table) and answers the documented shapes. A fake that accepts a bad handshake is a bug."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.fakevenues.kalshi import KEY_ID, FakeKalshi, private_key_pem
from venues.kalshi.auth import ACCESS_KEY, ACCESS_SIGNATURE, ACCESS_TIMESTAMP, KalshiSigner

FED = "FED-23DEC-T3.00"


@pytest.fixture
def fake() -> Iterator[FakeKalshi]:
    with FakeKalshi() as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def signer() -> KalshiSigner:
    return KalshiSigner.from_pem(KEY_ID, private_key_pem())


def handshake_status(fake: FakeKalshi, headers: dict[str, str] | None, url: str | None = None) -> int:
    try:
        with connect(url or fake.ws_url, additional_headers=headers, open_timeout=20):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_signed_handshake_is_accepted(fake, signer):
    assert handshake_status(fake, signer.ws_headers(fake.ws_url)) == 101
    assert fake.refusals == []


@pytest.mark.parametrize(
    "case",
    [
        "unsigned",
        "other_key",
        "unknown_key_id",
        "wrong_path",
        "post",
        "seconds",
        "stale",
        "garbage_signature",
    ],
)
def test_bad_handshakes_are_refused_with_401(fake, signer, case):
    now = time.time_ns() // 1_000_000
    if case == "unsigned":
        headers = None
    elif case == "other_key":
        from pathlib import Path

        other = (
            Path(__file__).resolve().parents[2] / "fakevenues/fixtures/kalshi/other_private_key.pem"
        ).read_bytes()
        headers = KalshiSigner.from_pem(KEY_ID, other).ws_headers(fake.ws_url)
    elif case == "unknown_key_id":
        headers = {**signer.ws_headers(fake.ws_url), ACCESS_KEY: "someone-else"}
    elif case == "wrong_path":
        headers = signer.headers("GET", "/trade-api/v2/ws")
    elif case == "post":
        headers = signer.headers("POST", "/trade-api/ws/v2")
    elif case == "seconds":
        ts = now // 1000
        headers = {
            ACCESS_KEY: KEY_ID,
            ACCESS_TIMESTAMP: str(ts),
            ACCESS_SIGNATURE: signer.sign(ts, "GET", "/trade-api/ws/v2"),
        }
    elif case == "stale":
        headers = signer.ws_headers(fake.ws_url, timestamp_ms=now - 3_600_000)
    else:
        headers = {**signer.ws_headers(fake.ws_url), ACCESS_SIGNATURE: "AAAA"}
    assert handshake_status(fake, headers) == 401
    assert len(fake.refusals) == 1 and fake.connections == 0


def command_replies(fake, signer, commands: list, expect: int) -> list[dict]:
    """Send commands on one signed connection and collect `expect` replies."""
    out = []
    with connect(fake.ws_url, additional_headers=signer.ws_headers(fake.ws_url), open_timeout=20) as ws:
        for c in commands:
            ws.send(c if isinstance(c, str) else json.dumps(c))
        while len(out) < expect:
            out.append(json.loads(ws.recv(timeout=30)))
    return out


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("not json", 1),
        ({"id": 1, "cmd": "subscribe"}, 2),
        ({"id": 1, "cmd": "subscribe", "params": {"market_ticker": FED}}, 3),
        ({"id": 1, "cmd": "unsubscribe", "params": {}}, 4),
        ({"id": 1, "cmd": "subscribe_all", "params": {}}, 5),
        ({"id": 1, "cmd": "unsubscribe", "params": {"sids": [42]}}, 7),
        ({"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook"], "market_ticker": FED}}, 8),
        ({"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_id": "x"}}, 11),
        ({"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_ticker": 5}}, 11),
        ({"id": 1, "cmd": "update_subscription", "params": {"sids": [1, 2], "action": "get_snapshot"}}, 12),
        ({"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}, 14),
        (
            {
                "id": 1,
                "cmd": "subscribe",
                "params": {"channels": ["orderbook_delta"], "market_ticker": "NOPE-1"},
            },
            16,
        ),
    ],
)
def test_bad_commands_get_the_documented_error_code(fake, signer, command, code):
    (reply,) = command_replies(fake, signer, [command], 1)
    assert reply["type"] == "error" and reply["msg"]["code"] == code and reply["msg"]["msg"]
    if isinstance(command, dict):
        assert reply["id"] == command["id"]


def test_subscribe_sends_subscribed_then_snapshot_then_deltas_with_seq(fake, signer):
    with connect(fake.ws_url, additional_headers=signer.ws_headers(fake.ws_url), open_timeout=20) as ws:
        ws.send(
            json.dumps(
                {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": ["orderbook_delta"], "market_ticker": FED},
                }
            )
        )
        sub = json.loads(ws.recv(timeout=30))
        assert sub == {"id": 1, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}}
        snap = json.loads(ws.recv(timeout=30))
        assert snap["type"] == "orderbook_snapshot" and snap["sid"] == 1 and snap["seq"] == 1
        assert snap["msg"]["yes_dollars_fp"] == [["0.0800", "300.00"], ["0.2200", "333.00"]]
        assert snap["msg"]["no_dollars_fp"] == [["0.5400", "20.00"], ["0.5600", "146.00"]]
        fake.delta(FED, "no", "0.56", "-46")
        delta = json.loads(ws.recv(timeout=30))
        assert delta["type"] == "orderbook_delta" and delta["seq"] == 2
        assert {k: delta["msg"][k] for k in ("market_ticker", "price_dollars", "delta_fp", "side")} == {
            "market_ticker": FED,
            "price_dollars": "0.5600",
            "delta_fp": "-46.00",
            "side": "no",
        }
        fake.skip_seq(2)
        fake.delta(FED, "yes", "0.22", "1")
        assert json.loads(ws.recv(timeout=30))["seq"] == 5
        ws.send(json.dumps({"id": 2, "cmd": "list_subscriptions"}))
        assert json.loads(ws.recv(timeout=30)) == {
            "id": 2,
            "type": "ok",
            "msg": [{"channel": "orderbook_delta", "sid": 1}],
        }
        ws.send(json.dumps({"id": 3, "cmd": "unsubscribe", "params": {"sids": [1]}}))
        assert json.loads(ws.recv(timeout=30)) == {"id": 3, "sid": 1, "seq": 6, "type": "unsubscribed"}
    assert fake.book_levels(FED)["no"][-1][1] == 100  # 146 - 46
